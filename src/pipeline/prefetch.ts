// Reads a large image's chunk payloads ahead of the decoder, in spans of several chunks, with O_DIRECT, into shared
// memory the worker threads copy from. Reading overlaps decoding, requests are large, and no page-cache page is
// filled on the way (on a VM a cold page-cache fill costs several times the disk read itself).
import * as fs from 'node:fs';
import { addressOf } from '../native/addon';
import { ALIGN, openDirectForReading } from './image-file';
import { BLOCK_HEADER_SIZE, BlockFlag } from './image-format';
import type { ChunkEntry, ImageReader } from './image-reader';

/** Largest span read at once. A span holds whole chunks, so it must exceed the largest chunk (1 MiB + alignment). */
const SPAN_BYTES = 4 << 20;
/** Spans held at once: the one being decoded and those read ahead. */
const RING = 4;
/** Images with less chunk data than this are read by the workers themselves. */
const MIN_IMAGE_BYTES = 32 << 20;

interface Span {
  start: number;
  end: number;
  /** Chunks in this span not yet done. */
  left: number;
  /** The memory it is read into, while held. */
  slot?: Uint8Array;
  loaded: Deferred;
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(e: Error): void;
}

function deferred(): Deferred {
  const d = {} as Deferred;
  d.promise = new Promise<void>((resolve, reject) => {
    d.resolve = resolve;
    d.reject = reject;
  });
  d.promise.catch(() => undefined);
  return d;
}

export class ImagePrefetcher {
  private readonly spanOf = new Map<ChunkEntry, number>();
  private readonly spans: Span[] = [];
  private readonly free: Uint8Array[] = [];
  /** Next span whose read has not started. */
  private next = 0;
  private closed = false;

  private constructor(private readonly fd: number, private readonly file: string, chunks: ChunkEntry[]) {
    for (const c of chunks) {
      const from = c.at + BLOCK_HEADER_SIZE;
      const to = from + c.header.storedLength;
      let span = this.spans[this.spans.length - 1];
      if (!span || roundUp(to) - span.start > SPAN_BYTES) {
        span = { start: from - (from % ALIGN), end: 0, left: 0, loaded: deferred() };
        this.spans.push(span);
      }
      span.end = roundUp(to);
      span.left++;
      this.spanOf.set(c, this.spans.length - 1);
    }
    for (let i = 0; i < Math.min(RING, this.spans.length); i++) this.free.push(sharedSlot());
    this.pump();
  }

  /** A prefetcher for `reader`'s stored chunks (those of `wanted`, which must be in file order), or undefined when
   *  they are few or O_DIRECT is refused. */
  static for(reader: ImageReader, wanted: readonly ChunkEntry[] = reader.chunks): ImagePrefetcher | undefined {
    const chunks = wanted.filter((c) => !(c.header.flags & (BlockFlag.ZERO | BlockFlag.PARENT)) && c.header.storedLength > 0);
    if (chunks.reduce((s, c) => s + c.header.storedLength, 0) < MIN_IMAGE_BYTES) return undefined;
    if (chunks.some((c, i) => i > 0 && c.at <= chunks[i - 1].at)) return undefined;
    const fd = openDirectForReading(reader.path);
    return fd < 0 ? undefined : new ImagePrefetcher(fd, reader.path, chunks);
  }

  /** The stored payload of `c` (a view of shared memory, valid until done(c)), or undefined if not prefetched. */
  async payload(c: ChunkEntry): Promise<Uint8Array | undefined> {
    const i = this.spanOf.get(c);
    if (i === undefined || this.closed) return undefined;
    const span = this.spans[i];
    await span.loaded.promise;
    const from = c.at + BLOCK_HEADER_SIZE - span.start;
    return span.slot!.subarray(from, from + c.header.storedLength);
  }

  /** Whether the read of `c`'s span has begun: a chunk taken out of order before that is better read on its own
   *  (then call done(c) all the same). */
  started(c: ChunkEntry): boolean {
    const i = this.spanOf.get(c);
    return i !== undefined && i < this.next;
  }

  /** `c` is decoded (or failed): once every chunk of its span is, the span's memory takes the next read. */
  done(c: ChunkEntry): void {
    const i = this.spanOf.get(c);
    if (i === undefined) return;
    this.spanOf.delete(c);
    const span = this.spans[i];
    if (--span.left > 0 || !span.slot) return;
    this.free.push(span.slot);
    span.slot = undefined;
    if (!this.closed) this.pump();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.close(this.fd, () => undefined);
  }

  /** Starts reads in file order while memory is free; a span waiting for memory starts when an earlier one is done. */
  private pump(): void {
    while (this.next < this.spans.length && this.free.length > 0) {
      const span = this.spans[this.next++];
      if (span.left === 0) {   // every chunk of it was taken out of order
        span.loaded.resolve();
        continue;
      }
      span.slot = this.free.pop()!;
      readFully(this.fd, this.file, span.slot.subarray(0, span.end - span.start), span.start).then(span.loaded.resolve, span.loaded.reject);
    }
  }
}

function roundUp(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

/** Shared memory (workers read it without a copy or a transfer) whose view starts on an aligned address. */
function sharedSlot(): Uint8Array {
  const sab = new SharedArrayBuffer(SPAN_BYTES + ALIGN);
  const skip = Number((BigInt(ALIGN) - (addressOf(new Uint8Array(sab, 0, 1)) % BigInt(ALIGN))) % BigInt(ALIGN));
  return new Uint8Array(sab, skip, SPAN_BYTES);
}

/** Reads `into.length` bytes at `at`, tolerating the file ending inside the last aligned block. */
function readFully(fd: number, file: string, into: Uint8Array, at: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const step = (): void => {
      fs.read(fd, into, got, into.length - got, at + got, (err, n) => {
        if (err) return reject(new Error(`reading ${file} at ${at + got}: ${err.message}`));
        if (n === 0) return resolve();   // end of file: the payloads end before it (checked by the reader)
        got += n;
        if (got >= into.length) resolve();
        else step();
      });
    };
    step();
  });
}
