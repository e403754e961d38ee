// Loads the codec WebAssembly stage (dlz compression, XXH64, zero checks) and wraps its numbers-only ABI.
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The exports of build/wasm/codec.wasm and codec.simd.wasm, exactly. Pointers and lengths are
 * byte addresses/counts in `memory`. Results declared u32 on the WebAssembly side arrive as
 * signed 32-bit numbers; apply `>>> 0` before using them as lengths or hash halves.
 */
export interface CodecExports extends WebAssembly.Exports {
  readonly memory: WebAssembly.Memory;
  /** dlzDecompress error codes (immutable i32 globals; the same values as DlzError below). */
  readonly DLZ_ERR_TRUNCATED: WebAssembly.Global;
  readonly DLZ_ERR_CORRUPT: WebAssembly.Global;
  readonly DLZ_ERR_VERSION: WebAssembly.Global;
  readonly DLZ_ERR_OUTPUT_SIZE: WebAssembly.Global;
  readonly DLZ_ERR_OFFSET: WebAssembly.Global;
  readonly DLZ_ERR_TRAILING: WebAssembly.Global;
  readonly DLZ_ERR_TABLE: WebAssembly.Global;
  /** Format version written as the first byte of every dlz frame. */
  version(): number;
  /** First byte callers may use: after static data and the codec's private scratch (64-byte aligned). */
  heapBase(): number;
  /** Bytes of private scratch memory below heapBase() (informational; never passed in). */
  scratchSize(): number;
  /** Largest srcLen dlzCompress accepts and largest dstLen dlzDecompress accepts (1 GiB). */
  maxInput(): number;
  /** Grows memory so [heapBase(), heapBase() + bytes) exists; 0 on success, -1 if memory cannot grow. */
  ensureMemory(bytesFromHeapBase: number): number;
  /** XXH64 of [ptr, ptr + len) with seed seedHi:seedLo; returns the low 32 bits, resultHi() the high 32. */
  xxh64(ptr: number, len: number, seedLo: number, seedHi: number): number;
  /** High 32 bits of the last xxh64() result. */
  resultHi(): number;
  /** 1 if all len bytes at ptr are zero, else 0. */
  isZero(ptr: number, len: number): number;
  /** Destination capacity with which dlzCompress never fails for lack of room. */
  dlzBound(len: number): number;
  /** Compresses to dst; returns the frame length (u32), or 0 meaning "store raw". */
  dlzCompress(src: number, srcLen: number, dst: number, dstCap: number, level: number): number;
  /** Decompresses into exactly dstLen bytes; returns dstLen or a negative DlzError code. */
  dlzDecompress(src: number, srcLen: number, dst: number, dstLen: number): number;
  /** Incremental images' diff stage: XXH64 of each `pageSize` page at `data` into `hashes` (u64 each) and a byte per
   *  page into `changed` (1 when `known` is 0 for it or its hash differs from `prev`); returns the changed count. */
  pageDiff(data: number, len: number, pageSize: number, prev: number, known: number, hashes: number, changed: number): number;
}

/** Negative results of dlzDecompress (docs/CODEC-DLZ.md). */
export const DlzError = {
  TRUNCATED: -1,
  CORRUPT: -2,
  VERSION: -3,
  OUTPUT_SIZE: -4,
  OFFSET: -5,
  TRAILING: -6,
  TABLE: -7,
} as const;

const ERROR_NAMES = new Map<number, string>(Object.entries(DlzError).map(([name, code]) => [code, name]));

/** A dlz frame that could not be decoded; `code` is the DlzError value. */
export class DlzDecodeError extends Error {
  constructor(readonly code: number) {
    super(`dlz decode failed: ${ERROR_NAMES.get(code) ?? 'UNKNOWN'} (${code})`);
    this.name = 'DlzDecodeError';
  }
}

/** The codec stage hit a failed assertion (only debug builds contain assertions). */
export class CodecAbort extends Error {
  constructor(message: string, file: string, line: number, column: number) {
    super(`codec stage aborted: ${message || 'assertion failed'} at ${file || '?'}:${line}:${column}`);
    this.name = 'CodecAbort';
  }
}

export interface CodecModuleOptions {
  /**
   * true: codec.simd.wasm; false: codec.wasm; undefined (default): SIMD when the engine validates
   * the SIMD module, unless the environment variable DMTCP_WASM_SIMD is "0".
   */
  simd?: boolean;
  /** Directory holding codec.wasm and codec.simd.wasm (default: <package root>/build/wasm). */
  wasmDir?: string;
}

/** Output staged by the *Staged methods starts this many bytes (a multiple of 64) after the input. */
export function alignUp64(n: number): number {
  return Math.ceil(n / 64) * 64;
}

/** The package root: the nearest directory above this file with a package.json and build/wasm or assembly/. */
function findPackageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const marker = fs.existsSync(path.join(dir, 'build', 'wasm')) || fs.existsSync(path.join(dir, 'assembly'));
    if (marker && fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`codec-module: no package root (package.json + build/wasm) above ${__dirname}`);
    dir = parent;
  }
}

/** Compiled modules, per thread (each worker compiles once). */
const compiled = new Map<string, WebAssembly.Module>();

function compile(file: string): WebAssembly.Module {
  let mod = compiled.get(file);
  if (!mod) {
    if (!fs.existsSync(file)) throw new Error(`${file} is missing; run "node scripts/build-wasm.js" first`);
    mod = new WebAssembly.Module(fs.readFileSync(file));
    compiled.set(file, mod);
  }
  return mod;
}

/** Whether the SIMD build is wanted and usable. */
function chooseSimd(option: boolean | undefined, simdFile: string): boolean {
  if (option !== undefined) return option;
  if (process.env.DMTCP_WASM_SIMD === '0') return false;
  if (compiled.has(simdFile)) return true;
  return fs.existsSync(simdFile) && WebAssembly.validate(fs.readFileSync(simdFile));
}

/** Decodes an AssemblyScript string (UTF-16LE, byte length stored in the 4 bytes before it); '' if implausible. */
function readAsString(memory: WebAssembly.Memory | undefined, ptr: number): string {
  if (!memory || ptr < 4) return '';
  const buffer = memory.buffer;
  if (ptr > buffer.byteLength) return '';
  const byteLength = new DataView(buffer).getUint32(ptr - 4, true);
  if (byteLength > 4096 || ptr + byteLength > buffer.byteLength) return '';
  return Buffer.from(buffer, ptr, byteLength).toString('utf16le');
}

/**
 * One instance of the codec stage with convenience methods.
 *
 * Hot path (no copies besides staging): write the input into `inputView(len)` (it starts at
 * heapBase), call `compressStaged(len)` or `decompressStaged(len, rawLen)`, then read the result
 * from `outputView(outputOffset(len), n)`. Views are invalidated whenever memory grows (any
 * `ensure`, `inputView` or *Staged call may grow it), so take them again after such calls.
 */
export class CodecModule {
  readonly exports: CodecExports;
  /** Whether the SIMD build was loaded. */
  readonly simd: boolean;
  /** First byte of caller-managed memory; input is staged here. */
  readonly heapBase: number;

  constructor(options: CodecModuleOptions = {}) {
    const dir = options.wasmDir ?? path.join(findPackageRoot(), 'build', 'wasm');
    const simdFile = path.join(dir, 'codec.simd.wasm');
    this.simd = chooseSimd(options.simd, simdFile);
    let memory: WebAssembly.Memory | undefined;
    const instance = new WebAssembly.Instance(compile(this.simd ? simdFile : path.join(dir, 'codec.wasm')), {
      env: {
        abort(message: number, file: number, line: number, column: number): never {
          throw new CodecAbort(readAsString(memory, message), readAsString(memory, file), line, column);
        },
      },
    });
    this.exports = instance.exports as CodecExports;
    memory = this.exports.memory;
    this.heapBase = this.exports.heapBase();
  }

  /** Makes [heapBase, heapBase + bytes) addressable; throws if memory cannot grow. */
  ensure(bytes: number): void {
    if (this.exports.ensureMemory(bytes) !== 0) throw new RangeError(`codec stage cannot grow memory to ${bytes} bytes past its heap base`);
  }

  /** A view of `len` bytes at heapBase (where staged input goes); grows memory if needed. */
  inputView(len: number): Uint8Array {
    this.ensure(len);
    return new Uint8Array(this.exports.memory.buffer, this.heapBase, len);
  }

  /** Offset from heapBase at which the *Staged methods write their output for an input of `inputLen` bytes. */
  outputOffset(inputLen: number): number {
    return alignUp64(inputLen);
  }

  /** A view of `len` bytes at heapBase + offset; grows memory if needed. */
  outputView(offset: number, len: number): Uint8Array {
    this.ensure(offset + len);
    return new Uint8Array(this.exports.memory.buffer, this.heapBase + offset, len);
  }

  /**
   * Compresses the `len` bytes staged at heapBase into heapBase + outputOffset(len). Returns the
   * compressed length, or 0 when the data should be stored raw.
   */
  compressStaged(len: number, level = 1): number {
    const out = this.outputOffset(len);
    const cap = this.exports.dlzBound(len) >>> 0;
    this.ensure(out + cap);
    return this.exports.dlzCompress(this.heapBase, len, this.heapBase + out, cap, level) >>> 0;
  }

  /**
   * Decompresses the `len` frame bytes staged at heapBase into `rawLen` bytes at
   * heapBase + outputOffset(len). Throws DlzDecodeError if the frame is corrupt or rawLen wrong.
   */
  decompressStaged(len: number, rawLen: number): void {
    const out = this.outputOffset(len);
    this.ensure(out + rawLen);
    const result = this.exports.dlzDecompress(this.heapBase, len, this.heapBase + out, rawLen);
    if (result < 0) throw new DlzDecodeError(result);
  }

  /** XXH64 of the `len` bytes staged at heapBase. */
  xxh64Staged(len: number, seed = 0n): bigint {
    return this.hashAt(this.heapBase, len, seed);
  }

  /** Compressed copy of `input`, or null when it should be stored raw. */
  compress(input: Uint8Array, level = 1): Uint8Array | null {
    this.inputView(input.length).set(input);
    const n = this.compressStaged(input.length, level);
    return n === 0 ? null : this.outputView(this.outputOffset(input.length), n).slice();
  }

  /** The `rawLen` bytes encoded by a dlz frame; throws DlzDecodeError on corrupt input or a wrong rawLen. */
  decompress(input: Uint8Array, rawLen: number): Uint8Array {
    this.inputView(input.length).set(input);
    this.decompressStaged(input.length, rawLen);
    return this.outputView(this.outputOffset(input.length), rawLen).slice();
  }

  /** XXH64 of `data` with an optional 64-bit seed. */
  xxh64(data: Uint8Array, seed = 0n): bigint {
    this.inputView(data.length).set(data);
    return this.xxh64Staged(data.length, seed);
  }

  /** Whether every byte of `data` is zero. */
  isZero(data: Uint8Array): boolean {
    this.inputView(data.length).set(data);
    return this.exports.isZero(this.heapBase, data.length) === 1;
  }

  private hashAt(ptr: number, len: number, seed: bigint): bigint {
    const seedLo = Number(BigInt.asUintN(32, seed));
    const seedHi = Number(BigInt.asUintN(32, seed >> 32n));
    const lo = this.exports.xxh64(ptr, len, seedLo, seedHi) >>> 0;
    const hi = this.exports.resultHi() >>> 0;
    return (BigInt(hi) << 32n) | BigInt(lo);
  }
}
