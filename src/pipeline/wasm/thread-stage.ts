// The codec stage instance of the current thread: one per worker, shared by staging, hashing and the dlz codec so
// chunk bytes are placed into WebAssembly memory once and never copied between instances.
import { CodecModule } from './codec-module';

let instance: CodecModule | undefined;

export function threadCodecModule(): CodecModule {
  instance ??= new CodecModule();
  return instance;
}

/** XXH64 of `len` bytes at `ptr` in the stage's memory (no copy). */
export function hashInPlace(mod: CodecModule, ptr: number, len: number): bigint {
  const lo = mod.exports.xxh64(ptr, len, 0, 0) >>> 0;
  const hi = mod.exports.resultHi() >>> 0;
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** Whether `view` is exactly the stage's staged input of `len` bytes (at heapBase). */
export function isStagedInput(mod: CodecModule, view: Uint8Array): boolean {
  return view.buffer === mod.exports.memory.buffer && view.byteOffset === mod.heapBase;
}
