// Writes an image again from its decoded contents: every block of the input in its order, through the image stage
// (sections re-verified and re-framed, chunks decoded and checked by decodeChunk, then encoded again by encodeChunk
// with their own codec ids). An image this project wrote comes out byte for byte the same: the round-trip test.
import * as crypto from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { BLOCK_HEADER_SIZE, BlockFlag, BlockKind, FILE_HEADER_SIZE, TRAILER_SIZE, align8 } from './image-format';
import { ImageError, type ImageReader } from './image-reader';
import { PluginError, type Pipeline } from './pipeline';
import { FormatError, imageStage, type BlockHeader } from './wasm/image-module';
import type { CheckpointContext, ChunkWork, CodecDescriptor } from './types';
import { ChunkError } from '../plugins/compression';
import { restartContextOf } from './restore-decoder';

const PADDING = Buffer.alloc(8);

export interface ReencodeResult {
  output: string;
  /** Size of the new image. */
  bytes: number;
  blocks: number;
  /** Data chunks decoded and encoded again. */
  chunks: number;
  /** Of those, chunks whose new encoding differs from the input's (another codec id or other payload bytes). */
  recoded: number;
}

export interface Block {
  at: number;
  header: BlockHeader;
  headerBytes: Buffer;
}

/** Every block of an opened (hence already checked) image, in file order. */
export function blocksOf(reader: ImageReader): Block[] {
  const stage = imageStage();
  const blocks: Block[] = [];
  for (let at = FILE_HEADER_SIZE; at < reader.size - TRAILER_SIZE; ) {
    const headerBytes = reader.read(at, BLOCK_HEADER_SIZE);
    const header = stage.blockHeader(headerBytes);
    blocks.push({ at, header, headerBytes });
    at += header.span;
  }
  return blocks;
}

function describeError(reader: ImageReader, at: number, e: unknown): Error {
  const cause = e instanceof PluginError ? e.cause : e;
  if (cause instanceof ImageError) return cause;
  if (cause instanceof ChunkError && cause.kind === 'codec') return new ImageError(reader.path, undefined, cause.message);
  if (cause instanceof FormatError) return new ImageError(reader.path, at + cause.offset, cause.detail);
  return cause instanceof Error ? cause : new Error(String(cause));
}

/**
 * Re-encodes `reader`'s image into `output` (written under a temporary name, renamed when complete). Nothing about
 * the process is re-derived: headers, sections and chunk placement come from the input, only the chunk payloads
 * are produced anew from the decoded bytes.
 */
export async function reencodeImage(pipeline: Pipeline, reader: ImageReader, output: string): Promise<ReencodeResult> {
  const stage = imageStage();
  const restart = restartContextOf(reader);
  const contexts = new Map<number, CheckpointContext>();
  const checkpointContext = (codecId: number): CheckpointContext => {
    let ctx = contexts.get(codecId);
    if (!ctx) {
      const codec: CodecDescriptor | undefined = pipeline.hooks.resolveCodec.call(codecId, restart);
      if (!codec) {
        const name = reader.codecNames().get(codecId) ?? `id ${codecId}`;
        throw new ImageError(reader.path, undefined, `the image uses codec "${name}", which is not installed here; add its plugin with --plugin`);
      }
      ctx = {
        process: reader.process, strings: reader.strings, threads: reader.threads, areas: reader.areas, codec,
        ckptDir: path.dirname(output), imagePath: output, sections: new Map(reader.plugins), meta: {},
        stats: { chunks: 0, rawBytes: 0, storedBytes: 0, zeroChunks: 0, zeroPages: 0, filePages: 0, startedAt: 0 },
      };
      contexts.set(codecId, ctx);
    }
    return ctx;
  };
  const result: ReencodeResult = { output, bytes: 0, blocks: 0, chunks: 0, recoded: 0 };

  const chunk = async (b: Block): Promise<Buffer[]> => {
    const h = b.header;
    const decoded = await pipeline.hooks.decodeChunk.promise({
      area: h.area, offset: h.offset, rawLength: h.rawLength, source: null, raw: null, stored: null,
      storedAt: { file: reader.path, offset: b.at + BLOCK_HEADER_SIZE, length: h.storedLength },
      codecId: h.codec, rawChecksum: h.rawChecksum, storedChecksum: h.storedChecksum, flags: h.flags,
    }, restart);
    if (!decoded.raw || decoded.raw.length !== h.rawLength) {
      decoded.release?.();
      throw new ImageError(reader.path, b.at, `chunk of area ${h.area} at +0x${h.offset.toString(16)}: no stage decoded it`);
    }
    // The encoder takes its source buffer over (transferred to a worker, then pooled): give it a copy of its own.
    const data = h.rawLength <= pipeline.buffers.size ? pipeline.buffers.take() : new ArrayBuffer(h.rawLength);
    new Uint8Array(data, 0, h.rawLength).set(decoded.raw);
    decoded.release?.();
    const work: ChunkWork = {
      area: h.area, offset: h.offset, rawLength: h.rawLength, source: { kind: 'bytes', data, length: h.rawLength },
      raw: null, stored: null, codecId: 0, rawChecksum: 0n, storedChecksum: 0n, flags: h.flags,
    };
    const out = await pipeline.hooks.encodeChunk.promise(work, checkpointContext(h.codec));
    try {
      if (!out.stored) throw new ImageError(reader.path, b.at, `chunk of area ${h.area} at +0x${h.offset.toString(16)}: no stage encoded it`);
      if (out.rawChecksum !== h.rawChecksum) {
        throw new ImageError(reader.path, b.at, `chunk of area ${h.area} at +0x${h.offset.toString(16)}: re-encoding saw other bytes than the image holds`);
      }
      result.chunks++;
      if (out.codecId !== h.codec || out.storedChecksum !== h.storedChecksum || out.stored.length !== h.storedLength) result.recoded++;
      const header = stage.encodeBlockHeader({
        kind: BlockKind.CHUNK, codec: out.codecId, flags: out.flags, area: h.area, rawLength: h.rawLength,
        offset: h.offset, rawChecksum: out.rawChecksum, storedChecksum: out.storedChecksum, storedLength: out.stored.length,
      });
      const pad = align8(out.stored.length) - out.stored.length;
      // Copied out of the lent buffer, which goes back to its pool right away.
      return [header, Buffer.from(out.stored), PADDING.subarray(0, pad)];
    } finally {
      out.release?.();
    }
  };

  const encodeBlock = async (b: Block): Promise<Buffer[]> => {
    const h = b.header;
    try {
      if (h.kind !== BlockKind.CHUNK) {
        const payload = reader.read(b.at + BLOCK_HEADER_SIZE, h.storedLength);
        stage.verifyStored(b.headerBytes, payload);
        return [stage.encodeSection(h.kind, payload)];
      }
      if (h.flags & (BlockFlag.ZERO | BlockFlag.PARENT)) {
        return [stage.encodeBlockHeader({
          kind: h.kind, codec: h.codec, flags: h.flags, area: h.area, rawLength: h.rawLength, offset: h.offset,
          rawChecksum: h.rawChecksum, storedChecksum: h.storedChecksum, storedLength: h.storedLength,
        })];
      }
      return await chunk(b);
    } catch (e) {
      const err = describeError(reader, b.at, e);
      if (err instanceof ImageError || h.kind !== BlockKind.CHUNK) throw err;
      throw new ImageError(reader.path, b.at, `chunk of area ${h.area} at +0x${h.offset.toString(16)}: ${err.message}`);
    }
  };

  const blocks = blocksOf(reader);
  const temp = path.join(path.dirname(output), `.${path.basename(output)}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  const file = await fsp.open(temp, 'wx', 0o600);
  let ok = false;
  try {
    let pos = 0;
    const put = async (parts: Buffer[]) => {
      await file.writev(parts, pos);
      pos += parts.reduce((s, p) => s + p.length, 0);
    };
    await put([stage.encodeFileHeader(reader.header.flags, reader.header.generation, reader.header.createdNs)]);
    const window = Math.max(2, pipeline.workers().size * 3);
    const queue: Promise<Buffer[]>[] = [];
    let next = 0;
    const submit = () => {
      while (queue.length < window && next < blocks.length) {
        const p = encodeBlock(blocks[next++]);
        p.catch(() => undefined);   // awaited in order below
        queue.push(p);
      }
    };
    submit();
    while (queue.length) {
      const parts = await queue.shift()!;
      submit();
      await put(parts);
      result.blocks++;
    }
    const size = pos + TRAILER_SIZE;
    await put([stage.encodeTrailer(result.blocks, size)]);
    await file.sync();
    result.bytes = size;
    ok = true;
  } finally {
    await file.close();
    if (!ok) await fsp.unlink(temp).catch(() => undefined);
  }
  await fsp.rename(temp, output);
  return result;
}
