// The raw process stream's framing (native/include/dmtcp_stream.h): an incremental reader for what the capture
// library sends, and the builders the restore decoder uses to speak the same stream to mtcp_restart.
import {
  ARCH_X86_64,
  PAGE_SIZE,
  Rec,
  RecSize,
  STREAM_HEADER_SIZE,
  STREAM_MAGIC,
  STREAM_VERSION,
  STREAM_F_PUSH,
} from '../protocol/constants';

export interface PagesRecord {
  area: number;
  flags: number;
  offset: bigint;
  length: number;
}

export interface RawStreamSink {
  /** The stream header's flags (STREAM_F_*). */
  header?(flags: number): void;
  /** A record with no trailing payload: PROCESS, THREAD, AREA, ZERO, END, ERROR, RESTART. */
  record(type: number, body: Buffer): void;
  /** A DATA record begins; `length` payload bytes follow through data(). */
  dataStart(pages: PagesRecord): void;
  data(bytes: Buffer): void;
  dataEnd(): void;
}

/** A stream that breaks the framing rules; `offset` counts bytes from the stream's start. */
export class StreamError extends Error {
  constructor(readonly offset: number, detail: string) {
    super(`raw stream offset ${offset}: ${detail}`);
    this.name = 'StreamError';
  }
}

const MAX_BODY = 1 << 24;

export function parsePages(body: Buffer): PagesRecord {
  const length = body.readBigUInt64LE(16);
  if (length > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('pages record length out of range');
  return { area: body.readUInt32LE(0), flags: body.readUInt32LE(4), offset: body.readBigUInt64LE(8), length: Number(length) };
}

/** Cuts a byte stream into records and hands them to a sink as they complete; DATA payloads are passed through
 *  in whatever pieces the socket delivered, without being buffered whole. */
export class RawStreamReader {
  private pending: Buffer[] = [];
  private pendingSize = 0;
  private pos = 0;
  private state: 'header' | 'record' | 'body' | 'payload' | 'done' = 'header';
  private recType = 0;
  private recLen = 0;
  private payloadLeft = 0;

  constructor(private readonly sink: RawStreamSink) {}

  get offset(): number {
    return this.pos;
  }

  get finished(): boolean {
    return this.state === 'done';
  }

  push(chunk: Buffer): void {
    let buf = chunk;
    while (buf.length > 0) {
      if (this.state === 'payload') {
        const n = Math.min(this.payloadLeft, buf.length);
        this.sink.data(buf.subarray(0, n));
        buf = buf.subarray(n);
        this.pos += n;
        this.payloadLeft -= n;
        if (this.payloadLeft === 0) {
          this.state = 'record';
          this.sink.dataEnd();
        }
        continue;
      }
      if (this.state === 'done') throw new StreamError(this.pos, 'bytes after the END record');
      const need = this.state === 'header' ? STREAM_HEADER_SIZE : this.state === 'record' ? RecSize.header : this.recLen;
      const take = Math.min(need - this.pendingSize, buf.length);
      this.pending.push(buf.subarray(0, take));
      this.pendingSize += take;
      buf = buf.subarray(take);
      if (this.pendingSize < need) break;
      const whole = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingSize);
      this.pending = [];
      this.pendingSize = 0;
      this.step(whole);
    }
  }

  private step(bytes: Buffer): void {
    const at = this.pos;
    this.pos += bytes.length;
    if (this.state === 'header') {
      checkStreamHeader(bytes, at);
      this.state = 'record';
      this.sink.header?.(bytes.readUInt32LE(24));
      return;
    }
    if (this.state === 'record') {
      this.recType = bytes.readUInt32LE(0);
      this.recLen = bytes.readUInt32LE(4);
      if (this.recLen > MAX_BODY || this.recLen % 8 !== 0) {
        throw new StreamError(at, `record type ${this.recType} has an impossible length ${this.recLen}`);
      }
      this.state = 'body';
      if (this.recLen === 0) this.step(Buffer.alloc(0));
      return;
    }
    // body
    if (this.recType === Rec.DATA) {
      if (bytes.length < RecSize.pages) throw new StreamError(at, 'DATA record shorter than its pages header');
      const pages = parsePages(bytes);
      if (pages.length % PAGE_SIZE !== 0 || pages.length === 0) throw new StreamError(at, `DATA length ${pages.length} is not a whole number of pages`);
      this.sink.dataStart(pages);
      this.payloadLeft = pages.length;
      this.state = 'payload';
      return;
    }
    this.state = this.recType === Rec.END ? 'done' : 'record';
    this.sink.record(this.recType, bytes);
  }
}

export function checkStreamHeader(bytes: Buffer, at = 0): void {
  const magic = bytes.subarray(0, 8).toString('latin1');
  if (magic !== STREAM_MAGIC) throw new StreamError(at, `expected magic "${STREAM_MAGIC}", found ${JSON.stringify(magic)}`);
  const version = bytes.readUInt32LE(8);
  if (version !== STREAM_VERSION) throw new StreamError(at + 8, `stream version ${version}; this build reads ${STREAM_VERSION}`);
  const arch = bytes.readUInt32LE(20);
  if (arch !== ARCH_X86_64) throw new StreamError(at + 20, `stream from architecture ${arch}; expected ${ARCH_X86_64}`);
  const page = bytes.readUInt32LE(16);
  if (page !== PAGE_SIZE) throw new StreamError(at + 16, `page size ${page}; expected ${PAGE_SIZE}`);
}

// ---- building a stream (restart direction) ----

export function streamHeader(): Buffer {
  const b = Buffer.alloc(STREAM_HEADER_SIZE);
  b.write(STREAM_MAGIC, 0, 'latin1');
  b.writeUInt32LE(STREAM_VERSION, 8);
  b.writeUInt32LE(STREAM_HEADER_SIZE, 12);
  b.writeUInt32LE(PAGE_SIZE, 16);
  b.writeUInt32LE(ARCH_X86_64, 20);
  b.writeUInt32LE(STREAM_F_PUSH, 24);
  return b;
}

/** A record with its body padded to 8 bytes. */
export function streamRecord(type: number, body: Uint8Array): Buffer {
  const padded = (body.length + 7) & ~7;
  const b = Buffer.alloc(RecSize.header + padded);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(padded, 4);
  b.set(body, RecSize.header);
  return b;
}

/** The header of a DATA or ZERO record; DATA page bytes follow it separately. */
export function pagesRecord(type: number, area: number, offset: bigint, length: number): Buffer {
  const b = Buffer.alloc(RecSize.header + RecSize.pages);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(RecSize.pages, 4);
  b.writeUInt32LE(area, 8);
  b.writeUInt32LE(0, 12);
  b.writeBigUInt64LE(offset, 16);
  b.writeBigUInt64LE(BigInt(length), 24);
  return b;
}

/** TLV fields (u16 tag, u16 0, u32 length, value, pad to 8) as used inside PROCESS and RESTART records. */
export function encodeTlvs(fields: Map<number, string | Buffer>): Buffer {
  const parts: Buffer[] = [];
  for (const [tag, value] of fields) {
    const v = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    const head = Buffer.alloc(8);
    head.writeUInt16LE(tag, 0);
    head.writeUInt32LE(v.length, 4);
    parts.push(head, v, Buffer.alloc(((v.length + 7) & ~7) - v.length));
  }
  return Buffer.concat(parts);
}
