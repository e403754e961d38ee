// Layout of the codec's private scratch memory: fixed addresses between the static data and heapBase().
import { BLOCK_MAX, MIN_MATCH, HUF_TABLE_SIZE, HUF_MAX_BITS } from './format';

/** Largest match-finder hash table: 2^HASH_LOG_MAX entries of u32 positions. */
export const HASH_LOG_MAX: u32 = 17;
/** A block holds at most one sequence per MIN_MATCH bytes. */
export const SEQ_MAX: u32 = BLOCK_MAX / MIN_MATCH;
/** Bytes of slack after the symbol buffers so wild copies and multi-symbol decoding never leave them. */
export const BUF_SLACK: u32 = 64;
/** Most bytes one sequence takes from the side stream: two long length extensions and an offset. */
export const SIDE_MAX_PER_SEQ: u32 = 4 + 4 + 2;

// Region sizes in bytes (each rounded to a multiple of 64, so every region stays 64-byte aligned).
export const HASH_BYTES: usize = (<usize>1 << HASH_LOG_MAX) * 4;
const LIT_BUF_BYTES: usize = BLOCK_MAX + BUF_SLACK;
const SYMBOL_BUF_BYTES: usize = SEQ_MAX + BUF_SLACK;
/**
 * Encoder side stream: 2 offset bytes per sequence, plus an extension byte for each literal run
 * of 15+ bytes (at most BLOCK_MAX / 15 of them) and each match of 19+ bytes (at most
 * BLOCK_MAX / 19), plus 3 more bytes for each run or match of 270+ (at most BLOCK_MAX / 135),
 * plus slack for the bytes written but not kept.
 */
const SIDE_BYTES: usize = (<usize>SEQ_MAX * 2 + BLOCK_MAX / 15 + BLOCK_MAX / 19 + 3 * (BLOCK_MAX / 135) + 192 + 63) & ~63;
/**
 * Decoder: padded copy of one section's Huffman streams. Stream k may be read up to `segment`
 * codes of HUF_MAX_BITS past its start, and starts at most 3 streams of that size in.
 */
const DEC_STREAMS_BYTES: usize = ((<usize>BLOCK_MAX / 4 + 1) * HUF_MAX_BITS / 8 * 4 + 64 + 63) & ~63;
const HIST_BYTES: usize = 4 * 256 * 4; // four interleaved byte histograms (u32)
const CODES_BYTES: usize = 256 * 4; // encoder code table (u32 per symbol)
const LENS_BYTES: usize = 256; // code lengths (u8 per symbol)
const HUF_WORK_BYTES: usize = 8192; // Huffman construction work area
const DECODE_BYTES: usize = <usize>HUF_TABLE_SIZE * 2; // u16 entries
/** Window of the decoder's multi-symbol Huffman table: wider than the longest code, so several codes often fit. */
export const HUF_MULTI_BITS: u32 = 12;
const MULTI_BYTES: usize = (<usize>1 << HUF_MULTI_BITS) * 4; // u32 entries
const PROBE_FLAGS_BYTES: usize = 64 * 1024; // one byte per probe segment (covers 1 GiB inputs)
/** The encoder's hash table and side stream, or the decoder's stream copy, share one work area. */
const WORK_BYTES: usize = HASH_BYTES + SIDE_BYTES > DEC_STREAMS_BYTES ? HASH_BYTES + SIDE_BYTES : DEC_STREAMS_BYTES;

/**
 * The scratch region starts at a fixed address so that every region address is a compile-time
 * constant (folded into load/store offsets). Static data must end below it; index.ts checks.
 */
export const SCRATCH_BASE: usize = 65536;

// The encoder and the decoder never run at the same time.
export const HASH_TABLE: usize = SCRATCH_BASE;
/** Encoder only: the side stream (length extensions, explicit offsets) of the current block. */
export const SIDE_BUF: usize = HASH_TABLE + HASH_BYTES;
/** Decoder only: padded copy of one section's Huffman streams. */
export const DEC_STREAMS: usize = SCRATCH_BASE;
/** Literals of the current block (encoder: gathered by the parse; decoder: decoded section). */
export const LIT_BUF: usize = SCRATCH_BASE + WORK_BYTES;
/** One token per sequence. */
export const TOKEN_BUF: usize = LIT_BUF + LIT_BUF_BYTES;
/** One offset symbol per sequence, at a fixed distance after its token (so one pointer addresses both). */
export const OFFSET_BUF: usize = TOKEN_BUF + SYMBOL_BUF_BYTES;
export const OFFSET_GAP: usize = OFFSET_BUF - TOKEN_BUF;
export const BYTE_HIST: usize = OFFSET_BUF + SYMBOL_BUF_BYTES;
export const HUF_CODES: usize = BYTE_HIST + HIST_BYTES;
export const HUF_LENS: usize = HUF_CODES + CODES_BYTES;
export const HUF_WORK: usize = HUF_LENS + LENS_BYTES;
export const HUF_DECODE: usize = HUF_WORK + HUF_WORK_BYTES;
export const HUF_MULTI: usize = HUF_DECODE + DECODE_BYTES;
export const PROBE_FLAGS: usize = HUF_MULTI + MULTI_BYTES;
/** First byte after the scratch region: the start of the caller's heap (heapBase()). */
export const HEAP_START: usize = PROBE_FLAGS + PROBE_FLAGS_BYTES;

/** Counts the four bytes of `word` in BYTE_HIST's four interleaved u32[256] tables (one per byte lane, so
 *  consecutive increments do not wait on each other); the caller sums the tables. */
@inline
export function countWordBytes(word: u32): void {
  const a = BYTE_HIST + ((<usize>word & 0xff) << 2);
  const b = BYTE_HIST + 1024 + ((<usize>(word >> 8) & 0xff) << 2);
  const c = BYTE_HIST + 2048 + ((<usize>(word >> 16) & 0xff) << 2);
  const d = BYTE_HIST + 3072 + (<usize>(word >> 24) << 2);
  store<u32>(a, load<u32>(a) + 1);
  store<u32>(b, load<u32>(b) + 1);
  store<u32>(c, load<u32>(c) + 1);
  store<u32>(d, load<u32>(d) + 1);
}

/** Size of the scratch region. */
export const SCRATCH_BYTES: usize = HEAP_START - SCRATCH_BASE;
