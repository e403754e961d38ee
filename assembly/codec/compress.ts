// dlz compressor: entropy probe, hash-table LZ77 parse per block, then Huffman coding of the block.
import {
  FORMAT_VERSION, BLOCK_MAX, MIN_MATCH, BLOCK_RAW, BLOCK_RLE, BLOCK_COMPRESSED,
  LIT_RAW, LIT_RLE, LIT_HUF1, LIT_HUF4, HUF4_MIN_LITERALS, LIT_ALPHABET, TOKEN_ALPHABET,
  OFFSET_ALPHABET, OFFSET_REPEATS, INITIAL_REP0, INITIAL_REP1, INITIAL_REP2,
  lengthCode, lengthExtraBits, offsetCode, store24,
} from './format';
import {
  HASH_TABLE, HASH_LOG_MAX, LIT_BUF, SEQ_BUF, SEQ_RECORD, BYTE_HIST, TOKEN_HIST, OFFSET_HIST,
  LIT_CODES, TOKEN_CODES, OFFSET_CODES, LIT_LENS, TOKEN_LENS, OFFSET_LENS, TOKEN_INFO, OFFSET_INFO,
} from './layout';
import { allEqual, matchLength, wildCopy } from './bytes';
import { classifySegments, segmentIsRandom, PROBE_SEGMENT } from './probe';
import { buildLengths, buildEncodeTable, codedBits, tableSize, writeTable, firstUsedSymbol } from './huffman';

/** Inputs larger than this are never compressed (dlzCompress returns 0). */
export const MAX_INPUT: u32 = 1 << 30;

/** The smallest possible frame: version byte + one RLE block. */
const MIN_FRAME: u32 = 5;

/**
 * Bytes hashed (and required to match) to accept a match candidate from the hash table. Shorter
 * matches at typical text offsets cost about as many bits as the literals they replace, and
 * fewer, longer sequences decode faster.
 */
const SEARCH_BYTES: u32 = 7;
const SEARCH_SHIFT: u64 = 64 - 8 * <u64>SEARCH_BYTES;
const SEARCH_MASK: u64 = 0xffffffffffffffff >> SEARCH_SHIFT;
const HASH_MULTIPLIER: u64 = 0x9e3779b97f4a7c15;
/** Without matches the parser skips ahead faster: step = 1 + (distance from last match >> this). */
const SKIP_STRENGTH: u32 = 8;

// ---- State of the current dlzCompress call ----
let srcBase: usize = 0; // match positions in the hash table are relative to this
let srcEnd: usize = 0;
let hashShift: u64 = 0; // 64 - hash log: the slot index is the top bits of the hash
let tagShift: u64 = 0; // the tag is taken from the hash bits just below the index
let positionBits: u32 = 0; // low bits of a table entry holding the position; the rest is the tag
let positionMask: u32 = 0;
let hashBytes: usize = 0; // bytes of HASH_TABLE in use
let hashReady = false; // cleared lazily: frames of only RLE and raw blocks never need the table
let rep0: u32 = INITIAL_REP0;
let rep1: u32 = INITIAL_REP1;
let rep2: u32 = INITIAL_REP2;
// ---- State of the current block ----
let litWrite: usize = 0; // next free byte of LIT_BUF
let seqWrite: usize = 0; // next free record of SEQ_BUF
let lengthExtra: u64 = 0; // extra bits after the block's tokens (bitstream A)
let offsetExtra: u64 = 0; // extra bits after the block's offset codes (bitstream B)

function startFrame(src: usize, srcLen: u32): void {
  srcBase = src;
  srcEnd = src + srcLen;
  // About one table slot per four input bytes, within [2^10, 2^HASH_LOG_MAX].
  const log = 32 - clz<u32>(srcLen - 1);
  const hashLog = min<u32>(HASH_LOG_MAX, max<u32>(10, log > 2 ? log - 2 : 0));
  hashShift = 64 - <u64>hashLog;
  positionBits = max<u32>(1, log);
  positionMask = <u32>((<u64>1 << positionBits) - 1);
  tagShift = hashShift - <u64>(32 - positionBits);
  hashBytes = (<usize>4) << hashLog;
  hashReady = false;
  rep0 = INITIAL_REP0;
  rep1 = INITIAL_REP1;
  rep2 = INITIAL_REP2;
}

function startBlock(): void {
  litWrite = LIT_BUF;
  seqWrite = SEQ_BUF;
  lengthExtra = 0;
  offsetExtra = 0;
  memory.fill(TOKEN_HIST, 0, TOKEN_ALPHABET * 4);
  memory.fill(OFFSET_HIST, 0, OFFSET_ALPHABET * 4);
}

/*
 * Hash-table entries hold a position (relative to srcBase) in their low positionBits bits and,
 * above it, a tag made of more bits of the position's hash. A probe whose tag differs cannot be a
 * match, so the candidate's bytes (usually a cache miss) are only read when the tags agree.
 */

/** The multiplicative hash of the SEARCH_BYTES bytes at the bottom of `word`. */
@inline
function hashOf(word: u64): u64 {
  return (word << SEARCH_SHIFT) * HASH_MULTIPLIER;
}

@inline
function slotOf(hash: u64): usize {
  return HASH_TABLE + (<usize>(hash >> hashShift) << 2);
}

/** The tag bits of an entry (positions left as zero). */
@inline
function tagOf(hash: u64): u32 {
  return <u32>(hash >> tagShift) << positionBits;
}

@inline
function insertPosition(at: usize): void {
  const hash = hashOf(load<u64>(at));
  store<u32>(slotOf(hash), tagOf(hash) | <u32>(at - srcBase));
}

/** Appends `len` literal bytes from `from` to LIT_BUF. */
@inline
function copyLiterals(from: usize, len: u32): void {
  if (from + len + 16 <= srcEnd) {
    wildCopy(litWrite, from, len);
  } else {
    memory.copy(litWrite, from, len);
  }
  litWrite += len;
}

/**
 * Records one sequence: the literals [litStart, matchStart) followed by a match of `matchLen`
 * bytes at distance `offset`. Updates the repeat-offset history exactly as the decoder will.
 */
@inline
function emitSequence(litStart: usize, matchStart: usize, matchLen: u32, offset: u32): void {
  const litLen = <u32>(matchStart - litStart);
  copyLiterals(litStart, litLen);
  let offCode: u32 = 0;
  if (offset != rep0) {
    if (offset == rep1) {
      offCode = 1;
    } else {
      if (offset == rep2) {
        offCode = 2;
      } else {
        offCode = offsetCode(offset);
        offsetExtra += offCode - OFFSET_REPEATS;
      }
      rep2 = rep1;
    }
    rep1 = rep0;
    rep0 = offset;
  }
  const litCode = lengthCode(litLen);
  const matchCode = lengthCode(matchLen - MIN_MATCH);
  const token = (litCode << 4) | matchCode;
  lengthExtra += lengthExtraBits(litCode) + lengthExtraBits(matchCode);
  const tokenSlot = TOKEN_HIST + (<usize>token << 2);
  store<u32>(tokenSlot, load<u32>(tokenSlot) + 1);
  const offSlot = OFFSET_HIST + (<usize>offCode << 2);
  store<u32>(offSlot, load<u32>(offSlot) + 1);
  const record = seqWrite;
  store<u32>(record, litLen);
  store<u32>(record, matchLen, 4);
  store<u32>(record, offset, 8);
  store<u32>(record, token | (offCode << 8), 12);
  seqWrite = record + SEQ_RECORD;
}

/**
 * Greedy single-probe parse of [start, end) (level 1). Each position is checked first for a
 * repeat of the last offset one byte ahead, then against the hash table; after a match, two
 * positions inside it are indexed and an immediate repeat of the previous offset is tried.
 * The next position's hash-table entry is loaded before the current position is checked, so its
 * cache miss overlaps the checks.
 */
function parseFast(start: usize, end: usize): void {
  const base = srcBase;
  const mask = positionMask;
  let anchor = start;
  let ip = start == base ? start + 1 : start;
  const ilimit = end - 8;
  if (end - start < 16 || ip >= ilimit) {
    copyLiterals(anchor, <u32>(end - anchor));
    return;
  }
  let word = load<u64>(ip);
  let hash = hashOf(word);
  let entry = load<u32>(slotOf(hash));
  for (;;) {
    const tag = tagOf(hash);
    store<u32>(slotOf(hash), tag | <u32>(ip - base));
    const next = ip + 1 + ((ip - anchor) >> SKIP_STRENGTH);
    const nextReadable = next < ilimit;
    const nextWord = nextReadable ? load<u64>(next) : 0;
    const nextHash = hashOf(nextWord);
    const nextEntry = load<u32>(slotOf(nextHash));

    const after = ip + 1;
    const r0 = <usize>rep0;
    let matchStart: usize;
    let len: u32;
    let candidate = base + <usize>(entry & mask);
    if (r0 <= after - base && load<u32>(after) == load<u32>(after - r0)) {
      matchStart = after;
      len = MIN_MATCH + matchLength(after + MIN_MATCH, after + MIN_MATCH - r0, end);
      emitSequence(anchor, matchStart, len, <u32>r0);
    } else if ((entry & ~mask) == tag && candidate < ip && ((load<u64>(candidate) ^ word) & SEARCH_MASK) == 0) {
      matchStart = ip;
      len = SEARCH_BYTES + matchLength(ip + SEARCH_BYTES, candidate + SEARCH_BYTES, end);
      while (matchStart > anchor && candidate > base && load<u8>(matchStart - 1) == load<u8>(candidate - 1)) {
        matchStart--;
        candidate--;
        len++;
      }
      emitSequence(anchor, matchStart, len, <u32>(matchStart - candidate));
    } else {
      if (!nextReadable) break;
      ip = next;
      word = nextWord;
      hash = nextHash;
      entry = nextEntry;
      continue;
    }
    ip = matchStart + len;
    anchor = ip;
    if (ip >= ilimit) break;
    insertPosition(matchStart + 2);
    insertPosition(ip - 2);
    // A match that follows immediately at the previous offset is common in structured data.
    while (ip < ilimit) {
      const r1 = <usize>rep1;
      if (r1 > ip - base || load<u32>(ip) != load<u32>(ip - r1)) break;
      len = MIN_MATCH + matchLength(ip + MIN_MATCH, ip + MIN_MATCH - r1, end);
      insertPosition(ip);
      emitSequence(ip, ip, len, <u32>r1);
      ip += len;
      anchor = ip;
    }
    if (ip >= ilimit) break;
    word = load<u64>(ip);
    hash = hashOf(word);
    entry = load<u32>(slotOf(hash));
  }
  copyLiterals(anchor, <u32>(end - anchor));
}

/** Byte histogram of [ptr, ptr + len) into `hist` (u32[256]); uses four tables to avoid stalls. */
function histogram(ptr: usize, len: u32, hist: usize): void {
  memory.fill(hist, 0, 4096);
  let i: u32 = 0;
  while (i + 4 <= len) {
    const word = load<u32>(ptr + i);
    const a = hist + ((<usize>word & 0xff) << 2);
    const b = hist + 1024 + ((<usize>(word >> 8) & 0xff) << 2);
    const c = hist + 2048 + ((<usize>(word >> 16) & 0xff) << 2);
    const d = hist + 3072 + (<usize>(word >> 24) << 2);
    store<u32>(a, load<u32>(a) + 1);
    store<u32>(b, load<u32>(b) + 1);
    store<u32>(c, load<u32>(c) + 1);
    store<u32>(d, load<u32>(d) + 1);
    i += 4;
  }
  for (; i < len; i++) {
    const a = hist + (<usize>load<u8>(ptr + i) << 2);
    store<u32>(a, load<u32>(a) + 1);
  }
  for (let s: usize = 0; s < 256; s++) {
    const p = hist + (s << 2);
    store<u32>(p, load<u32>(p) + load<u32>(p, 1024) + load<u32>(p, 2048) + load<u32>(p, 3072));
  }
}

/** Huffman-codes `count` bytes into one LSB-first bitstream at `out`; returns its end. */
function encodeStream(src: usize, count: u32, codes: usize, out: usize): usize {
  let acc: u64 = 0;
  let bits: u32 = 0;
  let i: u32 = 0;
  while (i + 4 <= count) {
    const word = load<u32>(src + i);
    const c0 = load<u32>(codes + ((<usize>word & 0xff) << 2));
    const c1 = load<u32>(codes + ((<usize>(word >> 8) & 0xff) << 2));
    const c2 = load<u32>(codes + ((<usize>(word >> 16) & 0xff) << 2));
    const c3 = load<u32>(codes + (<usize>(word >> 24) << 2));
    acc |= <u64>(c0 & 0xffff) << <u64>bits;
    bits += c0 >>> 16;
    acc |= <u64>(c1 & 0xffff) << <u64>bits;
    bits += c1 >>> 16;
    acc |= <u64>(c2 & 0xffff) << <u64>bits;
    bits += c2 >>> 16;
    acc |= <u64>(c3 & 0xffff) << <u64>bits;
    bits += c3 >>> 16;
    store<u64>(out, acc);
    const bytes = bits >> 3;
    out += bytes;
    acc >>= <u64>(bytes << 3);
    bits &= 7;
    i += 4;
  }
  for (; i < count; i++) {
    const c = load<u32>(codes + (<usize>load<u8>(src + i) << 2));
    acc |= <u64>(c & 0xffff) << <u64>bits;
    bits += c >>> 16;
    store<u64>(out, acc);
    const bytes = bits >> 3;
    out += bytes;
    acc >>= <u64>(bytes << 3);
    bits &= 7;
  }
  if (bits != 0) {
    store<u8>(out, <u8>acc);
    out++;
  }
  return out;
}

/*
 * Bitstreams are written least significant bit first through a 64-bit accumulator kept in locals:
 * codes are OR-ed in above the pending bits, then whole bytes are flushed with one 8-byte store
 * (the bytes past the pending ones are overwritten later). Between flushes at most 56 - 7 bits
 * may be added.
 */

/** Bitstream A: per sequence the token code, then literal-length and match-length extra bits. */
function encodeTokens(out: usize): usize {
  let acc: u64 = 0;
  let bits: u32 = 0;
  for (let record = SEQ_BUF; record < seqWrite; record += SEQ_RECORD) {
    const token = <usize>(load<u32>(record, 12) & 0xff);
    const tokenCode = load<u32>(TOKEN_CODES + (token << 2));
    const info = TOKEN_INFO + (token << 4);
    acc |= <u64>(tokenCode & 0xffff) << <u64>bits;
    bits += tokenCode >>> 16;
    acc |= <u64>(load<u32>(record) - load<u32>(info)) << <u64>bits;
    bits += popcnt<u32>(load<u32>(info, 4));
    acc |= <u64>(load<u32>(record, 4) - load<u32>(info, 8)) << <u64>bits;
    bits += popcnt<u32>(load<u32>(info, 12));
    store<u64>(out, acc);
    out += bits >> 3;
    acc >>= <u64>(bits & ~7);
    bits &= 7;
  }
  if (bits != 0) store<u8>(out++, <u8>acc);
  return out;
}

/** Bitstream B: per sequence the offset code, then (explicit offsets only) floor(log2) extra bits. */
function encodeOffsets(out: usize): usize {
  let acc: u64 = 0;
  let bits: u32 = 0;
  for (let record = SEQ_BUF; record < seqWrite; record += SEQ_RECORD) {
    const offCode = load<u32>(record, 12) >> 8;
    const entry = load<u32>(OFFSET_CODES + (<usize>offCode << 2));
    acc |= <u64>(entry & 0xffff) << <u64>bits;
    bits += entry >>> 16;
    // OFFSET_INFO holds base and mask 0 for repeat codes, so they add no extra bits.
    const info = OFFSET_INFO + (<usize>offCode << 4);
    const mask = load<u32>(info, 4);
    acc |= <u64>((load<u32>(record, 8) - load<u32>(info)) & mask) << <u64>bits;
    bits += popcnt<u32>(mask);
    store<u64>(out, acc);
    out += bits >> 3;
    acc >>= <u64>(bits & ~7);
    bits &= 7;
  }
  if (bits != 0) store<u8>(out++, <u8>acc);
  return out;
}

/** Writes the literal section in `mode` (tables must already be built); returns its end. */
function writeLiterals(p: usize, mode: u32, count: u32, used: u32): usize {
  store<u8>(p, <u8>mode);
  store24(p + 1, count);
  p += 4;
  if (mode == LIT_RAW) {
    memory.copy(p, LIT_BUF, count);
    return p + count;
  }
  if (mode == LIT_RLE) {
    store<u8>(p, load<u8>(LIT_BUF));
    return p + 1;
  }
  p = writeTable(p, LIT_LENS, LIT_ALPHABET, used, 0);
  if (mode == LIT_HUF1) {
    const end = encodeStream(LIT_BUF, count, LIT_CODES, p + 3);
    store24(p, <u32>(end - p - 3));
    return end;
  }
  const segment = (count + 3) >> 2;
  const sizes = p;
  let streamStart = p + 12;
  for (let k: u32 = 0; k < 4; k++) {
    const first = k * segment;
    const n = k < 3 ? segment : count - first;
    const streamEnd = encodeStream(LIT_BUF + first, n, LIT_CODES, streamStart);
    store24(sizes + k * 3, <u32>(streamEnd - streamStart));
    streamStart = streamEnd;
  }
  return streamStart;
}

/**
 * Codes the parsed block (LIT_BUF, SEQ_BUF) as a compressed block at `out`. Returns the end of
 * the block, or 0 when a raw block would be no larger or the result would not fit.
 */
function encodeBlock(out: usize, rawSize: u32, outLimit: usize, hardEnd: usize): usize {
  const litCount = <u32>(litWrite - LIT_BUF);
  const seqCount = <u32>((seqWrite - SEQ_BUF) / SEQ_RECORD);
  // Plan the literal section: an upper bound of its size and its mode.
  let litMode = LIT_RAW;
  let litBound = litCount;
  let litUsed: u32 = 0;
  if (litCount > 0) {
    histogram(LIT_BUF, litCount, BYTE_HIST);
    litUsed = buildLengths(BYTE_HIST, LIT_ALPHABET, LIT_LENS);
    if (litUsed == 1) {
      litMode = LIT_RLE;
      litBound = 1;
    } else {
      buildEncodeTable(LIT_LENS, LIT_ALPHABET, LIT_CODES);
      const streams: u32 = litCount >= HUF4_MIN_LITERALS ? 4 : 1;
      const bits = codedBits(BYTE_HIST, LIT_CODES, LIT_ALPHABET);
      const hufBound = tableSize(LIT_LENS, LIT_ALPHABET, litUsed) + streams * 4 + <u32>((bits + 7) >> 3);
      if (hufBound < litCount) {
        litMode = streams == 4 ? LIT_HUF4 : LIT_HUF1;
        litBound = hufBound;
      }
    }
  }
  // Plan the sequence section.
  let seqBound: u32 = 3;
  let tokenUsed: u32 = 0;
  let offsetUsed: u32 = 0;
  if (seqCount > 0) {
    tokenUsed = buildLengths(TOKEN_HIST, TOKEN_ALPHABET, TOKEN_LENS);
    buildEncodeTable(TOKEN_LENS, TOKEN_ALPHABET, TOKEN_CODES);
    offsetUsed = buildLengths(OFFSET_HIST, OFFSET_ALPHABET, OFFSET_LENS);
    buildEncodeTable(OFFSET_LENS, OFFSET_ALPHABET, OFFSET_CODES);
    const bitsA = codedBits(TOKEN_HIST, TOKEN_CODES, TOKEN_ALPHABET) + lengthExtra;
    const bitsB = codedBits(OFFSET_HIST, OFFSET_CODES, OFFSET_ALPHABET) + offsetExtra;
    seqBound += tableSize(TOKEN_LENS, TOKEN_ALPHABET, tokenUsed) +
      tableSize(OFFSET_LENS, OFFSET_ALPHABET, offsetUsed) + 3 + <u32>((bitsA + 7) >> 3) + <u32>((bitsB + 7) >> 3);
  }
  const blockBound = 6 + 4 + litBound + seqBound;
  if (blockBound >= 3 + rawSize) return 0;
  if (out + blockBound > outLimit || out + blockBound + 8 > hardEnd) return 0;
  // Write: header (type, raw size, payload size), literal section, sequence section.
  const payload = out + 6;
  let p = writeLiterals(payload, litMode, litCount, litUsed);
  store24(p, seqCount);
  p += 3;
  if (seqCount > 0) {
    p = writeTable(p, TOKEN_LENS, TOKEN_ALPHABET, tokenUsed, firstUsedSymbol(TOKEN_HIST, TOKEN_ALPHABET));
    p = writeTable(p, OFFSET_LENS, OFFSET_ALPHABET, offsetUsed, firstUsedSymbol(OFFSET_HIST, OFFSET_ALPHABET));
    // Stream A is written first: its final 8-byte store may spill into B's space, which B then overwrites.
    const streamA = p + 3;
    const streamB = encodeTokens(streamA);
    store24(p, <u32>(streamB - streamA));
    p = encodeOffsets(streamB);
  }
  store24(out, BLOCK_COMPRESSED | ((rawSize - 1) << 2));
  store24(out + 3, <u32>(p - payload));
  return p;
}

/** Writes a raw block; returns its end, or 0 if it does not fit below `outLimit`. */
function writeRawBlock(out: usize, from: usize, len: u32, outLimit: usize): usize {
  if (out + 3 + len > outLimit) return 0;
  store24(out, BLOCK_RAW | ((len - 1) << 2));
  memory.copy(out + 3, from, len);
  return out + 3 + len;
}

/** Writes the block for [start, end) as RLE, compressed or raw, whichever is smallest. */
function writeBlock(out: usize, start: usize, end: usize, outLimit: usize, hardEnd: usize): usize {
  const rawSize = <u32>(end - start);
  const first = load<u8>(start);
  if (allEqual(start, rawSize, first)) {
    if (out + 4 > outLimit) return 0;
    store24(out, BLOCK_RLE | ((rawSize - 1) << 2));
    store<u8>(out, first, 3);
    return out + 4;
  }
  const saved0 = rep0;
  const saved1 = rep1;
  const saved2 = rep2;
  if (!hashReady) {
    memory.fill(HASH_TABLE, 0, hashBytes);
    hashReady = true;
  }
  startBlock();
  parseFast(start, end);
  const next = encodeBlock(out, rawSize, outLimit, hardEnd);
  if (next != 0) return next;
  // The decoder does not see the sequences of a block stored raw.
  rep0 = saved0;
  rep1 = saved1;
  rep2 = saved2;
  return writeRawBlock(out, start, rawSize, outLimit);
}

/**
 * Compresses [src, src + srcLen) into [dst, dst + dstCap). Returns the frame length, or 0 when
 * the input should be stored raw: empty, too large, judged random by the probe, or not at least
 * max(1, srcLen / 64) bytes smaller once compressed. `level` is accepted for compatibility; every
 * level currently uses the level-1 parse.
 */
export function compress(src: usize, srcLen: u32, dst: usize, dstCap: u32, level: i32): u32 {
  if (srcLen == 0 || srcLen > MAX_INPUT) return 0;
  const budget = srcLen - max<u32>(1, srcLen >> 6);
  if (min<u32>(budget, dstCap) < MIN_FRAME) return 0;
  const outLimit = dst + min<u32>(budget, dstCap);
  const hardEnd = dst + dstCap;
  const segments = (srcLen + PROBE_SEGMENT - 1) / PROBE_SEGMENT;
  if (classifySegments(src, srcLen) == segments) return 0;
  startFrame(src, srcLen);
  store<u8>(dst, <u8>FORMAT_VERSION);
  let out = dst + 1;
  let at: u32 = 0;
  while (at < srcLen) {
    // A block is a run of segments of the same class, at most BLOCK_MAX bytes.
    const random = segmentIsRandom(at);
    let end = at;
    do {
      end = min<u32>(end + PROBE_SEGMENT, srcLen);
    } while (end < srcLen && end - at < BLOCK_MAX && segmentIsRandom(end) == random);
    out = random
      ? writeRawBlock(out, src + at, end - at, outLimit)
      : writeBlock(out, src + at, src + end, outLimit, hardEnd);
    if (out == 0) return 0;
    at = end;
  }
  return <u32>(out - dst);
}
