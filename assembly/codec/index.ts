// Entry point of the codec WebAssembly stage: the numbers-only ABI used by src/pipeline/wasm/codec-module.ts.
import {
  FORMAT_VERSION, BLOCK_MAX,
  ERR_TRUNCATED, ERR_CORRUPT, ERR_VERSION, ERR_OUTPUT_SIZE, ERR_OFFSET, ERR_TRAILING, ERR_TABLE,
} from './format';
import { SCRATCH_BASE, SCRATCH_BYTES, HEAP_START } from './layout';
import { hash64 } from './xxh64';
import { allEqual } from './bytes';
import { compress, MAX_INPUT } from './compress';
import { decompress } from './decompress';
import { pageDiff as diffPages } from './diff';

// Error codes of dlzDecompress, exported as immutable globals (see docs/CODEC-DLZ.md).
export const DLZ_ERR_TRUNCATED: i32 = ERR_TRUNCATED;
export const DLZ_ERR_CORRUPT: i32 = ERR_CORRUPT;
export const DLZ_ERR_VERSION: i32 = ERR_VERSION;
export const DLZ_ERR_OUTPUT_SIZE: i32 = ERR_OUTPUT_SIZE;
export const DLZ_ERR_OFFSET: i32 = ERR_OFFSET;
export const DLZ_ERR_TRAILING: i32 = ERR_TRAILING;
export const DLZ_ERR_TABLE: i32 = ERR_TABLE;

const PAGE_BITS: u64 = 16;
const ADDRESS_SPACE: u64 = 1 << 32;

/** High half of the last xxh64() result. */
let hashHigh: u32 = 0;

/** Grows linear memory so that byte `end - 1` exists; returns false if the engine refuses. */
function growTo(end: u64): bool {
  if (end > ADDRESS_SPACE) return false;
  const have = <u64>memory.size() << PAGE_BITS;
  if (end <= have) return true;
  const pages = <i32>((end - have + ((1 << PAGE_BITS) - 1)) >> PAGE_BITS);
  return memory.grow(pages) >= 0;
}

// Module start: the scratch region must lie above the static data and exist in memory.
if (__heap_base > SCRATCH_BASE) unreachable();
if (!growTo(<u64>HEAP_START)) unreachable();

/** Format version written as the first byte of every frame. */
export function version(): u32 {
  return FORMAT_VERSION;
}

/** First free byte after static data and the codec's scratch region (64-byte aligned). */
export function heapBase(): usize {
  return HEAP_START;
}

/** Size of the codec's private scratch region, which lies just below heapBase() (static, not passed by callers). */
export function scratchSize(): u32 {
  return <u32>SCRATCH_BYTES;
}

/** Largest srcLen dlzCompress accepts and largest dstLen dlzDecompress accepts. */
export function maxInput(): u32 {
  return MAX_INPUT;
}

/** Grows memory so that [heapBase(), heapBase() + bytesFromHeapBase) exists. Returns 0, or -1 on failure. */
export function ensureMemory(bytesFromHeapBase: usize): i32 {
  return growTo(<u64>HEAP_START + <u64>bytesFromHeapBase) ? 0 : -1;
}

/** XXH64 of [ptr, ptr + len) with seed (seedHi << 32 | seedLo). Returns the low 32 bits; resultHi() gives the rest. */
export function xxh64(ptr: usize, len: usize, seedLo: u32, seedHi: u32): u32 {
  const hash = hash64(ptr, len, (<u64>seedHi << 32) | <u64>seedLo);
  hashHigh = <u32>(hash >> 32);
  return <u32>hash;
}

/** High 32 bits of the most recent xxh64() result. */
export function resultHi(): u32 {
  return hashHigh;
}

/** 1 if all `len` bytes at `ptr` are zero, else 0. */
export function isZero(ptr: usize, len: usize): i32 {
  return allEqual(ptr, len, 0) ? 1 : 0;
}

/**
 * Destination capacity that always suffices for dlzCompress (it never returns more than srcLen - 1
 * bytes, but writes up to 8 bytes of slack past its output while coding).
 */
export function dlzBound(len: u32): u32 {
  return len + 1 + 3 * ((len + BLOCK_MAX - 1) / BLOCK_MAX) + 16;
}

/**
 * Compresses [src, src + srcLen) to dst. Returns the frame length, or 0 meaning "store raw"
 * (incompressible, empty, larger than maxInput(), or saving less than 1/64). `level` 1 (or less)
 * is the fast default, 2 a stronger greedy parse, 3 (or more) a lazy parse; all give the same format.
 */
export function dlzCompress(src: usize, srcLen: u32, dst: usize, dstCap: u32, level: i32): u32 {
  return compress(src, srcLen, dst, dstCap, level);
}

/** Decompresses a frame into exactly dstLen bytes. Returns dstLen, or a negative DLZ_ERR_* code. */
export function dlzDecompress(src: usize, srcLen: u32, dst: usize, dstLen: u32): i32 {
  return decompress(src, srcLen, dst, dstLen);
}

/**
 * The diff stage of incremental images (assembly/codec/diff.ts): XXH64 of every `pageSize` page at `data` into
 * `hashes` (u64 each), and a byte per page into `changed`: 1 when the page is not `known` (u8 per page) or its hash
 * differs from `prev` (u64 per page). Returns how many pages changed. Runs in the same instance as the codec, so a
 * chunk staged once is hashed, diffed and compressed in place.
 */
export function pageDiff(data: usize, len: usize, pageSize: usize, prev: usize, known: usize, hashes: usize, changed: usize): u32 {
  return diffPages(data, len, pageSize, prev, known, hashes, changed);
}
