// A pipeline worker thread: stages each chunk once in WebAssembly memory (copied from a buffer, or read straight out
// of the frozen process), checksums it there, runs the codec the job names, and copies the result into the buffer
// the caller lent it.
import * as fs from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { CodecImpl, CreateCodec } from '../codec';
import { alignedBuffer, lazyCopy, processVmRead, processVmWrite } from '../../native/addon';
import { hashInPlace, threadCodecModule } from '../wasm/thread-stage';
import { ALIGN, DIRECT_AFTER, openDirectForReading } from '../image-file';
import { CHUNK_SIZE } from '../image-format';
import type { CodecRef, DecodeJob, DiffJob, DiffPiece, EncodeJob, Job, JobResult } from './protocol';

const codecs = new Map<string, CodecImpl>();
const files = new Map<string, number>();
/** Image files opened with O_DIRECT (-1: the file system refused it); see readFile. */
const directFiles = new Map<string, number>();
/** Page-aligned memory that direct reads land in before the payload is staged. */
let scratch: Uint8Array | undefined;
/** Payloads at least this long are read with O_DIRECT when the file system allows it. */
const DIRECT_MIN = 64 << 10;

/** Reads exactly `into.length` bytes of `file` at `offset` (image files stay open for the worker's life). Large
 *  payloads in the part of an image its writer wrote with O_DIRECT (so the page cache does not hold it) bypass the
 *  page cache too: the aligned blocks around them are read with O_DIRECT into scratch memory and the payload copied
 *  out, which on a cold cache costs a fraction of filling page-cache pages first. */
function readFile(file: string, offset: number, into: Uint8Array): void {
  if (into.length >= DIRECT_MIN && offset >= DIRECT_AFTER && readDirect(file, offset, into)) return;
  let fd = files.get(file);
  if (fd === undefined) {
    fd = fs.openSync(file, 'r');
    files.set(file, fd);
  }
  readFully(fd, file, into, offset);
}

function readFully(fd: number, file: string, into: Uint8Array, offset: number, need = into.length): void {
  let got = 0;
  while (got < need) {
    const n = fs.readSync(fd, into, got, into.length - got, offset + got);
    if (n === 0) throw new Error(`unexpected end of ${file} at ${offset + got}`);
    got += n;
  }
}

function readDirect(file: string, offset: number, into: Uint8Array): boolean {
  let fd = directFiles.get(file);
  if (fd === undefined) {
    fd = openDirectForReading(file);
    directFiles.set(file, fd);
  }
  if (fd < 0) return false;
  const start = offset - (offset % ALIGN);
  const span = Math.ceil((offset + into.length - start) / ALIGN) * ALIGN;
  if (!scratch || scratch.length < span) scratch = new Uint8Array(alignedBuffer(Math.max(span, 2 << 20), ALIGN));
  try {
    // The last block may run past the end of the file: only the payload's own bytes must arrive.
    readFully(fd, file, scratch.subarray(0, span), start, offset + into.length - start);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
    fs.closeSync(fd);
    directFiles.set(file, -1);
    return false;
  }
  into.set(scratch.subarray(offset - start, offset - start + into.length));
  return true;
}

function codecFor(ref: CodecRef): CodecImpl {
  const key = `${ref.module}\0${JSON.stringify(ref.options)}`;
  let impl = codecs.get(key);
  if (!impl) {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const mod = require(ref.module) as { createCodec?: CreateCodec };
    if (typeof mod.createCodec !== 'function') throw new Error(`codec module ${ref.module} exports no createCodec()`);
    impl = mod.createCodec(ref.options);
    codecs.set(key, impl);
  }
  return impl;
}

function hex(v: bigint): string {
  return '0x' + v.toString(16).padStart(16, '0');
}

/** Hash of a view that lives in the stage's memory, else of a copy staged there. */
function hashView(view: Uint8Array): bigint {
  const mod = threadCodecModule();
  if (view.buffer === mod.exports.memory.buffer) return hashInPlace(mod, view.byteOffset, view.length);
  return mod.xxh64(view);
}

function encode(job: EncodeJob): JobResult {
  const mod = threadCodecModule();
  const len = job.source.length;
  const input = mod.inputView(len);
  if (job.source.kind === 'pull') {
    try {
      processVmRead(job.source.pid, job.source.address, input);
    } catch (e) {
      return { op: 'error', job: job.job, kind: 'read', message: `reading the process's memory at 0x${job.source.address.toString(16)} failed: ${(e as Error).message}`, buffers: [job.out] };
    }
  } else {
    input.set(new Uint8Array(job.source.data, 0, len));
  }
  const rawChecksum = hashInPlace(mod, mod.heapBase, len);
  let stored: Uint8Array | null = null;
  if (job.codec.id !== 0) stored = codecFor(job.codec).compress(mod.inputView(len));
  const payload = stored ?? mod.inputView(len);
  const storedChecksum = stored ? hashView(stored) : rawChecksum;
  new Uint8Array(job.out, 0, payload.length).set(payload);
  return {
    op: 'encode',
    job: job.job,
    out: job.out,
    storedLength: payload.length,
    codecId: stored ? job.codec.id : 0,
    rawChecksum,
    storedChecksum,
    data: job.source.kind === 'bytes' ? job.source.data : undefined,
  };
}

function decode(job: DecodeJob): JobResult {
  const mod = threadCodecModule();
  const lent = job.stored instanceof ArrayBuffer ? job.stored : null;
  const fail = (kind: 'corrupt' | 'codec', message: string): JobResult => ({ op: 'error', job: job.job, kind, message, buffers: lent ? [lent, job.out] : [job.out] });
  const input = mod.inputView(job.storedLength);
  if (job.stored instanceof ArrayBuffer) input.set(new Uint8Array(job.stored, 0, job.storedLength));
  else if ('shared' in job.stored) input.set(new Uint8Array(job.stored.shared, job.stored.offset, job.storedLength));
  else readFile(job.stored.file, job.stored.offset, input);
  const storedSum = hashInPlace(mod, mod.heapBase, job.storedLength);
  if (storedSum !== job.storedChecksum) {
    return fail('corrupt', `payload checksum mismatch (expected ${hex(job.storedChecksum)}, found ${hex(storedSum)})`);
  }
  let raw: Uint8Array;
  if (job.codec === null) {
    raw = mod.inputView(job.storedLength);
  } else {
    let impl: CodecImpl;
    try {
      impl = codecFor(job.codec);
    } catch (e) {
      return fail('codec', (e as Error).message);
    }
    try {
      raw = impl.decompress(mod.inputView(job.storedLength), job.rawLength);
    } catch (e) {
      return fail('corrupt', (e as Error).message);
    }
  }
  if (raw.length !== job.rawLength) return fail('corrupt', `decoded ${raw.length} bytes, expected ${job.rawLength}`);
  // Stored as is: the payload checksum above already covered these very bytes.
  const rawSum = job.codec === null && job.rawChecksum === job.storedChecksum ? storedSum : hashView(raw);
  if (rawSum !== job.rawChecksum) {
    return fail('corrupt', `decoded chunk checksum mismatch (expected ${hex(job.rawChecksum)}, found ${hex(rawSum)})`);
  }
  if (job.sink) {
    const slices = job.sink.slices ?? [{ from: 0, length: raw.length, address: job.sink.address }];
    for (const s of slices) {
      try {
        // A lazily restored process that has exited takes no more pages: nothing is lost that anyone can read.
        if (job.sink.lazy !== undefined) lazyCopy(job.sink.lazy, s.address, raw.subarray(s.from, s.from + s.length));
        else processVmWrite(job.sink.pid, s.address, raw.subarray(s.from, s.from + s.length));
      } catch (e) {
        return { op: 'error', job: job.job, kind: 'write', message: `writing into process ${job.sink.pid} at 0x${s.address.toString(16)} failed: ${(e as Error).message}`, buffers: lent ? [lent, job.out] : [job.out] };
      }
    }
    return { op: 'decode', job: job.job, out: job.out, stored: lent, delivered: true };
  }
  new Uint8Array(job.out, 0, raw.length).set(raw);
  return { op: 'decode', job: job.job, out: job.out, stored: lent, delivered: false };
}

const PAGE = 4096;

function align64(n: number): number {
  return Math.ceil(n / 64) * 64;
}

/**
 * The diff stage. The chunk is staged at heapBase, as for encoding, and hashed page by page there; the hashes, the
 * previous ones, their known flags and the changed flags follow the codec's output area. A chunk whose every page
 * changed (always, in a full image) is compressed where it is staged, exactly like an encoded chunk. Otherwise the
 * changed runs are first set aside after the flags, then each is staged at heapBase and compressed in turn. Unchanged
 * runs become parent pieces whose checksum is the XXH64 of their page hashes.
 */
function diff(job: DiffJob): JobResult {
  const mod = threadCodecModule();
  const len = job.source.length;
  const pages = len / PAGE;
  const hashesAt = align64(mod.outputOffset(len) + (mod.exports.dlzBound(len) >>> 0));
  const prevAt = hashesAt + pages * 8;
  const knownAt = prevAt + pages * 8;
  const changedAt = knownAt + pages;
  const asideAt = align64(changedAt + pages);
  mod.ensure(asideAt + len);
  const base = mod.heapBase;
  const view = (at: number, n: number) => new Uint8Array(mod.exports.memory.buffer, base + at, n);
  if (job.source.kind === 'pull') {
    try {
      processVmRead(job.source.pid, job.source.address, view(0, len));
    } catch (e) {
      return { op: 'error', job: job.job, kind: 'read', message: `reading the process's memory at 0x${job.source.address.toString(16)} failed: ${(e as Error).message}`, buffers: [job.out] };
    }
  } else {
    view(0, len).set(new Uint8Array(job.source.data, 0, len));
  }
  if (job.previous.byteLength === pages * 9) view(prevAt, pages * 9).set(new Uint8Array(job.previous));   // hashes, then known flags
  else view(knownAt, pages).fill(0);
  const changedCount = mod.exports.pageDiff(base, len, PAGE, base + prevAt, base + knownAt, base + hashesAt, base + changedAt) >>> 0;
  const changed = view(changedAt, pages).slice();
  const hashes = view(hashesAt, pages * 8).slice().buffer;

  const pieces: DiffPiece[] = [];
  const runs: { offset: number; length: number; aside: number }[] = [];
  let aside = 0;
  for (let first = 0; first < pages; ) {
    let end = first + 1;
    while (end < pages && changed[end] === changed[first]) end++;
    const offset = first * PAGE;
    const length = (end - first) * PAGE;
    if (changed[first]) {
      runs.push({ offset, length, aside });
      aside += length;
      pieces.push({ offset, length, parent: false, codecId: 0, rawChecksum: hashInPlace(mod, base + offset, length), storedChecksum: 0n, storedAt: 0, storedLength: 0 });
    } else {
      const digest = hashInPlace(mod, base + hashesAt + first * 8, (end - first) * 8);
      pieces.push({ offset, length, parent: true, codecId: 0, rawChecksum: digest, storedChecksum: 0n, storedAt: 0, storedLength: 0 });
    }
    first = end;
  }
  const whole = changedCount === pages;
  const mem = () => new Uint8Array(mod.exports.memory.buffer);
  if (!whole) for (const r of runs) mem().copyWithin(base + asideAt + r.aside, base + r.offset, base + r.offset + r.length);
  const codec = job.codec.id !== 0 ? codecFor(job.codec) : null;
  let outPos = 0;
  let k = 0;
  for (const piece of pieces) {
    if (piece.parent) continue;
    const r = runs[k++];
    if (!whole) mem().copyWithin(base, base + asideAt + r.aside, base + asideAt + r.aside + r.length);
    const stored = codec ? codec.compress(mod.inputView(r.length)) : null;
    const payload = stored ?? view(0, r.length);   // taken after compressing, which may grow memory
    piece.codecId = stored ? job.codec.id : 0;
    piece.storedChecksum = stored ? hashView(stored) : piece.rawChecksum;
    new Uint8Array(job.out, outPos, payload.length).set(payload);
    piece.storedAt = outPos;
    piece.storedLength = payload.length;
    outPos += payload.length;
  }
  return { op: 'diff', job: job.job, out: job.out, hashes, pieces, data: job.source.kind === 'bytes' ? job.source.data : undefined };
}

function run(job: Job): JobResult {
  try {
    return job.op === 'encode' ? encode(job) : job.op === 'diff' ? diff(job) : decode(job);
  } catch (e) {
    const buffers = job.op === 'encode' || job.op === 'diff' ? [job.out] : job.stored instanceof ArrayBuffer ? [job.stored, job.out] : [job.out];
    return { op: 'error', job: job.job, kind: 'internal', message: (e as Error).stack ?? String(e), buffers };
  }
}

/** DMTCP_TRACE: after each burst of jobs, how long this worker was busy within it (is the pool the bottleneck?). */
const busy = process.env.DMTCP_TRACE ? { ns: 0n, first: 0n, last: 0n, jobs: 0, timer: undefined as NodeJS.Timeout | undefined } : undefined;

function traceBusy(t0: bigint): void {
  if (!busy) return;
  busy.last = process.hrtime.bigint();
  if (!busy.first) busy.first = t0;
  busy.ns += busy.last - t0;
  busy.jobs++;
  clearTimeout(busy.timer);
  busy.timer = setTimeout(() => {
    process.stderr.write(`[worker] ${busy.jobs} jobs, busy ${Number(busy.ns / 1000n) / 1000} ms of ${Number((busy.last - busy.first) / 1000n) / 1000} ms\n`);
    Object.assign(busy, { ns: 0n, first: 0n, jobs: 0 });
  }, 300);
  busy.timer.unref();
}

/**
 * Readies this thread's stage before its first job: instantiates it, grows its memory to a chunk's working set, and
 * runs the codec and the hash over a chunk of made-up text, so the engine has optimized code for them. Without this
 * the first checkpoint (or restart) of a process pays for all of it while the program is frozen.
 */
function warmUp(): void {
  const mod = threadCodecModule();
  const len = CHUNK_SIZE;
  const words = ['ka', 'tor', 'emi', 'and', 'el ', 'st', 'thin', 'qu', ' pre', 've', 'lo', 'sun', '.\n', ' ', '2026-', ':17 '];
  const input = mod.inputView(len);
  let seed = 0x9e3779b9;
  for (let at = 0; at < len; ) {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    const w = words[(seed >>> 0) % words.length];
    for (let i = 0; i < w.length && at < len; i++) input[at++] = w.charCodeAt(i);
  }
  hashInPlace(mod, mod.heapBase, len);
  const n = mod.compressStaged(len);
  if (n > 0) {
    mod.inputView(n).set(mod.outputView(mod.outputOffset(len), n));
    mod.decompressStaged(n, len);
  }
}

setImmediate(warmUp);

parentPort!.on('message', (job: Job) => {
  const t0 = process.hrtime.bigint();
  const result = run(job);
  traceBusy(t0);
  const transfer = new Set<ArrayBuffer>();
  if (result.op === 'encode' || result.op === 'diff') {
    transfer.add(result.out);
    if (result.data) transfer.add(result.data);
    if (result.op === 'diff') transfer.add(result.hashes);
  } else if (result.op === 'decode') {
    transfer.add(result.out);
    if (result.stored) transfer.add(result.stored);
  } else {
    for (const b of result.buffers ?? []) transfer.add(b);
  }
  parentPort!.postMessage(result, [...transfer]);
});
