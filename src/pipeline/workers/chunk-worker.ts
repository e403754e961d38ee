// A pipeline worker thread: checksums and (de)compresses chunks with the codec module each job names.
import { parentPort } from 'node:worker_threads';
import type { CodecImpl, CreateCodec } from '../codec';
import { imageStage } from '../wasm/image-module';
import type { CodecRef, DecodeJob, EncodeJob, Job, JobResult } from './protocol';

const codecs = new Map<string, CodecImpl>();

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

function encode(job: EncodeJob): JobResult {
  const stage = imageStage();
  const raw = new Uint8Array(job.raw);
  const rawChecksum = stage.hash(raw);
  let stored: Uint8Array | null = null;
  if (job.codec.id !== 0) stored = codecFor(job.codec).compress(raw);
  if (stored === null) {
    return { op: 'encode', job: job.job, raw: job.raw, stored: null, codecId: 0, rawChecksum, storedChecksum: rawChecksum };
  }
  const storedChecksum = stage.hash(stored);
  const copy = stored.byteOffset === 0 && stored.byteLength === stored.buffer.byteLength
    ? (stored.buffer as ArrayBuffer)
    : stored.slice().buffer;
  return { op: 'encode', job: job.job, raw: job.raw, stored: copy, codecId: job.codec.id, rawChecksum, storedChecksum };
}

function hex(v: bigint): string {
  return '0x' + v.toString(16).padStart(16, '0');
}

function decode(job: DecodeJob): JobResult {
  const stage = imageStage();
  const stored = new Uint8Array(job.stored);
  const storedSum = stage.hash(stored);
  if (storedSum !== job.storedChecksum) {
    return { op: 'error', job: job.job, kind: 'corrupt', message: `payload checksum mismatch (expected ${hex(job.storedChecksum)}, found ${hex(storedSum)})` };
  }
  let raw: Uint8Array;
  if (job.codec === null) {
    raw = stored;
  } else {
    let impl: CodecImpl;
    try {
      impl = codecFor(job.codec);
    } catch (e) {
      return { op: 'error', job: job.job, kind: 'codec', message: (e as Error).message };
    }
    try {
      raw = impl.decompress(stored, job.rawLength);
    } catch (e) {
      return { op: 'error', job: job.job, kind: 'corrupt', message: (e as Error).message };
    }
  }
  if (raw.length !== job.rawLength) {
    return { op: 'error', job: job.job, kind: 'corrupt', message: `decoded ${raw.length} bytes, expected ${job.rawLength}` };
  }
  const rawSum = stage.hash(raw);
  if (rawSum !== job.rawChecksum) {
    return { op: 'error', job: job.job, kind: 'corrupt', message: `decoded chunk checksum mismatch (expected ${hex(job.rawChecksum)}, found ${hex(rawSum)})` };
  }
  const out = raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength ? (raw.buffer as ArrayBuffer) : raw.slice().buffer;
  return { op: 'decode', job: job.job, raw: out };
}

function run(job: Job): JobResult {
  try {
    return job.op === 'encode' ? encode(job) : decode(job);
  } catch (e) {
    return { op: 'error', job: job.job, kind: 'internal', message: (e as Error).stack ?? String(e) };
  }
}

parentPort!.on('message', (job: Job) => {
  const result = run(job);
  const transfer: ArrayBuffer[] = [];
  if (result.op === 'encode') {
    transfer.push(result.raw);
    if (result.stored && result.stored !== result.raw) transfer.push(result.stored);
  } else if (result.op === 'decode') {
    transfer.push(result.raw);
  }
  parentPort!.postMessage(result, transfer);
});
