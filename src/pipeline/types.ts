// The values that flow through the pipeline's hooks at checkpoint, commit and restart.
import type { AreaRecord, ProcessRecord, ThreadRecord } from './wasm/image-module';
import type { ChunkSource } from './workers/protocol';

export type { ChunkSource };

/** A codec as the pipeline knows it; `module` is loaded by worker threads to do the work. */
export interface CodecDescriptor {
  readonly name: string;
  /** Written into every chunk's header: 0 stored, 1 dlz, 2 deflate, 16..255 third-party plugins. */
  readonly id: number;
  /** Absolute path of a CommonJS module exporting `createCodec(options): CodecImpl` (see src/pipeline/codec.ts). */
  readonly module: string;
  readonly options: Readonly<Record<string, unknown>>;
  /** The npm package or plugin file that provides it, named in "not installed" errors. */
  readonly provider: string;
}

/** Everything known about one process's stream while its image is written. */
export interface CheckpointContext {
  readonly process: ProcessRecord;
  readonly strings: ProcessStrings;
  threads: ThreadRecord[];
  areas: AreaRecord[];
  codec: CodecDescriptor;
  /** Directory and final path of the image; the unique-filenames plugin changes the name. */
  ckptDir: string;
  imagePath: string;
  /** Plugin sections to add to the image (name -> bytes). */
  readonly sections: Map<string, Buffer>;
  /** Extra fields for the image's META block. */
  readonly meta: Record<string, unknown>;
  readonly stats: CheckpointStats;
}

export interface ProcessStrings {
  host: string;
  program: string;
  argv: string[];
  cwd: string;
  exe: string;
  workerId: string;
  computation: string;
  codec: string;
  unique: boolean;
  ckptDir: string;
  originPid: number;
  /** Ids as the program knows them (virtual): its pid, parent, process group and session. */
  vpid: number;
  vppid: number;
  vpgid: number;
  vsid: number;
  /** TypeScript plugins the process asked for (DMTCP_TS_PLUGINS, "PATH[,KEY=VALUE...]" each; docs/PLUGINS.md). */
  plugins?: string[];
  /** Children that had exited and were not reaped yet, and how each ended (waitid's si_code and si_status). */
  zombies: { vpid: number; code: number; status: number }[];
  /** Incremental images (dmtcp_launch --incremental): a full image every this many generations; 0 or absent = off. */
  incremental?: number;
}

export interface CheckpointStats {
  chunks: number;
  rawBytes: number;
  storedBytes: number;
  zeroChunks: number;
  /** Pages the process reported as zero (not sent) and as left to their file. */
  zeroPages: number;
  filePages: number;
  startedAt: number;
  /** Incremental images: PARENT blocks written and the bytes they leave to the parent image. */
  parentBlocks?: number;
  parentBytes?: number;
}

/** `length` bytes at `from` in a decoded chunk, to be written at `address` of the restored process. */
export interface SinkSlice {
  from: number;
  length: number;
  address: bigint;
}

/** One range of page contents on its way into (or out of) an image. */
export interface ChunkWork {
  readonly area: number;
  readonly offset: bigint;
  readonly rawLength: number;
  /** Checkpoint: where the raw bytes are (a buffer, or the frozen process's memory). */
  source: ChunkSource | null;
  /** Restart: the decoded bytes. */
  raw: Buffer | null;
  /** The payload exactly as stored in the image, and the codec id that encoded it (0 = the raw bytes). */
  stored: Buffer | null;
  /** Restart: where the payload is in the image file, when it was not read into `stored` (workers read it). */
  storedAt?: { file: string; offset: number; length: number } | null;
  codecId: number;
  rawChecksum: bigint;
  storedChecksum: bigint;
  flags: number;
  /** Restart, direct mode: decode straight into this process's memory; `delivered` says it happened. With `slices`,
   *  only those parts of the decoded chunk are written, each at its own address (a chunk an incremental image takes
   *  from its parent image). With `lazy` (a lazy restore's handle, src/native/addon.ts) the pages go in through the
   *  process's userfaultfd instead, skipping pages the running program has dropped meanwhile. */
  sink?: { pid: number; address: bigint; slices?: SinkSlice[]; lazy?: number } | null;
  delivered?: boolean;
  /** Gives the chunk's lent buffers back to their pool; the writer calls it once the chunk is written. */
  release?: () => void;
  /** Checkpoint: the diff stage (Stage.DIFF) split the chunk; the writer writes these blocks in its place, in order,
   *  each either encoded (`stored` set) or flagged PARENT (its range is the parent image's, unchanged). */
  pieces?: ChunkWork[] | null;
}

/** The result of writing one image, before the coordinator commits it. */
export interface WrittenImage {
  readonly tempPath: string;
  readonly finalPath: string;
  readonly bytes: number;
  readonly workerId: string;
  readonly generation: number;
  readonly program: string;
  readonly pid: number;
  readonly host: string;
}

/** A whole checkpoint generation that every process finished; the coordinator makes it durable. */
export interface CommitContext {
  readonly generation: number;
  readonly computation: string;
  readonly images: WrittenImage[];
  /** Where dmtcp_restart_script.sh goes. */
  readonly scriptDir: string;
  readonly coordinator: { host: string; port: number };
  /** Filled by plugins: the restart script's path once written. */
  restartScript?: string;
  /** Filled by plugins: images of this computation's earlier checkpoints removed as superseded (superseded-images). */
  readonly removed: string[];
}

/** One image being restarted. */
export interface RestartContext {
  readonly imagePath: string;
  readonly process: ProcessRecord;
  readonly strings: ProcessStrings;
  readonly areas: AreaRecord[];
  readonly threads: ThreadRecord[];
  readonly meta: Record<string, unknown>;
  /** Plugin sections found in the image (name -> bytes). */
  readonly sections: Map<string, Buffer>;
  /** What the restarted process is told (RESTART record): coordinator, directories, image path. */
  readonly restartInfo: Map<number, string>;
}
