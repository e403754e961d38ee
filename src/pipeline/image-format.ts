// The .dmtcp container's numbers on the TypeScript side (docs/IMAGE-FORMAT.md); assembly/image/format.ts holds the
// same values for the WebAssembly stage and test/unit/image-format.test.ts checks that they agree.

export const FORMAT_VERSION = 1;
export const FILE_HEADER_SIZE = 64;
export const BLOCK_HEADER_SIZE = 48;
export const TRAILER_SIZE = 32;
export const FILE_MAGIC_TEXT = 'DMTCPIMG';
export const TRAILER_MAGIC_TEXT = 'DMTCPEND';
export const BLOCK_MAGIC = 0x4b4c4244;
export const MAX_CHUNK_RAW = 16 << 20;
/** The writer cuts DATA runs into chunks of at most this many bytes. */
export const CHUNK_SIZE = 1 << 20;

export const BlockKind = Object.freeze({
  PROCESS: 1,
  THREADS: 2,
  AREAS: 3,
  META: 4,
  PLUGIN: 5,
  END: 6,
  FDS: 7,
  CHUNK: 16,
} as const);
export type BlockKindValue = (typeof BlockKind)[keyof typeof BlockKind];

export const BlockFlag = Object.freeze({
  ZERO: 1,
  PARENT: 2,
} as const);

export const FileFlag = Object.freeze({
  INCREMENTAL: 1,
} as const);

/** Built-in codec ids; third-party codec plugins use 16..255. */
export const CodecId = Object.freeze({
  STORED: 0,
  DLZ: 1,
  DEFLATE: 2,
} as const);

export const ErrorCode = Object.freeze({
  OK: 0,
  MAGIC: 1,
  VERSION: 2,
  HEADER_SIZE: 3,
  ARCH: 4,
  PAGE_SIZE: 5,
  CHECK: 6,
  KIND: 7,
  LENGTH: 8,
  CHECKSUM: 9,
  TRUNCATED: 10,
  RECORD: 11,
} as const);

export function blockKindName(kind: number): string {
  for (const [name, value] of Object.entries(BlockKind)) if (value === kind) return name;
  return `kind ${kind}`;
}

export function align8(n: number): number {
  return (n + 7) & ~7;
}
