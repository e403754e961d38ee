// compression: the pipeline's encode and decode stages: each chunk goes to a worker thread that checksums it and runs
// the image's codec (or the chunk's codec, at restart) over it.
import { Stage } from '../pipeline/hooks';
import type { Pipeline, PipelinePlugin } from '../pipeline/pipeline';
import type { ChunkWork, CodecDescriptor } from '../pipeline/types';
import type { CodecRef } from '../pipeline/workers/protocol';

/** A chunk that failed to decode; the decoder adds the image and offset. */
export class ChunkDecodeError extends Error {
  constructor(message: string, readonly kind: 'corrupt' | 'codec' | 'internal') {
    super(message);
    this.name = 'ChunkDecodeError';
  }
}

function ref(c: CodecDescriptor): CodecRef {
  return { id: c.id, name: c.name, module: c.module, options: { ...c.options } };
}

/** Gives a buffer's bytes an ArrayBuffer of their own so they can be transferred to a worker. */
function ownBuffer(b: Buffer): ArrayBuffer {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) return b.buffer as ArrayBuffer;
  const copy = new ArrayBuffer(b.length);
  new Uint8Array(copy).set(b);
  return copy;
}

export class CompressionPlugin implements PipelinePlugin {
  static readonly pluginName = 'CompressionPlugin';

  apply(pipeline: Pipeline): void {
    pipeline.hooks.encodeChunk.tapPromise({ name: CompressionPlugin.pluginName, stage: Stage.COMPRESS }, async (chunk, ctx) => {
      if (chunk.stored || !chunk.raw) return chunk;      // an earlier stage already settled this chunk
      const raw = ownBuffer(chunk.raw);
      const r = await pipeline.workers().run({ op: 'encode', codec: ref(ctx.codec), raw }, [raw]);
      if (r.op === 'error') throw new Error(`encoding a chunk failed: ${r.message}`);
      if (r.op !== 'encode') throw new Error('worker answered an encode job with a decode result');
      const out: ChunkWork = {
        ...chunk,
        raw: Buffer.from(r.raw),
        stored: r.stored ? Buffer.from(r.stored) : null,
        codecId: r.codecId,
        rawChecksum: r.rawChecksum,
        storedChecksum: r.storedChecksum,
      };
      return out;
    });

    pipeline.hooks.decodeChunk.tapPromise({ name: CompressionPlugin.pluginName, stage: Stage.COMPRESS }, async (chunk, ctx) => {
      if (chunk.raw || !chunk.stored) return chunk;
      let codec: CodecRef | null = null;
      if (chunk.codecId !== 0) {
        const found = pipeline.hooks.resolveCodec.call(chunk.codecId, ctx);
        if (!found) {
          const names = ctx.meta.codecs as Record<string, string> | undefined;
          const name = names?.[String(chunk.codecId)] ?? `id ${chunk.codecId}`;
          throw new ChunkDecodeError(`the image uses codec "${name}", which is not installed here; add its plugin with --plugin`, 'codec');
        }
        codec = ref(found);
      }
      const stored = ownBuffer(chunk.stored);
      const r = await pipeline.workers().run(
        { op: 'decode', codec, stored, rawLength: chunk.rawLength, rawChecksum: chunk.rawChecksum, storedChecksum: chunk.storedChecksum },
        [stored],
      );
      if (r.op === 'error') throw new ChunkDecodeError(r.message, r.kind);
      if (r.op !== 'decode') throw new Error('worker answered a decode job with an encode result');
      return { ...chunk, raw: Buffer.from(r.raw) };
    });
  }
}
