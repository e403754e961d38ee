// The restore decoder: reads a .dmtcp image through the pipeline and writes the raw process stream that mtcp_restart
// consumes (PROCESS, RESTART, THREADs, AREAs, then DATA/ZERO in address order, END). Chunks are decoded in parallel
// by the workers and written in order. The pages an incremental image leaves to its parents come from the chunks of
// the ancestors that hold them, each such chunk decoded once for all the pieces taken from it. dmtcp_restart runs it
// as a detached process feeding a pipe.
import * as fs from 'node:fs';
import { Rec, StreamTlv } from '../protocol/constants';
import { BLOCK_HEADER_SIZE, BlockFlag } from './image-format';
import { ImageError, ImageReader, type ChunkEntry } from './image-reader';
import { ImagePrefetcher } from './prefetch';
import { openImageChain, resolveParent } from './image-chain';
import { PluginError, type Pipeline } from './pipeline';
import { pagesRecord, streamHeader, streamRecord, encodeTlvs } from './raw-stream';
import type { ChunkWork, RestartContext, SinkSlice } from './types';
import { ChunkError } from '../plugins/compression';

/** The context plugins see for one image (restartInfo: what the restarted process is told). */
export function restartContextOf(reader: ImageReader, restartInfo: Map<number, string> = new Map()): RestartContext {
  return {
    imagePath: reader.path,
    process: reader.process,
    strings: reader.strings,
    areas: reader.areas,
    threads: reader.threads,
    meta: reader.meta,
    sections: reader.plugins,
    restartInfo,
  };
}

/** Opens an image and, for an incremental one, its chain of parents; builds the restart context plugins see; runs
 *  checkArea so unusable images fail early. */
export function openForRestart(pipeline: Pipeline, imagePath: string, restartInfo: Map<number, string>): { reader: ImageReader; ctx: RestartContext } {
  const reader = openImageChain(imagePath);
  const ctx = restartContextOf(reader, restartInfo);
  for (const area of reader.areas) {
    const problem = pipeline.hooks.checkArea.call(area, ctx);
    if (problem) {
      reader.close();
      throw new ImageError(imagePath, undefined, problem);
    }
  }
  return { reader, ctx };
}

function writeAll(fd: number, bufs: Buffer[]): Promise<void> {
  return new Promise((resolve, reject) => {
    fs.writev(fd, bufs, (err, written) => {
      if (err) return reject(err);
      const total = bufs.reduce((s, b) => s + b.length, 0);
      if (written === total) return resolve();
      // Short write on a pipe: finish the rest.
      let skip = written;
      const rest: Buffer[] = [];
      for (const b of bufs) {
        if (skip >= b.length) {
          skip -= b.length;
          continue;
        }
        rest.push(b.subarray(skip));
        skip = 0;
      }
      writeAll(fd, rest).then(resolve, reject);
    });
  });
}

/** Reads the restorer's "areas are ready" message: 'R' and its pid (two u32). */
function readAck(fd: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const buf = Buffer.alloc(8);
    let got = 0;
    const more = () =>
      fs.read(fd, buf, got, 8 - got, null, (err, n) => {
        if (err) return reject(err);
        if (n === 0) return reject(new Error('the restorer exited before its areas were mapped'));
        got += n;
        if (got < 8) return more();
        if (buf.readUInt32LE(0) !== 'R'.charCodeAt(0)) return reject(new Error('unexpected message from the restorer'));
        resolve(buf.readUInt32LE(4));
      });
    more();
  });
}

export interface RestoreStreamOptions {
  /** The restorer's ack pipe: once it reports its areas mapped, chunks are decoded straight into its memory. */
  ackFd?: number;
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  /** Asked between writes: when it says so, the stream stops with an error (another image of the restart failed). */
  cancelled?: () => boolean;
}

export class RestoreCancelled extends Error {
  constructor() {
    super('cancelled');
    this.name = 'RestoreCancelled';
  }
}

/** Writes the restore stream for one image to `fd`. Throws ImageError (with offset) on a bad chunk. */
export async function writeRestoreStream(
  pipeline: Pipeline,
  reader: ImageReader,
  ctx: RestartContext,
  fd: number,
  opts: RestoreStreamOptions = {},
): Promise<void> {
  await pipeline.hooks.beforeRestart.promise(ctx);
  const info = new Map<number, string | Buffer>();
  for (const [tag, value] of ctx.restartInfo) info.set(tag, value);
  info.set(StreamTlv.IMAGE_PATH, ctx.imagePath);
  const head: Buffer[] = [streamHeader(), streamRecord(Rec.PROCESS, reader.processBody), streamRecord(Rec.RESTART, encodeTlvs(info))];
  for (let off = 0; off + 32 <= reader.threadsBody.length; off += 32) head.push(streamRecord(Rec.THREAD, reader.threadsBody.subarray(off, off + 32)));
  for (const a of reader.areas) head.push(streamRecord(Rec.AREA, a.raw));
  const trace = process.env.DMTCP_TRACE ? (m: string) => process.stderr.write(`[decoder ${Date.now() % 100000}] ${m}\n`) : () => undefined;
  trace('image open');
  const direct: Direct = { pid: 0 };
  const items = restoreItems(reader, ctx);
  pipeline.workers();   // start the worker threads, and the reading, while the restorer maps the areas
  const prefetch = ImagePrefetcher.for(reader);
  try {
    await writeAll(fd, head);
    if (opts.ackFd !== undefined) direct.pid = await readAck(opts.ackFd);
    trace(`restorer ready (${direct.pid ? 'direct writes' : 'pipe'})`);
    await deliver();
  } finally {
    prefetch?.close();
  }
  trace('all chunks delivered');
  await writeAll(fd, [streamRecord(Rec.END, reader.endBody)]);
  await pipeline.hooks.afterRestart.promise(ctx);

  async function deliver(): Promise<void> {
    const total = items.reduce((s, it) => s + it.bytes, 0);
    let done = 0;
    const window = Math.max(2, pipeline.workers().size * 3);
    const queue: { item: Item; work: Promise<ChunkWork | null> }[] = [];
    let next = 0;
    const submit = () => {
      while (queue.length < window && next < items.length) {
        const item = items[next++];
        const work = item.kind === 'zero' ? Promise.resolve(null) : decodeOne(pipeline, item.reader, item.ctx, item.chunk, direct, item.slices, prefetch);
        queue.push({ item, work });
      }
    };
    submit();
    const check = () => {
      if (opts.cancelled?.()) throw new RestoreCancelled();
    };
    check();
    while (queue.length) {
      const { item, work } = queue.shift()!;
      const out = await work.catch((e: unknown) => {
        // The chunks already submitted keep going; wait for them so none writes after the error record.
        return Promise.allSettled(queue.map((q) => q.work)).then(() => { throw e; });
      });
      check();
      submit();
      if (item.kind === 'zero') {
        await writeAll(fd, [pagesRecord(Rec.ZERO, item.area, item.offset, item.bytes)]);
      } else if (!out!.delivered) {
        const h = item.chunk.header;
        const raw = out!.raw!;
        const parts = item.slices
          ? item.slices.flatMap((s) => [pagesRecord(Rec.DATA, s.area, s.offset, s.length), raw.subarray(s.from, s.from + s.length)])
          : [pagesRecord(Rec.DATA, h.area, h.offset, h.rawLength), raw];
        try {
          await writeAll(fd, parts);
        } finally {
          out!.release?.();
        }
      }
      done += item.bytes;
      opts.onProgress?.(done, total);
    }
  }
}

/** Where decoded pages go directly: the restorer's pid, 0 when they travel through the pipe. */
interface Direct {
  pid: number;
}

/** A piece of an ancestor's chunk that lands in the image being restored, at `offset` of its area `area`. */
interface Slice extends SinkSlice {
  area: number;
  offset: bigint;
}

/** What the restore stream carries, in order: a chunk decoded whole into its own place (`slices` null), an
 *  ancestor's chunk decoded once for the slices taken from it, or zeros. `bytes` counts what lands in the process. */
type Item =
  | { kind: 'chunk'; reader: ImageReader; ctx: RestartContext; chunk: ChunkEntry; slices: Slice[] | null; bytes: number }
  | { kind: 'zero'; area: number; offset: bigint; bytes: number };

/** The image's chunks in file order, with each PARENT block replaced by the ancestors' pieces that hold its pages;
 *  an ancestor's chunk comes where it is first needed. */
function restoreItems(reader: ImageReader, ctx: RestartContext): Item[] {
  const items: Item[] = [];
  const groups = new Map<string, Item & { kind: 'chunk' }>();
  const contexts = new Map<ImageReader, RestartContext>([[reader, ctx]]);
  for (const c of reader.chunks) {
    const h = c.header;
    if (h.flags & BlockFlag.ZERO) {
      items.push({ kind: 'zero', area: h.area, offset: h.offset, bytes: h.rawLength });
    } else if (!(h.flags & BlockFlag.PARENT)) {
      items.push({ kind: 'chunk', reader, ctx, chunk: c, slices: null, bytes: h.rawLength });
    } else {
      const areaStart = reader.areas[h.area].start;
      for (const s of resolveParent(reader, c)) {
        const offset = BigInt(s.address) - areaStart;
        if (!s.chunk) {
          items.push({ kind: 'zero', area: h.area, offset, bytes: s.length });
          continue;
        }
        const key = `${s.image.path}\0${s.chunk.at}`;
        let g = groups.get(key);
        if (!g) {
          let sctx = contexts.get(s.image);
          if (!sctx) contexts.set(s.image, (sctx = restartContextOf(s.image, ctx.restartInfo)));
          g = { kind: 'chunk', reader: s.image, ctx: sctx, chunk: s.chunk, slices: [], bytes: 0 };
          groups.set(key, g);
          items.push(g);
        }
        g.slices!.push({ from: s.from, length: s.length, address: BigInt(s.address), area: h.area, offset });
        g.bytes += s.length;
      }
    }
  }
  return items;
}

async function decodeOne(pipeline: Pipeline, reader: ImageReader, ctx: RestartContext, c: ChunkEntry, direct: Direct, slices: Slice[] | null = null, prefetch?: ImagePrefetcher): Promise<ChunkWork | null> {
  const h = c.header;
  if (h.flags & BlockFlag.ZERO) return null;
  if (h.flags & BlockFlag.PARENT) throw new ImageError(reader.path, c.at, 'a PARENT chunk reached the decoder unresolved');
  if (!prefetch) return decodeWith(pipeline, reader, ctx, c, direct, slices, null);
  try {
    const view = await prefetch.payload(c);
    return await decodeWith(pipeline, reader, ctx, c, direct, slices, view ? Buffer.from(view.buffer, view.byteOffset, view.length) : null);
  } catch (e) {
    if (e instanceof ImageError) throw e;
    throw new ImageError(reader.path, c.at, (e as Error).message);
  } finally {
    prefetch.done(c);
  }
}

/** Decodes one chunk through the pipeline; its payload is `stored` when already read, else the workers read it. */
async function decodeWith(pipeline: Pipeline, reader: ImageReader, ctx: RestartContext, c: ChunkEntry, direct: Direct, slices: Slice[] | null, stored: Buffer | null): Promise<ChunkWork | null> {
  const h = c.header;
  const work: ChunkWork = {
    area: h.area,
    offset: h.offset,
    rawLength: h.rawLength,
    source: null,
    raw: null,
    stored,
    storedAt: { file: reader.path, offset: c.at + BLOCK_HEADER_SIZE, length: h.storedLength },
    codecId: h.codec,
    rawChecksum: h.rawChecksum,
    storedChecksum: h.storedChecksum,
    flags: h.flags,
    sink: direct.pid
      ? { pid: direct.pid, address: reader.areas[h.area].start + h.offset, ...(slices ? { slices: slices.map(({ from, length, address }) => ({ from, length, address })) } : {}) }
      : null,
  };
  try {
    const out = await pipeline.hooks.decodeChunk.promise(work, ctx);
    if (!out.delivered && (!out.raw || out.raw.length !== h.rawLength)) throw new ChunkError('no stage decoded the chunk', 'internal');
    return out;
  } catch (e) {
    const cause = e instanceof PluginError ? (e.cause as Error) : (e as Error);
    if (cause instanceof ChunkError && cause.kind === 'write' && direct.pid) {
      // Not allowed to write into the restorer (a stricter Yama, a setuid restorer): send pages through the pipe.
      direct.pid = 0;
      return decodeWith(pipeline, reader, ctx, c, direct, slices, stored);
    }
    if (cause instanceof ChunkError && cause.kind === 'codec') throw new ImageError(reader.path, undefined, cause.message);
    throw new ImageError(reader.path, c.at, `chunk of area ${h.area} at +0x${h.offset.toString(16)}: ${cause.message}`);
  }
}

/** The failure as the restorer will print it: the first line only. */
export function errorRecord(message: string): Buffer {
  return streamRecord(Rec.ERROR, Buffer.from(message.split('\n')[0], 'utf8'));
}
