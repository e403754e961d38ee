// The worker pool: jobs beyond what its threads hold wait in its queue and all complete; a thread that dies fails its
// own jobs and is replaced, and one that keeps dying fails every later job rather than leaving it waiting forever.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { WorkerPool } from '../../src/pipeline/workers/pool';
import type { EncodeJob } from '../../src/pipeline/workers/protocol';

const DLZ = path.join(__dirname, '..', '..', 'src', 'codecs', 'dlz.js');
const DYING = path.join(__dirname, '..', 'helpers', 'dying-codec.js');

function encodeJob(module: string, data: Buffer): { job: Omit<EncodeJob, 'job'>; transfer: ArrayBuffer[] } {
  const source = new ArrayBuffer(data.length);
  new Uint8Array(source).set(data);
  const out = new ArrayBuffer(data.length + 64);
  return {
    job: { op: 'encode', codec: { id: 1, name: 'test', module, options: {} }, source: { kind: 'bytes', data: source, length: data.length }, out },
    transfer: [source, out],
  };
}

describe('worker pool', () => {
  let pool: WorkerPool | undefined;
  afterEach(async () => {
    await pool?.close();
    pool = undefined;
  });

  it('runs every job of a burst far larger than its threads hold, each once', async () => {
    pool = new WorkerPool(2);
    const chunks = Array.from({ length: 40 }, (_, i) => Buffer.from(`chunk ${i} `.repeat(6000)));
    const results = await Promise.all(chunks.map((c) => {
      const { job, transfer } = encodeJob(DLZ, c);
      return pool!.run(job, transfer);
    }));
    assert.equal(new Set(results.map((r) => r.job)).size, chunks.length);
    for (const r of results) {
      assert.equal(r.op, 'encode');
      if (r.op === 'encode') assert.ok(r.storedLength > 0 && r.storedLength < 60000, `chunk compressed to ${r.storedLength} bytes`);
    }
  });

  it('fails the jobs of a thread that died and replaces it; a thread that keeps dying is given up', async () => {
    pool = new WorkerPool(1);
    const dying = () => encodeJob(DYING, Buffer.alloc(4096, 1));
    const fine = () => encodeJob(DLZ, Buffer.from('a line of text, '.repeat(512)));
    let j = dying();
    await assert.rejects(pool.run(j.job, j.transfer), /pipeline worker exited with code 7/);
    j = fine();
    assert.equal((await pool.run(j.job, j.transfer)).op, 'encode', 'a new thread took the next job');
    for (let i = 0; i < 3; i++) {
      j = dying();
      await assert.rejects(pool.run(j.job, j.transfer), /pipeline worker exited with code 7/);
    }
    // Three deaths in a row without a finished job: no fourth thread, and later jobs fail at once.
    j = fine();
    await assert.rejects(pool.run(j.job, j.transfer), /pipeline worker exited with code 7/);
  });
});
