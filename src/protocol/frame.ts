// Framing of the coordinator protocol: 16-byte headers, TLV payloads, and an incremental decoder for socket data.
import { FRAME_HEADER_SIZE, PROTO_MAGIC, PROTO_MAX_PAYLOAD, PROTO_VERSION, Tag, type TagValue } from './constants';

/** A protocol violation; `reason` is logged by the receiver, which then drops the connection. */
export class ProtocolError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'ProtocolError';
  }
}

export type FieldValue = string | number | bigint | Buffer;

/** The decoded TLV fields of one message, by tag. Unknown tags are kept so newer peers can add fields. */
export class Fields {
  private readonly values = new Map<number, Buffer>();

  static decode(payload: Buffer): Fields {
    const f = new Fields();
    let off = 0;
    while (off < payload.length) {
      if (payload.length - off < 8) throw new ProtocolError(`truncated field header at payload offset ${off}`);
      const tag = payload.readUInt16LE(off);
      const len = payload.readUInt32LE(off + 4);
      if (len > payload.length - off - 8) {
        throw new ProtocolError(`field ${tag} claims ${len} bytes but only ${payload.length - off - 8} remain`);
      }
      f.values.set(tag, payload.subarray(off + 8, off + 8 + len));
      off += 8 + align8(len);
    }
    return f;
  }

  has(tag: TagValue): boolean {
    return this.values.has(tag);
  }

  raw(tag: number): Buffer | undefined {
    return this.values.get(tag);
  }

  str(tag: TagValue): string | undefined {
    const v = this.values.get(tag);
    return v === undefined ? undefined : v.toString('utf8');
  }

  u32(tag: TagValue): number | undefined {
    const v = this.values.get(tag);
    if (v === undefined) return undefined;
    if (v.length !== 4) throw new ProtocolError(`field ${tagName(tag)} must be 4 bytes, got ${v.length}`);
    return v.readUInt32LE(0);
  }

  u64(tag: TagValue): bigint | undefined {
    const v = this.values.get(tag);
    if (v === undefined) return undefined;
    if (v.length !== 8) throw new ProtocolError(`field ${tagName(tag)} must be 8 bytes, got ${v.length}`);
    return v.readBigUInt64LE(0);
  }

  /** NUL-separated string list (argv). */
  list(tag: TagValue): string[] | undefined {
    const v = this.values.get(tag);
    if (v === undefined) return undefined;
    const parts = v.toString('utf8').split('\0');
    if (parts.length && parts[parts.length - 1] === '') parts.pop();
    return parts;
  }
}

export function align8(n: number): number {
  return (n + 7) & ~7;
}

function tagName(tag: number): string {
  for (const [name, value] of Object.entries(Tag)) if (value === tag) return name;
  return `#${tag}`;
}

/** Builds a TLV payload. Numbers are u32 unless given as bigint (u64); use `u64()` to force 64 bits. */
export class FieldWriter {
  private readonly parts: Buffer[] = [];
  private size = 0;

  u32(tag: number, v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0, 0);
    return this.bytes(tag, b);
  }

  u64(tag: number, v: bigint | number): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v), 0);
    return this.bytes(tag, b);
  }

  str(tag: number, v: string): this {
    return this.bytes(tag, Buffer.from(v, 'utf8'));
  }

  list(tag: number, items: readonly string[]): this {
    return this.bytes(tag, Buffer.from(items.map((s) => s + '\0').join(''), 'utf8'));
  }

  bytes(tag: number, v: Buffer): this {
    const head = Buffer.alloc(8);
    head.writeUInt16LE(tag, 0);
    head.writeUInt32LE(v.length, 4);
    const pad = align8(v.length) - v.length;
    this.parts.push(head, v);
    if (pad) this.parts.push(Buffer.alloc(pad));
    this.size += 8 + v.length + pad;
    return this;
  }

  finish(): Buffer {
    return Buffer.concat(this.parts, this.size);
  }
}

export interface Frame {
  type: number;
  seq: number;
  fields: Fields;
}

export function encodeFrame(type: number, payload: Buffer | FieldWriter, seq = 0): Buffer {
  const body = payload instanceof FieldWriter ? payload.finish() : payload;
  if (body.length > PROTO_MAX_PAYLOAD) throw new ProtocolError(`payload of ${body.length} bytes exceeds the 1 MiB limit`);
  const head = Buffer.alloc(FRAME_HEADER_SIZE);
  head.writeUInt32LE(PROTO_MAGIC, 0);
  head.writeUInt16LE(PROTO_VERSION, 4);
  head.writeUInt16LE(type, 6);
  head.writeUInt32LE(body.length, 8);
  head.writeUInt32LE(seq >>> 0, 12);
  return Buffer.concat([head, body]);
}

/** Cuts a byte stream into frames. Throws ProtocolError on a bad magic, version or size; the caller disconnects. */
export class FrameDecoder {
  private buffered: Buffer[] = [];
  private size = 0;

  push(chunk: Buffer): Frame[] {
    this.buffered.push(chunk);
    this.size += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.size < FRAME_HEADER_SIZE) break;
      const head = this.peek(FRAME_HEADER_SIZE);
      const magic = head.readUInt32LE(0);
      if (magic !== PROTO_MAGIC) {
        throw new ProtocolError(`bad magic 0x${magic.toString(16).padStart(8, '0')} (expected "DMTP"); not a dmtcp peer?`);
      }
      const version = head.readUInt16LE(4);
      if (version !== PROTO_VERSION) {
        throw new VersionMismatch(version);
      }
      const length = head.readUInt32LE(8);
      if (length > PROTO_MAX_PAYLOAD) throw new ProtocolError(`frame of ${length} bytes exceeds the 1 MiB limit`);
      if (this.size < FRAME_HEADER_SIZE + length) break;
      const all = this.take(FRAME_HEADER_SIZE + length);
      frames.push({
        type: all.readUInt16LE(6),
        seq: all.readUInt32LE(12),
        fields: Fields.decode(all.subarray(FRAME_HEADER_SIZE)),
      });
    }
    return frames;
  }

  private peek(n: number): Buffer {
    if (this.buffered[0].length < n) this.buffered = [Buffer.concat(this.buffered)];
    return this.buffered[0].subarray(0, n);
  }

  private take(n: number): Buffer {
    const whole = this.buffered.length === 1 ? this.buffered[0] : Buffer.concat(this.buffered);
    const out = whole.subarray(0, n);
    const rest = whole.subarray(n);
    this.buffered = rest.length ? [rest] : [];
    this.size = rest.length;
    return out;
  }
}

/** A peer speaking another protocol version: answered with a REJECT naming both versions, then dropped. */
export class VersionMismatch extends ProtocolError {
  constructor(readonly peerVersion: number) {
    super(`protocol version ${peerVersion} is not supported (this side speaks version ${PROTO_VERSION})`);
    this.name = 'VersionMismatch';
  }
}
