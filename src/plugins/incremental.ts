// incremental: images after the first store only the pages whose contents changed since the previous generation
// (dmtcp_launch --incremental, DMTCP_INCREMENTAL=1). The diff stage (Stage.DIFF of encodeChunk) hashes every page of
// a chunk in the worker that stages it and compares the hashes with the previous generation's, kept here, in the
// image service, per process; unchanged runs become PARENT blocks, changed ones are encoded in the same job. The
// previous generation is the last committed one, so a failed checkpoint never becomes a parent. A full image every
// N generations (DMTCP_INCREMENTAL_FULL_EVERY, default 8) keeps chains short.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Stage } from '../pipeline/hooks';
import { BlockFlag } from '../pipeline/image-format';
import type { IncrementalMeta } from '../pipeline/image-chain';
import { PageHashTable } from '../pipeline/page-hashes';
import type { Pipeline, PipelinePlugin } from '../pipeline/pipeline';
import type { CheckpointContext, ChunkWork, CommitContext, WrittenImage } from '../pipeline/types';
import type { DiffResult } from '../pipeline/workers/protocol';
import { PAGE_SIZE } from '../protocol/constants';
import { ChunkError } from './compression';

export const DEFAULT_FULL_EVERY = 8;

/** One committed (or written, not yet committed) image of a process, as the next generation diffs against it. */
interface Generation {
  file: string;
  imageId: string;
  generation: number;
  bytes: number;
  depth: number;
  table: PageHashTable;
}

/** The image being written for one process. */
interface Attempt {
  key: string;
  fullEvery: number;
  imageId: string;
  base?: Generation;
  /** Why there is no base: the image will be full. */
  fullBecause?: string;
  table: PageHashTable;
  storedPages: number;
  parentPages: number;
}

function keyOf(computation: string, workerId: string): string {
  return `${computation}\0${workerId}`;
}

export class IncrementalPlugin implements PipelinePlugin {
  static readonly pluginName = 'IncrementalPlugin';
  /** Per process: the image of the last committed generation and its page hashes. */
  private readonly committed = new Map<string, Generation>();
  /** Per process: the image of the generation in progress, promoted when the coordinator commits it. */
  private readonly pending = new Map<string, Generation & { generationOf: number }>();
  private readonly attempts = new WeakMap<CheckpointContext, Attempt>();

  apply(pipeline: Pipeline): void {
    const name = IncrementalPlugin.pluginName;
    pipeline.hooks.beforeCheckpoint.tap(name, (ctx) => this.begin(ctx));
    pipeline.hooks.encodeChunk.tapPromise({ name, stage: Stage.DIFF }, (chunk, ctx) => this.diff(pipeline, chunk, ctx));
    pipeline.hooks.finishImage.tap(name, (ctx) => this.finish(ctx));
    pipeline.hooks.afterCheckpoint.tap(name, (ctx, image) => this.written(ctx, image));
    pipeline.hooks.afterCommit.tap(name, (commit) => this.commit(commit));
  }

  /** Processes whose previous generation is known (for tests and diagnostics). */
  get tracked(): number {
    return this.committed.size;
  }

  private begin(ctx: CheckpointContext): void {
    const every = ctx.strings.incremental ?? 0;
    if (every <= 0) return;
    const key = keyOf(ctx.strings.computation, ctx.strings.workerId);
    this.pending.delete(key);   // an attempt that was never committed
    const b = this.committed.get(key);
    let fullBecause: string | undefined;
    if (!b) fullBecause = 'first image';
    else if (b.depth + 1 >= every) fullBecause = `a full image every ${every} generations`;
    else if (b.generation >= ctx.process.generation) fullBecause = `generation ${ctx.process.generation} is not after the previous image's ${b.generation}`;
    else if (path.dirname(b.file) !== path.dirname(ctx.imagePath)) fullBecause = 'the checkpoint directory changed';
    else if (fileSize(b.file) !== b.bytes) fullBecause = `the previous image ${path.basename(b.file)} is gone or changed`;
    this.attempts.set(ctx, {
      key,
      fullEvery: every,
      imageId: crypto.randomBytes(8).toString('hex'),
      base: fullBecause ? undefined : b,
      fullBecause,
      table: new PageHashTable(),
      storedPages: 0,
      parentPages: 0,
    });
  }

  /** The diff stage: one worker job hashes the chunk's pages, compares them and encodes the changed runs. */
  private async diff(pipeline: Pipeline, chunk: ChunkWork, ctx: CheckpointContext): Promise<ChunkWork> {
    const a = this.attempts.get(ctx);
    if (!a || chunk.stored || chunk.pieces || !chunk.source || chunk.rawLength % PAGE_SIZE !== 0) return chunk;
    const pool = pipeline.buffers;
    const source = chunk.source;
    const pages = chunk.rawLength / PAGE_SIZE;
    const address = ctx.areas[chunk.area].start + chunk.offset;
    const previous = a.base ? a.base.table.lookup(address, pages) : new ArrayBuffer(0);
    const out = source.length <= pool.size ? pool.take() : new ArrayBuffer(source.length);
    const transfer = source.kind === 'bytes' ? [out, previous, source.data] : [out, previous];
    const c = ctx.codec;
    const r = await pipeline.workers().run({ op: 'diff', codec: { id: c.id, name: c.name, module: c.module, options: { ...c.options } }, source, previous, out }, transfer);
    if (r.op === 'error') {
      for (const buf of r.buffers ?? []) pool.give(buf);
      throw new ChunkError(r.message, r.kind);
    }
    if (r.op !== 'diff') throw new Error('a worker answered a diff job with another result');
    a.table.add(address, r.hashes);
    return { ...chunk, source: null, pieces: this.pieces(a, chunk, r), release: () => {
      pool.give(r.out);
      pool.give(r.data);
    } };
  }

  private pieces(a: Attempt, chunk: ChunkWork, r: DiffResult): ChunkWork[] {
    return r.pieces.map((p): ChunkWork => {
      if (p.parent) a.parentPages += p.length / PAGE_SIZE;
      else a.storedPages += p.length / PAGE_SIZE;
      return {
        area: chunk.area,
        offset: chunk.offset + BigInt(p.offset),
        rawLength: p.length,
        source: null,
        raw: null,
        stored: p.parent ? null : Buffer.from(r.out, p.storedAt, p.storedLength),
        codecId: p.codecId,
        rawChecksum: p.rawChecksum,
        storedChecksum: p.storedChecksum,
        flags: p.parent ? BlockFlag.PARENT : 0,
      };
    });
  }

  private finish(ctx: CheckpointContext): void {
    const a = this.attempts.get(ctx);
    if (!a) return;
    const b = a.parentPages > 0 ? a.base : undefined;
    const meta: IncrementalMeta = {
      imageId: a.imageId,
      fullEvery: a.fullEvery,
      depth: b ? b.depth + 1 : 0,
      parent: b ? { file: path.basename(b.file), imageId: b.imageId, generation: b.generation, bytes: b.bytes } : null,
      storedPages: a.storedPages,
      parentPages: a.parentPages,
      ...(b ? {} : { full: a.fullBecause ?? 'every page changed' }),
    };
    ctx.meta.incremental = meta;
  }

  private written(ctx: CheckpointContext, image: WrittenImage): void {
    const a = this.attempts.get(ctx);
    if (!a) return;
    const meta = ctx.meta.incremental as IncrementalMeta;
    this.pending.set(a.key, {
      file: image.finalPath, imageId: a.imageId, generation: image.generation, bytes: image.bytes, depth: meta.depth,
      table: a.table, generationOf: image.generation,
    });
  }

  /** The generation is final: its images are what the next one diffs against. Every running process takes part in
   *  every checkpoint, so a process without an image in it is gone and is forgotten. */
  private commit(commit: CommitContext): void {
    const next = new Map<string, Generation>();
    for (const img of commit.images) {
      const key = keyOf(commit.computation, img.workerId);
      const p = this.pending.get(key);
      if (p && p.generationOf === commit.generation && p.file === img.finalPath) next.set(key, p);
    }
    this.committed.clear();
    for (const [key, g] of next) this.committed.set(key, g);
    this.pending.clear();
  }
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return -1;
  }
}
