// The brotli codec's worker side: createCodec(options) as src/pipeline/codec.ts defines it, on Node's own brotli
// (zlib.brotliCompressSync), so it needs no package of its own. Worker threads load this file by its path.
import * as zlib from 'node:zlib';
import type { CodecImpl } from '../../src/pipeline/codec';

export function createCodec(options: Readonly<Record<string, unknown>>): CodecImpl {
  const quality = options.quality ?? 5;
  if (typeof quality !== 'number' || !Number.isInteger(quality) || quality < 0 || quality > 11) {
    throw new Error(`brotli: quality must be 0-11, got ${String(quality)}`);
  }
  const corrupt = (detail: string) => new Error(`brotli payload is corrupt: ${detail}`);
  return {
    compress(raw: Uint8Array): Uint8Array | null {
      const out = zlib.brotliCompressSync(raw, {
        params: {
          [zlib.constants.BROTLI_PARAM_QUALITY]: quality,
          [zlib.constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
        },
      });
      // Not worth it unless it saves more than 1/64: the chunk is then stored as it is.
      return out.length + (raw.length >> 6) < raw.length ? out : null;
    },
    decompress(stored: Uint8Array, rawLength: number): Uint8Array {
      let out: Buffer;
      try {
        out = zlib.brotliDecompressSync(stored, { maxOutputLength: Math.max(1, rawLength) });
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        throw corrupt(err.code === 'ERR_BUFFER_TOO_LARGE' ? `decodes to more than ${rawLength} bytes` : err.message);
      }
      if (out.length !== rawLength) throw corrupt(`decoded ${out.length} bytes, expected ${rawLength}`);
      return out;
    },
  };
}
