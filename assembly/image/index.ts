// index.ts: the image container stage: writes and parses .dmtcp headers, blocks and trailers, and decodes the
// raw-stream records stored in them. restart, the image service and readimage all parse through these exports.
//
// Memory contract: callers stage bytes at or above heapBase() and pass pointers; every parse writes its normalized
// result into the block at resultPtr() (layout in src/pipeline/wasm/image-module.ts, which mirrors the OUT_*
// offsets below). The stub runtime is enough: nothing is allocated after start-up.
import { xxh64, check32 } from '../common/xxh64';
import {
  FILE_MAGIC, TRAILER_MAGIC, BLOCK_MAGIC, FORMAT_VERSION, FILE_HEADER_SIZE, BLOCK_HEADER_SIZE, TRAILER_SIZE,
  ARCH_X86_64, PAGE_SIZE, MAX_CHUNK_RAW, MAX_SECTION, KIND_PROCESS, KIND_FDS, KIND_CHUNK, FLAG_ZERO, FLAG_PARENT,
  PROCESS_SIZE, AREA_SIZE, THREAD_SIZE, FD_SIZE, AUXV_WORDS, MAX_PATH, MAX_TLVS,
  OK, E_MAGIC, E_VERSION, E_HEADER_SIZE, E_ARCH, E_PAGE_SIZE, E_CHECK, E_KIND, E_LENGTH, E_CHECKSUM, E_TRUNCATED,
  E_RECORD, FD_KIND_MAX,
} from './format';

const OUT: usize = memory.data(1024, 16);
// Error slots.
const OUT_CODE: usize = 0;
const OUT_EXPECTED: usize = 8;
const OUT_FOUND: usize = 16;
const OUT_WHERE: usize = 24;     // offset (relative to the parsed buffer) the error is about
// Results start at 32; each parser documents its own fields.

export function resultPtr(): usize {
  return OUT;
}

export function heapBase(): usize {
  return (__heap_base + 15) & ~<usize>15;
}

/** Grows memory so that `bytes` are usable from heapBase(); 0 on success, -1 when the engine refuses. */
export function ensureMemory(bytes: usize): i32 {
  const need = heapBase() + bytes;
  const have = <usize>memory.size() << 16;
  if (need <= have) return 0;
  const pages = <i32>((need - have + 0xffff) >> 16);
  return memory.grow(pages) < 0 ? -1 : 0;
}

export function formatVersion(): u32 {
  return FORMAT_VERSION;
}

function fail(code: i32, expected: u64, found: u64, where: u64): i32 {
  store<i32>(OUT + OUT_CODE, code);
  store<u64>(OUT + OUT_EXPECTED, expected);
  store<u64>(OUT + OUT_FOUND, found);
  store<u64>(OUT + OUT_WHERE, where);
  return code;
}

function ok(): i32 {
  store<i32>(OUT + OUT_CODE, OK);
  return OK;
}

/** XXH64 of [ptr, ptr+len): result as u64 at resultPtr()+32. */
export function hash(ptr: usize, len: usize): void {
  store<u64>(OUT + 32, xxh64(ptr, len));
}

// ---- file header ----

export function writeFileHeader(dst: usize, flags: u32, generation: u32, createdLo: u32, createdHi: u32): void {
  memory.fill(dst, 0, FILE_HEADER_SIZE);
  store<u64>(dst, FILE_MAGIC);
  store<u32>(dst, FORMAT_VERSION, 8);
  store<u32>(dst, FILE_HEADER_SIZE, 12);
  store<u32>(dst, ARCH_X86_64, 16);
  store<u32>(dst, PAGE_SIZE, 20);
  store<u32>(dst, flags, 24);
  store<u32>(dst, generation, 28);
  store<u64>(dst, (<u64>createdHi << 32) | <u64>createdLo, 32);
  store<u32>(dst, check32(dst, 60), 60);
}

/** Results: 32 version, 36 arch, 40 page size, 44 flags, 48 generation, 56 created (u64). */
export function parseFileHeader(src: usize, len: usize): i32 {
  if (len < 8) return fail(E_TRUNCATED, FILE_HEADER_SIZE, len, 0);
  const magic = load<u64>(src);
  if (magic != FILE_MAGIC) return fail(E_MAGIC, FILE_MAGIC, magic, 0);
  if (len < FILE_HEADER_SIZE) return fail(E_TRUNCATED, FILE_HEADER_SIZE, len, 0);
  const version = load<u32>(src, 8);
  if (version != FORMAT_VERSION) return fail(E_VERSION, FORMAT_VERSION, version, 8);
  const size = load<u32>(src, 12);
  if (size != FILE_HEADER_SIZE) return fail(E_HEADER_SIZE, FILE_HEADER_SIZE, size, 12);
  const want = check32(src, 60);
  const have = load<u32>(src, 60);
  if (want != have) return fail(E_CHECK, want, have, 60);
  const arch = load<u32>(src, 16);
  if (arch != ARCH_X86_64) return fail(E_ARCH, ARCH_X86_64, arch, 16);
  const page = load<u32>(src, 20);
  if (page != PAGE_SIZE) return fail(E_PAGE_SIZE, PAGE_SIZE, page, 20);
  store<u32>(OUT + 32, version);
  store<u32>(OUT + 36, arch);
  store<u32>(OUT + 40, page);
  store<u32>(OUT + 44, load<u32>(src, 24));
  store<u32>(OUT + 48, load<u32>(src, 28));
  store<u64>(OUT + 56, load<u64>(src, 32));
  return ok();
}

// ---- blocks ----

/** Writes a block header. The 64-bit values arrive as lo/hi halves (JS numbers cannot carry u64). */
export function writeBlockHeader(
  dst: usize, kind: u32, codec: u32, flags: u32, area: u32, rawLen: u32, offLo: u32, offHi: u32,
  rawSumLo: u32, rawSumHi: u32, storedSumLo: u32, storedSumHi: u32, storedLen: u32,
): void {
  store<u32>(dst, BLOCK_MAGIC);
  store<u16>(dst, <u16>kind, 4);
  store<u8>(dst, <u8>codec, 6);
  store<u8>(dst, <u8>flags, 7);
  store<u32>(dst, area, 8);
  store<u32>(dst, rawLen, 12);
  store<u64>(dst, (<u64>offHi << 32) | <u64>offLo, 16);
  store<u64>(dst, (<u64>rawSumHi << 32) | <u64>rawSumLo, 24);
  store<u64>(dst, (<u64>storedSumHi << 32) | <u64>storedSumLo, 32);
  store<u32>(dst, storedLen, 40);
  store<u32>(dst, check32(dst, 44), 44);
}

/** A stored (uncompressed) block whose payload sits right after the header at dst+48; checksums computed here. */
export function writeSectionBlock(dst: usize, kind: u32, len: u32): void {
  const sum = xxh64(dst + BLOCK_HEADER_SIZE, len);
  writeBlockHeader(dst, kind, 0, 0, 0, len, 0, 0, <u32>sum, <u32>(sum >> 32), <u32>sum, <u32>(sum >> 32), len);
}

/** Results: 32 kind, 36 codec, 40 flags, 44 area, 48 raw length, 52 stored length, 56 offset (u64),
 *  64 raw checksum (u64), 72 stored checksum (u64), 80 bytes the block occupies (header + padded payload). */
export function parseBlockHeader(src: usize, len: usize): i32 {
  if (len < BLOCK_HEADER_SIZE) return fail(E_TRUNCATED, BLOCK_HEADER_SIZE, len, 0);
  const magic = load<u32>(src);
  if (magic != BLOCK_MAGIC) return fail(E_MAGIC, BLOCK_MAGIC, magic, 0);
  const want = check32(src, 44);
  const have = load<u32>(src, 44);
  if (want != have) return fail(E_CHECK, want, have, 44);
  const kind = <u32>load<u16>(src, 4);
  const flags = <u32>load<u8>(src, 7);
  const rawLen = load<u32>(src, 12);
  const storedLen = load<u32>(src, 40);
  if (!((kind >= KIND_PROCESS && kind <= KIND_FDS) || kind == KIND_CHUNK)) return fail(E_KIND, KIND_CHUNK, kind, 4);
  if (kind == KIND_CHUNK) {
    const offset = load<u64>(src, 16);
    if (rawLen == 0 || rawLen > MAX_CHUNK_RAW || (rawLen & (PAGE_SIZE - 1)) != 0) {
      return fail(E_LENGTH, MAX_CHUNK_RAW, rawLen, 12);
    }
    if ((offset & <u64>(PAGE_SIZE - 1)) != 0) return fail(E_LENGTH, 0, offset, 16);
    if ((flags & (FLAG_ZERO | FLAG_PARENT)) != 0 && storedLen != 0) return fail(E_LENGTH, 0, storedLen, 40);
    if (storedLen > rawLen + (rawLen >> 3) + 4096) return fail(E_LENGTH, rawLen, storedLen, 40);
  } else if (rawLen > MAX_SECTION || storedLen != rawLen) {
    return fail(E_LENGTH, rawLen, storedLen, 40);
  }
  store<u32>(OUT + 32, kind);
  store<u32>(OUT + 36, <u32>load<u8>(src, 6));
  store<u32>(OUT + 40, flags);
  store<u32>(OUT + 44, load<u32>(src, 8));
  store<u32>(OUT + 48, rawLen);
  store<u32>(OUT + 52, storedLen);
  store<u64>(OUT + 56, load<u64>(src, 16));
  store<u64>(OUT + 64, load<u64>(src, 24));
  store<u64>(OUT + 72, load<u64>(src, 32));
  store<u32>(OUT + 80, BLOCK_HEADER_SIZE + ((storedLen + 7) & ~7));
  return ok();
}

/** Checks the stored payload of the block whose header is at hdr against the header's stored checksum. */
export function verifyStored(hdr: usize, payload: usize): i32 {
  const want = load<u64>(hdr, 32);
  const have = xxh64(payload, load<u32>(hdr, 40));
  if (want != have) return fail(E_CHECKSUM, want, have, 32);
  return ok();
}

/** Checks decoded bytes against the header's raw checksum. */
export function verifyRaw(hdr: usize, raw: usize): i32 {
  const want = load<u64>(hdr, 24);
  const have = xxh64(raw, load<u32>(hdr, 12));
  if (want != have) return fail(E_CHECKSUM, want, have, 24);
  return ok();
}

// ---- trailer ----

export function writeTrailer(dst: usize, blocksLo: u32, blocksHi: u32, sizeLo: u32, sizeHi: u32): void {
  store<u64>(dst, TRAILER_MAGIC);
  store<u64>(dst, (<u64>blocksHi << 32) | <u64>blocksLo, 8);
  store<u64>(dst, (<u64>sizeHi << 32) | <u64>sizeLo, 16);
  store<u32>(dst, 0, 24);
  store<u32>(dst, check32(dst, 28), 28);
}

/** Results: 32 block count (u64), 40 file size (u64). */
export function parseTrailer(src: usize, len: usize): i32 {
  if (len < TRAILER_SIZE) return fail(E_TRUNCATED, TRAILER_SIZE, len, 0);
  const magic = load<u64>(src);
  if (magic != TRAILER_MAGIC) return fail(E_MAGIC, TRAILER_MAGIC, magic, 0);
  const want = check32(src, 28);
  const have = load<u32>(src, 28);
  if (want != have) return fail(E_CHECK, want, have, 28);
  store<u64>(OUT + 32, load<u64>(src, 8));
  store<u64>(OUT + 40, load<u64>(src, 16));
  return ok();
}

// ---- raw-stream records stored in PROCESS, AREAS and THREADS blocks ----

/** Results: 32 pid, 36 ppid, 40 generation, 44 threads, 48 areas, 52 ckpt signal, 56 time (u64), 64 entry, 72 entry
 *  arg, 80 restorer lo, 88 restorer hi, 96..183 mm map (11 x u64), 184 auxv words, 188 vdso hash, 192 TLV count,
 *  200.. TLV table: MAX_TLVS entries of {u32 tag, u32 offset from src, u32 length, u32 0}. */
export function parseProcess(src: usize, len: usize): i32 {
  if (len < PROCESS_SIZE) return fail(E_TRUNCATED, PROCESS_SIZE, len, 0);
  store<u32>(OUT + 32, load<u32>(src, 0));
  store<u32>(OUT + 36, load<u32>(src, 4));
  store<u32>(OUT + 40, load<u32>(src, 8));
  store<u32>(OUT + 44, load<u32>(src, 12));
  store<u32>(OUT + 48, load<u32>(src, 16));
  store<u32>(OUT + 52, load<u32>(src, 20));
  for (let i: usize = 0; i < 5; i++) store<u64>(OUT + 56 + i * 8, load<u64>(src + 24 + i * 8));
  for (let i: usize = 0; i < 11; i++) store<u64>(OUT + 96 + i * 8, load<u64>(src + 64 + i * 8));
  const auxvWords = load<u32>(src, 152 + AUXV_WORDS * 8);
  if (auxvWords > AUXV_WORDS) return fail(E_RECORD, AUXV_WORDS, auxvWords, 152 + AUXV_WORDS * 8);
  store<u32>(OUT + 184, auxvWords);
  store<u32>(OUT + 188, load<u32>(src, 156 + AUXV_WORDS * 8));
  let off: usize = PROCESS_SIZE;
  let count: u32 = 0;
  while (off + 8 <= len) {
    const tag = <u32>load<u16>(src + off);
    const n = <usize>load<u32>(src + off, 4);
    if (n > len - off - 8) return fail(E_RECORD, len - off - 8, n, off + 4);
    if (count < MAX_TLVS) {
      const slot = OUT + 200 + <usize>count * 16;
      store<u32>(slot, tag);
      store<u32>(slot, <u32>(off + 8), 4);
      store<u32>(slot, <u32>n, 8);
      store<u32>(slot, 0, 12);
      count++;
    }
    off += 8 + ((n + 7) & ~<usize>7);
  }
  store<u32>(OUT + 192, count);
  return ok();
}

/** Results: 32 start, 40 end, 48 file offset, 56 dev, 64 inode, 72 file size, 80 mtime seconds (all u64),
 *  88 mtime ns, 92 prot, 96 flags, 100 kind, 104 backing, 108 path length (NUL excluded), 112 path offset,
 *  116 bytes this record occupies (8-aligned). */
export function parseArea(src: usize, len: usize): i32 {
  if (len < AREA_SIZE) return fail(E_TRUNCATED, AREA_SIZE, len, 0);
  const start = load<u64>(src);
  const end = load<u64>(src, 8);
  const page = <u64>(PAGE_SIZE - 1);
  if ((start & page) != 0 || (end & page) != 0 || end <= start) return fail(E_RECORD, start, end, 0);
  const kind = load<u32>(src, 68);
  const backing = load<u32>(src, 72);
  if (kind < 1 || kind > 12) return fail(E_RECORD, 12, kind, 68);
  if (backing < 1 || backing > 3) return fail(E_RECORD, 3, backing, 72);
  const pathLen = load<u32>(src, 76);
  if (pathLen > MAX_PATH || <usize>AREA_SIZE + <usize>pathLen > len) return fail(E_RECORD, len - AREA_SIZE, pathLen, 76);
  let visible = pathLen;
  if (pathLen > 0) {
    if (load<u8>(src + AREA_SIZE + pathLen - 1) != 0) return fail(E_RECORD, 0, load<u8>(src + AREA_SIZE + pathLen - 1), 80);
    visible = pathLen - 1;
  }
  for (let i: usize = 0; i < 6; i++) store<u64>(OUT + 32 + i * 8, load<u64>(src + i * 8));
  store<u64>(OUT + 80, load<u64>(src, 48));
  store<u32>(OUT + 88, load<u32>(src, 56));
  store<u32>(OUT + 92, load<u32>(src, 60));
  store<u32>(OUT + 96, load<u32>(src, 64));
  store<u32>(OUT + 100, kind);
  store<u32>(OUT + 104, backing);
  store<u32>(OUT + 108, visible);
  store<u32>(OUT + 112, AREA_SIZE);
  store<u32>(OUT + 116, (AREA_SIZE + pathLen + 7) & ~7);
  return ok();
}

/** Results: 32 tid, 36 flags, 40 fs base (u64), 48 name offset (16), 52 bytes occupied (32). */
export function parseThread(src: usize, len: usize): i32 {
  if (len < THREAD_SIZE) return fail(E_TRUNCATED, THREAD_SIZE, len, 0);
  store<u32>(OUT + 32, load<u32>(src));
  store<u32>(OUT + 36, load<u32>(src, 4));
  store<u64>(OUT + 40, load<u64>(src, 8));
  store<u32>(OUT + 48, 16);
  store<u32>(OUT + 52, THREAD_SIZE);
  return ok();
}

/** One descriptor record (struct dmtcp_rec_fd). Results: 32 fd (i32), 36 kind, 40 flags, 44 file flags, 48 offset
 *  (i64), 56 dev, 64 inode, 72 size, 80 mtime seconds (u64), 88 mtime ns, 92 owner vpid, 96 owner fd, 100 mode,
 *  104 path length (NUL excluded), 108 path offset, 112 data offset, 116 data length, 120 bytes occupied (8-aligned). */
export function parseFd(src: usize, len: usize): i32 {
  if (len < FD_SIZE) return fail(E_TRUNCATED, FD_SIZE, len, 0);
  const kind = load<u32>(src, 4);
  if (kind < 1 || kind > FD_KIND_MAX) return fail(E_RECORD, FD_KIND_MAX, kind, 4);
  const pathLen = load<u32>(src, 72);
  const dataLen = load<u32>(src, 76);
  if (pathLen < 1 || pathLen > MAX_PATH + 1) return fail(E_RECORD, MAX_PATH, pathLen, 72);
  const total = <u64>FD_SIZE + <u64>pathLen + <u64>dataLen;
  if (total > <u64>len) return fail(E_RECORD, len, total, 76);
  if (load<u8>(src + FD_SIZE + pathLen - 1) != 0) return fail(E_RECORD, 0, load<u8>(src + FD_SIZE + pathLen - 1), FD_SIZE);
  store<i32>(OUT + 32, load<i32>(src));
  store<u32>(OUT + 36, kind);
  store<u32>(OUT + 40, load<u32>(src, 8));
  store<u32>(OUT + 44, load<u32>(src, 12));
  for (let i: usize = 0; i < 5; i++) store<u64>(OUT + 48 + i * 8, load<u64>(src + 16 + i * 8));
  store<u32>(OUT + 88, load<u32>(src, 56));
  store<u32>(OUT + 92, load<u32>(src, 60));
  store<i32>(OUT + 96, load<i32>(src, 64));
  store<u32>(OUT + 100, load<u32>(src, 68));
  store<u32>(OUT + 104, pathLen - 1);
  store<u32>(OUT + 108, FD_SIZE);
  store<u32>(OUT + 112, FD_SIZE + pathLen);
  store<u32>(OUT + 116, dataLen);
  store<u32>(OUT + 120, <u32>((total + 7) & ~<u64>7));
  return ok();
}
