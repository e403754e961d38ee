// Whole process trees: checkpointed together, killed, and restarted as the same tree. Parents keep seeing their
// children's original pids (fork's return value, waitpid, pids sent through pipes), pipes keep the bytes that were in
// flight, exec'd programs stay under checkpoint control, and shared descriptors and memory stay shared.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { Sandbox, sandboxPerTest, program, type Proc } from '../helpers/sandbox';
import { restartChecked, survives } from '../helpers/survive';

/** Numbers from every line matching `re` (its first group). */
function numbers(lines: string[], re: RegExp): number[] {
  return lines.map((l) => re.exec(l)).filter((m): m is RegExpExecArray => m !== null).map((m) => Number(m[1]));
}

/** The restarted run picks up right after a value the first run printed and goes on one by one. */
function assertResumes(before: number[], after: number[], label: string): void {
  assert.ok(after.length >= 2, `${label}: too little output after restart: ${after.join(',')}`);
  assert.ok(before.includes(after[0] - 1), `${label}: resumed at ${after[0]}, but ${after[0] - 1} was never printed before (last: ${before.slice(-4).join(',')})`);
  for (let i = 1; i < after.length; i++) assert.equal(after[i], after[i - 1] + 1, `${label}: gap after ${after[i - 1]}`);
}

describe('process trees', function () {
  this.timeout(120000);
  let sb!: Sandbox;
  sandboxPerTest((s) => (sb = s));

  /** Checkpoints, kills every process of the computation and restarts all images together (the coordinator removed
   *  those that children gone since an earlier checkpoint left: superseded-images). */
  async function checkpointKillRestart(expectImages: number | undefined, args: string[] = []): Promise<Proc> {
    await sb.checkpoint();
    const images = sb.images();
    if (expectImages !== undefined) assert.equal(images.length, expectImages, `images: ${images.join(', ')}`);
    await sb.killComputation();
    return sb.restart(images, { args });
  }

  it('a parent and child ping-pong over pipes with data in flight; the parent still sees the child\'s pid', async () => {
    const p = sb.launch([program('pingpong'), '20', '250']);
    const first = await p.waitFor(/^count 10 child (\d+) sees (\d+) ppid (\d+) self (\d+)$/);
    const [, child, sees, ppid, self] = first.map(Number);
    assert.equal(child, sees, 'the child reports the pid fork returned');
    assert.equal(ppid, self);
    const r = await checkpointKillRestart(2);
    const after = await r.waitFor(/^count (\d+) child (\d+) sees (\d+) ppid (\d+) self (\d+)$/);
    assert.deepEqual(after.slice(2).map(Number), [child, child, self, self], 'pids after restart are the original ones');
    const done = await r.waitFor(/^reaped (\d+) status (\d+)$/, 60000);
    assert.equal(Number(done[1]), child, 'waitpid(child) returns the original pid');
    assert.equal(Number(done[2]), 0);
    assert.equal((await r.exited).code, 0);
    const re = /^count (\d+) /;
    assertResumes(numbers(p.output(), re), numbers(r.output(), re), 'pingpong');
    assert.ok(!r.output().some((l) => l.startsWith('FAIL')), r.output().join('\n'));
  });

  it('children that exited unreaped (zombies) are still there to reap after restart, with their statuses', async () => {
    const p = sb.launch([program('zombie'), '30', '60']);
    const kids = await p.waitFor(/^children (\d+) (\d+)$/);
    await p.waitFor(/^count 5$/);
    const r = await checkpointKillRestart(1);
    const a = await r.waitFor(/^reaped (\d+) (\w+) (\d+)$/, 60000);
    const b = await r.waitFor(/^reaped (\d+) (\w+) (\d+)$/, 60000);
    assert.deepEqual(a.slice(1), [kids[1], 'exit', '42']);
    assert.deepEqual(b.slice(1), [kids[2], 'signal', '15']);
    await r.waitFor(/^done$/);
    assert.equal((await r.exited).code, 0);
  });

  it('a program forks 16 workers and collects them with waitpid after restart', async () => {
    const p = sb.launch([program('workers'), '16', '40', '50']);
    const started = new Map<number, number>();
    for (let i = 0; i < 16; i++) {
      const m = await p.waitFor(/^started (\d+) pid (\d+)$/);
      started.set(Number(m[2]), Number(m[1]));
    }
    await new Promise((r) => setTimeout(r, 300));
    const r = await checkpointKillRestart(17);
    const done = await r.waitFor(/^done reaped (\d+) of 16 sigchld (\d+) (\w+)$/, 60000);
    assert.equal(done[1], '16');
    assert.equal(done[3], 'ok', r.output().join('\n'));
    const reaped = r.output().map((l) => /^reaped (\d+) worker (\d+) status (\d+)$/.exec(l)).filter((m) => m !== null);
    assert.equal(reaped.length, 16);
    for (const m of reaped) {
      assert.equal(started.get(Number(m![1])), Number(m![2]), `pid ${m![1]} is worker ${m![2]}`);
      assert.equal(Number(m![3]), 10 + Number(m![2]));
    }
    assert.equal((await r.exited).code, 0);
  });

  it('a parent keeping 32 short-lived children reaps each by pid with its status, across checkpoints and restarts', async () => {
    // Checkpoints often land between a fork and the child's registration: the child must be in the checkpoint.
    let r = await survives(sb, [program('forkloop')], { alive: /^forks \d+$/ });
    for (let round = 0; round < 2; round++) {
      r = await restartChecked(sb, r, { alive: /^forks \d+$/ }, () => sb.killComputation());
    }
  });

  it('after lazy restarts every restarted process is registered under its old pid, and the parent reaps by pid', async () => {
    // DMTCP_LAZY=on: the restarted processes run while their pages are still coming in, so a main thread may be slow
    // to record its old pid; the checkpoint thread must not register the process with the coordinator before it has
    // (the parent would learn the child's new pid as the child's own, and wait for the old one in vain).
    const env = { DMTCP_LAZY: 'on' };
    let r = await survives(sb, [program('forkloop')], { alive: /^forks \d+$/ });
    const joins = () => [...sb.coordinator!.stderr.matchAll(/restarted: ([^[\s]+)\[(\d+)\]\S* as pid (\d+)/g)];
    for (let round = 0; round < 3; round++) {
      const seen = joins().length;
      r = await restartChecked(sb, r, { alive: /^forks \d+$/, env }, () => sb.killComputation());
      // Every process of the tree was restarted (children included, gone since): each with a new pid, not its old one.
      const restarted = joins().slice(seen);
      assert.ok(restarted.length >= 2, `the coordinator logged the restarted processes: ${restarted.map((m) => m[0]).join(", ")}`);
      for (const [line, , pid, vpid] of restarted) assert.notEqual(pid, vpid, `registered under its new pid: ${line}`);
    }
  });

  it('a process that execs itself every 50 ms is in every checkpoint, and its chain goes on after a restart', async () => {
    // Between exec and its new image's registration the process is known to no one; checkpoints wait for it.
    const p = sb.launch([program('execloop')]);
    await p.waitFor(/^image 2$/);
    for (let i = 0; i < 15; i++) {
      await sb.checkpoint();
      assert.equal(sb.images().length, 1, `checkpoint ${i + 1} wrote the process's image`);
    }
    const before = numbers(p.output(), /^image (\d+)$/);
    await p.kill();
    const r = sb.restart(sb.images());
    const first = Number((await r.waitFor(/^image (\d+)$/))[1]);
    assert.ok(first >= 3 && first <= before[before.length - 1] + 1, `the chain resumes where it was: ${first} after ${before.join(' ')}`);
    assert.equal(Number((await r.waitFor(/^image (\d+)$/))[1]), first + 1);
  });

  for (const mode of ['fork', 'vfork', 'clearenv']) {
    it(`a fork/exec chain three deep (${mode}) resumes and unwinds`, async () => {
      const p = sb.launch([program('chain'), '3', '50', '80', mode]);
      const leaf = await p.waitFor(/^leaf count (\d+) pid (\d+) ppid (\d+) preload (\w+)$/);
      assert.equal(leaf[4], 'yes', 'the exec\'d program is under checkpoint control');
      await p.waitFor(/^leaf count 8 /);
      const r = await checkpointKillRestart(4);
      const again = await r.waitFor(/^leaf count (\d+) pid (\d+) ppid (\d+) preload (\w+)$/);
      assert.equal(again[2], leaf[2], 'the leaf keeps its pid');
      assert.equal(again[3], leaf[3], 'and its parent');
      const levels: string[] = [];
      for (let d = 1; d <= 3; d++) {
        const m = await r.waitFor(/^level (\d+) pid (\d+) child (\d+) waited (\d+) status (\d+)$/, 60000);
        assert.equal(m[3], m[4], 'waitpid returned the child fork returned');
        assert.equal(m[5], '0');
        levels.push(m[1]);
      }
      assert.deepEqual(levels, ['1', '2', '3']);
      assert.equal((await r.exited).code, 0);
      assertResumes(numbers(p.output(), /^leaf count (\d+) /), numbers(r.output(), /^leaf count (\d+) /), 'leaf');
      assert.ok(!r.output().some((l) => l.startsWith('FAIL')), r.output().join('\n'));
    });
  }

  for (const mode of ['system', 'popen']) {
    it(`children made by ${mode}() and the shell in between are restarted too`, async () => {
      const p = sb.launch([program('chain'), '1', '50', '60', mode]);
      await p.waitFor(/^leaf count 5 /);
      const before = await sb.workers();
      assert.ok(before.length >= 3, `the program, the shell and the leaf: ${before.map((w) => w.program).join(', ')}`);
      const r = await checkpointKillRestart(before.length);
      const end = await r.waitFor(new RegExp(`^level 1 pid \\d+ ${mode} status (\\d+)$`), 60000);
      assert.equal(end[1], '0');
      assertResumes(numbers(p.output(), /^leaf count (\d+) /), numbers(r.output(), /^leaf count (\d+) /), mode);
    });
  }

  it('a shell starting short-lived commands all the time is checkpointed again and again', async () => {
    // Children are born, exec and exit while each checkpoint begins; none of that may break it.
    const script = 'n=0; while :; do /bin/true; n=$((n+1)); if [ $((n % 10)) = 0 ]; then echo "ran $n"; fi; done';
    const p = sb.launch(['bash', '-c', script]);
    await p.waitFor(/^ran \d+$/);
    for (let i = 0; i < 5; i++) await sb.checkpoint();
    await p.waitFor(/^ran \d+$/);
    const r = await checkpointKillRestart(undefined);
    for (let i = 0; i < 3; i++) await r.waitFor(/^ran \d+$/);
    assertResumes(numbers(p.output(), /^ran (\d+)$/).map((n) => n / 10), numbers(r.output(), /^ran (\d+)$/).map((n) => n / 10), 'shell loop');
  });

  it('bash -c running a pipeline of coreutils', async () => {
    const script = `${program('counter')} 40 | cat | grep --line-buffered count | cat`;
    const p = sb.launch(['bash', '-c', script]);
    await p.waitFor(/^count 8$/);
    const n = (await sb.workers()).length;
    assert.ok(n >= 5, `bash and four pipeline stages: ${n}`);
    const r = await checkpointKillRestart(n);
    for (let i = 0; i < 5; i++) await r.waitFor(/^count \d+$/);
    assertResumes(numbers(p.output(), /^count (\d+)$/), numbers(r.output(), /^count (\d+)$/), 'pipeline');
  });

  it('a file written at an offset continues at the right offset; O_APPEND logs stay appends', async () => {
    const data = sb.path('data.txt');
    const log = sb.path('log.txt');
    const p = sb.launch([program('filelog'), data, log, '30', '120']);
    await p.waitFor(/^count 20$/);
    const r = await checkpointKillRestart(2);
    await r.waitFor(/^child status 0$/, 60000);
    assert.equal((await r.exited).code, 0);
    assert.ok(!r.output().some((l) => l.includes('FAIL')), r.output().join('\n'));
    const lines = fs.readFileSync(data, 'utf8').split('\n').filter(Boolean);
    assert.deepEqual(lines, Array.from({ length: 120 }, (_, i) => `line ${String(i + 1).padStart(8, '0')}`), 'every line once, in order');
    const entries = fs.readFileSync(log, 'utf8').split('\n').filter(Boolean);
    for (const e of entries) assert.match(e, /^(parent|child) \d{8}$/, 'appends never overwrite each other');
    for (const who of ['parent', 'child']) {
      const seq = entries.filter((e) => e.startsWith(who)).map((e) => Number(e.split(' ')[1]));
      assert.equal(seq[seq.length - 1], 120, `${who} finished`);
      // After the restart the writer repeats what it wrote between the checkpoint and the kill, appended after it.
      assert.ok(new Set(seq).size === 120, `${who} wrote every number`);
    }
  });

  it('a deleted-but-open file keeps its contents', async () => {
    const p = sb.launch([program('deleted'), sb.path('scratch.bin'), '30', '0']);
    await p.waitFor(/^count 10 size \d+ ok$/);
    const r = await checkpointKillRestart(1);
    for (let i = 0; i < 5; i++) await r.waitFor(/^count \d+ size \d+ ok$/);
    assert.ok(!r.output().some((l) => l.startsWith('FAIL')), r.output().join('\n'));
    assert.ok(!fs.existsSync(sb.path('scratch.bin')), 'the file is still without a name');
    assertResumes(numbers(p.output(), /^count (\d+) /), numbers(r.output(), /^count (\d+) /), 'deleted');
  });

  it('shared-memory counters incremented by parent and child keep one value', async () => {
    const name = `dmtcp-test-${process.pid}-${Date.now()}`;
    const p = sb.launch([program('shmcounter'), name, sb.path('shared.map'), '20', '150']);
    await p.waitFor(/^count 20 /);
    const r = await checkpointKillRestart(2);
    const end = await r.waitFor(/^child status (\d+) rmid (\S+) unlink (\S+)$/, 60000);
    assert.deepEqual(end.slice(1), ['0', 'ok', 'ok'], r.output().join('\n'));
    assert.ok(!r.output().some((l) => l.startsWith('FAIL')), r.output().join('\n'));
    const re = /^count (\d+) anon (\d+) sysv (\d+) posix (\d+) file (\d+) ok$/;
    const last = r.output().map((l) => re.exec(l)).filter((m) => m !== null).pop()!;
    // Both processes incremented every region about as often: the totals are far above the parent's own count.
    for (const v of last.slice(2).map(Number)) assert.ok(v > Number(last[1]) * 1.5, `shared total ${v} after ${last[1]} rounds`);
    assertResumes(numbers(p.output(), re), numbers(r.output(), re), 'shmcounter');
  });

  it('a program talking to a child through a pseudo-terminal', async () => {
    const p = sb.launch([program('ptyecho'), '30', '0']);
    await p.waitFor(/^count 10 got echo: ping 10 tty yes fg yes$/);
    const r = await checkpointKillRestart(2);
    for (let i = 0; i < 5; i++) await r.waitFor(/^count \d+ got echo: ping \d+ tty yes fg yes$/);
    assertResumes(numbers(p.output(), /^count (\d+) /), numbers(r.output(), /^count (\d+) /), 'ptyecho');
  });

  it('a program under script(1) keeps its pseudo-terminal', async () => {
    const p = sb.launch(['script', '-qfec', `${program('counter')} 40`, '/dev/null']);
    await p.waitFor(/^count 8\r?$/);
    const n = (await sb.workers()).length;
    const r = await checkpointKillRestart(n);
    for (let i = 0; i < 5; i++) await r.waitFor(/^count \d+\r?$/);
    assertResumes(numbers(p.output(), /^count (\d+)\r?$/), numbers(r.output(), /^count (\d+)\r?$/), 'script');
  });

  it('/proc/<pid> paths reach the process the program knows, after restart', async () => {
    // The shell reads its child's /proc entry by the pid it knows and signals it by that pid.
    const script = [
      `${program('counter')} 40 > /dev/null & child=$!`,
      'while :; do',
      '  line=gone; read -r line < /proc/$child/stat',
      '  set -- $line',
      '  echo "tick child $child state $3 ppid-seen $4 self $$"',
      '  sleep 0.1',
      'done',
    ].join('\n');
    const p = sb.launch(['bash', '-c', script]);
    const before = await p.waitFor(/^tick child (\d+) state (\S+) ppid-seen (\d+) self (\d+)$/);
    assert.equal(before[3], before[4], 'the child\'s parent is the shell');
    // bash forks for `sleep`: a short-lived third process may be caught too.
    const r = await checkpointKillRestart(undefined);
    for (let i = 0; i < 3; i++) {
      const m = await r.waitFor(/^tick child (\d+) state (\S*) ppid-seen (\S*) self (\d+)$/);
      assert.equal(m[1], before[1]);
      assert.equal(m[4], before[4]);
      assert.match(m[2], /^[RSD]$/, `/proc/${m[1]}/stat still opens and shows a live process: ${m[0]}`);
    }
  });

  it('two restarts of the same images run side by side', async () => {
    const p = sb.launch([program('pingpong'), '20', '0']);
    const first = await p.waitFor(/^count 5 child (\d+) sees (\d+) ppid (\d+) self (\d+)$/);
    await sb.checkpoint();
    const images = sb.images();
    await sb.killComputation();
    const a = sb.restart(images, { join: false, args: ['--new-coordinator', '-p', '0', '--port-file', sb.path('a.port')] });
    const b = sb.restart(images, { join: false, args: ['--new-coordinator', '-p', '0', '--port-file', sb.path('b.port')] });
    for (const r of [a, b]) {
      for (let i = 0; i < 5; i++) {
        const m = await r.waitFor(/^count \d+ child (\d+) sees (\d+) ppid (\d+) self (\d+)$/);
        assert.deepEqual(m.slice(1), first.slice(1), 'each copy sees the original pids');
      }
    }
    for (const file of ['a.port', 'b.port']) {
      const port = Number(fs.readFileSync(sb.path(file), 'utf8'));
      const ws = await sb.workers(port);
      assert.equal(ws.length, 2);
      await sb.killComputation(port);
      await sb.tool('dmtcp_command', ['-p', String(port), '-q']);
    }
  });
});
