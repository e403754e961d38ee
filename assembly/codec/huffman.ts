// Canonical, length-limited Huffman codes: construction, table descriptions, and decode tables.
import {
  HUF_MAX_BITS, HUF_TABLE_SIZE, TABLE_SINGLE, TABLE_DENSE, TABLE_SPARSE, ERR_TABLE, ERR_TRUNCATED,
} from './format';
import { HUF_WORK } from './layout';

// Work-area layout inside HUF_WORK (8 KiB).
const WORK_KEYS: usize = 0; // u64[256]: (frequency << 16) | symbol, sorted ascending
const WORK_WEIGHT: usize = 2048; // u32[512]: node weights (leaves first, then internal nodes)
const WORK_PARENT: usize = 4096; // u16[512]
const WORK_DEPTH: usize = 5120; // u8[512]
const WORK_NEXT_CODE: usize = 5632; // u32[16]: next canonical code per length

const KRAFT_TOTAL: u32 = 1 << HUF_MAX_BITS;

/** Read position after the last readTable() call. */
export let tableCursor: usize = 0;

function shellSort(keys: usize, n: u32): void {
  // Gap sequence suited to at most a few hundred keys.
  for (let g = 0; g < 5; g++) {
    const gap: u32 = g == 0 ? 57 : g == 1 ? 23 : g == 2 ? 10 : g == 3 ? 4 : 1;
    for (let i = gap; i < n; i++) {
      const key = load<u64>(keys + (<usize>i << 3));
      let j = i;
      while (j >= gap) {
        const prev = load<u64>(keys + (<usize>(j - gap) << 3));
        if (prev <= key) break;
        store<u64>(keys + (<usize>j << 3), prev);
        j -= gap;
      }
      store<u64>(keys + (<usize>j << 3), key);
    }
  }
}

/** Weight of the cheaper of the next unused leaf and the next unused internal node; advances it. */
let nextLeaf: u32 = 0;
let nextNode: u32 = 0;

@inline
function takeSmallest(weights: usize, leafCount: u32, nodesBuilt: u32): u32 {
  if (nextLeaf < leafCount && (nextNode >= nodesBuilt ||
      load<u32>(weights + (<usize>nextLeaf << 2)) <= load<u32>(weights + (<usize>nextNode << 2)))) {
    return nextLeaf++;
  }
  return nextNode++;
}

/**
 * Computes optimal (unlimited) code lengths for the n sorted leaves in the work area into
 * WORK_DEPTH[0..n); returns the largest length. Uses the two-queue method: internal nodes are
 * created in non-decreasing weight order, so the next smallest is always at a queue head.
 */
function treeDepths(n: u32): u32 {
  const work = HUF_WORK;
  const weights = work + WORK_WEIGHT;
  const parents = work + WORK_PARENT;
  const depths = work + WORK_DEPTH;
  for (let i: u32 = 0; i < n; i++) {
    store<u32>(weights + (<usize>i << 2), <u32>(load<u64>(work + WORK_KEYS + (<usize>i << 3)) >> 16));
  }
  nextLeaf = 0;
  nextNode = n;
  const root: u32 = 2 * n - 2;
  for (let built = n; built <= root; built++) {
    const a = takeSmallest(weights, n, built);
    const b = takeSmallest(weights, n, built);
    store<u32>(weights + (<usize>built << 2),
      load<u32>(weights + (<usize>a << 2)) + load<u32>(weights + (<usize>b << 2)));
    store<u16>(parents + (<usize>a << 1), <u16>built);
    store<u16>(parents + (<usize>b << 1), <u16>built);
  }
  store<u8>(depths + root, 0);
  let maxDepth: u32 = 0;
  for (let i = <i32>root - 1; i >= 0; i--) {
    const depth = <u32>load<u8>(depths + <usize>load<u16>(parents + (<usize>i << 1))) + 1;
    store<u8>(depths + i, <u8>depth);
    if (<u32>i < n && depth > maxDepth) maxDepth = depth;
  }
  return maxDepth;
}

/**
 * Shortens leaf depths (WORK_DEPTH, leaves in ascending frequency order) to HUF_MAX_BITS and then
 * restores an exactly complete code: first lengthen the least harmful codes until the Kraft sum
 * fits, then spend any leftover room shortening the most frequent codes.
 */
function limitDepths(n: u32): void {
  const depths = HUF_WORK + WORK_DEPTH;
  const maxBits = HUF_MAX_BITS;
  let kraft: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    let d = <u32>load<u8>(depths + i);
    if (d > maxBits) {
      d = maxBits;
      store<u8>(depths + i, <u8>d);
    }
    kraft += (<u32>1) << (maxBits - d);
  }
  while (kraft > KRAFT_TOTAL) {
    // Lengthen the deepest code that can still grow; among equals, the least frequent (lowest index).
    let best: u32 = 0;
    let bestDepth: u32 = 0;
    for (let i: u32 = 0; i < n; i++) {
      const d = <u32>load<u8>(depths + i);
      if (d < maxBits && d > bestDepth) {
        best = i;
        bestDepth = d;
      }
    }
    store<u8>(depths + best, <u8>(bestDepth + 1));
    kraft -= (<u32>1) << (maxBits - bestDepth - 1);
  }
  for (let i = <i32>n - 1; i >= 0 && kraft < KRAFT_TOTAL; i--) {
    let d = <u32>load<u8>(depths + i);
    while (d > 1 && kraft + ((<u32>1) << (maxBits - d)) <= KRAFT_TOTAL) {
      kraft += (<u32>1) << (maxBits - d);
      d--;
    }
    store<u8>(depths + i, <u8>d);
  }
  // The room left is always a multiple of the smallest weight, so the pass above fills it exactly;
  // this loop only guards that invariant.
  while (kraft < KRAFT_TOTAL) {
    let deepest: u32 = 0;
    for (let i: u32 = 1; i < n; i++) {
      if (load<u8>(depths + i) > load<u8>(depths + deepest)) deepest = i;
    }
    const d = <u32>load<u8>(depths + deepest);
    kraft += (<u32>1) << (maxBits - d);
    store<u8>(depths + deepest, <u8>(d - 1));
  }
}

/**
 * Builds code lengths (at most HUF_MAX_BITS) for a histogram of u32 counts. Writes one u8 length
 * per symbol to `lens` (0 = unused). Returns the number of used symbols; when it is 1, that
 * symbol's length is 0 (it is coded with zero bits).
 */
export function buildLengths(hist: usize, alphabet: u32, lens: usize): u32 {
  const keys = HUF_WORK + WORK_KEYS;
  let n: u32 = 0;
  for (let s: u32 = 0; s < alphabet; s++) {
    const count = load<u32>(hist + (<usize>s << 2));
    store<u8>(lens + s, 0);
    if (count != 0) {
      store<u64>(keys + (<usize>n << 3), (<u64>count << 16) | <u64>s);
      n++;
    }
  }
  if (n <= 1) return n;
  shellSort(keys, n);
  if (treeDepths(n) > HUF_MAX_BITS) limitDepths(n);
  const depths = HUF_WORK + WORK_DEPTH;
  for (let i: u32 = 0; i < n; i++) {
    const symbol = <usize>(load<u64>(keys + (<usize>i << 3)) & 0xffff);
    store<u8>(lens + symbol, load<u8>(depths + i));
  }
  return n;
}

@inline
function reverseBits(code: u32, len: u32): u32 {
  let v = code;
  v = ((v >> 1) & 0x55555555) | ((v & 0x55555555) << 1);
  v = ((v >> 2) & 0x33333333) | ((v & 0x33333333) << 2);
  v = ((v >> 4) & 0x0f0f0f0f) | ((v & 0x0f0f0f0f) << 4);
  v = ((v >> 8) & 0x00ff00ff) | ((v & 0x00ff00ff) << 8);
  v = (v >> 16) | (v << 16);
  return v >>> (32 - len);
}

/**
 * Computes the first canonical code of every length (codes are assigned in order of length, then
 * symbol, most significant bit first) into WORK_NEXT_CODE; returns the Kraft sum of the lengths
 * scaled to 2^HUF_MAX_BITS, or 0xffffffff if a length is out of range.
 */
function canonicalStarts(lens: usize, alphabet: u32): u32 {
  const next = HUF_WORK + WORK_NEXT_CODE;
  memory.fill(next, 0, 16 * 4);
  let kraft: u32 = 0;
  for (let s: u32 = 0; s < alphabet; s++) {
    const len = <u32>load<u8>(lens + s);
    if (len == 0) continue;
    if (len > HUF_MAX_BITS) return 0xffffffff;
    store<u32>(next + (<usize>len << 2), load<u32>(next + (<usize>len << 2)) + 1); // count per length
    kraft += (<u32>1) << (HUF_MAX_BITS - len);
  }
  let code: u32 = 0;
  let prevCount: u32 = 0;
  for (let len: u32 = 1; len <= HUF_MAX_BITS; len++) {
    code = (code + prevCount) << 1;
    prevCount = load<u32>(next + (<usize>len << 2));
    store<u32>(next + (<usize>len << 2), code);
  }
  return kraft;
}

/**
 * Fills an encoder table: per symbol a u32 holding the bit-reversed code (transmitted least
 * significant bit first) in the low 16 bits and its length in the high 16 bits.
 */
export function buildEncodeTable(lens: usize, alphabet: u32, codes: usize): void {
  canonicalStarts(lens, alphabet);
  const next = HUF_WORK + WORK_NEXT_CODE;
  for (let s: u32 = 0; s < alphabet; s++) {
    const len = <u32>load<u8>(lens + s);
    let entry: u32 = 0;
    if (len != 0) {
      const slot = next + (<usize>len << 2);
      const code = load<u32>(slot);
      store<u32>(slot, code + 1);
      entry = reverseBits(code, len) | (len << 16);
    }
    store<u32>(codes + (<usize>s << 2), entry);
  }
}

/** Total coded bits of a histogram under an encoder table. */
export function codedBits(hist: usize, codes: usize, alphabet: u32): u64 {
  let bits: u64 = 0;
  for (let s: u32 = 0; s < alphabet; s++) {
    bits += <u64>load<u32>(hist + (<usize>s << 2)) * <u64>(load<u32>(codes + (<usize>s << 2)) >>> 16);
  }
  return bits;
}

function highestUsed(lens: usize, alphabet: u32): u32 {
  let top: u32 = 0;
  for (let s: u32 = 0; s < alphabet; s++) {
    if (load<u8>(lens + s) != 0) top = s;
  }
  return top;
}

/** Bytes writeTable() will produce for a code of `used` >= 2 symbols. */
export function tableSize(lens: usize, alphabet: u32, used: u32): u32 {
  const span = highestUsed(lens, alphabet) + 1;
  const dense = 2 + ((span + 1) >> 1);
  const sparse = 2 + ((span + 7) >> 3) + ((used + 1) >> 1);
  return min<u32>(dense, sparse);
}

/**
 * Writes the description (see the spec) of a code of `used` >= 2 symbols, dense or sparse,
 * whichever is smaller. (Sections of one symbol are RLE sections, so the encoder never writes
 * single-symbol tables.) Returns the address after the description.
 */
export function writeTable(out: usize, lens: usize, alphabet: u32, used: u32): usize {
  const top = highestUsed(lens, alphabet);
  const span = top + 1;
  const dense = 2 + ((span + 1) >> 1);
  const sparse = 2 + ((span + 7) >> 3) + ((used + 1) >> 1);
  store<u8>(out, <u8>(dense <= sparse ? TABLE_DENSE : TABLE_SPARSE));
  store<u8>(out, <u8>top, 1);
  let p = out + 2;
  let nibbles: u32 = 0; // nibbles written so far
  if (dense > sparse) {
    memory.fill(p, 0, (span + 7) >> 3);
    for (let s: u32 = 0; s < span; s++) {
      if (load<u8>(lens + s) != 0) store<u8>(p + (s >> 3), <u8>(<u32>load<u8>(p + (s >> 3)) | (1 << (s & 7))));
    }
    p += (span + 7) >> 3;
  }
  for (let s: u32 = 0; s < span; s++) {
    const len = <u32>load<u8>(lens + s);
    if (dense > sparse && len == 0) continue;
    if ((nibbles & 1) == 0) {
      store<u8>(p + (nibbles >> 1), <u8>len);
    } else {
      store<u8>(p + (nibbles >> 1), <u8>(<u32>load<u8>(p + (nibbles >> 1)) | (len << 4)));
    }
    nibbles++;
  }
  return p + ((nibbles + 1) >> 1);
}

/**
 * Fills a decode table of HUF_TABLE_SIZE u16 entries (symbol | code length << 8) from code lengths.
 * Returns 0, or ERR_TABLE unless the lengths form a complete prefix code of 2+ symbols.
 */
function buildDecodeTable(lens: usize, alphabet: u32, table: usize): i32 {
  if (canonicalStarts(lens, alphabet) != KRAFT_TOTAL) return ERR_TABLE;
  const next = HUF_WORK + WORK_NEXT_CODE;
  for (let s: u32 = 0; s < alphabet; s++) {
    const len = <u32>load<u8>(lens + s);
    if (len == 0) continue;
    const slot = next + (<usize>len << 2);
    const code = load<u32>(slot);
    store<u32>(slot, code + 1);
    const step = (<u32>1) << len;
    const entry = <u16>(s | (len << 8));
    for (let i = reverseBits(code, len); i < HUF_TABLE_SIZE; i += step) store<u16>(table + (<usize>i << 1), entry);
  }
  return 0;
}

/**
 * Parses a table description in [ip, end) into a decode table (entry format: buildDecodeTable),
 * using `lens` (u8[alphabet]) as scratch. Returns 0 and sets tableCursor past the description,
 * or a negative error code.
 */
export function readTable(ip: usize, end: usize, alphabet: u32, lens: usize, table: usize): i32 {
  if (ip + 2 > end) return ERR_TRUNCATED;
  const kind = <u32>load<u8>(ip);
  const top = <u32>load<u8>(ip, 1);
  if (top >= alphabet) return ERR_TABLE;
  let p = ip + 2;
  if (kind == TABLE_SINGLE) {
    // A zero-length code: every table slot decodes the symbol without consuming bits.
    for (let i: u32 = 0; i < HUF_TABLE_SIZE; i++) store<u16>(table + (<usize>i << 1), <u16>top);
    tableCursor = p;
    return 0;
  }
  if (kind != TABLE_DENSE && kind != TABLE_SPARSE) return ERR_TABLE;
  const span = top + 1;
  memory.fill(lens, 0, alphabet);
  let bitmap: usize = 0;
  let count = span;
  if (kind == TABLE_SPARSE) {
    bitmap = p;
    const bitmapBytes = (span + 7) >> 3;
    if (p + bitmapBytes > end) return ERR_TRUNCATED;
    count = 0;
    for (let s: u32 = 0; s < span; s++) count += (load<u8>(bitmap + (s >> 3)) >> (s & 7)) & 1;
    p += bitmapBytes;
  }
  const nibbleBytes = (count + 1) >> 1;
  if (p + nibbleBytes > end) return ERR_TRUNCATED;
  let nibble: u32 = 0;
  for (let s: u32 = 0; s < span; s++) {
    if (bitmap != 0 && ((load<u8>(bitmap + (s >> 3)) >> (s & 7)) & 1) == 0) continue;
    const len = (<u32>load<u8>(p + (nibble >> 1)) >> ((nibble & 1) << 2)) & 15;
    if (len > HUF_MAX_BITS || (bitmap != 0 && len == 0)) return ERR_TABLE;
    store<u8>(lens + s, <u8>len);
    nibble++;
  }
  tableCursor = p + nibbleBytes;
  return buildDecodeTable(lens, alphabet, table);
}
