// The gzip-compatible codec: raw deflate (RFC 1951) by fflate; a chunk's payload is what gzip would carry.
import { deflateSync, inflateSync } from 'fflate';
import { CorruptPayload, type CodecImpl } from '../pipeline/codec';

export function createCodec(options: Readonly<Record<string, unknown>>): CodecImpl {
  const level = typeof options.level === 'number' ? options.level : 6;
  if (!Number.isInteger(level) || level < 0 || level > 9) throw new Error(`deflate: level must be 0-9, got ${level}`);
  return {
    compress(raw: Uint8Array): Uint8Array | null {
      const out = deflateSync(raw, { level: level as 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 });
      return out.length + (raw.length >> 6) < raw.length ? out : null;
    },
    decompress(stored: Uint8Array, rawLength: number): Uint8Array {
      let out: Uint8Array;
      try {
        out = inflateSync(stored, { out: new Uint8Array(rawLength) });
      } catch (e) {
        throw new CorruptPayload('deflate', (e as Error).message);
      }
      if (out.length !== rawLength) throw new CorruptPayload('deflate', `decoded ${out.length} bytes, expected ${rawLength}`);
      return out;
    },
  };
}
