// The restore decoder: reads a .dmtcp image through the pipeline and writes the raw process stream that mtcp_restart
// consumes (PROCESS, RESTART, THREADs, AREAs, then DATA/ZERO in address order, END). Chunks are decoded in parallel
// by the workers and written in order. The pages an incremental image leaves to its parents come from the chunks of
// the ancestors that hold them, each such chunk decoded once for all the pieces taken from it. dmtcp_restart runs it
// as a detached process feeding a pipe.
import * as fs from 'node:fs';
import * as net from 'node:net';
import { ACK_LAZY, ACK_READY, AreaFlag, Backing, Rec, StreamTlv } from '../protocol/constants';
import { lazyFinish, lazyServe, pidfdGetfd, type LazyStats } from '../native/addon';
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

/** One message of the restorer on the ack pipe: four int32 (dmtcp_stream.h, DMTCP_ACK_*). */
function readAckMessage(fd: number): Promise<Int32Array> {
  return new Promise((resolve, reject) => {
    const buf = Buffer.alloc(16);
    let got = 0;
    const more = () =>
      fs.read(fd, buf, got, 16 - got, null, (err, n) => {
        if (err) return reject(err);
        if (n === 0) return reject(new Error('the restorer exited before its areas were mapped'));
        got += n;
        if (got < 16) return more();
        resolve(new Int32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + 16)));
      });
    more();
  });
}

/** The restorer's "areas are ready" message: its pid, and its userfaultfd and lazy pipe descriptors (-1: none). */
async function readReady(fd: number): Promise<{ pid: number; uffd: number; done: number }> {
  const m = await readAckMessage(fd);
  if (m[0] !== ACK_READY) throw new Error('unexpected message from the restorer');
  return { pid: m[1], uffd: m[2], done: m[3] };
}

/** Lazy restore: 'auto' fills large private anonymous areas after the program resumes when the image is large, 'on'
 *  every private anonymous area with pages, 'off' none. */
export type LazyMode = 'auto' | 'on' | 'off';
/** 'auto': an area is filled lazily when it has at least this much data... */
const LAZY_AREA_MIN = 4 << 20;
/** ...and the image when its lazy areas hold at least this much. */
const LAZY_IMAGE_MIN = 64 << 20;
/** Written into the lazy pipe before it is closed, once every page is in (docs/ARCHITECTURE.md, "Lazy restore"). */
const DONE_BYTE = Buffer.from('D');

export function lazyModeOf(value: string | undefined): LazyMode {
  if (value === undefined || value === '' || value === 'auto') return 'auto';
  if (value === '0' || value === 'off' || value === 'no') return 'off';
  if (value === '1' || value === 'on' || value === 'yes') return 'on';
  throw new Error(`DMTCP_LAZY must be auto, on (1) or off (0), not "${value}"`);
}

export interface RestoreStreamOptions {
  /** The restorer's ack pipe: once it reports its areas mapped, chunks are decoded straight into its memory. */
  ackFd?: number;
  /** Asked between writes: when it says so, the stream stops with an error (another image of the restart failed). */
  cancelled?: () => boolean;
  /** Which areas may be filled after the program resumes (default 'auto'). */
  lazy?: LazyMode;
  /** The program runs again (its stream ended) while lazily restored pages are still coming. */
  onResumed?: () => void;
  /** Every lazily restored page is in (or the process is gone). */
  onLazyDone?: (stats: LazyStats & { ms: number }) => void;
  /** Areas were chosen for a lazy restore but it could not be done (why); they are put back before the program resumes. */
  onLazyRefused?: (why: string) => void;
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
  // The areas that may be filled after the program resumes, if the restorer can open a userfaultfd: planned now so
  // the reading ahead starts with the pages needed before.
  const lazyAreas = opts.ackFd !== undefined ? chooseLazy(reader, items, opts.lazy ?? 'auto') : null;
  // Split once: what goes in before the program resumes, and what may come after (all of it in lazy areas).
  const eager: Item[] = [];
  const later: Item[] = [];
  for (const it of items) {
    const inLazyArea = lazyAreas !== null && (it.kind === 'zero' ? lazyAreas.has(it.area) : targetsOf(it).every((t) => lazyAreas.has(t.area)));
    (inLazyArea ? later : eager).push(it);
  }
  const lazyItems = later.filter((it): it is ChunkItem => it.kind === 'chunk');
  pipeline.workers();   // start the worker threads, and the reading, while the restorer maps the areas
  const own = (list: Item[]) => list.flatMap((it) => (it.kind === 'chunk' && it.reader === reader ? [it.chunk] : []));
  let prefetch = ImagePrefetcher.for(reader, own(eager));
  let background: Promise<void> | undefined;
  let ready = { pid: 0, uffd: -1, done: -1 };
  try {
    await writeAll(fd, head);
    if (opts.ackFd !== undefined) ready = await readReady(opts.ackFd);
    direct.pid = ready.pid;
    trace(`restorer ready (${direct.pid ? 'direct writes' : 'pipe'}${ready.uffd >= 0 ? ', userfaultfd' : ''})`);
    await deliver(eager, prefetch);
  } finally {
    prefetch?.close();
  }
  if (later.length) {
    prefetch = ImagePrefetcher.for(reader, own(later));
    try {
      if (ready.uffd >= 0 && direct.pid) background = (await startLazy(lazyItems, lazyAreas!, ready, prefetch))?.filled;
      else if (!direct.pid) opts.onLazyRefused?.('the restorer gets its pages through the pipe, not straight into its memory');
      else opts.onLazyRefused?.('the kernel refuses userfaultfd to this user (vm.unprivileged_userfaultfd=0; root or CAP_SYS_PTRACE may use it)');
      if (!background) await deliver(later, prefetch);
    } finally {
      if (!background) prefetch?.close();
    }
  }
  await writeAll(fd, [streamRecord(Rec.END, reader.endBody)]);
  if (background) {
    trace('program resumed; lazy pages still coming');
    opts.onResumed?.();
    try {
      await background;
    } finally {
      prefetch?.close();
    }
  }
  trace('all chunks delivered');
  await pipeline.hooks.afterRestart.promise(ctx);

  /** Registers the lazy areas with the restorer's userfaultfd and starts filling them; undefined when the restorer
   *  could not register them (they are then filled before END like the rest). */
  async function startLazy(lazyItems: ChunkItem[], areas: Set<number>, ready: { pid: number; uffd: number; done: number }, prefetch: ImagePrefetcher | undefined): Promise<{ filled: Promise<void> } | undefined> {
    let uffd = -1;
    let doneFd = -1;
    try {
      uffd = pidfdGetfd(ready.pid, ready.uffd);
      doneFd = pidfdGetfd(ready.pid, ready.done);
    } catch (e) {
      opts.onLazyRefused?.(`cannot take the restorer's userfaultfd: ${(e as Error).message}`);
      if (uffd >= 0) fs.closeSync(uffd);
      uffd = -1;
    }
    const order = uffd >= 0 ? [...areas].sort((a, b) => a - b) : [];
    const body = Buffer.alloc(4 + 4 * order.length);
    body.writeUInt32LE(order.length, 0);
    order.forEach((a, i) => body.writeUInt32LE(a, 4 + 4 * i));
    await writeAll(fd, [streamRecord(Rec.LAZY, body)]);
    const answer = await readAckMessage(opts.ackFd!);
    if (answer[0] !== ACK_LAZY) throw new Error('unexpected message from the restorer');
    if (answer[1] <= 0 || uffd < 0) {
      if (uffd >= 0) {
        opts.onLazyRefused?.(`the restorer could not register its areas with userfaultfd (${answer[1] < 0 ? `errno ${-answer[1]}` : 'none'})`);
        fs.closeSync(uffd);
      }
      if (doneFd >= 0) fs.closeSync(doneFd);
      return undefined;
    }
    const ranges: bigint[] = [];
    for (const a of order) ranges.push(reader.areas[a].start, reader.areas[a].end);
    const expected: bigint[] = [];
    for (const it of lazyItems) for (const t of targetsOf(it)) expected.push(t.address, t.address + BigInt(t.length));
    const server = lazyServe(uffd, ranges, expected);
    const started = Date.now();
    trace(`lazy: ${order.length} area(s), ${lazyItems.length} chunk(s)`);
    // Either way the pipe ends and the library's wait (fork, checkpoint) ends; the one byte written first tells it
    // every page is in (without it, the process ends itself: pages are missing for good).
    const finish = (complete: boolean) => {
      const stats = lazyFinish(server.handle, complete ? ready.pid : undefined);
      try {
        if (complete) fs.writeSync(doneFd, DONE_BYTE);
      } catch {
        // the process is gone: no one is left to tell
      }
      fs.closeSync(doneFd);
      return stats;
    };
    const filled = fillLazy(lazyItems, server, ready.pid, prefetch).then(
      () => {
        const stats = finish(true);
        opts.onLazyDone?.({ ...stats, ms: Date.now() - started });
        trace(`lazy done: ${JSON.stringify(stats)}`);
      },
      (e: unknown) => {
        // The program already runs on pages that will never come: it cannot go on.
        try {
          process.kill(ready.pid, 'SIGKILL');
        } catch {
          // already gone
        }
        finish(false);
        const why = e instanceof ImageError ? e.message : new ImageError(reader.path, undefined, (e as Error).message).message;
        throw new Error(`${why}; found after the program resumed (lazy restore), so it was killed; restart with --no-lazy to check every page first`);
      },
    );
    filled.catch(() => undefined);   // awaited by the caller once the stream has ended
    return { filled };
  }

  /** Decodes the lazy chunks into the running process, in image order, except that a chunk the program faulted on
   *  goes next. */
  function fillLazy(lazyItems: ChunkItem[], server: { handle: number; faults: number }, pid: number, prefetch: ImagePrefetcher | undefined): Promise<void> {
    const index = lazyIndex(lazyItems);
    const started = new Set<ChunkItem>();
    const urgent: ChunkItem[] = [];
    const sink: Direct = { pid, lazy: server.handle };
    const window = Math.max(2, pipeline.workers().size * 2);
    let next = 0;
    let running = 0;
    const faults = new net.Socket({ fd: server.faults, readable: true, writable: false });
    return new Promise<void>((resolve, reject) => {
      let failed = false;
      let pending: Buffer = Buffer.alloc(0);
      faults.on('data', (d: Buffer) => {
        pending = pending.length ? Buffer.concat([pending, d]) : d;
        let at = 0;
        for (; at + 8 <= pending.length; at += 8) {
          const it = findItem(index, pending.readBigUInt64LE(at));
          if (it && !started.has(it)) urgent.push(it);
        }
        pending = pending.subarray(at);
        pump();
      });
      faults.on('error', () => undefined);
      const pump = () => {
        while (!failed && running < window) {
          let it = urgent.shift();
          while (it && started.has(it)) it = urgent.shift();
          if (!it) {
            while (next < lazyItems.length && started.has(lazyItems[next])) next++;
            if (next >= lazyItems.length) break;
            it = lazyItems[next++];
          }
          started.add(it);
          running++;
          const item = it;
          const outOfOrder = prefetch !== undefined && !prefetch.started(item.chunk);
          decodeOne(pipeline, item.reader, item.ctx, item.chunk, sink, item.slices, outOfOrder ? undefined : prefetch).then(
            () => {
              if (outOfOrder) prefetch!.done(item.chunk);
              running--;
              pump();
            },
            (e: unknown) => {
              failed = true;
              reject(e);
            },
          );
        }
        if (!failed && running === 0 && started.size === lazyItems.length) resolve();
      };
      pump();
    }).finally(() => faults.destroy());
  }

  async function deliver(items: Item[], prefetch: ImagePrefetcher | undefined): Promise<void> {
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
    }
  }
}

/** Where decoded pages go directly: the restorer's pid, 0 when they travel through the pipe; `lazy`: through that
 *  lazy restore's userfaultfd (src/native/addon.ts). */
interface Direct {
  pid: number;
  lazy?: number;
}

/** A piece of an ancestor's chunk that lands in the image being restored, at `offset` of its area `area`. */
interface Slice extends SinkSlice {
  area: number;
  offset: bigint;
}

/** What the restore stream carries, in order: a chunk decoded whole into its own place (`slices` null), an
 *  ancestor's chunk decoded once for the slices taken from it, or zeros. `bytes` counts what lands in the process. */
type ChunkItem = { kind: 'chunk'; reader: ImageReader; ctx: RestartContext; chunk: ChunkEntry; slices: Slice[] | null; bytes: number };
type Item = ChunkItem | { kind: 'zero'; area: number; offset: bigint; bytes: number };

/** Where a chunk item's pages land: area, address and length of each part. */
function targetsOf(it: ChunkItem): { area: number; address: bigint; length: number }[] {
  if (it.slices) return it.slices.map((s) => ({ area: s.area, address: s.address, length: s.length }));
  const h = it.chunk.header;
  return [{ area: h.area, address: it.reader.areas[h.area].start + h.offset, length: h.rawLength }];
}

/** The areas to fill after the program resumes (private anonymous, readable and writable), or null for none. */
function chooseLazy(reader: ImageReader, items: Item[], mode: LazyMode): Set<number> | null {
  if (mode === 'off') return null;
  const bytes = new Map<number, number>();
  for (const it of items) {
    if (it.kind !== 'chunk') continue;
    for (const t of targetsOf(it)) bytes.set(t.area, (bytes.get(t.area) ?? 0) + t.length);
  }
  const lazy = new Set<number>();
  let total = 0;
  for (const [area, n] of bytes) {
    const a = reader.areas[area];
    // Private anonymous memory the program can read and write (the kernel fills nothing else for a userfaultfd in
    // missing mode; read-only and inaccessible areas are rare and small, and keep the simple path).
    if (a.backing !== Backing.ZERO || (a.flags & AreaFlag.SHARED) || (a.prot & 3) !== 3) continue;
    if (mode === 'auto' && n < LAZY_AREA_MIN) continue;
    lazy.add(area);
    total += n;
  }
  if (lazy.size === 0 || (mode === 'auto' && total < LAZY_IMAGE_MIN)) return null;
  return lazy;
}

/** Lazy chunk items by the address ranges they fill, sorted, for finding the one a fault needs. */
function lazyIndex(items: ChunkItem[]): { lo: bigint; hi: bigint; item: ChunkItem }[] {
  const index = items.flatMap((item) => targetsOf(item).map((t) => ({ lo: t.address, hi: t.address + BigInt(t.length), item })));
  return index.sort((a, b) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0));
}

function findItem(index: { lo: bigint; hi: bigint; item: ChunkItem }[], address: bigint): ChunkItem | undefined {
  let lo = 0;
  let hi = index.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const e = index[mid];
    if (address < e.lo) hi = mid - 1;
    else if (address >= e.hi) lo = mid + 1;
    else return e.item;
  }
  return undefined;
}

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
      ? {
        pid: direct.pid,
        address: reader.areas[h.area].start + h.offset,
        ...(slices ? { slices: slices.map(({ from, length, address }) => ({ from, length, address })) } : {}),
        ...(direct.lazy !== undefined ? { lazy: direct.lazy } : {}),
      }
      : null,
  };
  try {
    const out = await pipeline.hooks.decodeChunk.promise(work, ctx);
    if (!out.delivered && (!out.raw || out.raw.length !== h.rawLength)) throw new ChunkError('no stage decoded the chunk', 'internal');
    return out;
  } catch (e) {
    const cause = e instanceof PluginError ? (e.cause as Error) : (e as Error);
    if (cause instanceof ChunkError && cause.kind === 'write' && direct.pid && direct.lazy === undefined) {
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
