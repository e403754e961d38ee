// dlz compressor: entropy probe, hash-table LZ77 parse per block (one parser per level), then section coding.
import {
  FORMAT_VERSION, BLOCK_MAX, MIN_MATCH, BLOCK_RAW, BLOCK_RLE, BLOCK_COMPRESSED, TOKEN_EXTENDED,
  EXTENSION_LONG, OFFSET_REPEAT, OFFSET_MAX, INITIAL_OFFSET, store24,
} from './format';
import { HASH_TABLE, HASH_BYTES, HASH_LOG_MAX, LIT_BUF, TOKEN_BUF, OFFSET_GAP, SIDE_BUF } from './layout';
import { allEqual, matchLength, wildCopy, copy16 } from './bytes';
import { classifySegments, segmentIsRandom, PROBE_SEGMENT } from './probe';
import { planSection, writeSection } from './sections';

/** Inputs larger than this are never compressed (dlzCompress returns 0). */
export const MAX_INPUT: u32 = 1 << 30;

/** The smallest possible frame: version byte + one RLE block. */
const MIN_FRAME: u32 = 5;

const HASH_MULTIPLIER: u64 = 0x9e3779b97f4a7c15;

/*
 * Level 1 (parseFast): one probe per position of a table of 2^FAST_HASH_LOG slots, keyed by the
 * 8 bytes at the position, which must all match. Short matches at the offsets typical of text
 * cost about as many bits as their literals, and each sequence costs both sides far more than a
 * few literals, so requiring 8 bytes trades little ratio for much speed. An entry is a u32: a
 * FAST_POSITION_BITS-bit position in the current window and, above it, a check of more hash bits,
 * so most failed probes never read the candidate.
 */
const FAST_HASH_LOG: u32 = 15;
const FAST_INDEX_SHIFT: u64 = 64 - <u64>FAST_HASH_LOG;
const FAST_POSITION_BITS: u32 = 20;
const FAST_POSITION_MASK: u32 = (1 << FAST_POSITION_BITS) - 1;
/** The check: the hash bits just below the index bits, moved above the position. */
const FAST_CHECK_SHIFT: u64 = FAST_INDEX_SHIFT - <u64>(32 - FAST_POSITION_BITS);
/** Positions are relative to a window this long: the whole input or, for longer ones, each block. */
const FAST_WINDOW: u32 = 1 << FAST_POSITION_BITS;
const FAST_TABLE_BYTES: usize = (<usize>4) << FAST_HASH_LOG;
if (FAST_TABLE_BYTES > HASH_BYTES) ERROR('the level-1 table does not fit HASH_TABLE');
if (BLOCK_MAX > FAST_WINDOW) ERROR('a block must fit the level-1 window');
/**
 * Without matches the level-1 parser skips ahead faster: after each group of four positions it
 * moves on by 4 + (distance from the last match >> FAST_SKIP).
 */
const FAST_SKIP: u32 = 6;

/*
 * Levels 2 and 3 (parseStrong): a table of about one slot per 4 input bytes (up to 2^HASH_LOG_MAX),
 * keyed by STRONG_BYTES bytes; entries carry a tag of further hash bits so candidates are read only
 * when the tags agree. Level 3 also tries the next position before taking a match (lazy matching).
 */
const STRONG_BYTES: u32 = 7;
const STRONG_SHIFT: u64 = 64 - 8 * <u64>STRONG_BYTES;
const STRONG_MASK: u64 = 0xffffffffffffffff >> STRONG_SHIFT;
const STRONG_SKIP: u32 = 8;

/** Bytes left unparsed at the end of a block, so the parsers' wide loads and 16-byte literal copies stay inside it. */
const PARSE_TAIL: usize = 32;

// ---- State of the current dlzCompress call ----
let srcBase: usize = 0; // match positions in the hash table are relative to this
let srcEnd: usize = 0;
let hashShift: u64 = 0; // 64 - hash log: the slot index is the top bits of the hash
let tagShift: u64 = 0; // level 2+: the tag is taken from the hash bits just below the index
let positionBits: u32 = 0; // level 2+: low bits of a table entry holding the position; the rest is the tag
let positionMask: u32 = 0;
let hashBytes: usize = 0; // bytes of HASH_TABLE in use
let hashReady = false; // cleared lazily: frames of only RLE and raw blocks never need the table
let lastOffset: u32 = INITIAL_OFFSET;
let fastBase: usize = 0; // level 1: start of the window (table positions are relative to it)
let fastCandidate: usize = 0; // level 1: source of the match findFast() found
// ---- State of the current block (next free byte of each buffer) ----
let litWrite: usize = 0;
let tokenWrite: usize = 0;
let sideWrite: usize = 0;

function startFrame(srcLen: u32, level: i32): void {
  const log = 32 - clz<u32>(srcLen - 1);
  // Level 2+: about one table slot per four input bytes, within [2^10, 2^HASH_LOG_MAX].
  const hashLog = min<u32>(HASH_LOG_MAX, max<u32>(10, log > 2 ? log - 2 : 0));
  hashShift = 64 - <u64>hashLog;
  positionBits = max<u32>(1, log);
  positionMask = <u32>((<u64>1 << positionBits) - 1);
  tagShift = hashShift - <u64>(32 - positionBits);
  hashBytes = level <= 1 ? FAST_TABLE_BYTES : (<usize>4) << hashLog;
  hashReady = false;
  fastBase = srcBase;
  lastOffset = INITIAL_OFFSET;
}

function startBlock(): void {
  litWrite = LIT_BUF;
  tokenWrite = TOKEN_BUF;
  sideWrite = SIDE_BUF;
}

/** Appends a length extension (value >= 0) to the side stream at `side`; returns the new end. */
@inline
function putExtension(side: usize, value: usize): usize {
  if (value < EXTENSION_LONG) {
    store<u8>(side, <u8>value);
    return side + 1;
  }
  store<u8>(side, <u8>EXTENSION_LONG);
  store24(side + 1, <u32>value);
  return side + 4;
}

/** Copies `len` literals from `from` to `to`; reads and writes up to 15 bytes past them unless near the input end. */
@inline
function copyLiterals(to: usize, from: usize, len: usize): void {
  if (from + len + 16 <= srcEnd) {
    wildCopy(to, from, len);
  } else {
    memory.copy(to, from, len);
  }
}


/** The level-1 table slot of a hash. */
@inline
function fastSlot(hash: u64): usize {
  return HASH_TABLE + (<usize>(hash >> FAST_INDEX_SHIFT) << 2);
}

/** The level-1 table entry for position `at` with hash `hash`. */
@inline
function fastEntry(hash: u64, at: usize, base: usize): u32 {
  return (<u32>(hash >> FAST_CHECK_SHIFT) << FAST_POSITION_BITS) | <u32>(at - base);
}

/**
 * One level-1 probe at `at`: indexes the position and returns the source of an 8-byte match from
 * the entry it replaced, or 0. Every entry is an earlier position in the window, so its offset is
 * below FAST_WINDOW <= OFFSET_MAX.
 */
@inline
function probeFast(at: usize, base: usize): usize {
  const word = load<u64>(at);
  const hash = word * HASH_MULTIPLIER;
  const slot = fastSlot(hash);
  const entry = load<u32>(slot);
  const fresh = fastEntry(hash, at, base);
  store<u32>(slot, fresh);
  if ((entry ^ fresh) > FAST_POSITION_MASK) return 0;
  // The checks agree, so the bytes almost always do too.
  const candidate = base + <usize>(entry & FAST_POSITION_MASK);
  return select<usize>(candidate, 0, load<u64>(candidate) == word);
}

/**
 * The level-1 match search: probes positions from `ip` (four consecutive ones per step, then
 * stepping faster the further they are from `anchor`) and returns the first with a match (its
 * source in fastCandidate), or a position >= ilimit. A separate function, so the engine keeps
 * this loop's few values in registers.
 */
function findFast(ip: usize, anchor: usize, ilimit: usize): usize {
  const base = fastBase;
  // Four probes per iteration while all four positions are below ilimit.
  const limit4 = ilimit - 3;
  let candidate: usize = 0;
  while (ip < limit4) {
    candidate = probeFast(ip, base);
    if (candidate != 0) break;
    candidate = probeFast(ip + 1, base);
    if (candidate != 0) {
      ip += 1;
      break;
    }
    candidate = probeFast(ip + 2, base);
    if (candidate != 0) {
      ip += 2;
      break;
    }
    candidate = probeFast(ip + 3, base);
    if (candidate != 0) {
      ip += 3;
      break;
    }
    ip += 4 + ((ip - anchor) >> FAST_SKIP);
  }
  if (candidate == 0) {
    while (ip < ilimit) {
      candidate = probeFast(ip, base);
      if (candidate != 0) break;
      ip += 1;
    }
  }
  fastCandidate = candidate;
  return ip;
}

/**
 * Level 1: greedy parse of [start, end) with one hash probe per position (positions inside
 * matches are not indexed). After a match, a repeat of its offset is tried one and two bytes
 * after it. All state lives in locals while the loop runs.
 */
function parseFast(start: usize, end: usize): void {
  const frameBase: usize = srcBase;
  let anchor = start;
  let lit = litWrite;
  let tok = tokenWrite;
  let side = sideWrite;
  let last = <usize>lastOffset;
  if (end - start > 2 * PARSE_TAIL) {
    const ilimit = end - PARSE_TAIL;
    // Two call sites keep findFast a separate function (the optimizer inlines single callers).
    // A window's first position has no earlier one to match (its empty entries point at it).
    let ip = findFast(start == fastBase ? start + 1 : start, anchor, ilimit);
    while (ip < ilimit) {
      const candidate = fastCandidate;
      // Forward: at least 4 bytes match; 16 more are measured without a loop.
      const ahead1 = load<u64>(ip + 4) ^ load<u64>(candidate + 4);
      const ahead2 = load<u64>(ip + 12) ^ load<u64>(candidate + 12);
      let len: usize = 4 + <usize>(ctz<u64>(ahead1) >> 3) + select<usize>(<usize>(ctz<u64>(ahead2) >> 3), 0, ahead1 == 0);
      if (len == 20) len += <usize>matchLength(ip + 20, candidate + 20, end);
      // Backward, bounded by the literals and the input start: up to 8 bytes from one compare (the
      // bytes it reads beyond the bound cannot change the clamped count), then byte by byte.
      const room = min<usize>(ip - anchor, candidate - frameBase);
      let back = min<usize>(<usize>(clz<u64>(load<u64>(ip - 8) ^ load<u64>(candidate - 8)) >> 3), room);
      if (back == 8) {
        while (back < room && load<u8>(ip - back - 1) == load<u8>(candidate - back - 1)) back++;
      }
      const matchStart = ip - back;
      len += back;
      // Emit: literals, token, length extensions, offset.
      const litLen = matchStart - anchor;
      copy16(lit, anchor);
      copy16(lit + 16, anchor + 16);
      if (litLen > 32) wildCopy(lit + 32, anchor + 32, litLen - 32);
      lit += litLen;
      const extra = len - MIN_MATCH;
      const token = (min<usize>(litLen, TOKEN_EXTENDED) << 4) | min<usize>(extra, TOKEN_EXTENDED);
      if (litLen < TOKEN_EXTENDED + EXTENSION_LONG && extra < TOKEN_EXTENDED + EXTENSION_LONG) {
        // Short extensions: always store the byte, keep it only when the field is extended.
        store<u8>(side, <u8>(litLen - TOKEN_EXTENDED));
        side += select<usize>(1, 0, litLen >= TOKEN_EXTENDED);
        store<u8>(side, <u8>(extra - TOKEN_EXTENDED));
        side += select<usize>(1, 0, extra >= TOKEN_EXTENDED);
      } else {
        if (litLen >= TOKEN_EXTENDED) side = putExtension(side, litLen - TOKEN_EXTENDED);
        if (extra >= TOKEN_EXTENDED) side = putExtension(side, extra - TOKEN_EXTENDED);
      }
      const offset = ip - candidate;
      const repeat = offset == last;
      store<u16>(side, <u16>offset);
      side += select<usize>(0, 2, repeat);
      store<u8>(tok, <u8>token);
      store<u8>(tok, <u8>select<usize>(OFFSET_REPEAT, (offset >> 16) + 1, repeat), OFFSET_GAP);
      tok++;
      last = offset;
      ip = matchStart + len;
      anchor = ip;
      if (ip >= ilimit) break;
      // Structured data often continues at the same offset after a byte or two that differ: try
      // 4 bytes at that offset one and two positions on (the byte at ip itself differs, or the
      // match would be longer). The source lies inside the input, as the match just taken started
      // at least `last` bytes in.
      const repeats = select<u32>(1, 0, load<u32>(ip + 1) == load<u32>(ip + 1 - last)) |
        select<u32>(2, 0, load<u32>(ip + 2) == load<u32>(ip + 2 - last));
      if (repeats != 0) {
        ip += 1 + <usize>ctz<u32>(repeats);
        fastCandidate = ip - last;
      } else {
        ip = findFast(ip, anchor, ilimit);
      }
    }
  }
  copyLiterals(lit, anchor, end - anchor);
  litWrite = lit + (end - anchor);
  tokenWrite = tok;
  sideWrite = side;
  lastOffset = <u32>last;
}

/*
 * Hash-table entries hold a position (relative to srcBase) in their low positionBits bits and,
 * above it, a tag made of more bits of the position's hash. A probe whose tag differs cannot be a
 * match, so the candidate's bytes (often a cache miss) are only read when the tags agree.
 */

@inline
function strongHash(word: u64): u64 {
  return (word << STRONG_SHIFT) * HASH_MULTIPLIER;
}

@inline
function strongSlot(hash: u64): usize {
  return HASH_TABLE + (<usize>(hash >> hashShift) << 2);
}

@inline
function strongTag(hash: u64): u32 {
  return <u32>(hash >> tagShift) << positionBits;
}

@inline
function strongInsert(at: usize): void {
  const hash = strongHash(load<u64>(at));
  store<u32>(strongSlot(hash), strongTag(hash) | <u32>(at - srcBase));
}

/** Records one sequence (literals [litStart, matchStart), then a match) in the block buffers. */
function emitSequence(litStart: usize, matchStart: usize, matchLen: u32, offset: u32): void {
  const litLen = matchStart - litStart;
  copyLiterals(litWrite, litStart, litLen);
  litWrite += litLen;
  const extra = <usize>(matchLen - MIN_MATCH);
  let side = sideWrite;
  if (litLen >= TOKEN_EXTENDED) side = putExtension(side, litLen - TOKEN_EXTENDED);
  if (extra >= TOKEN_EXTENDED) side = putExtension(side, extra - TOKEN_EXTENDED);
  let symbol = OFFSET_REPEAT;
  if (offset != lastOffset) {
    store<u16>(side, <u16>offset);
    side += 2;
    symbol = (offset >> 16) + 1;
  }
  sideWrite = side;
  const tok = tokenWrite;
  store<u8>(tok, <u8>((min<usize>(litLen, TOKEN_EXTENDED) << 4) | min<usize>(extra, TOKEN_EXTENDED)));
  store<u8>(tok, <u8>symbol, OFFSET_GAP);
  tokenWrite = tok + 1;
  lastOffset = offset;
}

/** The best match at `ip` from the table (tag and STRONG_BYTES bytes agreeing), as its length; 0 if none. Sets foundAt. */
let foundAt: usize = 0;

@inline
function strongCandidateLength(ip: usize, word: u64, entry: u32, tag: u32, end: usize): u32 {
  const candidate = srcBase + <usize>(entry & positionMask);
  if ((entry & ~positionMask) != tag || candidate >= ip || ip - candidate > OFFSET_MAX) return 0;
  if (((load<u64>(candidate) ^ word) & STRONG_MASK) != 0) return 0;
  foundAt = candidate;
  return STRONG_BYTES + matchLength(ip + STRONG_BYTES, candidate + STRONG_BYTES, end);
}

/**
 * Levels 2 and 3: greedy (level 2) or lazy (level 3) parse of [start, end). Each position is
 * checked first for a repeat of the last offset one byte ahead, then against the hash table;
 * after a match, two positions inside it are indexed.
 */
function parseStrong(start: usize, end: usize, lazy: bool): void {
  const base = srcBase;
  let anchor = start;
  let ip = start == base ? start + 1 : start;
  const ilimit = end - PARSE_TAIL;
  if (end - start <= 2 * PARSE_TAIL || ip >= ilimit) {
    copyLiterals(litWrite, anchor, end - anchor);
    litWrite += end - anchor;
    return;
  }
  while (ip < ilimit) {
    const word = load<u64>(ip);
    const hash = strongHash(word);
    const slot = strongSlot(hash);
    const tag = strongTag(hash);
    const entry = load<u32>(slot);
    store<u32>(slot, tag | <u32>(ip - base));
    const after = ip + 1;
    const r0 = <usize>lastOffset;
    let matchStart: usize;
    let len: u32;
    let candidate: usize;
    if (r0 <= after - base && load<u32>(after) == load<u32>(after - r0)) {
      matchStart = after;
      candidate = after - r0;
      len = MIN_MATCH + matchLength(after + MIN_MATCH, after + MIN_MATCH - r0, end);
    } else {
      len = strongCandidateLength(ip, word, entry, tag, end);
      if (len == 0) {
        ip += 1 + ((ip - anchor) >> STRONG_SKIP);
        continue;
      }
      matchStart = ip;
      candidate = foundAt;
      // Lazy step: a longer match one byte later wins (the current byte becomes a literal).
      if (lazy && after < ilimit) {
        const nextWord = load<u64>(after);
        const nextHash = strongHash(nextWord);
        const nextSlot = strongSlot(nextHash);
        const nextTag = strongTag(nextHash);
        const nextLen = strongCandidateLength(after, nextWord, load<u32>(nextSlot), nextTag, end);
        store<u32>(nextSlot, nextTag | <u32>(after - base));
        if (nextLen > len + 1) {
          matchStart = after;
          candidate = foundAt;
          len = nextLen;
        }
      }
      while (matchStart > anchor && candidate > base && load<u8>(matchStart - 1) == load<u8>(candidate - 1)) {
        matchStart--;
        candidate--;
        len++;
      }
    }
    emitSequence(anchor, matchStart, len, <u32>(matchStart - candidate));
    ip = matchStart + len;
    anchor = ip;
    if (ip >= ilimit) break;
    strongInsert(matchStart + 2);
    strongInsert(ip - 2);
  }
  copyLiterals(litWrite, anchor, end - anchor);
  litWrite += end - anchor;
}

/**
 * Codes the parsed block (LIT_BUF, TOKEN_BUF/OFFSET_BUF, SIDE_BUF) as a compressed block at
 * `out`. Returns the end of the block, or 0 when a raw block would be no larger or the result
 * would not fit below `outLimit` (writes never pass `hardEnd`).
 */
function encodeBlock(out: usize, rawSize: u32, outLimit: usize, hardEnd: usize): usize {
  const litCount = <u32>(litWrite - LIT_BUF);
  const seqCount = <u32>(tokenWrite - TOKEN_BUF);
  const sideSize = <u32>(sideWrite - SIDE_BUF);
  // Room for the compressed block: smaller than a raw block, below outLimit, and 8 bytes of
  // scratch before hardEnd for the bitstream writers.
  let limit = min<usize>(out + 3 + <usize>rawSize, outLimit);
  if (hardEnd - out < 8) return 0;
  limit = min<usize>(limit, hardEnd - 8);
  if (limit - out < 16) return 0;
  const payload = out + 6;
  let p = payload;
  store24(p, litCount);
  p += 3;
  if (litCount > 0) {
    const bound = planSection(LIT_BUF, litCount);
    if (<usize>bound + 3 > limit - p) return 0;
    p = writeSection(p, LIT_BUF, litCount);
  } else {
    store<u8>(p, 0); // an empty raw section
    p += 1;
  }
  if (limit - p < 3) return 0;
  store24(p, seqCount);
  p += 3;
  if (seqCount > 0) {
    let bound = planSection(TOKEN_BUF, seqCount);
    if (<usize>bound > limit - p) return 0;
    p = writeSection(p, TOKEN_BUF, seqCount);
    bound = planSection(TOKEN_BUF + OFFSET_GAP, seqCount);
    if (<usize>bound > limit - p) return 0;
    p = writeSection(p, TOKEN_BUF + OFFSET_GAP, seqCount);
    if (<usize>sideSize >= limit - p) return 0;
    memory.copy(p, SIDE_BUF, sideSize);
    p += sideSize;
  }
  if (p >= limit) return 0;
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
function writeBlock(out: usize, start: usize, end: usize, outLimit: usize, hardEnd: usize, level: i32): usize {
  const rawSize = <u32>(end - start);
  const first = load<u8>(start);
  if (allEqual(start, rawSize, first)) {
    if (out + 4 > outLimit) return 0;
    store24(out, BLOCK_RLE | ((rawSize - 1) << 2));
    store<u8>(out, first, 3);
    return out + 4;
  }
  const savedOffset = lastOffset;
  if (level <= 1 && srcEnd - srcBase > FAST_WINDOW) {
    // A longer input than the level-1 window: each block is a window of its own.
    fastBase = start;
    hashReady = false;
  }
  if (!hashReady) {
    memory.fill(HASH_TABLE, 0, hashBytes);
    hashReady = true;
  }
  startBlock();
  if (level <= 1) {
    parseFast(start, end);
  } else {
    parseStrong(start, end, level >= 3);
  }
  const next = encodeBlock(out, rawSize, outLimit, hardEnd);
  if (next != 0) return next;
  // The decoder does not see the sequences of a block stored raw.
  lastOffset = savedOffset;
  return writeRawBlock(out, start, rawSize, outLimit);
}

/**
 * Compresses [src, src + srcLen) into [dst, dst + dstCap). Returns the frame length, or 0 when
 * the input should be stored raw: empty, too large, judged random by the probe, or not at least
 * max(1, srcLen / 64) bytes smaller once compressed. Level 1 (and below) is the fast parse, 2 the
 * greedy strong parse, 3 (and above) the lazy strong parse.
 */
export function compress(src: usize, srcLen: u32, dst: usize, dstCap: u32, level: i32): u32 {
  if (srcLen == 0 || srcLen > MAX_INPUT) return 0;
  const budget = srcLen - max<u32>(1, srcLen >> 6);
  if (min<u32>(budget, dstCap) < MIN_FRAME) return 0;
  const outLimit = dst + min<u32>(budget, dstCap);
  const hardEnd = dst + dstCap;
  const segments = (srcLen + PROBE_SEGMENT - 1) / PROBE_SEGMENT;
  if (classifySegments(src, srcLen) == segments) return 0;
  srcBase = src;
  srcEnd = src + srcLen;
  startFrame(srcLen, level);
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
      : writeBlock(out, src + at, src + end, outLimit, hardEnd, level);
    if (out == 0) return 0;
    at = end;
  }
  return <u32>(out - dst);
}
