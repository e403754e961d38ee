// Multithreaded programs: every thread is stopped and brought back where it was, with its locks, waits, ids,
// thread-specific data and errno; signals, timers and blocking calls behave; real thread libraries survive.
import * as assert from 'node:assert/strict';
import { Sandbox, sandboxPerTest, program } from '../helpers/sandbox';
import { check, restartChecked, survives } from '../helpers/survive';

describe('threads', () => {
  let sb!: Sandbox;
  sandboxPerTest((s) => (sb = s));

  for (const n of [2, 8, 128]) {
    it(`${n} threads keep a shared counter consistent under an error-checking mutex`, async () => {
      const r = await survives(sb, [program('threads'), String(n)], { alive: /^total \d+$/, checkpoints: 2 });
      await sb.checkpoint();
      const again = await check(r);
      assert.match(again, /^PASS/, `and after checkpointing the restarted process again: ${again}`);
    });
  }

  it('threads asking for their ids nonstop keep them through checkpoints and two restarts', async () => {
    // After a restart gettid, getpid and pthread_kill translate ids, and the checkpoint signal lands inside them;
    // before it, glibc's pthread_kill may be stopped holding a tid the restart makes stale.
    const r = await survives(sb, [program('tidspin'), '4'], { alive: /^spins \d+$/ });
    await restartChecked(sb, r, { alive: /^spins \d+$/, checkpoints: 3 }, () => sb.killComputation());
  });

  it('a condition wait, a recursive mutex held twice, a read lock, a barrier, TSD and errno survive', async () => {
    await survives(sb, [program('syncprims')], { alive: /^alive \d+$/ });
  });

  it('threads created and exiting during repeated checkpoints are neither lost nor doubled', async () => {
    const p = sb.launch([program('churn')]);
    await p.waitFor(/^made \d+$/);
    for (let i = 0; i < 5; i++) await sb.checkpoint();
    assert.match(await check(p), /^PASS/);
    await p.kill();
    const r = sb.restart(sb.images());
    await r.waitFor(/^made \d+$/);
    for (let i = 0; i < 3; i++) await sb.checkpoint();
    assert.match(await check(r), /^PASS/);
  });

  it('a thread with every signal blocked, waiting for a lock the stopped main thread holds, does not stall checkpoints', async () => {
    // glibc's thread exit does this with its stack cache lock; such a thread takes the checkpoint signal only once
    // the main thread runs again, so the checkpoint lets everyone go and stops that thread first.
    await survives(sb, [program('lockwait')], { alive: /^rounds \d+$/, checkpoints: 8 });
  });

  it('a program written for EINTR keeps working across checkpoints and a restart', async () => {
    await survives(sb, [program('eintr')], { alive: /^round \d+$/, checkpoints: 3 });
  });

  it('pending signals keep their order and values; handlers and the alternate stack survive', async () => {
    await survives(sb, [program('signals')], { alive: /^alive \d+$/ });
  });

  it('setitimer, POSIX timers (signal and thread), ITIMER_PROF and sleep continue after restart', async () => {
    await survives(sb, [program('timers')], { alive: /^ticks /, checkpoints: 1 });
  });

  it('the program may use SIGUSR2 itself when another checkpoint signal is chosen', async () => {
    await survives(sb, [program('sigusr2')], { launchArgs: ['--ckpt-signal', '10'], alive: /^usr2 \d+$/ });
  });

  it('an OpenMP loop continues its sum', async () => {
    await survives(sb, [program('openmp')], { alive: /^sum \d+ \d+$/, env: { OMP_NUM_THREADS: '4' } });
  });

  it('a C++ std::thread program keeps its totals', async () => {
    await survives(sb, [program('cxxthreads')], { alive: /^total \d+$/ });
  });
});
