// readimage --verify: decodes every chunk of an image through the restart pipeline and checks every checksum,
// reporting the first bad chunk in file order.
import { BLOCK_HEADER_SIZE, BlockFlag } from '../../src/pipeline/image-format';
import { ImageError } from '../../src/pipeline/image-reader';
import { Pipeline, PluginError } from '../../src/pipeline/pipeline';
import { openForRestart } from '../../src/pipeline/restore-decoder';
import { defaultPlugins } from '../../src/plugins';
import type { ChunkWork } from '../../src/pipeline/types';

/** Decodes every chunk through the restart pipeline; throws ImageError for the first bad one (in file order). */
export async function verifyImage(file: string): Promise<{ chunks: number; bytes: number }> {
  const pipeline = new Pipeline(defaultPlugins({ ignoreFileChanges: true }));
  const { reader, ctx } = openForRestart(pipeline, file, new Map());
  try {
    const data = reader.chunks.filter((c) => !(c.header.flags & (BlockFlag.ZERO | BlockFlag.PARENT)));
    const failures = new Map<number, ImageError>();
    let decoded = 0;
    let bytes = 0;
    const verifyOne = async (c: (typeof data)[number]): Promise<void> => {
      const h = c.header;
      try {
        const work: ChunkWork = {
          area: h.area, offset: h.offset, rawLength: h.rawLength, source: null, raw: null, stored: null,
          storedAt: { file, offset: c.at + BLOCK_HEADER_SIZE, length: h.storedLength },
          codecId: h.codec, rawChecksum: h.rawChecksum, storedChecksum: h.storedChecksum, flags: h.flags,
        };
        const out = await pipeline.hooks.decodeChunk.promise(work, ctx);
        out.release?.();
        decoded++;
        bytes += h.rawLength;
      } catch (e) {
        const cause = e instanceof PluginError ? (e.cause as Error) : (e as Error);
        failures.set(c.at, cause instanceof ImageError ? cause : new ImageError(file, c.at, `chunk of area ${h.area} at +0x${h.offset.toString(16)}: ${cause.message}`));
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
    return { chunks: reader.chunks.length, bytes };
  } finally {
    reader.close();
    await pipeline.close();
  }
}
