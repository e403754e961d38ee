// Messages between the pipeline and its worker threads (structured clone; byte buffers are transferred, not copied,
// and come back with the answer so the caller can reuse them).

export interface CodecRef {
  id: number;
  name: string;
  module: string;
  options: Record<string, unknown>;
}

/** Where a chunk's raw bytes are at checkpoint: in a buffer, or still in the frozen process (read with
 *  process_vm_readv straight into WebAssembly memory). */
export type ChunkSource =
  | { kind: 'bytes'; data: ArrayBuffer; length: number }
  | { kind: 'pull'; pid: number; address: bigint; length: number };

export interface EncodeJob {
  op: 'encode';
  job: number;
  codec: CodecRef;
  source: ChunkSource;
  /** Receives the stored payload (at least source.length bytes). */
  out: ArrayBuffer;
}

export interface DecodeJob {
  op: 'decode';
  job: number;
  /** null when the payload is stored as is */
  codec: CodecRef | null;
  /** The stored payload: in a buffer, in shared memory the decoder read it into, or still in the image file (read
   *  straight into WebAssembly memory). */
  stored: ArrayBuffer | { shared: SharedArrayBuffer; offset: number } | { file: string; offset: number };
  storedLength: number;
  rawLength: number;
  rawChecksum: bigint;
  storedChecksum: bigint;
  /** Receives the decoded bytes (at least rawLength bytes); unused when `sink` is set. */
  out: ArrayBuffer;
  /** Write the decoded bytes straight into this process's memory instead (process_vm_writev); with `slices`, only
   *  those parts of them, each at its own address; with `lazy`, through that lazy restore's userfaultfd. */
  sink?: { pid: number; address: bigint; slices?: { from: number; length: number; address: bigint }[]; lazy?: number };
}

/** Incremental images' diff stage: hash every page of the chunk, compare with the previous generation's hashes, and
 *  encode only the runs of changed pages (with `codec`), all in one staging of the chunk. */
export interface DiffJob {
  op: 'diff';
  job: number;
  codec: CodecRef;
  source: ChunkSource;
  /** The previous generation's view of the chunk's pages: a u64 XXH64 per page, then a byte per page that is 1 when
   *  that hash is known (the parent image holds the page). Empty: nothing is known, every page is new. */
  previous: ArrayBuffer;
  /** Receives the stored payloads of the changed runs, back to back (at least source.length bytes). */
  out: ArrayBuffer;
}

export type Job = EncodeJob | DecodeJob | DiffJob;

export interface EncodeResult {
  op: 'encode';
  job: number;
  out: ArrayBuffer;
  storedLength: number;
  /** 0 when the payload is the raw bytes */
  codecId: number;
  rawChecksum: bigint;
  storedChecksum: bigint;
  /** The source buffer, returned for reuse (bytes sources only). */
  data?: ArrayBuffer;
}

export interface DecodeResult {
  op: 'decode';
  job: number;
  out: ArrayBuffer;
  /** The job's stored buffer, returned for reuse (null when the payload came from the file). */
  stored: ArrayBuffer | null;
  /** The bytes went to the job's sink rather than into `out`. */
  delivered: boolean;
}

export interface JobFailure {
  op: 'error';
  job: number;
  message: string;
  /** 'corrupt' for bad input, 'codec' for a codec that cannot be loaded, 'read'/'write' when the other process's
   *  memory could not be read or written, 'internal' otherwise */
  kind: 'corrupt' | 'codec' | 'read' | 'write' | 'internal';
  /** Buffers of the job, returned for reuse. */
  buffers?: ArrayBuffer[];
}

/** A run of pages of a diffed chunk: unchanged (`parent`: the parent image holds it) or encoded into `out`. */
export interface DiffPiece {
  /** Byte offset and length within the chunk (whole pages). */
  offset: number;
  length: number;
  parent: boolean;
  /** Changed runs: the codec id that encoded the payload (0 = the raw bytes). */
  codecId: number;
  /** Changed runs: XXH64 of the raw bytes. Parent runs: XXH64 of the run's page hashes (u64 little-endian each). */
  rawChecksum: bigint;
  storedChecksum: bigint;
  /** Changed runs: where the payload is in `out`, and its length. */
  storedAt: number;
  storedLength: number;
}

export interface DiffResult {
  op: 'diff';
  job: number;
  out: ArrayBuffer;
  /** XXH64 of every page of the chunk (u64 little-endian each): the next generation's `previous`. */
  hashes: ArrayBuffer;
  /** The chunk's pages as runs, in order, covering it exactly. */
  pieces: DiffPiece[];
  /** The source buffer, returned for reuse (bytes sources only). */
  data?: ArrayBuffer;
}

export type JobResult = EncodeResult | DecodeResult | DiffResult | JobFailure;
