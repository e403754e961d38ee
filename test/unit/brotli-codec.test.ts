// The brotli codec plugin (examples/brotli-codec): its codec round-trips random, zero, text and mixed chunks and
// refuses damaged payloads, on its own and through the pipeline's worker threads with the plugin loaded by path; an
// image whose codec plugin cannot be loaded names the plugin.
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import { createCodec } from '../../examples/brotli-codec/codec';
import { packageRoot } from '../../src/paths';
import { Pipeline } from '../../src/pipeline/pipeline';
import { CodecModule } from '../../src/pipeline/wasm/codec-module';
import { defaultPlugins } from '../../src/plugins';
import { parsePluginSpec } from '../../src/plugins/user-plugins';
import type { CheckpointContext, ChunkWork, RestartContext } from '../../src/pipeline/types';

const PLUGIN = path.join(packageRoot, 'dist', 'examples', 'brotli-codec', 'index.js');

function text(n: number): Buffer {
  const words = ['request', 'id=', 'took', 'ms', 'worker', 'INFO', 'alpha', 'beta', '2026-11-21T10:00:00'];
  const out = Buffer.alloc(n);
  let seed = 7;
  for (let i = 0; i < n;) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const w = words[seed % words.length] + (seed % 5 === 0 ? '\n' : ' ');
    out.write(w, i, Math.min(w.length, n - i), 'latin1');
    i += w.length;
  }
  return out;
}

const kinds: [string, (n: number) => Buffer][] = [
  ['random', (n) => crypto.randomBytes(n)],
  ['zero', (n) => Buffer.alloc(n)],
  ['text', text],
  ['mixed', (n) => Buffer.concat([text(n / 4), Buffer.alloc(n / 4), crypto.randomBytes(n / 4), text(n / 4)])],
];
const sizes = [4096, 65536, 1 << 20];

describe('brotli codec plugin', function () {
  this.timeout(60000);

  describe('the codec', () => {
    const codec = createCodec({});
    for (const [kind, make] of kinds) {
      for (const size of sizes) {
        it(`round-trips ${kind}, ${size} bytes`, () => {
          const raw = make(size);
          const stored = codec.compress(raw);
          if (kind === 'random') {
            assert.equal(stored, null, 'random bytes are stored as they are');
            return;
          }
          assert.ok(stored, `${kind} compresses`);
          assert.ok(stored.length < size / 2, `${kind}: ${stored.length} of ${size}`);
          assert.ok(Buffer.from(codec.decompress(stored, size)).equals(raw));
        });
      }
    }

    const raw = text(65536);
    const good = Buffer.from(createCodec({}).compress(raw)!);
    const damaged: [string, Buffer, number][] = [
      ['truncated', good.subarray(0, good.length - 4), raw.length],
      ['garbage', crypto.randomBytes(good.length), raw.length],
      ['empty', Buffer.alloc(0), raw.length],
      ['longer than the chunk', good, raw.length - 1],
      ['shorter than the chunk', good, raw.length + 1],
    ];
    for (const [name, payload, len] of damaged) {
      it(`rejects a ${name} payload`, () => {
        assert.throws(() => codec.decompress(payload, len), /^Error: brotli payload is corrupt: /);
      });
    }

    it('checks its options', () => {
      assert.throws(() => createCodec({ quality: 12 }), /brotli: quality must be 0-11, got 12/);
      assert.equal(createCodec({ quality: 0 }).decompress(createCodec({ quality: 0 }).compress(Buffer.alloc(8192))!, 8192).length, 8192);
    });
  });

  describe('through the pipeline, loaded by path', () => {
    const p = new Pipeline(defaultPlugins({ userPlugins: [parsePluginSpec(PLUGIN)] }));
    after(() => p.close());
    const meta = { codecs: { 0: 'stored', 16: 'brotli' } };

    async function encode(data: Buffer): Promise<ChunkWork> {
      const codec = p.hooks.selectCodec.call('brotli', {} as CheckpointContext);
      assert.ok(codec, 'the plugin answers for "brotli"');
      assert.equal(codec.id, 16);
      const ab = new ArrayBuffer(data.length);
      new Uint8Array(ab).set(data);
      const enc = await p.hooks.encodeChunk.promise(
        { area: 0, offset: 0n, rawLength: data.length, source: { kind: 'bytes', data: ab, length: data.length }, raw: null, stored: null, codecId: 0, rawChecksum: 0n, storedChecksum: 0n, flags: 0 },
        { codec } as CheckpointContext,
      );
      const out = { ...enc, stored: Buffer.from(enc.stored!) };
      enc.release?.();
      return out;
    }

    async function decode(chunk: ChunkWork, m: Record<string, unknown> = meta): Promise<Buffer> {
      const dec = await p.hooks.decodeChunk.promise({ ...chunk, raw: null, source: null }, { meta: m, imagePath: 'test.dmtcp' } as unknown as RestartContext);
      const back = Buffer.from(dec.raw!);
      dec.release?.();
      return back;
    }

    for (const [kind, make] of kinds) {
      it(`round-trips ${kind} through the workers`, async () => {
        const data = make(1 << 20);
        const chunk = await encode(data);
        assert.equal(chunk.codecId, kind === 'random' ? 0 : 16);
        assert.ok((await decode(chunk)).equals(data));
      });
    }

    it('refuses a payload with a flipped byte', async () => {
      const chunk = await encode(text(1 << 20));
      chunk.stored![200] ^= 0x10;
      await assert.rejects(decode(chunk), /payload checksum mismatch/);
    });

    it('refuses a damaged payload even when its stored checksum was forged to match', async () => {
      const chunk = await encode(text(1 << 20));
      chunk.stored![chunk.stored!.length >> 1] ^= 0x10;
      chunk.storedChecksum = new CodecModule().xxh64(chunk.stored!);
      await assert.rejects(decode(chunk), /brotli payload is corrupt|decoded chunk checksum mismatch/);
    });

    it('names the plugin when the image\'s codec plugin cannot be loaded', async () => {
      const bare = new Pipeline(defaultPlugins({ userPlugins: [] }));
      try {
        const chunk = await encode(text(65536));
        const m = { ...meta, userPlugins: [{ name: 'brotli', path: '/nonexistent/brotli/index.js', options: {}, sections: [], codecs: ['brotli'] }] };
        await assert.rejects(
          bare.hooks.decodeChunk.promise({ ...chunk, raw: null, source: null }, { meta: m, imagePath: 'img.dmtcp' } as unknown as RestartContext),
          (e: Error) => {
            const cause = (e.cause as Error | undefined)?.message ?? e.message;
            assert.equal(cause, 'img.dmtcp: the image\'s codec "brotli" comes from plugin "brotli" (/nonexistent/brotli/index.js), which cannot be loaded here (no such file); pass --plugin PATH or set DMTCP_TS_PLUGINS=PATH');
            return true;
          },
        );
      } finally {
        await bare.close();
      }
    });
  });
});
