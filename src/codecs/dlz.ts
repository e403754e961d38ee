// The default codec, dlz (docs/CODEC-DLZ.md): LZ77 with Huffman-coded literals, run by the codec WebAssembly stage.
// Input already staged in the thread's stage (the pipeline workers put it there) is compressed without a copy.
import { CorruptPayload, type CodecImpl } from '../pipeline/codec';
import { DlzDecodeError } from '../pipeline/wasm/codec-module';
import { isStagedInput, threadCodecModule } from '../pipeline/wasm/thread-stage';

export function createCodec(options: Readonly<Record<string, unknown>>): CodecImpl {
  const level = typeof options.level === 'number' ? options.level : 1;
  if (!Number.isInteger(level) || level < 1 || level > 3) throw new Error(`dlz: level must be 1-3, got ${level}`);
  const mod = threadCodecModule();
  return {
    compress(raw: Uint8Array): Uint8Array | null {
      if (!isStagedInput(mod, raw)) return mod.compress(raw, level);
      const len = raw.length;   // compressing may grow memory and detach `raw`
      const n = mod.compressStaged(len, level);
      return n === 0 ? null : mod.outputView(mod.outputOffset(len), n);
    },
    decompress(stored: Uint8Array, rawLength: number): Uint8Array {
      try {
        if (!isStagedInput(mod, stored)) return mod.decompress(stored, rawLength);
        const len = stored.length;   // decompressing may grow memory and detach `stored`
        mod.decompressStaged(len, rawLength);
        return mod.outputView(mod.outputOffset(len), rawLength);
      } catch (e) {
        if (e instanceof DlzDecodeError) throw new CorruptPayload('dlz', e.message);
        throw e;
      }
    },
  };
}
