// The restore decoder: reads a .dmtcp image through the pipeline and writes the raw process stream that mtcp_restart
// consumes (PROCESS, RESTART, THREADs, AREAs, then DATA/ZERO in address order, END). Chunks are decoded in parallel
// by the workers and written in order. dmtcp_restart runs it as a detached process feeding a pipe.
import * as fs from 'node:fs';
import { Rec, StreamTlv } from '../protocol/constants';
import { BLOCK_HEADER_SIZE, BlockFlag } from './image-format';
import { ImageError, ImageReader, type ChunkEntry } from './image-reader';
import { PluginError, type Pipeline } from './pipeline';
import { pagesRecord, streamHeader, streamRecord, encodeTlvs } from './raw-stream';
import type { ChunkWork, RestartContext } from './types';
import { ChunkError } from '../plugins/compression';

/** Opens an image and builds the restart context plugins see; runs checkArea so unusable images fail early. */
export function openForRestart(pipeline: Pipeline, imagePath: string, restartInfo: Map<number, string>): { reader: ImageReader; ctx: RestartContext } {
  const reader = ImageReader.open(imagePath);
  const ctx: RestartContext = {
    imagePath,
    process: reader.process,
    strings: reader.strings,
    areas: reader.areas,
    threads: reader.threads,
    meta: reader.meta,
    sections: reader.plugins,
    restartInfo,
  };
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
  pipeline.workers();   // start the worker threads while the restorer maps the areas
  await writeAll(fd, head);
  const direct: Direct = { pid: 0 };
  if (opts.ackFd !== undefined) direct.pid = await readAck(opts.ackFd);
  trace(`restorer ready (${direct.pid ? 'direct writes' : 'pipe'})`);

  const total = reader.chunks.reduce((s, c) => s + c.header.rawLength, 0);
  let done = 0;
  const window = Math.max(2, pipeline.workers().size * 3);
  const queue: { chunk: ChunkEntry; work: Promise<ChunkWork | null> }[] = [];
  let next = 0;
  const submit = () => {
    while (queue.length < window && next < reader.chunks.length) {
      const chunk = reader.chunks[next++];
      queue.push({ chunk, work: decodeOne(pipeline, reader, ctx, chunk, direct) });
    }
  };
  submit();
  const check = () => {
    if (opts.cancelled?.()) throw new RestoreCancelled();
  };
  check();
  while (queue.length) {
    const { chunk, work } = queue.shift()!;
    const out = await work.catch((e: unknown) => {
      // The chunks already submitted keep going; wait for them so none writes after the error record.
      return Promise.allSettled(queue.map((q) => q.work)).then(() => { throw e; });
    });
    check();
    submit();
    const h = chunk.header;
    if (out === null) {
      await writeAll(fd, [pagesRecord(Rec.ZERO, h.area, h.offset, h.rawLength)]);
    } else if (!out.delivered) {
      try {
        await writeAll(fd, [pagesRecord(Rec.DATA, h.area, h.offset, h.rawLength), out.raw!]);
      } finally {
        out.release?.();
      }
    }
    done += h.rawLength;
    opts.onProgress?.(done, total);
  }
  trace('all chunks delivered');
  await writeAll(fd, [streamRecord(Rec.END, reader.endBody)]);
  await pipeline.hooks.afterRestart.promise(ctx);
}

/** Where decoded pages go directly: the restorer's pid, 0 when they travel through the pipe. */
interface Direct {
  pid: number;
}

async function decodeOne(pipeline: Pipeline, reader: ImageReader, ctx: RestartContext, c: ChunkEntry, direct: Direct): Promise<ChunkWork | null> {
  const h = c.header;
  if (h.flags & BlockFlag.ZERO) return null;
  if (h.flags & BlockFlag.PARENT) throw new ImageError(reader.path, c.at, 'chunk refers to a parent image; incremental images need the parent chain');
  const work: ChunkWork = {
    area: h.area,
    offset: h.offset,
    rawLength: h.rawLength,
    source: null,
    raw: null,
    stored: null,
    storedAt: { file: reader.path, offset: c.at + BLOCK_HEADER_SIZE, length: h.storedLength },
    codecId: h.codec,
    rawChecksum: h.rawChecksum,
    storedChecksum: h.storedChecksum,
    flags: h.flags,
    sink: direct.pid ? { pid: direct.pid, address: reader.areas[h.area].start + h.offset } : null,
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
      return decodeOne(pipeline, reader, ctx, c, direct);
    }
    if (cause instanceof ChunkError && cause.kind === 'codec') throw new ImageError(reader.path, undefined, cause.message);
    throw new ImageError(reader.path, c.at, `chunk of area ${h.area} at +0x${h.offset.toString(16)}: ${cause.message}`);
  }
}

/** The failure as the restorer will print it: the first line only. */
export function errorRecord(message: string): Buffer {
  return streamRecord(Rec.ERROR, Buffer.from(message.split('\n')[0], 'utf8'));
}
