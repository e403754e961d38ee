// The program's side of checkpointing: its mtcpHook* functions are called in order exactly once per event, and
// dmtcp.h lets it ask for a checkpoint (learning whether it was restarted), keep checkpoints out of a critical
// section and read the coordinator's status. Interpreted programs (Python) survive like compiled ones.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { packageRoot } from '../../src/paths';
import { Sandbox, sandboxPerTest, program } from '../helpers/sandbox';
import { assertContinues, counts } from '../helpers/counter';

const hookLines = (lines: string[]) => lines.filter((l) => l.startsWith('HOOK '));

describe('the application API', () => {
  let sb!: Sandbox;
  sandboxPerTest((s) => (sb = s));

  it('calls the hooks in order, exactly once per event', async () => {
    const p = sb.launch([program('hooks')]);
    await p.waitFor(/^count 2$/);
    await sb.checkpoint();
    await sb.checkpoint();
    await p.waitFor(/^count \d+$/);
    assert.deepEqual(hookLines(p.output()), ['HOOK pre 1', 'HOOK post 1', 'HOOK pre 2', 'HOOK post 2']);
    await p.kill();
    const r = sb.restart(sb.images());
    await r.waitFor(/^count \d+$/);
    await sb.checkpoint();
    await r.waitFor(/^count \d+$/);
    // Counters come back as they were when the image was written: after "pre 2", before "post 2".
    assert.deepEqual(hookLines(r.output()), ['HOOK restart 1', 'HOOK pre 3', 'HOOK post 2']);
  });

  it('dmtcp_checkpoint() returns after-checkpoint, and after-restart in the restarted process', async () => {
    const p = sb.launch([program('apiuser')]);
    assert.deepEqual((await p.waitFor(/^enabled (\d)$/)).slice(1), ['1']);
    await p.waitFor(/^coordinator 1 peers=1 running=1$/);
    await p.waitFor(/^RESULT after-checkpoint gen=1 checkpoints=1$/);
    await p.waitFor(/^count 2$/);
    await p.kill();
    const r = sb.restart(sb.images());
    await r.waitFor(/^RESULT after-restart gen=1 restarts=1$/);
    await r.waitFor(/^count 2$/);
  });

  it('a checkpoint waits for a critical section (dmtcp_disable_ckpt) to end', async () => {
    const p = sb.launch([program('apiuser'), 'critical']);
    await p.waitFor(/^critical section entered$/);
    await sb.checkpoint();
    assert.ok(p.output().includes('critical section left'), `the checkpoint finished inside the critical section: ${p.output().join(' | ')}`);
  });

  it('reports "not present" outside dmtcp_launch (libdmtcpaware stand-in)', async () => {
    const r = await sb.run(program('apiuser'), ['probe']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'enabled 0\ncoordinator 0 peers=0 running=0\ncheckpoint 0 disable 0 enable 0 generation 0 local 0 0 0\n');
  });
});

describe('interpreters', () => {
  let sb!: Sandbox;
  sandboxPerTest((s) => (sb = s));

  it('a Python 3 script continues its count after restart', async () => {
    const p = sb.launch(['python3', path.join(packageRoot, 'test', 'programs', 'counter.py')]);
    await p.waitFor(/^count 5$/);
    await sb.checkpoint();
    await p.waitFor(/^count \d+$/);
    await p.kill();
    const r = sb.restart(sb.images());
    for (let i = 0; i < 3; i++) await r.waitFor(/^count \d+$/);
    assertContinues(counts(p.output()), counts(r.output()));
  });

  it('a Node.js script (event loop, worker threads of libuv) continues its count after restart', async () => {
    const p = sb.launch([process.execPath, path.join(packageRoot, 'test', 'programs', 'counter.js'), '40']);
    await p.waitFor(/^count 5$/);
    await sb.checkpoint();
    await p.waitFor(/^count \d+$/);
    await p.kill();
    const r = sb.restart(sb.images());
    for (let i = 0; i < 5; i++) await r.waitFor(/^count \d+$/);
    assertContinues(counts(p.output()), counts(r.output()));
    assert.ok(!r.output().some((l) => l.startsWith('FAIL')), r.output().join('\n'));
  });
});
