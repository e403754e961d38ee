// Encoder of dlz byte sections (literals, tokens, offset symbols): histogram, mode choice, Huffman streams.
import {
  SECTION_RAW, SECTION_RLE, SECTION_HUF1, SECTION_HUF4, HUF4_MIN_SYMBOLS, BYTE_ALPHABET, store24,
} from './format';
import { BYTE_HIST, HUF_CODES, HUF_LENS, countWordBytes } from './layout';
import { buildLengths, buildEncodeTable, codedBits, tableSize, writeTable } from './huffman';

/** Mode and Huffman symbol count chosen by the last planSection() call. */
let plannedMode: u32 = SECTION_RAW;
let plannedUsed: u32 = 0;

/** Byte histogram of [ptr, ptr + len) into BYTE_HIST[0..256) (u32); uses four tables to avoid stalls. */
function histogram(ptr: usize, len: u32): void {
  const hist = BYTE_HIST;
  memory.fill(hist, 0, 4096);
  let i: u32 = 0;
  while (i + 4 <= len) {
    countWordBytes(load<u32>(ptr + i));
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

/**
 * Chooses how to code the `count` (>= 1) bytes at `buf` and returns an upper bound of the
 * section's size (mode byte included). For Huffman modes the code is left in HUF_LENS/HUF_CODES
 * for writeSection(), which must be called before the next plan.
 */
export function planSection(buf: usize, count: u32): u32 {
  histogram(buf, count);
  const used = buildLengths(BYTE_HIST, BYTE_ALPHABET, HUF_LENS);
  plannedUsed = used;
  if (used == 1) {
    plannedMode = SECTION_RLE;
    return 2;
  }
  buildEncodeTable(HUF_LENS, BYTE_ALPHABET, HUF_CODES);
  const streams: u32 = count >= HUF4_MIN_SYMBOLS ? 4 : 1;
  const bits = codedBits(BYTE_HIST, HUF_CODES, BYTE_ALPHABET);
  // Mode, table, stream sizes, and each stream padded to a whole byte.
  const huffman = 1 + tableSize(HUF_LENS, BYTE_ALPHABET, used) + streams * 4 + <u32>((bits + 7) >> 3);
  if (huffman < 1 + count) {
    plannedMode = streams == 4 ? SECTION_HUF4 : SECTION_HUF1;
    return huffman;
  }
  plannedMode = SECTION_RAW;
  return 1 + count;
}

/** Appends the code of `symbol` to the accumulator `acc` holding `bits` pending bits. */
@inline
function putCode(acc: u64, bits: u64, symbol: usize): u64 {
  return acc | (<u64>load<u16>(HUF_CODES + (symbol << 2)) << bits);
}

/** Length of the code of `symbol`. */
@inline
function codeLength(symbol: usize): u64 {
  return <u64>load<u16>(HUF_CODES + (symbol << 2), 2);
}

/**
 * Huffman-codes `count` bytes into one LSB-first bitstream at `out`; returns its end. Codes are
 * OR-ed into a 64-bit accumulator above the pending bits (at most 7), five at a time (at most 55
 * bits), and whole bytes are flushed with one 8-byte store (so up to 8 bytes past the end are
 * overwritten).
 */
function encodeStream(src: usize, count: u32, out: usize): usize {
  let acc: u64 = 0;
  let bits: u64 = 0;
  let i: u32 = 0;
  while (i + 5 <= count) {
    const word = load<u32>(src + i);
    const s0 = <usize>word & 0xff;
    const s1 = <usize>(word >> 8) & 0xff;
    const s2 = <usize>(word >> 16) & 0xff;
    const s3 = <usize>(word >> 24);
    const s4 = <usize>load<u8>(src + i, 4);
    acc = putCode(acc, bits, s0);
    bits += codeLength(s0);
    acc = putCode(acc, bits, s1);
    bits += codeLength(s1);
    acc = putCode(acc, bits, s2);
    bits += codeLength(s2);
    acc = putCode(acc, bits, s3);
    bits += codeLength(s3);
    acc = putCode(acc, bits, s4);
    bits += codeLength(s4);
    store<u64>(out, acc);
    out += <usize>(bits >> 3);
    acc >>= bits & ~7;
    bits &= 7;
    i += 5;
  }
  for (; i < count; i++) {
    const symbol = <usize>load<u8>(src + i);
    acc = putCode(acc, bits, symbol);
    bits += codeLength(symbol);
    store<u64>(out, acc);
    out += <usize>(bits >> 3);
    acc >>= bits & ~7;
    bits &= 7;
  }
  if (bits != 0) {
    store<u8>(out, <u8>acc);
    out++;
  }
  return out;
}

/**
 * Writes the section planned by the last planSection(buf, count) call at `p`; returns its end.
 * Writes at most the planned bound plus 8 bytes of scratch after it.
 */
export function writeSection(p: usize, buf: usize, count: u32): usize {
  const mode = plannedMode;
  store<u8>(p, <u8>mode);
  p += 1;
  if (mode == SECTION_RAW) {
    memory.copy(p, buf, count);
    return p + count;
  }
  if (mode == SECTION_RLE) {
    store<u8>(p, load<u8>(buf));
    return p + 1;
  }
  p = writeTable(p, HUF_LENS, BYTE_ALPHABET, plannedUsed);
  if (mode == SECTION_HUF1) {
    const end = encodeStream(buf, count, p + 3);
    store24(p, <u32>(end - p - 3));
    return end;
  }
  const segment = (count + 3) >> 2;
  const sizes = p;
  let streamStart = p + 12;
  for (let k: u32 = 0; k < 4; k++) {
    const first = k * segment;
    const n = k < 3 ? segment : count - first;
    const streamEnd = encodeStream(buf + first, n, streamStart);
    store24(sizes + k * 3, <u32>(streamEnd - streamStart));
    streamStart = streamEnd;
  }
  return streamStart;
}
