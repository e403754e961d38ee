// Layout of the codec's private scratch memory: fixed addresses between the static data and heapBase().
import { BLOCK_MAX, MIN_MATCH, HUF_TABLE_SIZE } from './format';

/** Largest match-finder hash table: 2^HASH_LOG_MAX entries of u32 positions. */
export const HASH_LOG_MAX: u32 = 17;
/** A block holds at most one sequence per MIN_MATCH bytes. */
export const SEQ_MAX: u32 = BLOCK_MAX / MIN_MATCH;
/** One sequence record: litLen, matchLen, offset, packed codes (token | offsetCode << 8). */
export const SEQ_RECORD: u32 = 16;
/** Bytes of slack after the literal buffer so 16-byte wild copies never leave it. */
export const LIT_SLACK: u32 = 64;

// Region sizes in bytes (each a multiple of 64, so every region stays 64-byte aligned).
const HASH_BYTES: usize = (<usize>1 << HASH_LOG_MAX) * 4;
const STREAM_B_BYTES: usize = 192 * 1024; // decoder: padded copy of sequence bitstream B
const LIT_BUF_BYTES: usize = BLOCK_MAX + LIT_SLACK;
const SEQ_BYTES: usize = <usize>SEQ_MAX * SEQ_RECORD;
const HIST_BYTES: usize = 4 * 256 * 4; // four interleaved byte histograms (u32)
const SYMBOL_HIST_BYTES: usize = 256 * 4; // token or offset-code histogram (u32)
// Every alphabet (literals, tokens, offset codes) has at most 256 symbols.
const CODES_BYTES: usize = 256 * 4; // encoder code table (u32 per symbol)
const LENS_BYTES: usize = 256; // code lengths (u8 per symbol)
const HUF_WORK_BYTES: usize = 8192; // Huffman construction work area
const LIT_DECODE_BYTES: usize = <usize>HUF_TABLE_SIZE * 2; // u16 entries
const LIT_PAIRS_BYTES: usize = <usize>HUF_TABLE_SIZE * 4; // u32 entries
const SEQ_DECODE_BYTES: usize = <usize>HUF_TABLE_SIZE * 4; // u32 entries
const TOKEN_INFO_BYTES: usize = 256 * 16; // per token: literal base, mask; match base, mask (u32 each)
const OFFSET_INFO_BYTES: usize = 256 * 16; // per offset code: base, mask, two unused u32
const SYMBOL_AUX_BYTES: usize = 256 * 2; // per symbol: extra bits | decode-table aux byte << 8 (u16)
const PROBE_FLAGS_BYTES: usize = 64 * 1024; // one byte per probe segment (covers 1 GiB inputs)

/**
 * The scratch region starts at a fixed address so that every region address is a compile-time
 * constant (folded into load/store offsets). Static data must end below it; index.ts checks.
 */
export const SCRATCH_BASE: usize = 65536;

export const HASH_TABLE: usize = SCRATCH_BASE;
/** Decoder only: padded copy of sequence bitstream B. */
export const DEC_STREAM_B: usize = HASH_TABLE + HASH_BYTES;
export const LIT_BUF: usize = DEC_STREAM_B + STREAM_B_BYTES;
export const SEQ_BUF: usize = LIT_BUF + LIT_BUF_BYTES;
export const BYTE_HIST: usize = SEQ_BUF + SEQ_BYTES;
export const TOKEN_HIST: usize = BYTE_HIST + HIST_BYTES;
export const OFFSET_HIST: usize = TOKEN_HIST + SYMBOL_HIST_BYTES;
export const LIT_CODES: usize = OFFSET_HIST + SYMBOL_HIST_BYTES;
export const TOKEN_CODES: usize = LIT_CODES + CODES_BYTES;
export const OFFSET_CODES: usize = TOKEN_CODES + CODES_BYTES;
export const LIT_LENS: usize = OFFSET_CODES + CODES_BYTES;
export const TOKEN_LENS: usize = LIT_LENS + LENS_BYTES;
export const OFFSET_LENS: usize = TOKEN_LENS + LENS_BYTES;
export const HUF_WORK: usize = OFFSET_LENS + LENS_BYTES;
export const LIT_DECODE: usize = HUF_WORK + HUF_WORK_BYTES;
export const LIT_PAIRS: usize = LIT_DECODE + LIT_DECODE_BYTES;
export const TOKEN_DECODE: usize = LIT_PAIRS + LIT_PAIRS_BYTES;
export const OFFSET_DECODE: usize = TOKEN_DECODE + SEQ_DECODE_BYTES;
export const TOKEN_INFO: usize = OFFSET_DECODE + SEQ_DECODE_BYTES;
export const OFFSET_INFO: usize = TOKEN_INFO + TOKEN_INFO_BYTES;
export const TOKEN_AUX: usize = OFFSET_INFO + OFFSET_INFO_BYTES;
export const OFFSET_AUX: usize = TOKEN_AUX + SYMBOL_AUX_BYTES;
export const PROBE_FLAGS: usize = OFFSET_AUX + SYMBOL_AUX_BYTES;
/** First byte after the scratch region: the start of the caller's heap (heapBase()). */
export const HEAP_START: usize = PROBE_FLAGS + PROBE_FLAGS_BYTES;

/** Most bits one sequence takes in bitstream A (token, literal and match extras) and B (offset). */
export const SEQ_MAX_BITS_A: u32 = 11 + 17 + 17;
export const SEQ_MAX_BITS_B: u32 = 11 + 31;
// The decoder never runs at the same time as the encoder, so its other work areas reuse encoder regions.
/** Padded copy of bitstream A; holds the most a block's sequences can ever read, plus a word. */
export const DEC_STREAM_A: usize = HASH_TABLE;
/** Padded copy of a block's Huffman literal streams (decoded before the sequence streams are copied). */
export const DEC_LITERALS: usize = HASH_TABLE;
/** Decoded sequences: u32 literal length | offset code << 24, u32 match length, u32 explicit offset. */
export const DEC_RECORDS: usize = SEQ_BUF;
export const DEC_RECORD: u32 = 12;
// Compile-time checks (ERROR is only compiled when the condition fails) that the aliases fit.
if ((<usize>SEQ_MAX * SEQ_MAX_BITS_A) / 8 + 16 > HASH_BYTES) ERROR('DEC_STREAM_A does not fit');
if ((<usize>SEQ_MAX * SEQ_MAX_BITS_B) / 8 + 16 > STREAM_B_BYTES) ERROR('DEC_STREAM_B does not fit');
if (<usize>SEQ_MAX * DEC_RECORD > SEQ_BYTES) ERROR('DEC_RECORDS does not fit');
// Literal streams: all four (at most 11 bits per literal) plus the furthest a stream can read past its start.
if ((<usize>BLOCK_MAX * 11) / 8 + 16 + (<usize>BLOCK_MAX / 4 * 11) / 8 + 16 > HASH_BYTES) ERROR('DEC_LITERALS does not fit');

/** Size of the scratch region. */
export const SCRATCH_BYTES: usize = HEAP_START - SCRATCH_BASE;
