// Opens a .dmtcp image and checks its structure through the image stage: header, every block header, section
// checksums, trailer. readimage, dmtcp_restart and the restore decoder all start here.
import * as fs from 'node:fs';
import { BLOCK_HEADER_SIZE, BlockKind, FILE_HEADER_SIZE, TRAILER_SIZE, blockKindName } from './image-format';
import {
  FormatError,
  imageStage,
  type AreaRecord,
  type BlockHeader,
  type FileHeader,
  type ProcessRecord,
  type FdRecord,
  type ThreadRecord,
  type Trailer,
} from './wasm/image-module';
import { processStrings } from './process-info';
import type { ProcessStrings } from './types';
import type { BufferPool } from './buffer-pool';

/** Anything wrong with an image file: the message is one line naming the file, the offset and the expectation. */
export class ImageError extends Error {
  constructor(readonly file: string, readonly offset: number | undefined, readonly detail: string) {
    super(offset === undefined ? `${file}: ${detail}` : `${file}: offset ${offset}: ${detail}`);
    this.name = 'ImageError';
  }
}

export interface ChunkEntry {
  /** File offset of the block header. */
  at: number;
  header: BlockHeader;
  /** The 48 header bytes, verbatim (the stage verifies payloads against them). */
  headerBytes: Buffer;
}

export interface ImageEnd {
  dataBytes: bigint;
  zeroPages: bigint;
  filePages: bigint;
  status: number;
}

export class ImageReader {
  header!: FileHeader;
  trailer!: Trailer;
  process!: ProcessRecord;
  processBody!: Buffer<ArrayBufferLike>;
  strings!: ProcessStrings;
  threads: ThreadRecord[] = [];
  threadsBody: Buffer<ArrayBufferLike> = Buffer.alloc(0);
  fds: FdRecord[] = [];
  fdsBody: Buffer<ArrayBufferLike> = Buffer.alloc(0);
  areas: AreaRecord[] = [];
  meta: Record<string, unknown> = {};
  end?: ImageEnd;
  endBody: Buffer<ArrayBufferLike> = Buffer.alloc(0);
  readonly plugins = new Map<string, Buffer>();
  readonly chunks: ChunkEntry[] = [];
  readonly size: number;
  /** An incremental image's parent, once its chain is open (image-chain.ts openChain); closed with this reader. */
  parent?: ImageReader;
  private fd: number;

  private constructor(readonly path: string, fd: number, size: number) {
    this.fd = fd;
    this.size = size;
  }

  /** Opens and checks the whole structure (not the chunk payloads: see verifyChunks). */
  static open(file: string): ImageReader {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
      throw new ImageError(file, undefined, `cannot open image: ${why}`);
    }
    const size = fs.fstatSync(fd).size;
    const reader = new ImageReader(file, fd, size);
    try {
      reader.load();
    } catch (e) {
      reader.close();
      if (e instanceof ImageError) throw e;
      throw new ImageError(file, undefined, (e as Error).message);
    }
    return reader;
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
    this.parent?.close();
    this.parent = undefined;
  }

  read(at: number, len: number): Buffer {
    const buf = Buffer.allocUnsafe(len);
    let got = 0;
    while (got < len) {
      const n = fs.readSync(this.fd, buf, got, len - got, at + got);
      if (n === 0) break;
      got += n;
    }
    return got === len ? buf : buf.subarray(0, got);
  }

  private fail(at: number, e: unknown): never {
    if (e instanceof FormatError) throw new ImageError(this.path, at + e.offset, e.detail);
    throw e;
  }

  private load(): void {
    const stage = imageStage();
    if (this.size === 0) throw new ImageError(this.path, 0, 'empty file, not a dmtcp image');
    const head = this.read(0, FILE_HEADER_SIZE);
    try {
      this.header = stage.fileHeader(head);
    } catch (e) {
      this.fail(0, e);
    }
    const trailerAt = this.size - TRAILER_SIZE;
    if (trailerAt < FILE_HEADER_SIZE) {
      throw new ImageError(this.path, this.size, `truncated: ${this.size} bytes cannot hold a header and a trailer`);
    }
    let trailerError: unknown;
    try {
      this.trailer = stage.trailer(this.read(trailerAt, TRAILER_SIZE));
    } catch (e) {
      trailerError = e;
    }
    // Walk the blocks even when the trailer is bad, so a truncation is reported where it happened.
    let at = FILE_HEADER_SIZE;
    const end = trailerError ? this.size : trailerAt;
    let blocks = 0;
    while (at < end) {
      if (trailerError && at + TRAILER_SIZE < this.size && this.read(at, 8).toString('latin1') === 'DMTCPEND') {
        throw new ImageError(this.path, at, `the trailer is here, followed by ${this.size - at - TRAILER_SIZE} unexpected bytes (data appended to the image?)`);
      }
      if (end - at < BLOCK_HEADER_SIZE) {
        if (trailerError) this.truncatedAt(at, BLOCK_HEADER_SIZE);
        throw new ImageError(this.path, at, `${end - at} stray bytes before the trailer`);
      }
      const hb = this.read(at, BLOCK_HEADER_SIZE);
      let h: BlockHeader;
      try {
        h = stage.blockHeader(hb);
      } catch (e) {
        if (trailerError && e instanceof FormatError && this.looksTruncated(at)) this.truncatedAt(at, BLOCK_HEADER_SIZE);
        this.fail(at, e);
      }
      if (at + h.span > end) {
        if (trailerError) this.truncatedAt(at, h.span);
        throw new ImageError(this.path, at, `${blockKindName(h.kind)} block of ${h.span} bytes runs past the trailer at ${end}`);
      }
      if (h.kind === BlockKind.CHUNK) {
        this.chunks.push({ at, header: h, headerBytes: hb });
      } else {
        this.section(at, h, hb);
      }
      at += h.span;
      blocks++;
    }
    if (trailerError) {
      if (trailerError instanceof FormatError) {
        const detail = this.end ? trailerError.detail : `missing trailer: the image ends without its END block (truncated or still being written)`;
        throw new ImageError(this.path, trailerAt + (this.end ? trailerError.offset : 0), detail);
      }
      throw trailerError;
    }
    if (BigInt(this.size) !== this.trailer.fileSize) {
      throw new ImageError(this.path, trailerAt, `trailer records ${this.trailer.fileSize} bytes but the file has ${this.size}`);
    }
    if (BigInt(blocks) !== this.trailer.blocks) {
      throw new ImageError(this.path, trailerAt, `trailer records ${this.trailer.blocks} blocks but the file has ${blocks}`);
    }
    if (!this.processBody) throw new ImageError(this.path, FILE_HEADER_SIZE, 'no PROCESS block');
    if (!this.end) throw new ImageError(this.path, trailerAt, 'no END block: the checkpoint did not finish');
    if (this.areas.length !== this.process.nAreas) {
      throw new ImageError(this.path, undefined, `AREAS block has ${this.areas.length} areas, PROCESS announced ${this.process.nAreas}`);
    }
    for (const c of this.chunks) {
      const a = this.areas[c.header.area];
      if (!a || c.header.offset + BigInt(c.header.rawLength) > a.end - a.start) {
        throw new ImageError(this.path, c.at, `chunk for area ${c.header.area} at +${c.header.offset} lies outside that area`);
      }
    }
  }

  /** A block header that is all zeros or cut off right where the file ends reads as truncation, not corruption. */
  private looksTruncated(at: number): boolean {
    return at + BLOCK_HEADER_SIZE > this.size - TRAILER_SIZE;
  }

  private truncatedAt(at: number, need: number): never {
    throw new ImageError(this.path, this.size, `truncated at ${this.size} bytes: the block at offset ${at} needs ${need} bytes`);
  }

  private section(at: number, h: BlockHeader, hb: Buffer): void {
    const stage = imageStage();
    const payload = this.read(at + BLOCK_HEADER_SIZE, h.storedLength);
    try {
      stage.verifyStored(hb, payload);
    } catch (e) {
      this.fail(at, e);
    }
    try {
      switch (h.kind) {
        case BlockKind.PROCESS:
          this.processBody = payload;
          this.process = stage.process(payload);
          this.strings = processStrings(this.process);
          break;
        case BlockKind.THREADS:
          this.threadsBody = payload;
          this.threads = stage.threads(payload);
          break;
        case BlockKind.FDS:
          this.fdsBody = payload;
          this.fds = stage.fds(payload);
          break;
        case BlockKind.AREAS:
          this.areas = stage.areas(payload);
          break;
        case BlockKind.META:
          this.meta = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
          break;
        case BlockKind.PLUGIN: {
          const n = payload.readUInt16LE(0);
          this.plugins.set(payload.subarray(2, 2 + n).toString('utf8'), payload.subarray(2 + n));
          break;
        }
        case BlockKind.END:
          this.endBody = payload;
          this.end = {
            dataBytes: payload.readBigUInt64LE(0),
            zeroPages: payload.readBigUInt64LE(8),
            filePages: payload.readBigUInt64LE(16),
            status: payload.readUInt32LE(24),
          };
          break;
        default:
          break;
      }
    } catch (e) {
      if (e instanceof FormatError) this.fail(at + BLOCK_HEADER_SIZE, e);
      if (e instanceof SyntaxError) throw new ImageError(this.path, at + BLOCK_HEADER_SIZE, `META block is not valid JSON: ${e.message}`);
      throw e;
    }
  }

  /** The stored payload of a chunk, read from the file (into a pooled buffer when one is given and large enough). */
  chunkPayload(c: ChunkEntry, pool?: BufferPool): Buffer {
    const len = c.header.storedLength;
    if (!pool || len > pool.size) return this.read(c.at + BLOCK_HEADER_SIZE, len);
    const buf = Buffer.from(pool.take(), 0, len);
    let got = 0;
    while (got < len) {
      const n = fs.readSync(this.fd, buf, got, len - got, c.at + BLOCK_HEADER_SIZE + got);
      if (n === 0) break;
      got += n;
    }
    return got === len ? buf : buf.subarray(0, got);
  }

  /** Codec names by id, from META (the writer records every codec it used). */
  codecNames(): Map<number, string> {
    const names = new Map<number, string>([[0, 'stored']]);
    const m = this.meta.codecs;
    if (m && typeof m === 'object') for (const [k, v] of Object.entries(m)) names.set(Number(k), String(v));
    return names;
  }
}
