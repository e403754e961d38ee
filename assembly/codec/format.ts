// Constants and small pure helpers that define the dlz block format (see docs/CODEC-DLZ.md).

/** Format version, stored as the first byte of every dlz frame. */
export const FORMAT_VERSION: u32 = 2;

/** Largest number of decompressed bytes one block may describe. */
export const BLOCK_MAX: u32 = 1024 * 1024;

/** Shortest match the format can express; token match lengths are `length - MIN_MATCH`. */
export const MIN_MATCH: u32 = 4;

/** Block types (low two bits of the 3-byte block header). */
export const BLOCK_RAW: u32 = 0;
export const BLOCK_RLE: u32 = 1;
export const BLOCK_COMPRESSED: u32 = 2;

/** Byte-section modes (literals, tokens and offset symbols are each one byte section). */
export const SECTION_RAW: u32 = 0;
export const SECTION_RLE: u32 = 1;
export const SECTION_HUF1: u32 = 2;
export const SECTION_HUF4: u32 = 3;

/** Sections with fewer symbols than this are always coded as a single Huffman stream. */
export const HUF4_MIN_SYMBOLS: u32 = 256;

/** Huffman table description kinds. */
export const TABLE_SINGLE: u32 = 0;
export const TABLE_DENSE: u32 = 1;
export const TABLE_SPARSE: u32 = 2;

/** Every Huffman code in the format is at most this long; decode tables have 2^HUF_MAX_BITS entries. */
export const HUF_MAX_BITS: u32 = 11;
export const HUF_TABLE_SIZE: u32 = 1 << HUF_MAX_BITS;
export const HUF_TABLE_MASK: u64 = (1 << HUF_MAX_BITS) - 1;

/** Every section is a byte alphabet. */
export const BYTE_ALPHABET: u32 = 256;

/** A token holds the literal-run length and match length (minus MIN_MATCH) in 4 bits each; 15 means "15 + an extension". */
export const TOKEN_EXTENDED: u32 = 15;
/** An extension byte of 255 is followed by the whole extension as a u24. */
export const EXTENSION_LONG: u32 = 255;

/** Offset symbol 0 repeats the previous match offset; symbol s >= 1 is offset (s - 1) << 16 | next u16. */
export const OFFSET_REPEAT: u32 = 0;
/** Largest offset an offset symbol can express. */
export const OFFSET_MAX: u32 = (255 << 16) - 1;
/** The repeat offset at the start of every frame. */
export const INITIAL_OFFSET: u32 = 1;

// Error codes returned (negated) by dlzDecompress. Keep in sync with the TypeScript loader and the spec.
export const ERR_TRUNCATED: i32 = -1;
export const ERR_CORRUPT: i32 = -2;
export const ERR_VERSION: i32 = -3;
export const ERR_OUTPUT_SIZE: i32 = -4;
export const ERR_OFFSET: i32 = -5;
export const ERR_TRAILING: i32 = -6;
export const ERR_TABLE: i32 = -7;

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
