// Typed access to the image container stage (assembly/image): every .dmtcp header, block and record is written and
// parsed through it, by the image service, dmtcp_restart and readimage alike.
import { instantiateStage } from './loader';
import { ErrorCode, BLOCK_HEADER_SIZE, FILE_HEADER_SIZE, TRAILER_SIZE, align8 } from '../image-format';
import { AUXV_WORDS } from '../../protocol/constants';

/** The exports of build/wasm/image.wasm, exactly. 64-bit values cross as lo/hi u32 halves or through resultPtr(). */
export interface ImageExports extends WebAssembly.Exports {
  memory: WebAssembly.Memory;
  resultPtr(): number;
  heapBase(): number;
  ensureMemory(bytes: number): number;
  formatVersion(): number;
  hash(ptr: number, len: number): void;
  writeFileHeader(dst: number, flags: number, generation: number, createdLo: number, createdHi: number): void;
  parseFileHeader(src: number, len: number): number;
  writeBlockHeader(
    dst: number, kind: number, codec: number, flags: number, area: number, rawLen: number, offLo: number,
    offHi: number, rawSumLo: number, rawSumHi: number, storedSumLo: number, storedSumHi: number, storedLen: number,
  ): void;
  writeSectionBlock(dst: number, kind: number, len: number): void;
  parseBlockHeader(src: number, len: number): number;
  verifyStored(hdr: number, payload: number): number;
  verifyRaw(hdr: number, raw: number): number;
  writeTrailer(dst: number, blocksLo: number, blocksHi: number, sizeLo: number, sizeHi: number): void;
  parseTrailer(src: number, len: number): number;
  parseProcess(src: number, len: number): number;
  parseArea(src: number, len: number): number;
  parseThread(src: number, len: number): number;
  parseFd(src: number, len: number): number;
}

/** A malformed image; `offset` is relative to the bytes handed to the parser, `detail` says what was expected. */
export class FormatError extends Error {
  constructor(readonly offset: number, readonly detail: string) {
    super(detail);
    this.name = 'FormatError';
  }
}

export interface FileHeader {
  version: number;
  arch: number;
  pageSize: number;
  flags: number;
  generation: number;
  createdNs: bigint;
}

export interface BlockHeader {
  kind: number;
  codec: number;
  flags: number;
  area: number;
  rawLength: number;
  storedLength: number;
  offset: bigint;
  rawChecksum: bigint;
  storedChecksum: bigint;
  /** Bytes the block occupies in the file: header plus padded payload. */
  span: number;
}

export interface Trailer {
  blocks: bigint;
  fileSize: bigint;
}

export interface ProcessRecord {
  pid: number;
  ppid: number;
  generation: number;
  nThreads: number;
  nAreas: number;
  ckptSignal: number;
  ckptTimeNs: bigint;
  entry: bigint;
  entryArg: bigint;
  restorerLo: bigint;
  restorerHi: bigint;
  mm: bigint[];
  auxvWords: number;
  vdsoHash: number;
  /** TLV strings by tag (native/include/dmtcp_stream.h DMTCP_TLV_*). */
  strings: Map<number, Buffer>;
}

export interface AreaRecord {
  start: bigint;
  end: bigint;
  fileOffset: bigint;
  dev: bigint;
  inode: bigint;
  fileSize: bigint;
  mtimeSec: bigint;
  mtimeNsec: number;
  prot: number;
  flags: number;
  kind: number;
  backing: number;
  path: string;
  /** The record's bytes, verbatim, for re-emitting into a restore stream. */
  raw: Buffer;
}

export interface FdRecord {
  fd: number;
  kind: number;
  flags: number;
  fileFlags: number;
  offset: bigint;
  dev: bigint;
  inode: bigint;
  size: bigint;
  mtimeSec: bigint;
  mtimeNsec: number;
  ownerVpid: number;
  ownerFd: number;
  mode: number;
  path: string;
  /** Drained pipe bytes or saved file contents. */
  data: Buffer;
  /** The record's bytes, verbatim. */
  raw: Buffer;
}

export interface ThreadRecord {
  tid: number;
  flags: number;
  fsBase: bigint;
  name: string;
}

const MM_FIELDS = 11;

function hex(v: bigint | number, width = 0): string {
  return '0x' + v.toString(16).padStart(width, '0');
}

function magicText(v: bigint, bytes: number): string {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  const s = b.subarray(0, bytes).toString('latin1');
  return /^[\x20-\x7e]+$/.test(s) ? `"${s}"` : hex(v, bytes * 2);
}

/** One instance per thread: owns a WebAssembly instance and stages bytes into its memory. */
export class ImageStage {
  readonly exports: ImageExports;
  private readonly out: number;
  private readonly base: number;

  constructor() {
    this.exports = instantiateStage<ImageExports>('image', 'image.wasm');
    this.out = this.exports.resultPtr();
    this.base = this.exports.heapBase();
  }

  get version(): number {
    return this.exports.formatVersion();
  }

  private view(): DataView {
    return new DataView(this.exports.memory.buffer);
  }

  /** Copies bytes to heapBase()+at and returns their address. */
  private stage(bytes: Uint8Array, at = 0): number {
    if (this.exports.ensureMemory(at + bytes.length + 64) !== 0) throw new Error('image stage: out of memory');
    const ptr = this.base + at;
    new Uint8Array(this.exports.memory.buffer, ptr, bytes.length).set(bytes);
    return ptr;
  }

  private scratch(len: number): number {
    if (this.exports.ensureMemory(len + 64) !== 0) throw new Error('image stage: out of memory');
    return this.base;
  }

  private take(ptr: number, len: number): Buffer {
    return Buffer.from(new Uint8Array(this.exports.memory.buffer, ptr, len));
  }

  /** Turns a non-zero result code into a FormatError describing the expected and found values. */
  private check(code: number, what: string): void {
    if (code === ErrorCode.OK) return;
    const v = this.view();
    const expected = v.getBigUint64(this.out + 8, true);
    const found = v.getBigUint64(this.out + 16, true);
    const where = Number(v.getBigUint64(this.out + 24, true));
    let detail: string;
    switch (code) {
      case ErrorCode.MAGIC:
        detail = what === 'file header'
          ? `not a dmtcp image: expected magic "DMTCPIMG", found ${magicText(found, 8)}`
          : `${what}: expected magic ${what === 'trailer' ? '"DMTCPEND"' : magicText(expected, 4)}, found ${magicText(found, what === 'trailer' ? 8 : 4)}`;
        break;
      case ErrorCode.VERSION:
        detail = `image format version ${found} is not supported: this build reads version ${expected}; use the dmtcp-ts that wrote it`;
        break;
      case ErrorCode.ARCH:
        detail = `image was written on architecture ${archName(Number(found))}; this machine is ${archName(Number(expected))}`;
        break;
      case ErrorCode.PAGE_SIZE:
        detail = `image uses ${found}-byte pages; this machine uses ${expected}`;
        break;
      case ErrorCode.CHECK:
        detail = `${what} check failed (expected ${hex(expected, 8)}, found ${hex(found, 8)})`;
        break;
      case ErrorCode.CHECKSUM:
        detail = `${what} checksum mismatch (expected ${hex(expected, 16)}, found ${hex(found, 16)})`;
        break;
      case ErrorCode.TRUNCATED:
        detail = `truncated ${what}: expected ${expected} bytes, found ${found}`;
        break;
      case ErrorCode.KIND:
        detail = `${what} has unknown kind ${found}`;
        break;
      case ErrorCode.LENGTH:
        detail = `${what} has an impossible length field (${found})`;
        break;
      case ErrorCode.HEADER_SIZE:
        detail = `${what} size is ${found}, expected ${expected}`;
        break;
      default:
        detail = `${what} is malformed (field at +${where}: expected ${expected}, found ${found})`;
    }
    throw new FormatError(where, detail);
  }

  hash(bytes: Uint8Array): bigint {
    const ptr = this.stage(bytes);
    this.exports.hash(ptr, bytes.length);
    return this.view().getBigUint64(this.out + 32, true);
  }

  encodeFileHeader(flags: number, generation: number, createdNs: bigint): Buffer {
    const ptr = this.scratch(FILE_HEADER_SIZE);
    this.exports.writeFileHeader(ptr, flags, generation, lo(createdNs), hi(createdNs));
    return this.take(ptr, FILE_HEADER_SIZE);
  }

  fileHeader(bytes: Uint8Array): FileHeader {
    const ptr = this.stage(bytes.subarray(0, Math.min(bytes.length, FILE_HEADER_SIZE)));
    this.check(this.exports.parseFileHeader(ptr, Math.min(bytes.length, FILE_HEADER_SIZE)), 'file header');
    const v = this.view();
    return {
      version: v.getUint32(this.out + 32, true),
      arch: v.getUint32(this.out + 36, true),
      pageSize: v.getUint32(this.out + 40, true),
      flags: v.getUint32(this.out + 44, true),
      generation: v.getUint32(this.out + 48, true),
      createdNs: v.getBigUint64(this.out + 56, true),
    };
  }

  encodeBlockHeader(h: Omit<BlockHeader, 'span'>): Buffer {
    const ptr = this.scratch(BLOCK_HEADER_SIZE);
    this.exports.writeBlockHeader(
      ptr, h.kind, h.codec, h.flags, h.area, h.rawLength, lo(h.offset), hi(h.offset),
      lo(h.rawChecksum), hi(h.rawChecksum), lo(h.storedChecksum), hi(h.storedChecksum), h.storedLength,
    );
    return this.take(ptr, BLOCK_HEADER_SIZE);
  }

  /** A stored section block: header, payload and padding, ready to append to the file. */
  encodeSection(kind: number, payload: Uint8Array): Buffer {
    const total = BLOCK_HEADER_SIZE + align8(payload.length);
    this.stage(payload, BLOCK_HEADER_SIZE);
    const ptr = this.base;
    new Uint8Array(this.exports.memory.buffer, ptr + BLOCK_HEADER_SIZE + payload.length, total - BLOCK_HEADER_SIZE - payload.length).fill(0);
    this.exports.writeSectionBlock(ptr, kind, payload.length);
    return this.take(ptr, total);
  }

  blockHeader(bytes: Uint8Array): BlockHeader {
    const n = Math.min(bytes.length, BLOCK_HEADER_SIZE);
    const ptr = this.stage(bytes.subarray(0, n));
    this.check(this.exports.parseBlockHeader(ptr, n), 'block header');
    const v = this.view();
    return {
      kind: v.getUint32(this.out + 32, true),
      codec: v.getUint32(this.out + 36, true),
      flags: v.getUint32(this.out + 40, true),
      area: v.getUint32(this.out + 44, true),
      rawLength: v.getUint32(this.out + 48, true),
      storedLength: v.getUint32(this.out + 52, true),
      offset: v.getBigUint64(this.out + 56, true),
      rawChecksum: v.getBigUint64(this.out + 64, true),
      storedChecksum: v.getBigUint64(this.out + 72, true),
      span: v.getUint32(this.out + 80, true),
    };
  }

  /** Checks a block's stored payload against its header. */
  verifyStored(header: Uint8Array, payload: Uint8Array): void {
    const hdr = this.stage(header.subarray(0, BLOCK_HEADER_SIZE));
    const body = this.stage(payload, BLOCK_HEADER_SIZE);
    this.check(this.exports.verifyStored(hdr, body), 'payload');
  }

  /** Checks decoded bytes against the header's raw checksum. */
  verifyRaw(header: Uint8Array, raw: Uint8Array): void {
    const hdr = this.stage(header.subarray(0, BLOCK_HEADER_SIZE));
    const body = this.stage(raw, BLOCK_HEADER_SIZE);
    this.check(this.exports.verifyRaw(hdr, body), 'decoded chunk');
  }

  encodeTrailer(blocks: number, fileSize: number): Buffer {
    const ptr = this.scratch(TRAILER_SIZE);
    this.exports.writeTrailer(ptr, blocks >>> 0, Math.floor(blocks / 2 ** 32), fileSize >>> 0, Math.floor(fileSize / 2 ** 32));
    return this.take(ptr, TRAILER_SIZE);
  }

  trailer(bytes: Uint8Array): Trailer {
    const ptr = this.stage(bytes);
    this.check(this.exports.parseTrailer(ptr, bytes.length), 'trailer');
    const v = this.view();
    return { blocks: v.getBigUint64(this.out + 32, true), fileSize: v.getBigUint64(this.out + 40, true) };
  }

  process(body: Uint8Array): ProcessRecord {
    const ptr = this.stage(body);
    this.check(this.exports.parseProcess(ptr, body.length), 'PROCESS record');
    const v = this.view();
    const o = this.out;
    const mm: bigint[] = [];
    for (let i = 0; i < MM_FIELDS; i++) mm.push(v.getBigUint64(o + 96 + i * 8, true));
    const strings = new Map<number, Buffer>();
    const count = v.getUint32(o + 192, true);
    for (let i = 0; i < count; i++) {
      const slot = o + 200 + i * 16;
      const tag = v.getUint32(slot, true);
      const off = v.getUint32(slot + 4, true);
      const len = v.getUint32(slot + 8, true);
      strings.set(tag, Buffer.from(body.subarray(off, off + len)));
    }
    return {
      pid: v.getUint32(o + 32, true),
      ppid: v.getUint32(o + 36, true),
      generation: v.getUint32(o + 40, true),
      nThreads: v.getUint32(o + 44, true),
      nAreas: v.getUint32(o + 48, true),
      ckptSignal: v.getUint32(o + 52, true),
      ckptTimeNs: v.getBigUint64(o + 56, true),
      entry: v.getBigUint64(o + 64, true),
      entryArg: v.getBigUint64(o + 72, true),
      restorerLo: v.getBigUint64(o + 80, true),
      restorerHi: v.getBigUint64(o + 88, true),
      mm,
      auxvWords: Math.min(v.getUint32(o + 184, true), AUXV_WORDS),
      vdsoHash: v.getUint32(o + 188, true),
      strings,
    };
  }

  /** Parses one AREA record at the start of `bytes`; `consumed` is how far the next one starts. */
  area(bytes: Uint8Array): { area: AreaRecord; consumed: number } {
    const n = Math.min(bytes.length, 80 + 4096 + 8);
    const ptr = this.stage(bytes.subarray(0, n));
    this.check(this.exports.parseArea(ptr, n), 'AREA record');
    const v = this.view();
    const o = this.out;
    const pathLen = v.getUint32(o + 108, true);
    const pathOff = v.getUint32(o + 112, true);
    const consumed = v.getUint32(o + 116, true);
    return {
      area: {
        start: v.getBigUint64(o + 32, true),
        end: v.getBigUint64(o + 40, true),
        fileOffset: v.getBigUint64(o + 48, true),
        dev: v.getBigUint64(o + 56, true),
        inode: v.getBigUint64(o + 64, true),
        fileSize: v.getBigUint64(o + 72, true),
        mtimeSec: v.getBigUint64(o + 80, true),
        mtimeNsec: v.getUint32(o + 88, true),
        prot: v.getUint32(o + 92, true),
        flags: v.getUint32(o + 96, true),
        kind: v.getUint32(o + 100, true),
        backing: v.getUint32(o + 104, true),
        path: Buffer.from(bytes.subarray(pathOff, pathOff + pathLen)).toString('utf8'),
        raw: Buffer.from(bytes.subarray(0, Math.min(consumed, bytes.length))),
      },
      consumed,
    };
  }

  /** Parses the AREAS block payload (records back to back, each 8-aligned). */
  areas(body: Uint8Array): AreaRecord[] {
    const list: AreaRecord[] = [];
    let off = 0;
    while (off < body.length) {
      try {
        const { area, consumed } = this.area(body.subarray(off));
        list.push(area);
        off += consumed;
      } catch (e) {
        if (e instanceof FormatError) throw new FormatError(off + e.offset, `area ${list.length}: ${e.detail}`);
        throw e;
      }
    }
    return list;
  }

  /** Parses the FDS block payload (descriptor records back to back, each 8-aligned). */
  fds(body: Uint8Array): FdRecord[] {
    const list: FdRecord[] = [];
    let off = 0;
    while (off < body.length) {
      const rest = body.subarray(off);
      const head = Math.min(rest.length, 80 + 4097);
      let ptr = this.stage(rest.subarray(0, head));
      // The data may be large: stage it all only when the record needs it.
      const v0 = new DataView(rest.buffer, rest.byteOffset, rest.length);
      const total = rest.length >= 80 ? 80 + v0.getUint32(72, true) + v0.getUint32(76, true) : rest.length;
      if (total > head && total <= rest.length) ptr = this.stage(rest.subarray(0, total));
      try {
        this.check(this.exports.parseFd(ptr, Math.min(rest.length, Math.max(head, total))), 'FD record');
      } catch (e) {
        if (e instanceof FormatError) throw new FormatError(off + e.offset, `descriptor ${list.length}: ${e.detail}`);
        throw e;
      }
      const v = this.view();
      const o = this.out;
      const pathLen = v.getUint32(o + 104, true);
      const pathOff = v.getUint32(o + 108, true);
      const dataOff = v.getUint32(o + 112, true);
      const dataLen = v.getUint32(o + 116, true);
      const consumed = v.getUint32(o + 120, true);
      list.push({
        fd: v.getInt32(o + 32, true),
        kind: v.getUint32(o + 36, true),
        flags: v.getUint32(o + 40, true),
        fileFlags: v.getUint32(o + 44, true),
        offset: v.getBigInt64(o + 48, true),
        dev: v.getBigUint64(o + 56, true),
        inode: v.getBigUint64(o + 64, true),
        size: v.getBigUint64(o + 72, true),
        mtimeSec: v.getBigUint64(o + 80, true),
        mtimeNsec: v.getUint32(o + 88, true),
        ownerVpid: v.getUint32(o + 92, true),
        ownerFd: v.getInt32(o + 96, true),
        mode: v.getUint32(o + 100, true),
        path: Buffer.from(rest.subarray(pathOff, pathOff + pathLen)).toString('utf8'),
        data: Buffer.from(rest.subarray(dataOff, dataOff + dataLen)),
        raw: Buffer.from(rest.subarray(0, Math.min(consumed, rest.length))),
      });
      off += consumed;
    }
    return list;
  }

  threads(body: Uint8Array): ThreadRecord[] {
    const list: ThreadRecord[] = [];
    for (let off = 0; off + 32 <= body.length; off += 32) {
      const ptr = this.stage(body.subarray(off, off + 32));
      this.check(this.exports.parseThread(ptr, 32), 'THREAD record');
      const v = this.view();
      const nameBytes = body.subarray(off + 16, off + 32);
      const nul = nameBytes.indexOf(0);
      list.push({
        tid: v.getUint32(this.out + 32, true),
        flags: v.getUint32(this.out + 36, true),
        fsBase: v.getBigUint64(this.out + 40, true),
        name: Buffer.from(nameBytes.subarray(0, nul < 0 ? 16 : nul)).toString('utf8'),
      });
    }
    return list;
  }
}

export function lo(v: bigint): number {
  return Number(v & 0xffffffffn);
}

export function hi(v: bigint): number {
  return Number((v >> 32n) & 0xffffffffn);
}

export function archName(e: number): string {
  const names: Record<number, string> = { 62: 'x86_64', 183: 'aarch64', 3: 'i386', 40: 'arm', 243: 'riscv64' };
  return names[e] ? `${names[e]} (${e})` : `e_machine ${e}`;
}

let shared: ImageStage | undefined;
/** The thread's image stage, created on first use. */
export function imageStage(): ImageStage {
  shared ??= new ImageStage();
  return shared;
}
