// compression: the pipeline's encode and decode stages. Each chunk goes to a worker thread that stages it in
// WebAssembly memory, checksums it and runs the image's codec (at restart: the chunk's codec) over it.
import { Stage } from '../pipeline/hooks';
import type { Pipeline, PipelinePlugin } from '../pipeline/pipeline';
import type { CodecDescriptor } from '../pipeline/types';
import type { CodecRef } from '../pipeline/workers/protocol';

/** A chunk that failed to decode or encode; the caller adds the image and offset. */
export class ChunkError extends Error {
  constructor(message: string, readonly kind: 'corrupt' | 'codec' | 'read' | 'write' | 'internal') {
    super(message);
    this.name = 'ChunkError';
  }
}

function ref(c: CodecDescriptor): CodecRef {
  return { id: c.id, name: c.name, module: c.module, options: { ...c.options } };
}

export class CompressionPlugin implements PipelinePlugin {
  static readonly pluginName = 'CompressionPlugin';

  apply(pipeline: Pipeline): void {
    const pool = pipeline.buffers;
    const borrow = (min: number) => (min <= pool.size ? pool.take() : new ArrayBuffer(min));

    pipeline.hooks.encodeChunk.tapPromise({ name: CompressionPlugin.pluginName, stage: Stage.COMPRESS }, async (chunk, ctx) => {
      if (chunk.stored || !chunk.source) return chunk;      // an earlier stage already settled this chunk
      const source = chunk.source;
      const out = borrow(source.length);
      const transfer = source.kind === 'bytes' ? [out, source.data] : [out];
      const r = await pipeline.workers().run({ op: 'encode', codec: ref(ctx.codec), source, out }, transfer);
      if (r.op === 'error') {
        for (const b of r.buffers ?? []) pool.give(b);
        throw new ChunkError(r.message, r.kind);
      }
      if (r.op !== 'encode') throw new Error('a worker answered an encode job with a decode result');
      return {
        ...chunk,
        source: null,
        stored: Buffer.from(r.out, 0, r.storedLength),
        codecId: r.codecId,
        rawChecksum: r.rawChecksum,
        storedChecksum: r.storedChecksum,
        release: () => {
          pool.give(r.out);
          pool.give(r.data);
        },
      };
    });

    pipeline.hooks.decodeChunk.tapPromise({ name: CompressionPlugin.pluginName, stage: Stage.COMPRESS }, async (chunk, ctx) => {
      if (chunk.raw || chunk.delivered || (!chunk.stored && !chunk.storedAt)) return chunk;
      let codec: CodecRef | null = null;
      if (chunk.codecId !== 0) {
        const found = pipeline.hooks.resolveCodec.call(chunk.codecId, ctx);
        if (!found) {
          const names = ctx.meta.codecs as Record<string, string> | undefined;
          const name = names?.[String(chunk.codecId)] ?? `id ${chunk.codecId}`;
          throw new ChunkError(`the image uses codec "${name}", which is not installed here; add its plugin with --plugin`, 'codec');
        }
        codec = ref(found);
      }
      // The stored bytes move to the worker: give it a buffer of its own (a pooled one when they already are), or
      // share the memory they were read into, or let it read them from the image file itself.
      const stored = chunk.stored;
      const shared = stored && stored.buffer instanceof SharedArrayBuffer ? { shared: stored.buffer, offset: stored.byteOffset } : null;
      let storedBuf: ArrayBuffer | null = null;
      if (stored && !shared) {
        storedBuf = stored.byteOffset === 0 && stored.buffer.byteLength === pool.size && stored.length <= pool.size
          ? (stored.buffer as ArrayBuffer)
          : copyInto(borrow(stored.length), stored);
      }
      const where = chunk.storedAt!;
      const sink = chunk.sink ?? undefined;
      const out = sink ? new ArrayBuffer(0) : borrow(chunk.rawLength);
      const r = await pipeline.workers().run(
        {
          op: 'decode', codec, stored: storedBuf ?? shared ?? { file: where.file, offset: where.offset },
          storedLength: stored ? stored.length : where.length, rawLength: chunk.rawLength,
          rawChecksum: chunk.rawChecksum, storedChecksum: chunk.storedChecksum, out, sink,
        },
        storedBuf ? [storedBuf, out] : [out],
      );
      if (r.op === 'error') {
        for (const b of r.buffers ?? []) pool.give(b);
        throw new ChunkError(r.message, r.kind);
      }
      if (r.op !== 'decode') throw new Error('a worker answered a decode job with an encode result');
      pool.give(r.stored);
      if (r.delivered) return { ...chunk, stored: null, delivered: true };
      return { ...chunk, stored: null, raw: Buffer.from(r.out, 0, chunk.rawLength), release: () => pool.give(r.out) };
    });
  }
}

function copyInto(buf: ArrayBuffer, bytes: Uint8Array): ArrayBuffer {
  new Uint8Array(buf, 0, bytes.length).set(bytes);
  return buf;
}
