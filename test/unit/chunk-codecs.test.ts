// Chunks through the real worker threads and every built-in codec: what goes in comes out, including sizes that make
// the WebAssembly stage grow its memory mid-job, and damaged payloads are refused.
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { Pipeline } from '../../src/pipeline/pipeline';
import { defaultPlugins } from '../../src/plugins';
import type { CheckpointContext, ChunkWork, RestartContext } from '../../src/pipeline/types';

function textLike(n: number): Buffer {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'request', 'id=', 'took', 'ms', 'worker', 'INFO'];
  const out = Buffer.alloc(n);
  let seed = 12345;
  for (let i = 0; i < n;) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const w = words[seed % words.length] + (seed % 7 === 0 ? '\n' : ' ');
    out.write(w, i, Math.min(w.length, n - i), 'latin1');
    i += w.length;
  }
  return out;
}

const sizes = [4096, 65536, 1 << 20];
const kinds: [string, (n: number) => Buffer][] = [
  ['text', textLike],
  ['random', (n) => crypto.randomBytes(n)],
  ['zero', (n) => Buffer.alloc(n)],
  ['half text half random', (n) => Buffer.concat([textLike(n / 2), crypto.randomBytes(n / 2)])],
];

async function roundTrip(p: Pipeline, codecName: string, data: Buffer): Promise<{ back: Buffer; stored: ChunkWork }> {
  const codec = p.hooks.selectCodec.call(codecName, {} as CheckpointContext)!;
  const ab = new ArrayBuffer(data.length);
  new Uint8Array(ab).set(data);
  const enc = await p.hooks.encodeChunk.promise(
    { area: 0, offset: 0n, rawLength: data.length, source: { kind: 'bytes', data: ab, length: data.length }, raw: null, stored: null, codecId: 0, rawChecksum: 0n, storedChecksum: 0n, flags: 0 },
    { codec } as CheckpointContext,
  );
  const stored = { ...enc, stored: Buffer.from(enc.stored!) };
  enc.release?.();
  const dec = await p.hooks.decodeChunk.promise({ ...stored, raw: null, source: null }, { meta: {} } as unknown as RestartContext);
  const back = Buffer.from(dec.raw!);
  dec.release?.();
  return { back, stored };
}

describe('chunks through the workers and codecs', function () {
  const p = new Pipeline(defaultPlugins());
  after(() => p.close());

  for (const codec of ['dlz', 'deflate', 'none']) {
    for (const [kind, make] of kinds) {
      for (const size of sizes) {
        it(`${codec}: ${kind}, ${size} bytes`, async () => {
          const data = make(size);
          const { back, stored } = await roundTrip(p, codec, data);
          assert.ok(back.equals(data), 'decoded bytes differ');
          if (codec === 'none' || kind === 'random') assert.equal(stored.codecId, 0);
          if (codec !== 'none' && (kind === 'zero' || kind === 'text')) assert.ok(stored.stored!.length < size / 2, `${kind} should compress`);
        });
      }
    }
  }

  it('refuses a damaged payload with a checksum message', async () => {
    const data = textLike(1 << 20);
    const { stored } = await roundTrip(p, 'dlz', data);
    stored.stored![100] ^= 1;
    await assert.rejects(
      p.hooks.decodeChunk.promise({ ...stored, raw: null, source: null }, { meta: {} } as unknown as RestartContext),
      /payload checksum mismatch \(expected 0x[0-9a-f]{16}, found 0x[0-9a-f]{16}\)/,
    );
  });

  it('names a codec that is not installed', async () => {
    const data = textLike(65536);
    const { stored } = await roundTrip(p, 'dlz', data);
    await assert.rejects(
      p.hooks.decodeChunk.promise({ ...stored, codecId: 200, raw: null, source: null }, { meta: { codecs: { 200: 'zstd' } } } as unknown as RestartContext),
      /the image uses codec "zstd", which is not installed here; add its plugin with --plugin/,
    );
  });
});
