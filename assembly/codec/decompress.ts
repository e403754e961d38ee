// dlz decompressor: validates every field and never reads or writes outside the given ranges.
import {
  FORMAT_VERSION, BLOCK_MAX, MIN_MATCH, BLOCK_RAW, BLOCK_RLE, BLOCK_COMPRESSED,
  LIT_RAW, LIT_RLE, LIT_HUF1, LIT_HUF4, HUF4_MIN_LITERALS, HUF_TABLE_MASK,
  LIT_ALPHABET, TOKEN_ALPHABET, OFFSET_ALPHABET, OFFSET_REPEATS, INITIAL_REP0, INITIAL_REP1, INITIAL_REP2,
  ERR_TRUNCATED, ERR_CORRUPT, ERR_VERSION, ERR_OUTPUT_SIZE, ERR_OFFSET, ERR_TRAILING, load24,
} from './format';
import {
  LIT_BUF, LIT_LENS, TOKEN_LENS, OFFSET_LENS, LIT_DECODE, TOKEN_DECODE, OFFSET_DECODE, TOKEN_INFO,
  OFFSET_INFO, TOKEN_AUX, OFFSET_AUX, DEC_STREAM_A, DEC_STREAM_B, DEC_RECORDS, DEC_RECORD,
  SEQ_MAX_BITS_A, SEQ_MAX_BITS_B,
} from './layout';
import { copy16, wildCopy, copyMatchExact } from './bytes';
import { readTable, tableCursor } from './huffman';

/** Largest dstLen accepted (the return value must stay a positive i32). */
export const MAX_OUTPUT: u32 = 1 << 30;

/** Extra room a sequence needs after its end to use the fast (overshooting) copies. */
const FAST_COPY_MARGIN: usize = 64;

let rep0: u32 = INITIAL_REP0;
let rep1: u32 = INITIAL_REP1;
let rep2: u32 = INITIAL_REP2;
/** Read position after decodeLiterals(). */
let literalCursor: usize = 0;

/** Bits of the stream [base, base + size) from bit `pos` on, zero beyond the end; 57+ valid bits. */
function peekTail(base: usize, pos: u32, size: u32): u64 {
  let value: u64 = 0;
  const first = pos >> 3;
  for (let i: u32 = 0; i < 8 && first + i < size; i++) {
    value |= <u64>load<u8>(base + first + i) << <u64>(i << 3);
  }
  return value >> <u64>(pos & 7);
}

@inline
function peekBits(base: usize, pos: u32, size: u32): u64 {
  const byte = pos >> 3;
  if (byte + 8 <= size) return load<u64>(base + byte) >> <u64>(pos & 7);
  return peekTail(base, pos, size);
}

/** Decodes `count` symbols of one Huffman stream, from symbol `from` on, to out[from..count). Returns the new bit position. */
function decodeStreamRange(base: usize, pos: u32, size: u32, table: usize, out: usize, from: u32, count: u32): u32 {
  let i = from;
  while (i + 4 <= count) {
    let v = peekBits(base, pos, size);
    const e0 = <u32>load<u16>(table + (<usize>(v & HUF_TABLE_MASK) << 1));
    v >>= <u64>(e0 >> 8);
    const e1 = <u32>load<u16>(table + (<usize>(v & HUF_TABLE_MASK) << 1));
    v >>= <u64>(e1 >> 8);
    const e2 = <u32>load<u16>(table + (<usize>(v & HUF_TABLE_MASK) << 1));
    v >>= <u64>(e2 >> 8);
    const e3 = <u32>load<u16>(table + (<usize>(v & HUF_TABLE_MASK) << 1));
    store<u32>(out + i, (e0 & 0xff) | ((e1 & 0xff) << 8) | ((e2 & 0xff) << 16) | ((e3 & 0xff) << 24));
    pos += (e0 >> 8) + (e1 >> 8) + (e2 >> 8) + (e3 >> 8);
    i += 4;
  }
  for (; i < count; i++) {
    const e = <u32>load<u16>(table + (<usize>(peekBits(base, pos, size) & HUF_TABLE_MASK) << 1));
    store<u8>(out + i, <u8>e);
    pos += e >> 8;
  }
  return pos;
}

/** Four symbols of one stream into out[0..4); returns the new bit position. */
@inline
function decodeQuad(base: usize, pos: u32, size: u32, table: usize, out: usize): u32 {
  let v = peekBits(base, pos, size);
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

/** True when a stream's final bit position lies in its last byte (the encoder pads with < 8 bits). */
@inline
function endsExactly(pos: u32, start: u32, end: u32): bool {
  return pos >= (start << 3) && ((pos + 7) >> 3) == end;
}

/**
 * Decodes four interleaved streams laid out back to back at `base`; stream k holds symbols
 * [k*segment, ...) of the literals. Returns 0 or a negative error code.
 */
function decodeFourStreams(base: usize, ends: usize, count: u32, table: usize): i32 {
  const segment = (count + 3) >> 2;
  const lastCount = count - 3 * segment;
  const end0 = load24(ends);
  const end1 = end0 + load24(ends + 3);
  const end2 = end1 + load24(ends + 6);
  const end3 = end2 + load24(ends + 9);
  let p0: u32 = 0;
  let p1 = end0 << 3;
  let p2 = end1 << 3;
  let p3 = end2 << 3;
  const out = LIT_BUF;
  const shared = lastCount & ~3; // every stream has at least this many symbols
  for (let i: u32 = 0; i < shared; i += 4) {
    p0 = decodeQuad(base, p0, end0, table, out + i);
    p1 = decodeQuad(base, p1, end1, table, out + segment + i);
    p2 = decodeQuad(base, p2, end2, table, out + 2 * segment + i);
    p3 = decodeQuad(base, p3, end3, table, out + 3 * segment + i);
  }
  p0 = decodeStreamRange(base, p0, end0, table, out, shared, segment);
  p1 = decodeStreamRange(base, p1, end1, table, out + segment, shared, segment);
  p2 = decodeStreamRange(base, p2, end2, table, out + 2 * segment, shared, segment);
  p3 = decodeStreamRange(base, p3, end3, table, out + 3 * segment, shared, lastCount);
  const exact = endsExactly(p0, 0, end0) && endsExactly(p1, end0, end1) &&
    endsExactly(p2, end1, end2) && endsExactly(p3, end2, end3);
  return exact ? 0 : ERR_CORRUPT;
}

/** Decodes a Huffman literal section body (after mode and count) into LIT_BUF; sets literalCursor. */
function decodeLiterals(mode: u32, ip: usize, end: usize, count: u32): i32 {
  const status = readTable(ip, end, LIT_ALPHABET, LIT_LENS, LIT_DECODE, 0);
  if (status < 0) return status;
  ip = tableCursor;
  if (mode == LIT_HUF1) {
    if (end - ip < 3) return ERR_TRUNCATED;
    const size = load24(ip);
    ip += 3;
    if (end - ip < <usize>size) return ERR_TRUNCATED;
    const pos = decodeStreamRange(ip, 0, size, LIT_DECODE, LIT_BUF, 0, count);
    if (!endsExactly(pos, 0, size)) return ERR_CORRUPT;
    literalCursor = ip + size;
    return 0;
  }
  if (count < HUF4_MIN_LITERALS) return ERR_CORRUPT;
  if (end - ip < 12) return ERR_TRUNCATED;
  const total = <usize>load24(ip) + <usize>load24(ip + 3) + <usize>load24(ip + 6) + <usize>load24(ip + 9);
  if (end - (ip + 12) < total) return ERR_TRUNCATED;
  const result = decodeFourStreams(ip + 12, ip, count, LIT_DECODE);
  literalCursor = ip + 12 + total;
  return result;
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
 * Copies a match whose source starts `offset` bytes back. May write up to 15 bytes past dst + len
 * (16 bytes are copied up front so that typical short matches need no loop).
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
  } else if (len <= 16) {
    for (let i: usize = 0; i < len; i++) store<u8>(dst + i, load<u8>(from + i));
  } else {
    copyMatchExact(dst, offset, len);
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
 * two streams form short independent dependency chains. The copies are large enough for any
 * position `count` sequences can reach, so no read needs a bounds check. The only validation
 * here is that the sequences fit in the block (their summed length only grows, so one check at
 * the end suffices); executeSequences checks offsets and literal use.
 * Returns 0 or ERR_CORRUPT.
 */
function decodeSequences(count: u32, sizeA: u32, sizeB: u32, rawSize: u32): i32 {
  let bitsA: u64 = 0;
  let availA: u32 = 0;
  let readA = DEC_STREAM_A;
  let bitsB: u64 = 0;
  let availB: u32 = 0;
  let readB = DEC_STREAM_B;
  let covered: u64 = 0;
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

    covered += <u64>litLen + <u64>matchLen;
    store<u32>(record, litLen | ((entry & 0xff0) << 20));
    store<u32>(record, matchLen, 4);
    store<u32>(record, explicit, 8);
  }
  if (covered > <u64>rawSize) return ERR_CORRUPT;
  const usedA = <u32>(readA - DEC_STREAM_A) * 8 - availA;
  const usedB = <u32>(readB - DEC_STREAM_B) * 8 - availB;
  if (!endsExactly(usedA, 0, sizeA) || !endsExactly(usedB, 0, sizeB)) return ERR_CORRUPT;
  return 0;
}

/**
 * Phase 2: writes the block from the records in DEC_RECORDS and the literals in
 * LIT_BUF[0..litCount), resolving repeat offsets. Phase 1 has fitted the sequences' lengths into
 * the block, so the literal pointer stays inside LIT_BUF (rawSize <= BLOCK_MAX); whether they
 * used more literals than exist, or left a different number than the block needs, is checked at
 * the end. Offsets reaching before the frame start are rejected before copying.
 * Copies overshoot when at least FAST_COPY_MARGIN bytes of the destination remain.
 * Returns 0 or an error code.
 */
function executeSequences(count: u32, op: usize, rawSize: u32, litCount: u32, dstStart: usize, dstEnd: usize): i32 {
  const blockEnd = op + rawSize;
  let lit = LIT_BUF;
  let r0 = rep0;
  let r1 = rep1;
  let r2 = rep2;
  const recordsEnd = DEC_RECORDS + <usize>count * DEC_RECORD;
  for (let record = DEC_RECORDS; record < recordsEnd; record += DEC_RECORD) {
    const first = load<u32>(record);
    const litLen = <usize>(first & 0xffffff);
    const code = first >> 24;
    const matchLen = <usize>load<u32>(record, 4);
    // Repeat history update without branches: code 0 keeps (r0 r1 r2), 1 gives (r1 r0 r2),
    // 2 gives (r2 r0 r1), an explicit offset x gives (x r0 r1).
    const repeat = select<u32>(r1, r2, code == 1);
    const offset = select<u32>(load<u32>(record, 8), select<u32>(r0, repeat, code == 0), code >= OFFSET_REPEATS);
    r2 = select<u32>(r2, r1, code <= 1);
    r1 = select<u32>(r1, r0, code == 0);
    r0 = offset;
    if (<usize>offset > op + litLen - dstStart) return ERR_OFFSET;
    if (dstEnd - op >= litLen + matchLen + FAST_COPY_MARGIN) {
      copyLiteralsFast(op, lit, litLen);
      op += litLen;
      copyMatchFast(op, offset, matchLen);
    } else {
      memory.copy(op, lit, litLen);
      op += litLen;
      copyMatchExact(op, offset, matchLen);
    }
    lit += litLen;
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
function decodeBlock(ip: usize, end: usize, op: usize, rawSize: u32, dstStart: usize, dstEnd: usize): i32 {
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
  status = decodeSequences(seqCount, sizeA, sizeB, rawSize);
  if (status < 0) return status;
  return executeSequences(seqCount, op, rawSize, <u32>litCount, dstStart, dstEnd);
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
      const status = decodeBlock(ip, ip + size, op, rawSize, dst, dstEnd);
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
