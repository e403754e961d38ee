// Turns one raw process stream into a .dmtcp image: sections first, then chunks encoded in parallel by the pipeline's
// workers but written in stream order, then META, END and the trailer; all under a temporary name.
import * as crypto from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { Rec, RecSize, STREAM_F_NEGOTIATE } from '../protocol/constants';
import { BlockFlag, BlockKind, CHUNK_SIZE, FileFlag, MAX_CHUNK_RAW, align8 } from './image-format';
import { imageStage, type AreaRecord, type ProcessRecord } from './wasm/image-module';
import { parsePages, type PagesRecord, type RawStreamSink } from './raw-stream';
import { ImageFile } from './image-file';
import { imagePathFor, processStrings } from './process-info';
import type { Pipeline } from './pipeline';
import type { CheckpointContext, ChunkSource, ChunkWork, WrittenImage } from './types';

/** At most this many buffers in one writev (IOV_MAX is 1024). */
const WRITE_BATCH_PARTS = 512;
const PADDING = Buffer.alloc(8);

export const WRITER_VERSION = 'dmtcp-ts 0.1.0';

export interface ImageWriterOptions {
  /** Directory for images of processes that named none (the coordinator's --ckptdir). */
  defaultCkptDir?: string;
  /** Codec name when the process asked for none ("" = the pipeline's default). */
  defaultCodec?: string;
  /** Bytes of chunk data allowed in flight before the caller should pause its input. */
  highWater?: number;
  /** Called with true when input should pause and false when it may resume. */
  onPressure?: (pause: boolean) => void;
  /** Write the image durably (fsync) before reporting it complete. Default true. */
  fsync?: boolean;
  /** A negotiating stream reached its last AREA record: answer its transfer mode (the service tests whether it can
   *  read the process's memory). */
  onNegotiate?: (pid: number, areas: AreaRecord[]) => void;
}

/** Bytes to append, in order, and what to give back once they are written. */
interface Output {
  parts: Buffer[];
  bytes: number;
  release?: () => void;
}

/** One image being written. Feed it as a RawStreamSink; `done` settles with the image or the reason it failed. */
export class ImageWriter implements RawStreamSink {
  readonly done: Promise<WrittenImage>;
  private resolveDone!: (img: WrittenImage) => void;
  private rejectDone!: (e: Error) => void;

  private process?: ProcessRecord;
  private processBody?: Buffer;
  private readonly threadBodies: Buffer[] = [];
  private readonly fdBodies: Buffer[] = [];
  private readonly areaBodies: Buffer[] = [];
  private readonly areas: AreaRecord[] = [];
  private ctx?: CheckpointContext;
  private ready?: Promise<CheckpointContext>;

  private file?: ImageFile;
  private tempPath = '';
  private blocks = 0;
  private createdNs = 0n;
  /** PARENT blocks written: the image is incremental (its header says so, its META must name the parent). */
  private parentBlocks = 0;
  /** Output in stream order: each entry resolves to the bytes to append. */
  private readonly output: Promise<Output>[] = [];
  /** Outputs whose promise has settled successfully, so the pump can take several in one write. */
  private readonly settled = new WeakMap<Promise<Output>, Output>();
  private negotiating = false;
  private writing?: Promise<void>;
  private failed?: Error;

  private current?: { pages: PagesRecord; buf: ArrayBuffer; fill: number; chunkStart: number };
  private inflightBytes = 0;
  /** Chunks queued in file order, not yet handed to the encoder. */
  private readonly waiting: { bytes: number; start: () => void; cancel: (e: Error) => void }[] = [];
  private paused = false;
  private readonly highWater: number;

  private readonly unsubscribe: () => void;

  constructor(private readonly pipeline: Pipeline, private readonly opts: ImageWriterOptions = {}) {
    this.highWater = opts.highWater ?? 8 * CHUNK_SIZE * Math.max(1, pipeline.workers().size);
    this.unsubscribe = pipeline.budget.subscribe(() => this.startWaiting());
    this.done = new Promise((res, rej) => {
      this.resolveDone = res;
      this.rejectDone = rej;
    });
    this.done.catch(() => undefined);
  }

  // ---- RawStreamSink ----

  header(flags: number): void {
    this.negotiating = (flags & STREAM_F_NEGOTIATE) !== 0;
  }

  record(type: number, body: Buffer): void {
    if (this.failed) return;
    try {
      switch (type) {
        case Rec.PROCESS:
          if (this.process) throw new Error('second PROCESS record');
          this.processBody = Buffer.from(body);
          this.process = imageStage().process(body);
          break;
        case Rec.THREAD:
          this.threadBodies.push(Buffer.from(body.subarray(0, RecSize.thread)));
          break;
        case Rec.FD:
          this.fdBodies.push(Buffer.from(body));
          break;
        case Rec.AREA:
          this.addArea(body);
          break;
        case Rec.ZERO:
          this.zeroRange(parsePages(body));
          break;
        case Rec.PULL:
          this.pullRange(parsePages(body));
          break;
        case Rec.END:
          this.finish(Buffer.from(body));
          break;
        case Rec.ERROR:
          throw new Error(`the process reported: ${body.toString('utf8').replace(/\0+$/, '')}`);
        default:
          break;
      }
    } catch (e) {
      this.fail(e as Error);
    }
  }

  dataStart(pages: PagesRecord): void {
    if (this.failed) return;
    if (!this.process || this.areas.length !== this.process.nAreas) {
      this.fail(new Error('DATA before the area list was complete'));
      return;
    }
    this.checkRange(pages);
    this.current = { pages, buf: this.pipeline.buffers.take(), fill: 0, chunkStart: 0 };
  }

  data(bytes: Buffer): void {
    const cur = this.current;
    if (this.failed || !cur) return;
    let src = bytes;
    while (src.length) {
      const want = Math.min(CHUNK_SIZE, cur.pages.length - cur.chunkStart);
      const n = Math.min(want - cur.fill, src.length);
      new Uint8Array(cur.buf, cur.fill, n).set(src.subarray(0, n));
      cur.fill += n;
      src = src.subarray(n);
      if (cur.fill === want) {
        this.submitChunk(cur.pages.area, cur.pages.offset + BigInt(cur.chunkStart), { kind: 'bytes', data: cur.buf, length: want });
        cur.chunkStart += want;
        cur.buf = cur.chunkStart < cur.pages.length ? this.pipeline.buffers.take() : new ArrayBuffer(0);
        cur.fill = 0;
      }
    }
  }

  dataEnd(): void {
    this.current = undefined;
  }

  /** The input ended without an END record, or broke: the image is abandoned. */
  abort(reason: string): void {
    this.fail(new Error(reason));
  }

  // ---- internals ----

  private addArea(body: Buffer): void {
    if (this.areas.length === 0 && process.env.DMTCP_TRACE) process.stderr.write(`[trace ${Date.now() % 100000}] first AREA\n`);
    if (!this.process) throw new Error('AREA before PROCESS');
    const { area, consumed } = imageStage().area(body);
    this.areas.push(area);
    this.areaBodies.push(Buffer.from(body.subarray(0, align8(Math.max(consumed, 80)))));
    if (this.areas.length === this.process.nAreas) {
      this.begin();
      if (this.negotiating) this.opts.onNegotiate?.(this.process.pid, this.areas);
    }
    else if (this.areas.length > this.process.nAreas) throw new Error('more AREA records than PROCESS announced');
  }

  private checkRange(p: PagesRecord): void {
    const a = this.areas[p.area];
    if (!a) throw new Error(`page record for unknown area ${p.area}`);
    if (p.offset + BigInt(p.length) > a.end - a.start) throw new Error(`page record beyond the end of area ${p.area}`);
  }

  /** Everything about the process is known: settle names and codec, open the file, queue the sections. */
  private begin(): void {
    const process = this.process!;
    const strings = processStrings(process);
    const ckptDir = strings.ckptDir || this.opts.defaultCkptDir || strings.cwd || '.';
    this.ready = (async () => {
      const ctx: CheckpointContext = {
        process,
        strings,
        threads: imageStage().threads(Buffer.concat(this.threadBodies)),
        areas: this.areas,
        codec: undefined as never,
        ckptDir,
        imagePath: '',
        sections: new Map(),
        meta: {},
        stats: { chunks: 0, rawBytes: 0, storedBytes: 0, zeroChunks: 0, zeroPages: 0, filePages: 0, startedAt: Date.now() },
      };
      const wanted = strings.codec || this.opts.defaultCodec || '';
      const codec = this.pipeline.hooks.selectCodec.call(wanted, ctx);
      if (!codec) throw new Error(`no codec plugin provides "${wanted}"; install it and pass --plugin, or choose another with --codec`);
      ctx.codec = codec;
      ctx.imagePath = this.pipeline.hooks.imagePath.call(imagePathFor(ckptDir, strings.program, strings.workerId), ctx);
      await this.pipeline.hooks.beforeCheckpoint.promise(ctx);
      await fsp.mkdir(path.dirname(ctx.imagePath), { recursive: true });
      this.tempPath = `${ctx.imagePath}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
      const file = await ImageFile.create(this.tempPath, this.opts.fsync !== false);
      if (this.failed) {
        await file.close();
        await fsp.unlink(this.tempPath).catch(() => undefined);
        throw this.failed;
      }
      this.file = file;
      this.ctx = ctx;
      return ctx;
    })();
    this.ready.catch((e) => this.fail(e));
    const stage = imageStage();
    this.createdNs = BigInt(Date.now()) * 1_000_000n;
    this.emit([stage.encodeFileHeader(0, process.generation, this.createdNs)]);
    this.emitSection(BlockKind.PROCESS, this.processBody!);
    this.emitSection(BlockKind.THREADS, Buffer.concat(this.threadBodies));
    if (this.fdBodies.length) this.emitSection(BlockKind.FDS, Buffer.concat(this.fdBodies));
    this.emitSection(BlockKind.AREAS, Buffer.concat(this.areaBodies));
  }

  private emitSection(kind: number, payload: Buffer): void {
    this.blocks++;
    this.emit([imageStage().encodeSection(kind, payload)]);
  }

  private emit(parts: Buffer[] | Promise<Output>): void {
    if (Array.isArray(parts)) {
      const out: Output = { parts, bytes: 0 };
      const p = Promise.resolve(out);
      this.settled.set(p, out);
      this.output.push(p);
    } else {
      parts.then((out) => this.settled.set(parts, out), () => undefined);
      this.output.push(parts);
    }
    this.pump();
  }

  private zeroRange(p: PagesRecord): void {
    this.checkRange(p);
    for (let done = 0; done < p.length; done += MAX_CHUNK_RAW) {
      const len = Math.min(MAX_CHUNK_RAW, p.length - done);
      this.blocks++;
      this.emit([
        imageStage().encodeBlockHeader({
          kind: BlockKind.CHUNK, codec: 0, flags: BlockFlag.ZERO, area: p.area, rawLength: len,
          offset: p.offset + BigInt(done), rawChecksum: 0n, storedChecksum: 0n, storedLength: 0,
        }),
      ]);
      if (this.ctx) this.ctx.stats.zeroChunks++;
    }
  }

  /** Page runs the process left for us to read: cut into chunks that workers read with process_vm_readv. */
  private pullRange(p: PagesRecord): void {
    this.checkRange(p);
    const base = this.areas[p.area].start + p.offset;
    for (let done = 0; done < p.length; done += CHUNK_SIZE) {
      const length = Math.min(CHUNK_SIZE, p.length - done);
      this.submitChunk(p.area, p.offset + BigInt(done), { kind: 'pull', pid: this.process!.pid, address: base + BigInt(done), length });
    }
  }

  /** Queues a chunk; its place in the file is fixed now, its encoding starts when in-flight bytes allow. */
  private submitChunk(area: number, offset: bigint, source: ChunkSource): void {
    this.blocks++;
    let start!: () => void;
    let cancel!: (e: Error) => void;
    const slot = new Promise<Output>((resolve, reject) => {
      start = () => this.encode(area, offset, source).then(resolve, reject);
      cancel = reject;
    });
    slot.catch(() => undefined);
    this.waiting.push({ bytes: source.length, start, cancel });
    this.emit(slot);
    this.startWaiting();
  }

  /** Starts queued chunks while the bytes in flight (encoding or not yet written) stay under the high-water mark. */
  private startWaiting(): void {
    while (this.waiting.length && (this.inflightBytes < this.highWater || this.inflightBytes === 0)) {
      if (!this.pipeline.budget.tryTake(this.waiting[0].bytes)) break;   // other images have the buffers for now
      const next = this.waiting.shift()!;
      this.inflightBytes += next.bytes;
      next.start();
    }
    this.pressure();
  }

  private async encode(area: number, offset: bigint, source: ChunkSource): Promise<Output> {
    const rawLength = source.length;
    try {
      const ctx = await this.ready!;
      const chunk: ChunkWork = {
        area, offset, rawLength, source, raw: null, stored: null, codecId: 0, rawChecksum: 0n, storedChecksum: 0n, flags: 0,
      };
      const out = await this.pipeline.hooks.encodeChunk.promise(chunk, ctx);
      if (out.pieces) return this.framePieces(ctx, chunk, out);
      if (!out.stored) throw new Error(`no stage encoded the chunk of area ${area} at +0x${offset.toString(16)}`);
      return { parts: this.frame(ctx, out), bytes: rawLength, release: out.release };
    } catch (e) {
      this.inflightBytes -= rawLength;
      this.pipeline.budget.give(rawLength);
      this.startWaiting();
      throw e;
    }
  }

  /** The block of one encoded chunk: header, payload, padding. */
  private frame(ctx: CheckpointContext, c: ChunkWork): Buffer[] {
    const payload = c.stored!;
    ctx.stats.chunks++;
    ctx.stats.rawBytes += c.rawLength;
    ctx.stats.storedBytes += payload.length;
    const header = imageStage().encodeBlockHeader({
      kind: BlockKind.CHUNK, codec: c.codecId, flags: c.flags, area: c.area, rawLength: c.rawLength,
      offset: c.offset, rawChecksum: c.rawChecksum, storedChecksum: c.storedChecksum, storedLength: payload.length,
    });
    const pad = align8(payload.length) - payload.length;
    return pad ? [header, payload, PADDING.subarray(0, pad)] : [header, payload];
  }

  /** A chunk the diff stage split: its pieces, in order, must cover it exactly; each is a block of its own. */
  private framePieces(ctx: CheckpointContext, chunk: ChunkWork, out: ChunkWork): Output {
    const pieces = out.pieces!;
    const release = () => {
      for (const p of pieces) p.release?.();
      out.release?.();
    };
    try {
      const parts: Buffer[] = [];
      let at = chunk.offset;
      for (const p of pieces) {
        if (p.area !== chunk.area || p.offset !== at || p.rawLength <= 0) {
          throw new Error(`the diff stage split the chunk of area ${chunk.area} at +0x${chunk.offset.toString(16)} into pieces that do not cover it`);
        }
        at += BigInt(p.rawLength);
        if (p.flags & BlockFlag.PARENT) {
          parts.push(imageStage().encodeBlockHeader({
            kind: BlockKind.CHUNK, codec: 0, flags: BlockFlag.PARENT, area: p.area, rawLength: p.rawLength,
            offset: p.offset, rawChecksum: p.rawChecksum, storedChecksum: 0n, storedLength: 0,
          }));
          this.parentBlocks++;
          ctx.stats.parentBlocks = (ctx.stats.parentBlocks ?? 0) + 1;
          ctx.stats.parentBytes = (ctx.stats.parentBytes ?? 0) + p.rawLength;
        } else {
          if (!p.stored) throw new Error(`no stage encoded the piece of area ${p.area} at +0x${p.offset.toString(16)}`);
          parts.push(...this.frame(ctx, p));
        }
      }
      if (at !== chunk.offset + BigInt(chunk.rawLength)) {
        throw new Error(`the diff stage split the chunk of area ${chunk.area} at +0x${chunk.offset.toString(16)} into pieces that do not cover it`);
      }
      this.blocks += pieces.length - 1;   // the chunk's one block, counted when it was queued, became these
      return { parts, bytes: chunk.rawLength, release };
    } catch (e) {
      release();
      throw e;
    }
  }

  /** Input should pause while encoding lags: chunks wait, or bytes in flight exceed the high-water mark. */
  private pressure(): void {
    const over = this.waiting.length > 0 || this.inflightBytes > this.highWater;
    if (over !== this.paused) {
      this.paused = over;
      this.opts.onPressure?.(over);
    }
  }

  /** Appends queued output to the file in order, one write at a time; a chunk's bytes count as in flight (and its
   *  buffers stay lent) until they are written. */
  private pump(): void {
    if (this.writing) return;
    this.writing = (async () => {
      while (this.output.length && !this.failed) {
        // The next output in file order, then every one after it that is already done: one write for all of them
        // (small areas make many small chunks; a write each would cost more than encoding them).
        const batch = [await this.output.shift()!];
        let parts = batch[0].parts.length;
        while (this.output.length && parts < WRITE_BATCH_PARTS) {
          const ready = this.settled.get(this.output[0]);
          if (!ready) break;
          this.output.shift();
          batch.push(ready);
          parts += ready.parts.length;
        }
        try {
          if (!this.file) await this.ready;
          if (this.failed) break;
          await this.file!.append(batch.flatMap((o) => o.parts));
        } finally {
          let freed = 0;
          for (const out of batch) {
            out.release?.();
            freed += out.bytes;
          }
          if (freed) {
            this.inflightBytes -= freed;
            this.pipeline.budget.give(freed);
            this.startWaiting();
          }
        }
      }
    })()
      .catch((e) => this.fail(e))
      .finally(() => {
        this.writing = undefined;
        if (this.output.length && !this.failed) this.pump();
      });
  }

  private finish(endBody: Buffer): void {
    const trace = process.env.DMTCP_TRACE ? (m: string) => process.stderr.write(`[trace ${Date.now() % 100000}] ${m}\n`) : () => undefined;
    trace('END received');
    (async () => {
      if (!this.ready) throw new Error('END before the area list was complete');
      const ctx = await this.ready;
      while (this.output.length || this.writing) {
        if (this.writing) await this.writing;
        else this.pump();
      }
      if (this.failed) throw this.failed;
      ctx.stats.zeroPages = Number(endBody.readBigUInt64LE(8));
      ctx.stats.filePages = Number(endBody.readBigUInt64LE(16));
      trace('all chunks written');
      await this.pipeline.hooks.finishImage.promise(ctx);
      const stage = imageStage();
      const tail: Buffer[] = [];
      for (const [name, bytes] of ctx.sections) {
        const nameBuf = Buffer.from(name, 'utf8');
        const head = Buffer.alloc(2);
        head.writeUInt16LE(nameBuf.length);
        tail.push(stage.encodeSection(BlockKind.PLUGIN, Buffer.concat([head, nameBuf, bytes])));
      }
      const meta = this.meta(ctx);
      if (this.parentBlocks && !parentNamed(meta)) throw new Error('the image has PARENT blocks but its META names no parent image');
      tail.push(stage.encodeSection(BlockKind.META, Buffer.from(JSON.stringify(meta), 'utf8')));
      tail.push(stage.encodeSection(BlockKind.END, endBody));
      this.blocks += tail.length;
      const size = this.file!.position + tail.reduce((s, b) => s + b.length, 0) + 32;
      tail.push(stage.encodeTrailer(this.blocks, size));
      await this.file!.append(tail);
      await this.file!.finish();
      // Whether the image depends on a parent is known only now: the header written first says so afterwards.
      if (this.parentBlocks) {
        await this.file!.writeAt(stage.encodeFileHeader(FileFlag.INCREMENTAL, ctx.process.generation, this.createdNs), 0);
        if (this.opts.fsync !== false) await this.file!.sync();
      }
      trace('fsync done');
      await this.file!.close();
      this.file = undefined;
      const image: WrittenImage = {
        tempPath: this.tempPath,
        finalPath: ctx.imagePath,
        bytes: size,
        workerId: ctx.strings.workerId,
        generation: ctx.process.generation,
        program: ctx.strings.program,
        pid: ctx.process.pid,
        host: ctx.strings.host,
      };
      this.unsubscribe();
      await this.pipeline.hooks.afterCheckpoint.promise(ctx, image);
      this.resolveDone(image);
    })().catch((e) => this.fail(e));
  }

  private meta(ctx: CheckpointContext): Record<string, unknown> {
    const s = ctx.strings;
    return {
      writer: WRITER_VERSION,
      codec: ctx.codec.name,
      codecs: { 0: 'stored', [ctx.codec.id]: ctx.codec.name },
      generation: ctx.process.generation,
      computation: s.computation,
      workerId: s.workerId,
      program: s.program,
      exe: s.exe,
      host: s.host,
      pid: ctx.process.pid,
      argv: s.argv,
      cwd: s.cwd,
      plugins: this.pipeline.plugins,
      stats: {
        chunks: ctx.stats.chunks,
        zeroChunks: ctx.stats.zeroChunks,
        rawBytes: ctx.stats.rawBytes,
        storedBytes: ctx.stats.storedBytes,
        zeroPages: ctx.stats.zeroPages,
        filePages: ctx.stats.filePages,
        ...(ctx.stats.parentBlocks ? { parentBlocks: ctx.stats.parentBlocks, parentBytes: ctx.stats.parentBytes } : {}),
        writeMs: Date.now() - ctx.stats.startedAt,
      },
      ...ctx.meta,
    };
  }

  private fail(e: Error): void {
    if (this.failed) return;
    this.failed = e;
    this.current = undefined;
    for (const w of this.waiting.splice(0)) w.cancel(e);   // queued chunks will never be encoded
    const file = this.file;
    this.file = undefined;
    (async () => {
      await this.writing?.catch(() => undefined);
      // Chunks already started will never be written: their buffers and their share of the budget go back.
      let freed = 0;
      for (const o of await Promise.allSettled(this.output.splice(0))) {
        if (o.status !== 'fulfilled') continue;
        o.value.release?.();
        freed += o.value.bytes;
      }
      if (freed) {
        this.inflightBytes -= freed;
        this.pipeline.budget.give(freed);
      }
      this.unsubscribe();
      await file?.close().catch(() => undefined);
      if (this.tempPath) await fsp.unlink(this.tempPath).catch(() => undefined);
    })().finally(() => this.rejectDone(e));
  }
}

/** Whether META names the parent image an incremental image needs (docs/IMAGE-FORMAT.md, "Incremental images"). */
function parentNamed(meta: Record<string, unknown>): boolean {
  const inc = meta.incremental as { parent?: { file?: unknown } | null } | undefined;
  return typeof inc?.parent?.file === 'string';
}
