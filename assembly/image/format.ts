// format.ts: the numbers of the .dmtcp container (docs/IMAGE-FORMAT.md), defined once for the WebAssembly side.

export const FILE_MAGIC: u64 = 0x474d495043544d44; // "DMTCPIMG" read as a little-endian u64
export const TRAILER_MAGIC: u64 = 0x444e455043544d44; // "DMTCPEND"
export const BLOCK_MAGIC: u32 = 0x4b4c4244; // "DBLK"
export const FORMAT_VERSION: u32 = 1;
export const FILE_HEADER_SIZE: u32 = 64;
export const BLOCK_HEADER_SIZE: u32 = 48;
export const TRAILER_SIZE: u32 = 32;
export const ARCH_X86_64: u32 = 62;
export const PAGE_SIZE: u32 = 4096;
export const MAX_CHUNK_RAW: u32 = 16 << 20;
export const MAX_SECTION: u32 = 256 << 20;

export const KIND_PROCESS: u32 = 1;
export const KIND_THREADS: u32 = 2;
export const KIND_AREAS: u32 = 3;
export const KIND_META: u32 = 4;
export const KIND_PLUGIN: u32 = 5;
export const KIND_END: u32 = 6;
export const KIND_FDS: u32 = 7;
/** The highest descriptor kind (enum dmtcp_fd_kind): DMTCP_FD_PTY_MASTER. */
export const FD_KIND_MAX: u32 = 15;
export const KIND_CHUNK: u32 = 16;

export const FLAG_ZERO: u32 = 1;
export const FLAG_PARENT: u32 = 2;
export const FILE_FLAG_INCREMENTAL: u32 = 1;

// Raw-stream record sizes (native/include/dmtcp_stream.h).
export const PROCESS_SIZE: u32 = 672;
export const AREA_SIZE: u32 = 80;
export const THREAD_SIZE: u32 = 32;
export const FD_SIZE: u32 = 80;
export const AUXV_WORDS: u32 = 64;
export const MAX_PATH: u32 = 4096;
export const MAX_TLVS: u32 = 32;

// Error codes reported through the result block.
export const OK: i32 = 0;
export const E_MAGIC: i32 = 1;
export const E_VERSION: i32 = 2;
export const E_HEADER_SIZE: i32 = 3;
export const E_ARCH: i32 = 4;
export const E_PAGE_SIZE: i32 = 5;
export const E_CHECK: i32 = 6;
export const E_KIND: i32 = 7;
export const E_LENGTH: i32 = 8;
export const E_CHECKSUM: i32 = 9;
export const E_TRUNCATED: i32 = 10;
export const E_RECORD: i32 = 11;
