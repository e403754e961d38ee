// The unique-filenames plugin: off by default (each checkpoint overwrites the process's image), on with
// --enable-unique-checkpoint-filenames or DMTCP_UNIQUE_CKPT_PLUGIN=1 (each generation keeps its own image, and the
// restart script always names the newest).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Sandbox, sandboxPerTest, program } from '../helpers/sandbox';
import { assertContinues, counts } from '../helpers/counter';

describe('unique checkpoint filenames', function () {
  this.timeout(120000);
  let sb!: Sandbox;
  sandboxPerTest((s) => (sb = s));

  it('off by default: three checkpoints leave one image', async () => {
    const p = sb.launch([program('counter'), '40']);
    await p.waitFor(/^count 3$/);
    for (let i = 0; i < 3; i++) await sb.checkpoint();
    const images = sb.images();
    assert.equal(images.length, 1);
    assert.match(path.basename(images[0]), /^ckpt_counter_[^_]+\.dmtcp$/);
  });

  for (const how of ['flag', 'environment']) {
    it(`on (${how}): three generations keep three images and the script names the newest`, async () => {
      const p = how === 'flag'
        ? sb.launch([program('counter'), '40'], { args: ['--enable-unique-checkpoint-filenames'] })
        : sb.launch([program('counter'), '40'], { env: { DMTCP_UNIQUE_CKPT_PLUGIN: '1' } });
      await p.waitFor(/^count 3$/);
      const seenAt: number[] = [];
      for (let gen = 1; gen <= 3; gen++) {
        await sb.checkpoint();
        const last = counts(p.output());
        seenAt.push(last[last.length - 1]);
        await p.waitFor(/^count \d+$/);
        await p.waitFor(/^count \d+$/);
      }
      const images = sb.images();
      assert.deepEqual(images.map((f) => /_(\d{5})\.dmtcp$/.exec(f)?.[1]), ['00001', '00002', '00003']);
      const script = fs.readFileSync(sb.path('dmtcp_restart_script.sh'), 'utf8');
      assert.ok(script.includes(images[2]), 'the script names generation 3');
      assert.ok(!script.includes(images[0]) && !script.includes(images[1]));
      await p.kill();

      // The newest, through the script: it continues from the third checkpoint.
      const r = sb.spawnScript(sb.path('dmtcp_restart_script.sh'), ['-p', String(sb.port), '-j']);
      for (let i = 0; i < 3; i++) await r.waitFor(/^count \d+$/);
      const resumed = counts(r.output())[0];
      assert.ok(resumed > seenAt[1], `generation 3 resumes after generation 2's count (${resumed} > ${seenAt[1]})`);
      assertContinues(counts(p.output()), counts(r.output()));
      // And a fourth checkpoint of the restarted process gets a fourth name.
      await sb.checkpoint();
      assert.ok(sb.images().some((f) => f.endsWith('_00004.dmtcp')), sb.images().join(', '));
      await r.kill();

      // An older generation is still a complete image of its own.
      const old = sb.restart([images[0]]);
      for (let i = 0; i < 3; i++) await old.waitFor(/^count \d+$/);
      assert.ok(counts(old.output())[0] <= seenAt[0] + 1, 'generation 1 resumes from its own point');
      assertContinues(counts(p.output()), counts(old.output()), 'generation 1');
    });
  }
});
