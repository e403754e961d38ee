// Decoding an image's chunks for readimage: through the pipeline's decodeChunk hook, as a restart does, a few per
// worker in flight, handed to the caller in file order. No checkArea: inspecting an image needs no mapped file.
// A PARENT chunk of an incremental image is assembled from the chunks of its ancestors (the chain must be open).
import { BLOCK_HEADER_SIZE, BlockFlag } from '../../src/pipeline/image-format';
import { resolveParent } from '../../src/pipeline/image-chain';
import { restartContextOf } from '../../src/pipeline/restore-decoder';
import { ImageError, ImageReader, type ChunkEntry } from '../../src/pipeline/image-reader';
import { PluginError, type Pipeline } from '../../src/pipeline/pipeline';
import { ChunkError } from '../../src/plugins/compression';
import type { ChunkWork, RestartContext } from '../../src/pipeline/types';

export { openImageChain as openImage } from '../../src/pipeline/image-chain';

/** Decoded ancestors' chunks, shared by the PARENT chunks that take pieces of them (a few, most recent first). */
const ancestorCache = new WeakMap<Pipeline, Map<string, Promise<Buffer>>>();
const ANCESTOR_CACHE_CHUNKS = 16;

function decodeAncestor(pipeline: Pipeline, image: ImageReader, c: ChunkEntry): Promise<Buffer> {
  let cache = ancestorCache.get(pipeline);
  if (!cache) ancestorCache.set(pipeline, (cache = new Map()));
  const key = `${image.path}\0${c.at}`;
  let p = cache.get(key);
  if (p) {
    cache.delete(key);   // most recently used goes last
  } else {
    p = decodeChunk(pipeline, image, restartContextOf(image), c).then((d) => {
      const copy = Buffer.from(d.raw);
      d.release();
      return copy;
    });
    p.catch(() => cache!.delete(key));
  }
  cache.set(key, p);
  while (cache.size > ANCESTOR_CACHE_CHUNKS) cache.delete(cache.keys().next().value!);
  return p;
}

/** The bytes of a PARENT chunk, from the ancestors' chunks that hold them (each checked as it is decoded). */
async function assembleParent(pipeline: Pipeline, reader: ImageReader, c: ChunkEntry): Promise<Buffer> {
  const raw = Buffer.alloc(c.header.rawLength);
  const base = Number(reader.areas[c.header.area].start + c.header.offset);
  const slices = resolveParent(reader, c);
  const decoded = await Promise.all(slices.map((s) => (s.chunk ? decodeAncestor(pipeline, s.image, s.chunk) : null)));
  slices.forEach((s, i) => decoded[i]?.copy(raw, s.address - base, s.from, s.from + s.length));
  return raw;
}

/** Decoded bytes of one data chunk, or of a PARENT chunk from the ancestors (the buffer is lent: valid until the
 *  callback returns). */
export async function decodeChunk(pipeline: Pipeline, reader: ImageReader, ctx: RestartContext, c: ChunkEntry): Promise<{ raw: Buffer; release(): void }> {
  const h = c.header;
  if (h.flags & BlockFlag.PARENT) return { raw: await assembleParent(pipeline, reader, c), release: () => undefined };
  const work: ChunkWork = {
    area: h.area, offset: h.offset, rawLength: h.rawLength, source: null, raw: null, stored: null,
    storedAt: { file: reader.path, offset: c.at + BLOCK_HEADER_SIZE, length: h.storedLength },
    codecId: h.codec, rawChecksum: h.rawChecksum, storedChecksum: h.storedChecksum, flags: h.flags,
  };
  let out: ChunkWork;
  try {
    out = await pipeline.hooks.decodeChunk.promise(work, ctx);
  } catch (e) {
    const cause = e instanceof PluginError ? (e.cause as Error) : (e as Error);
    if (cause instanceof ImageError) throw cause;
    if (cause instanceof ChunkError && cause.kind === 'codec') throw new ImageError(reader.path, undefined, cause.message);
    throw new ImageError(reader.path, c.at, `chunk of area ${h.area} at +0x${h.offset.toString(16)}: ${cause.message}`);
  }
  if (!out.raw || out.raw.length !== h.rawLength) {
    out.release?.();
    throw new ImageError(reader.path, c.at, `chunk of area ${h.area} at +0x${h.offset.toString(16)}: no stage decoded it`);
  }
  return { raw: out.raw, release: () => out.release?.() };
}

/**
 * Calls `use` for each chunk in `chunks`, in that order, with its decoded bytes (null for a ZERO chunk). Decoding
 * runs ahead by a few chunks per worker; the first failure stops everything and is thrown.
 */
export async function forEachDecoded(
  pipeline: Pipeline,
  reader: ImageReader,
  ctx: RestartContext,
  chunks: readonly ChunkEntry[],
  use: (c: ChunkEntry, raw: Buffer | null) => void | Promise<void>,
): Promise<void> {
  const window = Math.max(2, pipeline.workers().size * 3);
  const queue: Promise<{ raw: Buffer; release(): void } | null>[] = [];
  let next = 0;
  const submit = () => {
    while (queue.length < window && next < chunks.length) {
      const c = chunks[next++];
      const p = c.header.flags & BlockFlag.ZERO ? Promise.resolve(null) : decodeChunk(pipeline, reader, ctx, c);
      p.catch(() => undefined);   // observed below, in order; a later failure must not go unhandled meanwhile
      queue.push(p);
    }
  };
  let done = 0;
  try {
    submit();
    while (queue.length) {
      const out = await queue.shift()!;
      submit();
      try {
        await use(chunks[done++], out ? out.raw : null);
      } finally {
        out?.release();
      }
    }
  } finally {
    // Give back the buffers of chunks decoded ahead of a failure.
    for (const p of queue) p.then((o) => o?.release(), () => undefined);
  }
}
