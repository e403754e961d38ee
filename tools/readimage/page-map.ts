// Builds the per-page view of an image's areas that readimage diff compares: every data chunk decoded through the
// pipeline and hashed page by page, ZERO chunks noted, file-backed pages left for on-demand reads.
import { Backing, PAGE_SIZE } from '../../src/protocol/constants';
import type { ImageReader } from '../../src/pipeline/image-reader';
import type { Pipeline } from '../../src/pipeline/pipeline';
import { BlockFlag } from '../../src/pipeline/image-format';
import { forEachDecoded } from './chunks';
import { restartContextOf } from '../../src/pipeline/restore-decoder';
import type { MappedFiles } from './mapped-files';
import { pageDigest, type AreaPages } from './page-diff';

/** AreaPages for every area of `reader`, by area index (kernel areas get empty maps: nothing to compare). */
export async function buildPageMaps(pipeline: Pipeline, reader: ImageReader, files: MappedFiles): Promise<Map<number, AreaPages>> {
  const maps = new Map<number, AreaPages>();
  reader.areas.forEach((a, i) => {
    const pages: AreaPages = { start: a.start, end: a.end, backing: a.backing, stored: new Map(), zeroed: new Set() };
    if (a.backing === Backing.FILE) {
      pages.file = { path: a.path, dev: a.dev, inode: a.inode, offset: a.fileOffset };
      const page = Buffer.alloc(PAGE_SIZE);
      pages.fileDigest = (index) => {
        files.read(a, BigInt(index) * BigInt(PAGE_SIZE), page);
        return pageDigest(page);
      };
    }
    maps.set(i, pages);
  });
  const chunks = reader.chunks.filter((c) => reader.areas[c.header.area].backing !== Backing.NONE);
  await forEachDecoded(pipeline, reader, restartContextOf(reader), chunks, (c, raw) => {
    const pages = maps.get(c.header.area)!;
    const first = Number(c.header.offset / BigInt(PAGE_SIZE));
    const count = Math.ceil(c.header.rawLength / PAGE_SIZE);
    if (c.header.flags & BlockFlag.ZERO || !raw) {
      for (let k = 0; k < count; k++) pages.zeroed.add(first + k);
      return;
    }
    for (let k = 0; k < count; k++) pages.stored.set(first + k, pageDigest(raw.subarray(k * PAGE_SIZE, (k + 1) * PAGE_SIZE)));
  });
  return maps;
}
