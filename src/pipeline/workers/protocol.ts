// Messages between the pipeline and its worker threads (structured clone; byte buffers are transferred, not copied).

export interface CodecRef {
  id: number;
  name: string;
  module: string;
  options: Record<string, unknown>;
}

export interface EncodeJob {
  op: 'encode';
  job: number;
  codec: CodecRef;
  raw: ArrayBuffer;
}

export interface DecodeJob {
  op: 'decode';
  job: number;
  /** null when the payload is stored as is */
  codec: CodecRef | null;
  stored: ArrayBuffer;
  rawLength: number;
  rawChecksum: bigint;
  storedChecksum: bigint;
}

export type Job = EncodeJob | DecodeJob;

export interface EncodeResult {
  op: 'encode';
  job: number;
  raw: ArrayBuffer;
  /** null: store the raw bytes (codec id 0) */
  stored: ArrayBuffer | null;
  codecId: number;
  rawChecksum: bigint;
  storedChecksum: bigint;
}

export interface DecodeResult {
  op: 'decode';
  job: number;
  raw: ArrayBuffer;
}

export interface JobFailure {
  op: 'error';
  job: number;
  message: string;
  /** 'corrupt' for bad input, 'codec' for a codec that cannot be loaded, 'internal' otherwise */
  kind: 'corrupt' | 'codec' | 'internal';
}

export type JobResult = EncodeResult | DecodeResult | JobFailure;
