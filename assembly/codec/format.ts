// Constants and small pure helpers that define the dlz block format (see docs/CODEC-DLZ.md).

/** Format version, stored as the first byte of every dlz frame. */
export const FORMAT_VERSION: u32 = 1;

/** Largest number of decompressed bytes one block may describe. */
export const BLOCK_MAX: u32 = 128 * 1024;

/** Shortest match the format can express; coded match lengths are `length - MIN_MATCH`. */
export const MIN_MATCH: u32 = 4;

/** Block types (low two bits of the 3-byte block header). */
export const BLOCK_RAW: u32 = 0;
export const BLOCK_RLE: u32 = 1;
export const BLOCK_COMPRESSED: u32 = 2;

/** Literal section modes. */
export const LIT_RAW: u32 = 0;
export const LIT_RLE: u32 = 1;
export const LIT_HUF1: u32 = 2;
export const LIT_HUF4: u32 = 3;

/** Literal counts below this are always coded as a single Huffman stream. */
export const HUF4_MIN_LITERALS: u32 = 256;

/** Huffman table description kinds. */
export const TABLE_SINGLE: u32 = 0;
export const TABLE_DENSE: u32 = 1;
export const TABLE_SPARSE: u32 = 2;

/** Every Huffman code in the format is at most this long; decode tables have 2^HUF_MAX_BITS entries. */
export const HUF_MAX_BITS: u32 = 11;
export const HUF_TABLE_SIZE: u32 = 1 << HUF_MAX_BITS;
export const HUF_TABLE_MASK: u64 = (1 << HUF_MAX_BITS) - 1;

/** Alphabet sizes: literals and tokens are bytes; offset codes are 3 repeat codes + 32 magnitude classes. */
export const LIT_ALPHABET: u32 = 256;
export const TOKEN_ALPHABET: u32 = 256;
export const OFFSET_REPEATS: u32 = 3;
export const OFFSET_ALPHABET: u32 = OFFSET_REPEATS + 32;

/** Repeat-offset history at the start of every frame. */
export const INITIAL_REP0: u32 = 1;
export const INITIAL_REP1: u32 = 4;
export const INITIAL_REP2: u32 = 8;

/** Length codes 0..15: values 0..7 are literal codes, 8..14 cover [2^(c-5), 2^(c-4)), 15 covers [1024, 1024 + 2^17). */
export const LENGTH_DIRECT: u32 = 8;
export const LENGTH_ESCAPE_CODE: u32 = 15;
export const LENGTH_ESCAPE_BASE: u32 = 1024;
export const LENGTH_ESCAPE_BITS: u32 = 17;

// Error codes returned (negated) by dlzDecompress. Keep in sync with the TypeScript loader and the spec.
export const ERR_TRUNCATED: i32 = -1;
export const ERR_CORRUPT: i32 = -2;
export const ERR_VERSION: i32 = -3;
export const ERR_OUTPUT_SIZE: i32 = -4;
export const ERR_OFFSET: i32 = -5;
export const ERR_TRAILING: i32 = -6;
export const ERR_TABLE: i32 = -7;

/** Code (0..15) of a literal-run length or of a match length minus MIN_MATCH. */
@inline
export function lengthCode(value: u32): u32 {
  if (value < LENGTH_DIRECT) return value;
  if (value < LENGTH_ESCAPE_BASE) return 36 - clz<u32>(value); // 5 + floor(log2(value))
  return LENGTH_ESCAPE_CODE;
}

/** Number of extra bits that follow a length code. */
@inline
export function lengthExtraBits(code: u32): u32 {
  if (code < LENGTH_DIRECT) return 0;
  if (code < LENGTH_ESCAPE_CODE) return code - 5;
  return LENGTH_ESCAPE_BITS;
}

/** Smallest value a length code stands for; the extra bits are added to it. */
@inline
export function lengthBase(code: u32): u32 {
  if (code < LENGTH_DIRECT) return code;
  if (code < LENGTH_ESCAPE_CODE) return (<u32>1) << (code - 5);
  return LENGTH_ESCAPE_BASE;
}

/** Offset code of an explicit (non-repeat) offset >= 1: 3 + floor(log2(offset)), followed by that many extra bits. */
@inline
export function offsetCode(offset: u32): u32 {
  return OFFSET_REPEATS + 31 - clz<u32>(offset);
}

/** Reads a little-endian 24-bit value. */
@inline
export function load24(ptr: usize): u32 {
  return <u32>load<u16>(ptr) | (<u32>load<u8>(ptr, 2) << 16);
}

/** Writes a little-endian 24-bit value. */
@inline
export function store24(ptr: usize, value: u32): void {
  store<u16>(ptr, <u16>value);
  store<u8>(ptr, <u8>(value >>> 16), 2);
}
