// The image service: a unix socket where checkpointing processes stream themselves. Each connection becomes one
// ImageWriter; finished images wait under temporary names until the coordinator commits or aborts their generation.
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { MODE_PULL, MODE_PUSH, PROT_READ, Backing } from '../protocol/constants';
import { processVmRead } from '../native/addon';
import { RawStreamReader } from './raw-stream';
import type { AreaRecord } from './wasm/image-module';
import { ImageWriter, type ImageWriterOptions } from './image-writer';
import type { Pipeline } from './pipeline';
import type { CommitContext, WrittenImage } from './types';

export interface ImageServiceOptions extends Omit<ImageWriterOptions, 'onPressure'> {
  socketPath: string;
  log?: (msg: string) => void;
}

export class ImageService {
  private server?: net.Server;
  private readonly pending = new Map<number, WrittenImage[]>();
  private readonly active = new Set<ImageWriter>();

  constructor(private readonly pipeline: Pipeline, private readonly opts: ImageServiceOptions) {}

  get socketPath(): string {
    return this.opts.socketPath;
  }

  async listen(): Promise<void> {
    await fsp.mkdir(path.dirname(this.opts.socketPath), { recursive: true, mode: 0o700 });
    await fsp.rm(this.opts.socketPath, { force: true });
    // allowHalfOpen: the process shuts down its side after END and waits for our one-line verdict.
    this.server = net.createServer({ allowHalfOpen: true }, (sock) => this.accept(sock));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.opts.socketPath, () => {
        this.server!.off('error', reject);
        resolve();
      });
    });
    fs.chmodSync(this.opts.socketPath, 0o600);
  }

  private accept(sock: net.Socket): void {
    const writer = new ImageWriter(this.pipeline, {
      ...this.opts,
      onPressure: (pause) => (pause ? sock.pause() : sock.resume()),
      onNegotiate: (pid, areas) => sock.write(Buffer.from([this.canRead(pid, areas) ? MODE_PULL : MODE_PUSH])),
    });
    this.active.add(writer);
    const reader = new RawStreamReader(writer);
    let ended = false;
    sock.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (e) {
        writer.abort((e as Error).message);
      }
    });
    sock.on('end', () => {
      ended = true;
      if (!reader.finished) writer.abort(`the stream ended after ${reader.offset} bytes, before its END record (the process died or was killed)`);
    });
    sock.on('error', (e) => writer.abort(`the stream broke: ${e.message}`));
    sock.on('close', () => {
      if (!ended && !reader.finished) writer.abort('the process closed its stream before the END record');
    });
    writer.done.then(
      (img) => {
        const list = this.pending.get(img.generation) ?? [];
        list.push(img);
        this.pending.set(img.generation, list);
        if (!sock.destroyed) sock.end(`OK ${img.bytes} ${img.finalPath}\n`);
      },
      (e: Error) => {
        this.opts.log?.(`image not written: ${e.message}`);
        if (!sock.destroyed) sock.end(`ERR ${e.message.replace(/\n/g, ' ')}\n`);
      },
    ).finally(() => this.active.delete(writer));
  }

  /** Whether this process may read the checkpointing process's memory directly (same user, ptrace allowed, and the
   *  DMTCP_PULL switch not turned off): tried on one page of a readable area. */
  private canRead(pid: number, areas: AreaRecord[]): boolean {
    if (process.env.DMTCP_PULL === '0') return false;
    const probe = areas.find((a) => a.backing !== Backing.NONE && (a.prot & PROT_READ) !== 0);
    if (!probe) return false;
    try {
      processVmRead(pid, probe.start, Buffer.alloc(64));
      return true;
    } catch {
      return false;
    }
  }

  /** Images of `generation` written so far, still under their temporary names. */
  written(generation: number): readonly WrittenImage[] {
    return this.pending.get(generation) ?? [];
  }

  /** Waits until every stream in progress has settled. */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.active].map((w) => w.done));
  }

  /** Renames every image of the generation into place (after all processes finished), then runs afterCommit. */
  async commit(generation: number, base: Omit<CommitContext, 'images' | 'generation' | 'removed'>): Promise<CommitContext> {
    await this.settle();
    const images = this.pending.get(generation) ?? [];
    this.pending.delete(generation);
    const commit: CommitContext = { ...base, generation, images, removed: [] };
    await this.pipeline.hooks.beforeCommit.promise(commit);
    const dirs = new Set<string>();
    const retired: string[] = [];
    for (const img of images) {
      // The image being replaced keeps a second name until the new one is in place, so the rename does not free its
      // blocks (for a large image, many milliseconds with the program still frozen); it is deleted afterwards.
      const old = `${img.tempPath}-old`;
      if (await fsp.link(img.finalPath, old).then(() => true, () => false)) retired.push(old);
      await fsp.rename(img.tempPath, img.finalPath);
      dirs.add(path.dirname(img.finalPath));
    }
    for (const dir of dirs) await syncDir(dir);
    for (const img of images) await removeStaleTemps(img.finalPath);
    await this.pipeline.hooks.afterCommit.promise(commit);
    if (retired.length) setImmediate(() => void Promise.all(retired.map((f) => fsp.unlink(f).catch(() => undefined))));
    return commit;
  }

  /** Drops every image of the generation: the checkpoint failed, the previous images stay as they were. */
  async abort(generation: number): Promise<void> {
    await this.settle();
    const images = this.pending.get(generation) ?? [];
    this.pending.delete(generation);
    await Promise.all(images.map((img) => fsp.unlink(img.tempPath).catch(() => undefined)));
  }

  async close(): Promise<void> {
    for (const w of this.active) w.abort('the coordinator is shutting down');
    await this.settle();
    for (const gen of [...this.pending.keys()]) await this.abort(gen);
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    await fsp.rm(this.opts.socketPath, { force: true });
  }
}

/** Temporary images left by a writer that died (a killed coordinator): `<final>.tmp-<pid>-<rand>` whose pid is gone. */
async function removeStaleTemps(finalPath: string): Promise<void> {
  const dir = path.dirname(finalPath);
  const prefix = `${path.basename(finalPath)}.tmp-`;
  for (const name of await fsp.readdir(dir)) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || isAlive(pid)) continue;
    await fsp.unlink(path.join(dir, name)).catch(() => undefined);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
