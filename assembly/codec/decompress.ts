// dlz decompressor: validates every field and never reads or writes outside the given ranges.
import {
  FORMAT_VERSION, BLOCK_MAX, MIN_MATCH, BLOCK_RAW, BLOCK_RLE, BLOCK_COMPRESSED,
  LIT_RAW, LIT_RLE, LIT_HUF1, LIT_HUF4, HUF4_MIN_LITERALS, HUF_MAX_BITS, HUF_TABLE_SIZE, HUF_TABLE_MASK,
  LIT_ALPHABET, TOKEN_ALPHABET, OFFSET_ALPHABET, OFFSET_REPEATS, INITIAL_REP0, INITIAL_REP1, INITIAL_REP2,
  ERR_TRUNCATED, ERR_CORRUPT, ERR_VERSION, ERR_OUTPUT_SIZE, ERR_OFFSET, ERR_TRAILING, load24,
} from './format';
import {
  LIT_BUF, LIT_LENS, TOKEN_LENS, OFFSET_LENS, LIT_DECODE, TOKEN_DECODE, OFFSET_DECODE, TOKEN_INFO,
  OFFSET_INFO, TOKEN_AUX, OFFSET_AUX, DEC_STREAM_A, DEC_STREAM_B, DEC_RECORDS, DEC_RECORD,
  SEQ_MAX_BITS_A, SEQ_MAX_BITS_B, DEC_LITERALS, LIT_PAIRS,
} from './layout';
import { copy16, wildCopy, copyMatchExact } from './bytes';
import { readTable, tableCursor } from './huffman';

/** Largest dstLen accepted (the return value must stay a positive i32). */
export const MAX_OUTPUT: u32 = 1 << 30;

/** Room a sequence needs before the block end to use the fast (overshooting) copies. */
const FAST_COPY_MARGIN: usize = 64;

let rep0: u32 = INITIAL_REP0;
let rep1: u32 = INITIAL_REP1;
let rep2: u32 = INITIAL_REP2;
/** Read position after decodeLiterals(). */
let literalCursor: usize = 0;

/** Most bytes a Huffman stream of `symbols` symbols can occupy (every code is at most HUF_MAX_BITS). */
@inline
function maxStreamBytes(symbols: u32): u32 {
  return <u32>((<u64>symbols * HUF_MAX_BITS + 7) >> 3);
}

/** At least 57 bits of a stream from bit `pos` on; the stream must lie in a padded copy. */
@inline
function peek(base: usize, pos: u32): u64 {
  return load<u64>(base + (pos >> 3)) >> <u64>(pos & 7);
}

/** Four symbols of one stream (in a padded copy) into out[0..4); returns the new bit position. */
@inline
function decodeQuad(base: usize, pos: u32, table: usize, out: usize): u32 {
  let v = peek(base, pos);
  const e0 = <u32>load<u16>(table + (<usize>(v & HUF_TABLE_MASK) << 1));
  v >>= <u64>(e0 >> 8);
  const e1 = <u32>load<u16>(table + (<usize>(v & HUF_TABLE_MASK) << 1));
  v >>= <u64>(e1 >> 8);
  const e2 = <u32>load<u16>(table + (<usize>(v & HUF_TABLE_MASK) << 1));
  v >>= <u64>(e2 >> 8);
  const e3 = <u32>load<u16>(table + (<usize>(v & HUF_TABLE_MASK) << 1));
  store<u32>(out, (e0 & 0xff) | ((e1 & 0xff) << 8) | ((e2 & 0xff) << 16) | ((e3 & 0xff) << 24));
  return pos + (e0 >> 8) + (e1 >> 8) + (e2 >> 8) + (e3 >> 8);
}

/** Decodes out[from..count) from one stream (in a padded copy) starting at bit `pos`; returns the new bit position. */
function decodeRun(base: usize, pos: u32, table: usize, out: usize, from: u32, count: u32): u32 {
  let i = from;
  for (; i + 4 <= count; i += 4) pos = decodeQuad(base, pos, table, out + i);
  for (; i < count; i++) {
    const e = <u32>load<u16>(table + (<usize>(peek(base, pos) & HUF_TABLE_MASK) << 1));
    store<u8>(out + i, <u8>e);
    pos += e >> 8;
  }
  return pos;
}

/** True when a stream's final bit position lies in its last byte (the encoder pads with < 8 bits). */
@inline
function endsExactly(pos: u32, start: u32, end: u32): bool {
  return pos >= (start << 3) && ((pos + 7) >> 3) == end;
}

/**
 * Builds LIT_PAIRS from the single-symbol table LIT_DECODE: for every 11-bit window, the first
 * symbol and, when its code fits in the rest of the window, the second one. Entry: first symbol |
 * second symbol << 8 | bits used << 16 (a 6-bit field) | symbols decoded (1 or 2) << 24.
 */
function buildPairTable(): void {
  for (let i: u32 = 0; i < HUF_TABLE_SIZE; i++) {
    const first = <u32>load<u16>(LIT_DECODE + (<usize>i << 1));
    const firstBits = first >> 8;
    const second = <u32>load<u16>(LIT_DECODE + (<usize>(i >> firstBits) << 1));
    const bothBits = firstBits + (second >> 8);
    const pair = (first & 0xff) | ((second & 0xff) << 8) | (bothBits << 16) | (2 << 24);
    const single = (first & 0xff) | (firstBits << 16) | (1 << 24);
    store<u32>(LIT_PAIRS + (<usize>i << 2), select<u32>(pair, single, bothBits <= HUF_MAX_BITS));
  }
}

/**
 * Five pair-table lookups from one stream (in a padded copy) at bit `pos`, writing 5 to 10
 * symbols at `out` (and possibly one scratch byte after them). Returns bits used | symbols << 32.
 */
@inline
function decodePairs(base: usize, pos: u32, out: usize): u64 {
  let v = peek(base, pos);
  const e0 = load<u32>(LIT_PAIRS + (<usize>(v & HUF_TABLE_MASK) << 2));
  store<u16>(out, <u16>e0);
  let n = e0 >> 24;
  v >>= <u64>(e0 >> 16);
  const e1 = load<u32>(LIT_PAIRS + (<usize>(v & HUF_TABLE_MASK) << 2));
  store<u16>(out + n, <u16>e1);
  n += e1 >> 24;
  v >>= <u64>(e1 >> 16);
  const e2 = load<u32>(LIT_PAIRS + (<usize>(v & HUF_TABLE_MASK) << 2));
  store<u16>(out + n, <u16>e2);
  n += e2 >> 24;
  v >>= <u64>(e2 >> 16);
  const e3 = load<u32>(LIT_PAIRS + (<usize>(v & HUF_TABLE_MASK) << 2));
  store<u16>(out + n, <u16>e3);
  n += e3 >> 24;
  v >>= <u64>(e3 >> 16);
  const e4 = load<u32>(LIT_PAIRS + (<usize>(v & HUF_TABLE_MASK) << 2));
  store<u16>(out + n, <u16>e4);
  n += e4 >> 24;
  const bits = ((e0 >> 16) & 63) + ((e1 >> 16) & 63) + ((e2 >> 16) & 63) + ((e3 >> 16) & 63) + ((e4 >> 16) & 63);
  return (<u64>n << 32) | <u64>bits;
}

/** Literal counts from which building the pair table pays off. */
const PAIR_TABLE_MIN_LITERALS: u32 = 4096;
/** Symbols decodePairs may write in one call (5 lookups of up to 2 symbols). */
const PAIRS_PER_CALL: usize = 10;

/**
 * Decodes four interleaved streams laid out back to back at `base` (a padded copy); stream k holds
 * symbols [k*segment, ...) of the literals and ends at byte `endK`. The bulk uses the pair table;
 * each stream's last symbols are decoded one at a time so no write crosses into the next segment.
 * Returns 0 or ERR_CORRUPT.
 */
function decodeFourStreams(base: usize, end0: u32, end1: u32, end2: u32, end3: u32, count: u32): i32 {
  const segment = (count + 3) >> 2;
  const lastCount = count - 3 * segment;
  const s0 = LIT_BUF;
  const s1 = s0 + segment;
  const s2 = s1 + segment;
  const s3 = s2 + segment;
  let p0: u32 = 0;
  let p1 = end0 << 3;
  let p2 = end1 << 3;
  let p3 = end2 << 3;
  let o0 = s0;
  let o1 = s1;
  let o2 = s2;
  let o3 = s3;
  if (count >= PAIR_TABLE_MIN_LITERALS) {
    buildPairTable();
    // Stream 3 is the shortest, so its bound is the tightest; the others are checked too because
    // pairs advance the streams by different amounts.
    const limit0 = s1 - PAIRS_PER_CALL;
    const limit1 = s2 - PAIRS_PER_CALL;
    const limit2 = s3 - PAIRS_PER_CALL;
    const limit3 = s3 + lastCount - PAIRS_PER_CALL;
    while (o0 <= limit0 && o1 <= limit1 && o2 <= limit2 && o3 <= limit3) {
      const r0 = decodePairs(base, p0, o0);
      const r1 = decodePairs(base, p1, o1);
      const r2 = decodePairs(base, p2, o2);
      const r3 = decodePairs(base, p3, o3);
      p0 += <u32>r0;
      o0 += <usize>(r0 >> 32);
      p1 += <u32>r1;
      o1 += <usize>(r1 >> 32);
      p2 += <u32>r2;
      o2 += <usize>(r2 >> 32);
      p3 += <u32>r3;
      o3 += <usize>(r3 >> 32);
    }
  }
  p0 = decodeRun(base, p0, LIT_DECODE, s0, <u32>(o0 - s0), segment);
  p1 = decodeRun(base, p1, LIT_DECODE, s1, <u32>(o1 - s1), segment);
  p2 = decodeRun(base, p2, LIT_DECODE, s2, <u32>(o2 - s2), segment);
  p3 = decodeRun(base, p3, LIT_DECODE, s3, <u32>(o3 - s3), lastCount);
  const exact = endsExactly(p0, 0, end0) && endsExactly(p1, end0, end1) &&
    endsExactly(p2, end1, end2) && endsExactly(p3, end2, end3);
  return exact ? 0 : ERR_CORRUPT;
}

/**
 * Decodes a Huffman literal section body (after mode and count) into LIT_BUF; sets literalCursor.
 * The streams are first copied to DEC_LITERALS, which has room for any position the decoder can
 * reach (each symbol takes at most HUF_MAX_BITS), so decoding needs no bounds checks.
 */
function decodeLiterals(mode: u32, ip: usize, end: usize, count: u32): i32 {
  const status = readTable(ip, end, LIT_ALPHABET, LIT_LENS, LIT_DECODE, 0);
  if (status < 0) return status;
  ip = tableCursor;
  if (mode == LIT_HUF1) {
    if (end - ip < 3) return ERR_TRUNCATED;
    const size = load24(ip);
    ip += 3;
    if (end - ip < <usize>size) return ERR_TRUNCATED;
    if (size > maxStreamBytes(count)) return ERR_CORRUPT;
    memory.copy(DEC_LITERALS, ip, size);
    const pos = decodeRun(DEC_LITERALS, 0, LIT_DECODE, LIT_BUF, 0, count);
    if (!endsExactly(pos, 0, size)) return ERR_CORRUPT;
    literalCursor = ip + size;
    return 0;
  }
  if (count < HUF4_MIN_LITERALS) return ERR_CORRUPT;
  if (end - ip < 12) return ERR_TRUNCATED;
  const segment = (count + 3) >> 2;
  const size0 = load24(ip);
  const size1 = load24(ip + 3);
  const size2 = load24(ip + 6);
  const size3 = load24(ip + 9);
  ip += 12;
  const longest = maxStreamBytes(segment);
  if (size0 > longest || size1 > longest || size2 > longest || size3 > longest) return ERR_CORRUPT;
  const total = size0 + size1 + size2 + size3;
  if (end - ip < <usize>total) return ERR_TRUNCATED;
  memory.copy(DEC_LITERALS, ip, total);
  literalCursor = ip + total;
  return decodeFourStreams(DEC_LITERALS, size0, size0 + size1, size0 + size1 + size2, total, count);
}

/** Reads a literal section at [ip, end) into LIT_BUF; returns the literal count or an error. */
function readLiterals(ip: usize, end: usize, rawSize: u32): i32 {
  if (end - ip < 4) return ERR_TRUNCATED;
  const mode = <u32>load<u8>(ip);
  const count = load24(ip + 1);
  ip += 4;
  if (count > rawSize) return ERR_CORRUPT;
  if (mode == LIT_RAW) {
    if (end - ip < <usize>count) return ERR_TRUNCATED;
    memory.copy(LIT_BUF, ip, count);
    literalCursor = ip + count;
  } else if (mode == LIT_RLE) {
    if (end - ip < 1) return ERR_TRUNCATED;
    memory.fill(LIT_BUF, load<u8>(ip), count);
    literalCursor = ip + 1;
  } else if (mode == LIT_HUF1 || mode == LIT_HUF4) {
    const status = decodeLiterals(mode, ip, end, count);
    if (status < 0) return status;
  } else {
    return ERR_CORRUPT;
  }
  return <i32>count;
}

/**
 * Copies a match whose source starts `offset` bytes back, with no calls. May write up to 15 bytes
 * past dst + len (16 bytes are copied up front so that typical short matches need no loop).
 */
@inline
function copyMatchFast(dst: usize, offset: usize, len: usize): void {
  const from = dst - offset;
  if (offset >= 16) {
    copy16(dst, from);
    if (len > 16) wildCopy(dst + 16, from + 16, len - 16);
  } else if (offset >= 8) {
    let i: usize = 0;
    do {
      store<u64>(dst + i, load<u64>(from + i));
      i += 8;
    } while (i < len);
  } else {
    // The match repeats `offset` bytes: build 8 bytes of that pattern and store them every
    // `step` bytes, the largest multiple of `offset` that is at most 8.
    let pattern: u64 = 0;
    for (let i: usize = 0; i < 8; i++) pattern |= <u64>load<u8>(from + i % offset) << <u64>(i << 3);
    const step: usize = <usize>8 - (<usize>8) % offset;
    for (let i: usize = 0; i < len; i += step) store<u64>(dst + i, pattern);
  }
}

/** Copies `len` literals; may read and write up to 15 bytes past the ends. */
@inline
function copyLiteralsFast(dst: usize, src: usize, len: usize): void {
  copy16(dst, src);
  if (len > 16) wildCopy(dst + 16, src + 16, len - 16);
}

/**
 * Phase 1 of a block's sequences: decodes `count` sequences from the padded stream copies
 * DEC_STREAM_A (tokens with length extras) and DEC_STREAM_B (offset codes with extras) into
 * DEC_RECORDS as (literal length | offset code << 24, match length, explicit offset or 0).
 * Each stream is read through a 64-bit bit container refilled once per sequence without a branch
 * (a sequence takes at most 45 bits from A and 42 from B, and a refill leaves at least 56), so the
 * two streams form short independent dependency chains; the loop keeps as little state as
 * possible so the engine can hold it all in registers. The copies are large enough for any
 * position `count` sequences can reach, so no read needs a bounds check. Only the streams' lengths
 * are validated here; executeSequences checks every sequence against the block, the literals and
 * the frame start. Returns 0 or ERR_CORRUPT.
 */
function decodeSequences(count: u32, sizeA: u32, sizeB: u32): i32 {
  let bitsA: u64 = 0;
  let availA: u32 = 0;
  let readA = DEC_STREAM_A;
  let bitsB: u64 = 0;
  let availB: u32 = 0;
  let readB = DEC_STREAM_B;
  const recordsEnd = DEC_RECORDS + <usize>count * DEC_RECORD;
  for (let record = DEC_RECORDS; record < recordsEnd; record += DEC_RECORD) {
    bitsA |= load<u64>(readA) << <u64>availA;
    readA += (63 - availA) >> 3;
    availA |= 56;
    const token = load<u32>(TOKEN_DECODE + (<usize>(bitsA & HUF_TABLE_MASK) << 2));
    const info = TOKEN_INFO + <usize>(token & 0xff0);
    const extras = bitsA >> <u64>(token >> 12);
    bitsA >>= <u64>(token >> 24);
    availA -= token >> 24;
    const litLen = load<u32>(info) + (<u32>extras & load<u32>(info, 4));
    const matchLen = load<u32>(info, 8) + (<u32>(extras >> <u64>(token >> 18)) & load<u32>(info, 12));

    bitsB |= load<u64>(readB) << <u64>availB;
    readB += (63 - availB) >> 3;
    availB |= 56;
    const entry = load<u32>(OFFSET_DECODE + (<usize>(bitsB & HUF_TABLE_MASK) << 2));
    const offInfo = OFFSET_INFO + <usize>(entry & 0xff0);
    const explicit = load<u32>(offInfo) + (<u32>(bitsB >> <u64>(entry >> 12)) & load<u32>(offInfo, 4));
    bitsB >>= <u64>(entry >> 24);
    availB -= entry >> 24;

    store<u32>(record, litLen | ((entry & 0xff0) << 20));
    store<u32>(record, matchLen, 4);
    store<u32>(record, explicit, 8);
  }
  const usedA = <u32>(readA - DEC_STREAM_A) * 8 - availA;
  const usedB = <u32>(readB - DEC_STREAM_B) * 8 - availB;
  if (!endsExactly(usedA, 0, sizeA) || !endsExactly(usedB, 0, sizeB)) return ERR_CORRUPT;
  return 0;
}

/**
 * Phase 2: writes the block [op, op + rawSize) from the records in DEC_RECORDS and the literals
 * in LIT_BUF[0..litCount), resolving repeat offsets. Every sequence is checked before it is
 * copied: its offset must stay inside the frame and its bytes inside the block. As the literals a
 * sequence takes are part of those bytes, the literal pointer never leaves LIT_BUF (rawSize <=
 * BLOCK_MAX); whether more literals were used than exist, or a different number is left than the
 * block needs, is checked at the end.
 * The inner loop handles the common case with overshooting copies and no calls (which keeps the
 * engine's register allocation tight); sequences within FAST_COPY_MARGIN of the block end leave
 * it for one exact copy each. Returns 0 or an error code.
 */
function executeSequences(count: u32, op: usize, rawSize: u32, litCount: u32, dstStart: usize): i32 {
  const blockEnd = op + rawSize;
  let lit = LIT_BUF;
  let r0 = rep0;
  let r1 = rep1;
  let r2 = rep2;
  let record = DEC_RECORDS;
  const recordsEnd = DEC_RECORDS + <usize>count * DEC_RECORD;
  while (record < recordsEnd) {
    let litLen: usize = 0;
    let matchLen: usize = 0;
    let offset: usize = 0;
    do {
      const first = load<u32>(record);
      litLen = <usize>(first & 0xffffff);
      const code = first >> 24;
      matchLen = <usize>load<u32>(record, 4);
      // Repeat history update without branches: code 0 keeps (r0 r1 r2), 1 gives (r1 r0 r2),
      // 2 gives (r2 r0 r1), an explicit offset x gives (x r0 r1).
      const repeat = select<u32>(r1, r2, code == 1);
      const chosen = select<u32>(load<u32>(record, 8), select<u32>(r0, repeat, code == 0), code >= OFFSET_REPEATS);
      r2 = select<u32>(r2, r1, code <= 1);
      r1 = select<u32>(r1, r0, code == 0);
      r0 = chosen;
      offset = <usize>chosen;
      record += DEC_RECORD;
      if (blockEnd - op < litLen + matchLen + FAST_COPY_MARGIN) break;
      if (offset > op + litLen - dstStart) return ERR_OFFSET;
      copyLiteralsFast(op, lit, litLen);
      op += litLen;
      lit += litLen;
      copyMatchFast(op, offset, matchLen);
      op += matchLen;
      litLen = 0;
      matchLen = 0;
    } while (record < recordsEnd);
    // The sequence that left the loop (if any; matchLen is 0 otherwise) is checked and copied exactly.
    if (litLen + matchLen > blockEnd - op) return ERR_CORRUPT;
    if (matchLen != 0 && offset > op + litLen - dstStart) return ERR_OFFSET;
    memory.copy(op, lit, litLen);
    op += litLen;
    lit += litLen;
    if (matchLen != 0) copyMatchExact(op, offset, matchLen);
    op += matchLen;
  }
  rep0 = r0;
  rep1 = r1;
  rep2 = r2;
  const used = lit - LIT_BUF;
  if (used > <usize>litCount || <usize>litCount - used != blockEnd - op) return ERR_CORRUPT;
  memory.copy(op, lit, blockEnd - op);
  return 0;
}

/** Decodes one compressed block payload [ip, end) into [op, op + rawSize). */
function decodeBlock(ip: usize, end: usize, op: usize, rawSize: u32, dstStart: usize): i32 {
  const litCount = readLiterals(ip, end, rawSize);
  if (litCount < 0) return litCount;
  ip = literalCursor;
  if (end - ip < 3) return ERR_TRUNCATED;
  const seqCount = load24(ip);
  ip += 3;
  if (seqCount == 0) {
    if (ip != end || <u32>litCount != rawSize) return ERR_CORRUPT;
    memory.copy(op, LIT_BUF, rawSize);
    return 0;
  }
  if (seqCount > rawSize / MIN_MATCH) return ERR_CORRUPT;
  let status = readTable(ip, end, TOKEN_ALPHABET, TOKEN_LENS, TOKEN_DECODE, TOKEN_AUX);
  if (status < 0) return status;
  ip = tableCursor;
  status = readTable(ip, end, OFFSET_ALPHABET, OFFSET_LENS, OFFSET_DECODE, OFFSET_AUX);
  if (status < 0) return status;
  ip = tableCursor;
  if (end - ip < 3) return ERR_TRUNCATED;
  const sizeA = load24(ip);
  ip += 3;
  if (end - ip < <usize>sizeA) return ERR_TRUNCATED;
  const sizeB = <u32>(end - ip) - sizeA;
  // Longer streams than `seqCount` sequences can consume are corrupt (and would not fit the copies).
  if (<u64>sizeA * 8 > <u64>seqCount * SEQ_MAX_BITS_A + 7 || <u64>sizeB * 8 > <u64>seqCount * SEQ_MAX_BITS_B + 7) {
    return ERR_CORRUPT;
  }
  memory.copy(DEC_STREAM_A, ip, sizeA);
  memory.copy(DEC_STREAM_B, ip + sizeA, sizeB);
  status = decodeSequences(seqCount, sizeA, sizeB);
  if (status < 0) return status;
  return executeSequences(seqCount, op, rawSize, <u32>litCount, dstStart);
}

/**
 * Decompresses the frame [src, src + srcLen) into exactly dstLen bytes at dst. Returns dstLen,
 * or a negative error code; on error the contents of dst are unspecified.
 */
export function decompress(src: usize, srcLen: u32, dst: usize, dstLen: u32): i32 {
  if (dstLen > MAX_OUTPUT) return ERR_OUTPUT_SIZE;
  if (srcLen < 1) return ERR_TRUNCATED;
  if (<u32>load<u8>(src) != FORMAT_VERSION) return ERR_VERSION;
  const srcEnd = src + srcLen;
  const dstEnd = dst + dstLen;
  let ip = src + 1;
  let op = dst;
  rep0 = INITIAL_REP0;
  rep1 = INITIAL_REP1;
  rep2 = INITIAL_REP2;
  while (op < dstEnd) {
    if (srcEnd - ip < 3) return ERR_TRUNCATED;
    const header = load24(ip);
    ip += 3;
    const type = header & 3;
    const rawSize = (header >> 2) + 1;
    if (rawSize > BLOCK_MAX) return ERR_CORRUPT;
    if (<usize>rawSize > dstEnd - op) return ERR_OUTPUT_SIZE;
    if (type == BLOCK_RAW) {
      if (srcEnd - ip < <usize>rawSize) return ERR_TRUNCATED;
      memory.copy(op, ip, rawSize);
      ip += rawSize;
    } else if (type == BLOCK_RLE) {
      if (srcEnd - ip < 1) return ERR_TRUNCATED;
      memory.fill(op, load<u8>(ip), rawSize);
      ip += 1;
    } else if (type == BLOCK_COMPRESSED) {
      if (srcEnd - ip < 3) return ERR_TRUNCATED;
      const size = load24(ip);
      ip += 3;
      if (srcEnd - ip < <usize>size) return ERR_TRUNCATED;
      const status = decodeBlock(ip, ip + size, op, rawSize, dst);
      if (status < 0) return status;
      ip += size;
    } else {
      return ERR_CORRUPT;
    }
    op += rawSize;
  }
  if (ip != srcEnd) return ERR_TRAILING;
  return <i32>dstLen;
}
