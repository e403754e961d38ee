// readimage --verify: decodes every chunk of an image through the restart pipeline and checks every checksum,
// reporting the first bad chunk in file order. For an incremental image it follows the chain: each parent must be the
// image its child names, and every page the image leaves to its parents is decoded from them and checked against
// the page-hash digest of its PARENT block.
import { BLOCK_HEADER_SIZE, BlockFlag } from '../../src/pipeline/image-format';
import { openChain } from '../../src/pipeline/image-chain';
import { ImageError } from '../../src/pipeline/image-reader';
import { pageHashDigest } from '../../src/pipeline/page-hashes';
import { Pipeline, PluginError } from '../../src/pipeline/pipeline';
import { openForRestart } from '../../src/pipeline/restore-decoder';
import { defaultPlugins } from '../../src/plugins';
import type { ChunkWork } from '../../src/pipeline/types';
import { decodeChunk } from './chunks';

export interface Verified {
  /** Blocks of the image that hold pages (data, ZERO and PARENT chunks). */
  chunks: number;
  /** Bytes decoded: the image's own data chunks and the pages it takes from its parents. */
  bytes: number;
  /** The parents the image needs, nearest first (file paths). */
  parents: string[];
  /** PARENT chunks checked against their parents, and the bytes they cover. */
  parentChunks: number;
  parentBytes: number;
}

function hex(v: bigint): string {
  return '0x' + v.toString(16).padStart(16, '0');
}

/** Decodes every chunk through the restart pipeline; throws ImageError for the first bad one (in file order). */
export async function verifyImage(file: string): Promise<Verified> {
  const pipeline = new Pipeline(defaultPlugins({ ignoreFileChanges: true }));
  const { reader, ctx } = openForRestart(pipeline, file, new Map());
  try {
    const parents = openChain(reader).slice(1).map((r) => r.path);
    const data = reader.chunks.filter((c) => !(c.header.flags & BlockFlag.ZERO));
    const failures = new Map<number, ImageError>();
    const result: Verified = { chunks: reader.chunks.length, bytes: 0, parents, parentChunks: 0, parentBytes: 0 };
    let decoded = 0;
    const verifyOne = async (c: (typeof data)[number]): Promise<void> => {
      const h = c.header;
      const where = `chunk of area ${h.area} at +0x${h.offset.toString(16)}`;
      try {
        if (h.flags & BlockFlag.PARENT) {
          const { raw } = await decodeChunk(pipeline, reader, ctx, c);
          const digest = pageHashDigest(raw);
          if (digest !== h.rawChecksum) {
            throw new ImageError(file, c.at, `PARENT ${where}: the pages its parents hold differ from the ones it was written against (page-hash digest ${hex(digest)}, expected ${hex(h.rawChecksum)})`);
          }
          result.parentChunks++;
          result.parentBytes += h.rawLength;
        } else {
          const work: ChunkWork = {
            area: h.area, offset: h.offset, rawLength: h.rawLength, source: null, raw: null, stored: null,
            storedAt: { file, offset: c.at + BLOCK_HEADER_SIZE, length: h.storedLength },
            codecId: h.codec, rawChecksum: h.rawChecksum, storedChecksum: h.storedChecksum, flags: h.flags,
          };
          const out = await pipeline.hooks.decodeChunk.promise(work, ctx);
          out.release?.();
        }
        decoded++;
        result.bytes += h.rawLength;
      } catch (e) {
        const cause = e instanceof PluginError ? (e.cause as Error) : (e as Error);
        failures.set(c.at, cause instanceof ImageError ? cause : new ImageError(file, c.at, `${where}: ${cause.message}`));
      }
    };
    // A few chunks per worker in flight; each promise handles its own failure, so none can go unobserved.
    const inFlight = new Set<Promise<void>>();
    for (const c of data) {
      const p = verifyOne(c).finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= pipeline.workers().size * 3) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    if (failures.size) throw failures.get(Math.min(...failures.keys()))!;
    if (decoded !== data.length) throw new Error(`verified ${decoded} of ${data.length} chunks`);
    return result;
  } finally {
    reader.close();
    await pipeline.close();
  }
}
