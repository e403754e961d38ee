// dlz decompressor: validates every field and never reads or writes outside the given ranges.
import {
  FORMAT_VERSION, BLOCK_MAX, MIN_MATCH, BLOCK_RAW, BLOCK_RLE, BLOCK_COMPRESSED,
  SECTION_RAW, SECTION_RLE, SECTION_HUF1, SECTION_HUF4, HUF4_MIN_SYMBOLS, HUF_MAX_BITS, HUF_TABLE_SIZE,
  HUF_TABLE_MASK, BYTE_ALPHABET, TOKEN_EXTENDED, EXTENSION_LONG, OFFSET_REPEAT, INITIAL_OFFSET,
  ERR_TRUNCATED, ERR_CORRUPT, ERR_VERSION, ERR_OUTPUT_SIZE, ERR_OFFSET, ERR_TRAILING, load24,
} from './format';
import {
  LIT_BUF, TOKEN_BUF, OFFSET_GAP, HUF_LENS, HUF_DECODE, HUF_MULTI, HUF_MULTI_BITS, DEC_STREAMS, SIDE_MAX_PER_SEQ,
} from './layout';
import { copy16, wildCopy, copyMatchExact } from './bytes';
import { readTable, tableCursor } from './huffman';

/** Largest dstLen accepted (the return value must stay a positive i32). */
export const MAX_OUTPUT: u32 = 1 << 30;

/**
 * Room a sequence must leave before the block end to use the fast copies, which write up to 32
 * bytes (or 15 past the end of a longer copy) from each copy's start.
 */
const FAST_COPY_MARGIN: usize = 32;

/** The repeat offset, carried from one compressed block to the next. */
let lastOffset: u32 = INITIAL_OFFSET;
/** Read position after decodeSection(). */
let sectionCursor: usize = 0;

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
function decodeQuad(base: usize, pos: u32, out: usize): u32 {
  let v = peek(base, pos);
  const e0 = <u32>load<u16>(HUF_DECODE + (<usize>(v & HUF_TABLE_MASK) << 1));
  v >>= <u64>(e0 >> 8);
  const e1 = <u32>load<u16>(HUF_DECODE + (<usize>(v & HUF_TABLE_MASK) << 1));
  v >>= <u64>(e1 >> 8);
  const e2 = <u32>load<u16>(HUF_DECODE + (<usize>(v & HUF_TABLE_MASK) << 1));
  v >>= <u64>(e2 >> 8);
  const e3 = <u32>load<u16>(HUF_DECODE + (<usize>(v & HUF_TABLE_MASK) << 1));
  store<u32>(out, (e0 & 0xff) | ((e1 & 0xff) << 8) | ((e2 & 0xff) << 16) | ((e3 & 0xff) << 24));
  return pos + (e0 >> 8) + (e1 >> 8) + (e2 >> 8) + (e3 >> 8);
}

/** Decodes out[from..count) from one stream (in a padded copy) starting at bit `pos`; returns the new bit position. */
function decodeRun(base: usize, pos: u32, out: usize, from: u32, count: u32): u32 {
  let i = from;
  for (; i + 4 <= count; i += 4) pos = decodeQuad(base, pos, out + i);
  for (; i < count; i++) {
    const e = <u32>load<u16>(HUF_DECODE + (<usize>(peek(base, pos) & HUF_TABLE_MASK) << 1));
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

const MULTI_BITS: u32 = HUF_MULTI_BITS;
const MULTI_SIZE: u32 = 1 << MULTI_BITS;
const MULTI_MASK: u64 = (1 << MULTI_BITS) - 1;

/**
 * Builds HUF_MULTI from the single-symbol table HUF_DECODE: for every MULTI_BITS-bit window, as
 * many whole codes (1 to 3) as fit in it. Entry: the symbols in bytes 0-2, bits used << 24 (a
 * 4-bit field), symbols decoded << 28.
 */
function buildMultiTable(): void {
  const mask = HUF_TABLE_SIZE - 1;
  for (let i: u32 = 0; i < MULTI_SIZE; i++) {
    const first = <u32>load<u16>(HUF_DECODE + (<usize>(i & mask) << 1));
    const bits1 = first >> 8;
    const second = <u32>load<u16>(HUF_DECODE + (<usize>((i >> bits1) & mask) << 1));
    const bits2 = bits1 + (second >> 8);
    const third = <u32>load<u16>(HUF_DECODE + (<usize>((i >> (bits2 & 31)) & mask) << 1));
    const bits3 = bits2 + (third >> 8);
    let entry = (first & 0xff) | (bits1 << 24) | (1 << 28);
    if (bits2 <= MULTI_BITS) entry = (first & 0xff) | ((second & 0xff) << 8) | (bits2 << 24) | (2 << 28);
    if (bits3 <= MULTI_BITS) entry = (first & 0xff) | ((second & 0xff) << 8) | ((third & 0xff) << 16) | (bits3 << 24) | (3 << 28);
    store<u32>(HUF_MULTI + (<usize>i << 2), entry);
  }
}

/**
 * Four multi-symbol lookups from one stream (in a padded copy) at bit `pos` (4 * MULTI_BITS bits
 * fit in one peek), writing 4 to 12 symbols at `out` (and one scratch byte after them). Returns
 * bits used | symbols << 32.
 */
@inline
function decodeMulti(base: usize, pos: u32, out: usize): u64 {
  let v = peek(base, pos);
  const e0 = load<u32>(HUF_MULTI + (<usize>(v & MULTI_MASK) << 2));
  store<u32>(out, e0);
  let n = e0 >> 28;
  v >>= <u64>((e0 >> 24) & 15);
  const e1 = load<u32>(HUF_MULTI + (<usize>(v & MULTI_MASK) << 2));
  store<u32>(out + n, e1);
  n += e1 >> 28;
  v >>= <u64>((e1 >> 24) & 15);
  const e2 = load<u32>(HUF_MULTI + (<usize>(v & MULTI_MASK) << 2));
  store<u32>(out + n, e2);
  n += e2 >> 28;
  v >>= <u64>((e2 >> 24) & 15);
  const e3 = load<u32>(HUF_MULTI + (<usize>(v & MULTI_MASK) << 2));
  store<u32>(out + n, e3);
  n += e3 >> 28;
  const bits = ((e0 >> 24) & 15) + ((e1 >> 24) & 15) + ((e2 >> 24) & 15) + ((e3 >> 24) & 15);
  return (<u64>n << 32) | <u64>bits;
}

/** Symbol counts from which building the multi-symbol table pays off. */
const MULTI_TABLE_MIN_SYMBOLS: u32 = 16384;
/** Bytes decodeMulti may write in one call (4 lookups of up to 3 symbols, each stored as 4 bytes). */
const MULTI_WRITE_MAX: usize = 13;

/**
 * Decodes four streams laid out back to back at `base` (a padded copy) into out[0..count); stream
 * k holds symbols [k*segment, ...) and ends at byte `endK`. The bulk uses the multi-symbol table; each
 * stream's last symbols are decoded one at a time so no write crosses into the next segment.
 * Returns 0 or ERR_CORRUPT.
 */
function decodeFourStreams(base: usize, end0: u32, end1: u32, end2: u32, end3: u32, count: u32, out: usize): i32 {
  const segment = (count + 3) >> 2;
  const lastCount = count - 3 * segment;
  const s0 = out;
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
  if (count >= MULTI_TABLE_MIN_SYMBOLS) {
    buildMultiTable();
    // Stream 3 is the shortest, so its bound is the tightest; the others are checked too because
    // the streams advance by different amounts. No write may reach the next segment.
    const limit0 = s1 - MULTI_WRITE_MAX;
    const limit1 = s2 - MULTI_WRITE_MAX;
    const limit2 = s3 - MULTI_WRITE_MAX;
    const limit3 = s3 + lastCount - MULTI_WRITE_MAX;
    while (o0 <= limit0 && o1 <= limit1 && o2 <= limit2 && o3 <= limit3) {
      const r0 = decodeMulti(base, p0, o0);
      const r1 = decodeMulti(base, p1, o1);
      const r2 = decodeMulti(base, p2, o2);
      const r3 = decodeMulti(base, p3, o3);
      p0 += <u32>r0;
      o0 += <usize>(r0 >> 32);
      p1 += <u32>r1;
      o1 += <usize>(r1 >> 32);
      p2 += <u32>r2;
      o2 += <usize>(r2 >> 32);
      p3 += <u32>r3;
      o3 += <usize>(r3 >> 32);
    }
  } else {
    // Too few symbols to pay for the multi-symbol table: four symbols per stream and step, the
    // streams interleaved so their lookups overlap.
    const limit3 = s3 + lastCount - 4;
    while (o3 <= limit3) {
      p0 = decodeQuad(base, p0, o0);
      p1 = decodeQuad(base, p1, o1);
      p2 = decodeQuad(base, p2, o2);
      p3 = decodeQuad(base, p3, o3);
      o0 += 4;
      o1 += 4;
      o2 += 4;
      o3 += 4;
    }
  }
  p0 = decodeRun(base, p0, s0, <u32>(o0 - s0), segment);
  p1 = decodeRun(base, p1, s1, <u32>(o1 - s1), segment);
  p2 = decodeRun(base, p2, s2, <u32>(o2 - s2), segment);
  p3 = decodeRun(base, p3, s3, <u32>(o3 - s3), lastCount);
  const exact = endsExactly(p0, 0, end0) && endsExactly(p1, end0, end1) &&
    endsExactly(p2, end1, end2) && endsExactly(p3, end2, end3);
  return exact ? 0 : ERR_CORRUPT;
}

/**
 * Decodes a Huffman section body (after the mode byte) of `count` symbols into `out`; sets
 * sectionCursor. The streams are first copied to DEC_STREAMS, which has room for any position the
 * decoder can reach (each symbol takes at most HUF_MAX_BITS), so decoding needs no bounds checks.
 */
function decodeHuffman(mode: u32, ip: usize, end: usize, count: u32, out: usize): i32 {
  const status = readTable(ip, end, BYTE_ALPHABET, HUF_LENS, HUF_DECODE);
  if (status < 0) return status;
  ip = tableCursor;
  if (mode == SECTION_HUF1) {
    if (end - ip < 3) return ERR_TRUNCATED;
    const size = load24(ip);
    ip += 3;
    if (end - ip < <usize>size) return ERR_TRUNCATED;
    if (size > maxStreamBytes(count)) return ERR_CORRUPT;
    memory.copy(DEC_STREAMS, ip, size);
    const pos = decodeRun(DEC_STREAMS, 0, out, 0, count);
    if (!endsExactly(pos, 0, size)) return ERR_CORRUPT;
    sectionCursor = ip + size;
    return 0;
  }
  if (count < HUF4_MIN_SYMBOLS) return ERR_CORRUPT;
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
  memory.copy(DEC_STREAMS, ip, total);
  sectionCursor = ip + total;
  return decodeFourStreams(DEC_STREAMS, size0, size0 + size1, size0 + size1 + size2, total, count, out);
}

/** Decodes a byte section (mode byte and body) of `count` symbols at [ip, end) into `out`; sets sectionCursor. */
function decodeSection(ip: usize, end: usize, count: u32, out: usize): i32 {
  if (end - ip < 1) return ERR_TRUNCATED;
  const mode = <u32>load<u8>(ip);
  ip += 1;
  if (mode == SECTION_RAW) {
    if (end - ip < <usize>count) return ERR_TRUNCATED;
    memory.copy(out, ip, count);
    sectionCursor = ip + count;
  } else if (mode == SECTION_RLE) {
    if (end - ip < 1) return ERR_TRUNCATED;
    memory.fill(out, load<u8>(ip), count);
    sectionCursor = ip + 1;
  } else if (mode == SECTION_HUF1 || mode == SECTION_HUF4) {
    return decodeHuffman(mode, ip, end, count, out);
  } else {
    return ERR_CORRUPT;
  }
  return 0;
}

/**
 * Copies a match whose source starts `offset` (>= 1) bytes back, with no calls. May write up to
 * 32 bytes from dst, or up to 15 bytes past dst + len for longer matches.
 */
@inline
function copyMatchFast(dst: usize, offset: usize, len: usize): void {
  const from = dst - offset;
  if (offset >= 16) {
    copy16(dst, from);
    copy16(dst + 16, from + 16);
    if (len > 32) wildCopy(dst + 32, from + 32, len - 32);
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

/** Copies `len` literals; may read and write up to 32 bytes from the starts, or 15 past the ends of longer runs. */
@inline
function copyLiteralsFast(dst: usize, src: usize, len: usize): void {
  copy16(dst, src);
  copy16(dst + 16, src + 16);
  if (len > 32) wildCopy(dst + 32, src + 32, len - 32);
}

/** Read position in the side stream after executeSequences() (for the exact-use check). */
let sideCursor: usize = 0;

/**
 * Writes the block [op, op + rawSize) from its `count` sequences (tokens and offset symbols in
 * TOKEN_BUF / OFFSET_BUF, extensions and explicit offsets in the side stream [side, sideEnd),
 * read in place) and its literals LIT_BUF[0..litCount). Every sequence is checked before it is
 * copied: its offset must stay inside the frame and its bytes inside the block. As the literals a
 * sequence takes are part of those bytes, the literal pointer never leaves LIT_BUF; whether more
 * literals were used than exist or a different number is left than the block needs is checked at
 * the end. A sequence reads at most SIDE_MAX_PER_SEQ side bytes, so the main loop runs while that
 * many remain and the last sequences check each read. Returns 0 or an error code.
 */
function executeSequences(count: u32, op: usize, rawSize: u32, litCount: u32, dstStart: usize, side: usize, sideEnd: usize): i32 {
  const blockEnd = op + rawSize;
  let lit = LIT_BUF;
  let last = <usize>lastOffset;
  let tp = TOKEN_BUF;
  const tokensEnd = TOKEN_BUF + <usize>count;
  // 0 (never reached: side > 0) when the stream is too short for any unchecked sequence.
  const sideSafe = sideEnd - side >= SIDE_MAX_PER_SEQ ? sideEnd - SIDE_MAX_PER_SEQ : 0;
  while (tp < tokensEnd && side <= sideSafe) {
    const token = <u32>load<u8>(tp);
    const symbol = <u32>load<u8>(tp, OFFSET_GAP);
    tp++;
    let litLen = <usize>(token >> 4);
    let matchLen = <usize>(token & 15);
    // Extension bytes are read whether or not the fields are extended (without branches, as
    // extended fields are common and unpredictable); only long extensions need a branch.
    const litExtended = litLen == TOKEN_EXTENDED;
    const litExtra = <usize>load<u8>(side);
    if (litExtended & (litExtra == EXTENSION_LONG)) {
      litLen += <usize>load24(side + 1);
      side += 4;
    } else {
      litLen += select<usize>(litExtra, 0, litExtended);
      side += select<usize>(1, 0, litExtended);
    }
    const matchExtended = matchLen == TOKEN_EXTENDED;
    const matchExtra = <usize>load<u8>(side);
    if (matchExtended & (matchExtra == EXTENSION_LONG)) {
      matchLen += <usize>load24(side + 1);
      side += 4;
    } else {
      matchLen += select<usize>(matchExtra, 0, matchExtended);
      side += select<usize>(1, 0, matchExtended);
    }
    matchLen += MIN_MATCH;
    const explicit = <usize>(((symbol - 1) << 16) | <u32>load<u16>(side));
    const repeat = symbol == OFFSET_REPEAT;
    const offset = select<usize>(last, explicit, repeat);
    side += select<usize>(0, 2, repeat);
    last = offset;
    // The match must start at least `offset` bytes into the frame (offset 0 wraps and fails too).
    if (offset - 1 >= op - dstStart + litLen) return ERR_OFFSET;
    if (blockEnd - op >= litLen + matchLen + FAST_COPY_MARGIN) {
      copyLiteralsFast(op, lit, litLen);
      op += litLen;
      lit += litLen;
      copyMatchFast(op, offset, matchLen);
      op += matchLen;
    } else {
      if (litLen + matchLen > blockEnd - op) return ERR_CORRUPT;
      memory.copy(op, lit, litLen);
      op += litLen;
      lit += litLen;
      copyMatchExact(op, offset, matchLen);
      op += matchLen;
    }
  }
  // The last sequences: every side read is checked.
  while (tp < tokensEnd) {
    const token = <u32>load<u8>(tp);
    const symbol = <u32>load<u8>(tp, OFFSET_GAP);
    tp++;
    let litLen = <usize>(token >> 4);
    let matchLen = <usize>(token & 15);
    for (let field = 0; field < 2; field++) {
      if ((field == 0 ? litLen : matchLen) != TOKEN_EXTENDED) continue;
      if (side >= sideEnd) return ERR_CORRUPT;
      let extra = <usize>load<u8>(side);
      side++;
      if (extra == EXTENSION_LONG) {
        if (sideEnd - side < 3) return ERR_CORRUPT;
        extra = <usize>load24(side);
        side += 3;
      }
      if (field == 0) litLen += extra;
      else matchLen += extra;
    }
    matchLen += MIN_MATCH;
    if (symbol != OFFSET_REPEAT) {
      if (sideEnd - side < 2) return ERR_CORRUPT;
      last = <usize>(((symbol - 1) << 16) | <u32>load<u16>(side));
      side += 2;
    }
    if (last - 1 >= op - dstStart + litLen) return ERR_OFFSET;
    if (litLen + matchLen > blockEnd - op) return ERR_CORRUPT;
    memory.copy(op, lit, litLen);
    op += litLen;
    lit += litLen;
    copyMatchExact(op, last, matchLen);
    op += matchLen;
  }
  lastOffset = <u32>last;
  sideCursor = side;
  const used = lit - LIT_BUF;
  if (used > <usize>litCount || <usize>litCount - used != blockEnd - op) return ERR_CORRUPT;
  memory.copy(op, lit, blockEnd - op);
  return 0;
}

/** Decodes one compressed block payload [ip, end) into [op, op + rawSize). */
function decodeBlock(ip: usize, end: usize, op: usize, rawSize: u32, dstStart: usize): i32 {
  if (end - ip < 3) return ERR_TRUNCATED;
  const litCount = load24(ip);
  ip += 3;
  if (litCount > rawSize) return ERR_CORRUPT;
  let status = decodeSection(ip, end, litCount, LIT_BUF);
  if (status < 0) return status;
  ip = sectionCursor;
  if (end - ip < 3) return ERR_TRUNCATED;
  const seqCount = load24(ip);
  ip += 3;
  if (seqCount == 0) {
    if (ip != end || litCount != rawSize) return ERR_CORRUPT;
    memory.copy(op, LIT_BUF, rawSize);
    return 0;
  }
  if (seqCount > rawSize / MIN_MATCH) return ERR_CORRUPT;
  status = decodeSection(ip, end, seqCount, TOKEN_BUF);
  if (status < 0) return status;
  ip = sectionCursor;
  status = decodeSection(ip, end, seqCount, TOKEN_BUF + OFFSET_GAP);
  if (status < 0) return status;
  ip = sectionCursor;
  // The rest of the payload is the side stream, which the sequences must use exactly.
  status = executeSequences(seqCount, op, rawSize, litCount, dstStart, ip, end);
  if (status < 0) return status;
  return sideCursor == end ? 0 : ERR_CORRUPT;
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
  lastOffset = INITIAL_OFFSET;
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
