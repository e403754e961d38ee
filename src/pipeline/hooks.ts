// Every hook of the image pipeline, declared once, typed and frozen. Plugins (src/plugins/) tap them; nothing else
// creates hooks. Kinds follow their meaning: Bail for "which plugin handles this", Waterfall for a value each stage
// transforms, Series for ordered side effects.
import {
  AsyncSeriesHook,
  AsyncSeriesWaterfallHook,
  SyncBailHook,
  SyncWaterfallHook,
} from 'tapable';
import type { AreaRecord } from './wasm/image-module';
import type {
  CheckpointContext,
  ChunkWork,
  CodecDescriptor,
  CommitContext,
  RestartContext,
  WrittenImage,
} from './types';

export function createHooks() {
  return Object.freeze({
    // ---- checkpoint: in the image service, once per process stream ----
    /** A process's stream began; its PROCESS, THREAD and AREA records are known. */
    beforeCheckpoint: new AsyncSeriesHook<[CheckpointContext]>(['ctx']),
    /** Which codec handles a requested name ("" = the default); first answer wins. */
    selectCodec: new SyncBailHook<[string, CheckpointContext], CodecDescriptor | undefined>(['name', 'ctx']),
    /** The image's final path; unique-filenames adds the generation. */
    imagePath: new SyncWaterfallHook<[string, CheckpointContext]>(['path', 'ctx']),
    /** Each chunk on its way into the image: diff, compress, checksum (stage order). */
    encodeChunk: new AsyncSeriesWaterfallHook<[ChunkWork, CheckpointContext]>(['chunk', 'ctx']),
    /** All chunks written; plugins add sections to ctx.sections and fields to ctx.meta. */
    finishImage: new AsyncSeriesHook<[CheckpointContext]>(['ctx']),
    /** The image is complete under its temporary name. */
    afterCheckpoint: new AsyncSeriesHook<[CheckpointContext, WrittenImage]>(['ctx', 'image']),

    // ---- commit: in the coordinator, once per generation ----
    /** Every process's image is complete; make them final. */
    beforeCommit: new AsyncSeriesHook<[CommitContext]>(['commit']),
    /** The images are final; write what points at them (the restart script). */
    afterCommit: new AsyncSeriesHook<[CommitContext]>(['commit']),

    // ---- restart: in dmtcp_restart and its decoder, once per image ----
    /** An image was opened and parsed. */
    beforeRestart: new AsyncSeriesHook<[RestartContext]>(['ctx']),
    /** Can this area be restored here? A plugin answering a message stops the restart with it. */
    checkArea: new SyncBailHook<[AreaRecord, RestartContext], string | undefined>(['area', 'ctx']),
    /** Which codec decodes a chunk's codec id; first answer wins. */
    resolveCodec: new SyncBailHook<[number, RestartContext], CodecDescriptor | undefined>(['id', 'ctx']),
    /** Each chunk on its way out of the image: verify, decompress. */
    decodeChunk: new AsyncSeriesWaterfallHook<[ChunkWork, RestartContext]>(['chunk', 'ctx']),
    /** The restore stream is complete; the process is about to run. */
    afterRestart: new AsyncSeriesHook<[RestartContext]>(['ctx']),
  });
}

export type PipelineHooks = ReturnType<typeof createHooks>;
export type HookName = keyof PipelineHooks;

/** Hooks that run in the reverse order of checkpoint, like unwinding a stack of layers. */
export const REVERSED_HOOKS: ReadonlySet<HookName> = new Set<HookName>([
  'afterCheckpoint',
  'afterCommit',
  'beforeRestart',
  'checkArea',
  'afterRestart',
]);

/** Named stages for ordering taps, spaced apart so plugins can fit between them. */
export const Stage = Object.freeze({
  FIRST: -1000,
  DIFF: -200,
  PREPARE: -100,
  DEFAULT: 0,
  COMPRESS: 100,
  CHECKSUM: 200,
  LAST: 1000,
} as const);
