// The file an image is written into: appended in order, flushed durably at the end. Small images go through the page
// cache; past DIRECT_AFTER bytes the rest is staged in aligned memory and written with O_DIRECT, so a large image
// costs no page-cache copy and leaves no gigabyte of dirty pages for writeback to chase (on a VM, fresh page-cache
// pages can cost more than the disk itself). Where the file system refuses O_DIRECT it stays buffered throughout.
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { alignedBuffer } from '../native/addon';

/** Alignment for O_DIRECT offsets, lengths and memory (the largest logical block size in common use). */
export const ALIGN = 4096;
/** Bytes written through the page cache before switching to direct writes (readers use it as a hint too). */
export const DIRECT_AFTER = 8 << 20;
/** Size of each of the two staging buffers for direct writes. */
const STAGE_BYTES = 4 << 20;
/** In buffered mode, flush in the background every this many bytes, so the final fsync finds little left. */
const SYNC_EVERY = 64 << 20;

function directWanted(): boolean {
  return process.env.DMTCP_DIRECT_IO !== '0' && typeof fs.constants.O_DIRECT === 'number';
}

/** Opens `path` read-only with O_DIRECT; -1 when DMTCP_DIRECT_IO=0 or the file system refuses it. */
export function openDirectForReading(path: string): number {
  if (!directWanted()) return -1;
  try {
    return fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_DIRECT);
  } catch {
    return -1;
  }
}

interface Stage {
  buf: Uint8Array;
  fill: number;
}

export class ImageFile {
  /** Bytes appended so far (the end of the file once everything is flushed). */
  position = 0;
  private direct?: fsp.FileHandle;
  /** Staging buffers, once appends go through them (written with O_DIRECT while the file system accepts it). */
  private stages: Stage[] = [];
  /** File offset of the first byte of stages[0] (always aligned in direct mode). */
  private stagePos = 0;
  private inflight?: Promise<void>;
  private unsynced = 0;
  private syncing?: Promise<void>;
  private directOff = !directWanted();
  private directWrites = 0;

  private constructor(readonly path: string, private readonly handle: fsp.FileHandle, private readonly durable: boolean) {}

  /** Whether appends went through the O_DIRECT staging buffers (large durable files where the file system allows). */
  get usedDirect(): boolean {
    return this.directWrites > 0;
  }

  /** Creates `path` (which must not exist), readable and writable by the owner only. */
  static async create(path: string, durable: boolean): Promise<ImageFile> {
    return new ImageFile(path, await fsp.open(path, 'wx', 0o600), durable);
  }

  /** Appends `parts` in order. One append at a time: the caller awaits each before the next. */
  async append(parts: Uint8Array[]): Promise<void> {
    if (this.stages.length === 0 && !this.directOff && this.durable && this.position + total(parts) > DIRECT_AFTER) {
      parts = await this.bufferedUntilAligned(parts);
      if (parts.length) await this.goDirect();
    }
    if (this.stages.length === 0) return this.appendBuffered(parts);
    for (const part of parts) {
      let from = 0;
      while (from < part.length) {
        const cur = this.stages[0];
        const n = Math.min(part.length - from, cur.buf.length - cur.fill);
        cur.buf.set(part.subarray(from, from + n), cur.fill);
        cur.fill += n;
        from += n;
        this.position += n;
        if (cur.fill === cur.buf.length) await this.flushStage();
      }
    }
  }

  /** Writes `buf` at `pos` inside what is already written (a header rewritten at the end); only after finish(). */
  async writeAt(buf: Uint8Array, pos: number): Promise<void> {
    await this.handle.write(buf, 0, buf.length, pos);
  }

  /** Writes out everything staged (the unaligned tail through the page cache) and, when durable, syncs the file. */
  async finish(): Promise<void> {
    if (this.stages.length > 0) {
      await this.inflight;
      const cur = this.stages[0];
      const aligned = cur.fill - (cur.fill % ALIGN);
      if (aligned) await this.directWrite(cur.buf.subarray(0, aligned), this.stagePos);
      if (cur.fill > aligned) await this.handle.write(cur.buf, aligned, cur.fill - aligned, this.stagePos + aligned);
      this.stagePos += cur.fill;
      cur.fill = 0;
    }
    await this.syncing;
    if (this.durable) await this.handle.sync();
  }

  /** Flushes the file to disk again (after a writeAt). */
  async sync(): Promise<void> {
    await this.handle.sync();
  }

  /** Closes the file (after finish(), or to abandon it). */
  async close(): Promise<void> {
    await this.inflight?.catch(() => undefined);
    await this.syncing;
    await this.direct?.close().catch(() => undefined);
    this.direct = undefined;
    await this.handle.close();
  }

  private async appendBuffered(parts: Uint8Array[]): Promise<void> {
    const n = total(parts);
    await this.handle.writev(parts, this.position);
    this.position += n;
    if (!this.durable) return;
    this.unsynced += n;
    if (this.unsynced < SYNC_EVERY || this.syncing) return;
    this.unsynced = 0;
    this.syncing = this.handle.datasync().catch(() => undefined).finally(() => (this.syncing = undefined));
  }

  /** Writes, through the page cache, the leading parts up to the next aligned offset; returns the rest. */
  private async bufferedUntilAligned(parts: Uint8Array[]): Promise<Uint8Array[]> {
    let want = (ALIGN - (this.position % ALIGN)) % ALIGN;
    const head: Uint8Array[] = [];
    let i = 0;
    for (; i < parts.length && want > 0; i++) {
      if (parts[i].length <= want) {
        head.push(parts[i]);
        want -= parts[i].length;
        continue;
      }
      head.push(parts[i].subarray(0, want));
      const rest = [parts[i].subarray(want), ...parts.slice(i + 1)];
      await this.appendBuffered(head);
      return rest;
    }
    if (head.length) await this.appendBuffered(head);
    return parts.slice(i);
  }

  /** Opens the second, O_DIRECT descriptor; stays buffered if the file system refuses it. */
  private async goDirect(): Promise<void> {
    const { O_WRONLY, O_DIRECT } = fs.constants;
    try {
      this.direct = await fsp.open(this.path, O_WRONLY | O_DIRECT);
    } catch {
      this.directOff = true;
      return;
    }
    this.stages = [0, 1].map(() => ({ buf: new Uint8Array(alignedBuffer(STAGE_BYTES, ALIGN)), fill: 0 }));
    this.stagePos = this.position;
  }

  /** Starts writing the full stage and switches to the other one (waiting for its previous write first). */
  private async flushStage(): Promise<void> {
    await this.inflight;
    const [full, next] = this.stages;
    const at = this.stagePos;
    this.inflight = this.directWrite(full.buf, at).then(() => {
      full.fill = 0;
    });
    this.inflight.catch(() => undefined);
    this.stagePos += full.buf.length;
    this.stages = [next, full];
  }

  private async directWrite(buf: Uint8Array, at: number): Promise<void> {
    if (!this.direct) {
      await this.handle.write(buf, 0, buf.length, at);
      return;
    }
    try {
      let done = 0;
      while (done < buf.length) {
        const { bytesWritten } = await this.direct.write(buf, done, buf.length - done, at + done);
        if (bytesWritten <= 0) throw new Error(`short write to ${this.path}`);
        done += bytesWritten;
      }
      this.directWrites++;
    } catch (e) {
      // Some file systems open with O_DIRECT but refuse the write: go on through the page cache.
      if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
      await this.direct.close().catch(() => undefined);
      this.direct = undefined;
      await this.handle.write(buf, 0, buf.length, at);
    }
  }
}

function total(parts: Uint8Array[]): number {
  return parts.reduce((s, p) => s + p.length, 0);
}
