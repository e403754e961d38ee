// A running program is checkpointed, killed and restarted from its image, and continues exactly where it was:
// gap-free counts, generations stacked three deep, under a new coordinator, through the generated restart script.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Sandbox, sandboxPerTest, program } from '../helpers/sandbox';
import { assertContinues, counts } from '../helpers/counter';

describe('checkpoint and restart', () => {
  let sb!: Sandbox;
  sandboxPerTest((s) => (sb = s));

  it('a counter continues without a gap after restart', async () => {
    const p = sb.launch([program('counter'), '50']);
    await p.waitFor(/^count 5$/);
    await sb.checkpoint();
    const images = sb.images();
    assert.equal(images.length, 1);
    assert.match(path.basename(images[0]), /^ckpt_counter_[0-9a-f]{8}-\d+-[0-9a-f]+\.dmtcp$/);
    await p.waitFor(/^count \d+$/);
    await p.kill();
    const r = sb.restart(images);
    for (let i = 0; i < 5; i++) await r.waitFor(/^count \d+$/);
    assertContinues(counts(p.output()), counts(r.output()));
    assert.equal(r.pid, r.child.pid, 'the restarted program runs in the dmtcp_restart process');
  });

  it('stacks checkpoint and restart three generations deep', async () => {
    let runs = [sb.launch([program('counter'), '40'])];
    await runs[0].waitFor(/^count 3$/);
    for (let gen = 1; gen <= 3; gen++) {
      const current = runs[runs.length - 1];
      await sb.checkpoint();
      await current.waitFor(/^count \d+$/);
      await current.kill();
      const [image] = sb.images();
      const r = sb.restart([image]);
      for (let i = 0; i < 3; i++) await r.waitFor(/^count \d+$/);
      assertContinues(counts(current.output()), counts(r.output()), `generation ${gen}`);
      runs = [...runs, r];
      const info = JSON.parse((await sb.tool('readimage', ['--json', image])).stdout) as { generation: number };
      assert.equal(info.generation, gen);
    }
    const s = JSON.parse((await sb.command('-s', '--json')).stdout) as { generation: number; numPeers: number };
    assert.equal(s.generation, 3);
    assert.equal(s.numPeers, 1);
  });

  it('restarts under a new coordinator on another port', async () => {
    const p = sb.launch([program('counter'), '50']);
    await p.waitFor(/^count 4$/);
    await sb.checkpoint();
    await p.kill();
    const portFile = sb.path('new.port');
    const r = sb.restart(sb.images(), { join: false, args: ['--new-coordinator', '-p', '0', '--port-file', portFile] });
    for (let i = 0; i < 3; i++) await r.waitFor(/^count \d+$/);
    assertContinues(counts(p.output()), counts(r.output()));
    const newPort = Number(fs.readFileSync(portFile, 'utf8'));
    assert.notEqual(newPort, sb.port);
    const status = JSON.parse((await sb.tool('dmtcp_command', ['-p', String(newPort), '-s', '--json'])).stdout) as { numPeers: number; pid: number };
    assert.equal(status.numPeers, 1, 'the restarted process joined the new coordinator');
    sb.adopt(status.pid);
    const old = JSON.parse((await sb.command('-s', '--json')).stdout) as { numPeers: number };
    assert.equal(old.numPeers, 0);
  });

  it('restarts through dmtcp_restart_script.sh', async () => {
    const p = sb.launch([program('counter'), '50']);
    await p.waitFor(/^count 4$/);
    await sb.checkpoint();
    await p.kill();
    const script = sb.path('dmtcp_restart_script.sh');
    assert.ok(fs.lstatSync(script).isSymbolicLink());
    const text = fs.readFileSync(script, 'utf8');
    assert.match(text, /generation 1 of computation/);
    assert.ok(text.includes(sb.images()[0]), 'the script names the image');
    const r = sb.spawnScript(script, ['-p', String(sb.port), '-j']);
    for (let i = 0; i < 3; i++) await r.waitFor(/^count \d+$/);
    assertContinues(counts(p.output()), counts(r.output()));
  });

  it('writes images where dmtcp_launch --ckptdir says and names the directory in the restart script', async () => {
    const dir = sb.path('images here');
    const p = sb.launch([program('counter'), '50'], { args: ['--ckptdir', dir] });
    await p.waitFor(/^count 3$/);
    await sb.checkpoint();
    assert.equal(sb.images(dir).length, 1);
    assert.equal(sb.images().length, 0);
    assert.ok(fs.readFileSync(sb.path('dmtcp_restart_script.sh'), 'utf8').includes(dir));
  });
});
