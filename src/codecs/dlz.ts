// The default codec, dlz (docs/CODEC-DLZ.md): LZ77 with Huffman-coded literals, run by the codec WebAssembly stage.
import { CorruptPayload, type CodecImpl } from '../pipeline/codec';
import { CodecModule } from '../pipeline/wasm/codec-module';

export function createCodec(options: Readonly<Record<string, unknown>>): CodecImpl {
  const level = typeof options.level === 'number' ? options.level : 1;
  const mod = new CodecModule();
  return {
    compress(raw: Uint8Array): Uint8Array | null {
      return mod.compress(raw, level);
    },
    decompress(stored: Uint8Array, rawLength: number): Uint8Array {
      try {
        return mod.decompress(stored, rawLength);
      } catch (e) {
        throw new CorruptPayload('dlz', (e as Error).message);
      }
    },
  };
}
