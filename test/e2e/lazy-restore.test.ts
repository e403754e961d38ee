// Lazy restore: the program runs again before its large areas are back; the decoder fills them through the process's
// userfaultfd while it runs. The program (lazymem) drops, moves, unmaps and forks memory at once after the restart,
// i.e. while pages are still coming, and checks after each change that it sees exactly what it should.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { ImageReader } from '../../src/pipeline/image-reader';
import { decodersIn } from '../helpers/decoders';
import { Proc, Sandbox, sandboxPerTest, program } from '../helpers/sandbox';
import { until } from '../helpers/until';

/** The decoder's summary of one lazy restore (dmtcp_restart --debug). */
const SUMMARY = /lazy restore of .*: ([\d.]+) MiB filled while the program ran, in \d+ ms; faults on missing pages (\d+), zero pages \d+, dropped pages (\d+), moves (\d+)/;

/** Waits for the summary (written once every page is in) and reads it. */
async function summaryOf(p: Proc): Promise<{ mib: number; faults: number; dropped: number; moves: number }> {
  const m = await p.waitForStderr(SUMMARY, 60000);
  return { mib: Number(m[1]), faults: Number(m[2]), dropped: Number(m[3]), moves: Number(m[4]) };
}

/** Whether process `pid` has a userfaultfd open (a lazy restore's decoder until every page is in). */
function holdsUserfaultfd(pid: number): boolean {
  return fs.readdirSync(`/proc/${pid}/fd`).some((fd) => {
    try {
      return fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === 'anon_inode:[userfaultfd]';
    } catch {
      return false;
    }
  });
}

/** Areas of process `pid` still registered with a userfaultfd for missing pages ("um" in smaps' VmFlags). */
function missingTracked(pid: number): number {
  return fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n').filter((l) => l.startsWith('VmFlags:') && / um\b/.test(l)).length;
}

/** Asks lazymem for one round (SIGUSR2) and waits for its verdict. */
async function round(p: Proc): Promise<void> {
  p.child.kill('SIGUSR2');
  const [line] = await p.waitFor(/^(round \d+ ok|FAIL .*)$/, 60000);
  assert.match(line, /^round \d+ ok$/);
}

describe('lazy restore', () => {
  let sb!: Sandbox;
  sandboxPerTest((s) => (sb = s));
  const lazyOn = { env: { DMTCP_LAZY: 'on' }, args: ['--debug'] };

  /** lazymem with `mib` of ballast, checked twice, checkpointed (one image: no round, so no child, under way). */
  async function launchAndCheckpoint(mib: number): Promise<string> {
    const p = sb.launch([program('lazymem'), String(mib)]);
    await p.waitFor(/^READY$/, 60000);
    await round(p);
    await round(p);
    await sb.checkpoint();
    await p.kill();
    const images = sb.images();
    assert.equal(images.length, 1);
    return images[0];
  }

  it('a program that drops, moves, unmaps and forks memory while its pages are coming back sees exactly what it should', async () => {
    // The rounds run right after the restart, while the 512 MiB of ballast (below the regions, so filled first) are
    // still coming in: the regions' pages are then still missing.
    const image = await launchAndCheckpoint(512);
    const r = sb.restart([image], lazyOn);
    await r.waitFor(/^tick \d+$/, 60000);
    await round(r);
    await round(r);
    const s = await summaryOf(r);
    assert.ok(s.mib >= 512, `the ballast came in after the program resumed (${s.mib} MiB)`);
    assert.ok(s.faults > 0, 'the program faulted on pages still to come');
    assert.ok(s.dropped > 0, 'the program dropped pages before they came (madvise, munmap)');
    assert.ok(s.moves > 0, 'the program moved pages before they came (mremap)');
    // Every page in: the decoder gave the areas back to the kernel and the program let go of its userfaultfd.
    await until('the end of the lazy restore in the program', () => !holdsUserfaultfd(r.pid) && missingTracked(r.pid) === 0, 10000);

    // A checkpoint asked for as soon as it runs again (while pages come in) waits for them, then the chain goes on.
    await r.kill();
    const r1 = sb.restart([image], lazyOn);
    await r1.waitFor(/^tick \d+$/, 60000);
    r1.child.kill('SIGUSR2');
    fs.rmSync(image);
    await sb.checkpoint();
    const [line] = await r1.waitFor(/^(round \d+ ok|FAIL .*)$/, 60000);
    assert.match(line, /^round \d+ ok$/);
    await summaryOf(r1);
    await r1.kill();
    const r2 = sb.restart(sb.images(), lazyOn);   // with the round's child, if the checkpoint caught one
    await r2.waitFor(/^tick \d+$/, 60000);
    await round(r2);
    await round(r2);
    assert.ok((await summaryOf(r2)).mib >= 512);
  });

  it('a damaged page found after the program resumed kills it and says so', async () => {
    const image = await launchAndCheckpoint(256);
    // Damage the last chunk of memory in the image, which the background fill reaches last (the regions at the top).
    const reader = ImageReader.open(image);
    reader.close();
    const last = reader.chunks.filter((c) => c.header.storedLength > 0).sort((x, y) => x.at - y.at).pop()!;
    const fd = fs.openSync(image, 'r+');
    const at = last.at + last.headerBytes.length + Math.floor(last.header.storedLength / 2);
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, at);
    b[0] ^= 0x5a;
    fs.writeSync(fd, b, 0, 1, at);
    fs.closeSync(fd);
    const r = sb.restart([image], { env: { DMTCP_LAZY: 'on' } });
    // On a busy machine the fill may reach the damage before the program's first tick; either way it must die.
    const ticked = await Promise.race([r.waitFor(/^tick \d+$/, 60000).then(() => true, () => false), r.exited.then(() => false)]);
    if (ticked) r.child.kill('SIGUSR2');   // reads everything: reaches the damaged chunk if the fill has not yet
    const end = await r.exited;
    assert.equal(end.signal, 'SIGKILL', `the restarted process was killed (${JSON.stringify(end)}); stderr: ${r.stderr}; output: ${r.output().slice(-3).join(' | ')}`);
    // The decoder says why on dmtcp_restart's stderr (its own descriptor for it), just after the kill.
    await r.waitForStderr(/dmtcp_restart: .*checksum mismatch.*found after the program resumed \(lazy restore\), so it was killed; restart with --no-lazy/, 10000);
    assert.ok(!r.output().some((l) => l.startsWith('round') || l.startsWith('FAIL')), 'the program never saw the damaged memory');
  });

  it('a decoder that dies while pages are still coming ends the program with a clear message, never with zeros', async () => {
    const image = await launchAndCheckpoint(512);
    for (let attempt = 1; ; attempt++) {
      const r = sb.restart([image], { env: { DMTCP_LAZY: 'on' } });
      await r.waitFor(/^tick \d+$/, 60000);
      const decoders = decodersIn(image);
      assert.equal(decoders.length, 1, `one decoder restarts ${image}`);
      const decoder = decoders[0];
      process.kill(decoder, 'SIGSTOP');
      if (!holdsUserfaultfd(decoder)) {
        // Every page came in before the decoder could be stopped: no lazy restore left to break; try again.
        process.kill(decoder, 'SIGCONT');
        await r.kill();
        assert.ok(attempt < 3, 'three restarts had every page in before the decoder could be stopped');
        continue;
      }
      // The program holds a userfaultfd of its own meanwhile: once the decoder is gone, the kernel keeps its missing
      // pages missing (a thread touching one waits) instead of filling them with zeros.
      assert.ok(holdsUserfaultfd(r.pid), 'the restored program holds a copy of the userfaultfd while pages are coming');
      assert.ok(missingTracked(r.pid) > 0, 'areas of the restored program are registered for missing pages');
      process.kill(decoder, 'SIGKILL');
      const end = await r.exited;
      assert.equal(end.code, 70, `the program ended itself (${JSON.stringify(end)}); stderr: ${r.stderr}; output: ${r.output().slice(-3).join(' | ')}`);
      assert.match(r.stderr, /the restart's decoder ended before every page of this lazily restored process was back; it cannot go on\. Restart it again \(dmtcp_restart --no-lazy puts every page back before the program resumes\)/);
      return;
    }
  });

  it('with --no-lazy every page is back before the program resumes', async () => {
    const image = await launchAndCheckpoint(128);
    const r = sb.restart([image], { env: { DMTCP_LAZY: 'on' }, args: ['--debug', '--no-lazy'] });
    await r.waitFor(/^tick \d+$/, 60000);
    await round(r);
    assert.doesNotMatch(r.stderr, SUMMARY);
  });

  it('where the kernel refuses userfaultfd, every page is back before the program resumes, and --debug says why', async () => {
    // As for an unprivileged user under vm.unprivileged_userfaultfd=0: nouffd makes the system call fail with EPERM
    // for dmtcp_restart and everything it starts, the restorer included.
    const image = await launchAndCheckpoint(128);
    const r = sb.restart([image], { ...lazyOn, wrapper: [program('nouffd')] });
    await r.waitFor(/^tick \d+$/, 60000);
    await round(r);
    await round(r);
    await r.waitForStderr(/dmtcp_restart: no lazy restore of .*: the kernel refuses userfaultfd to this user .*; every page was put back before the program resumed/, 10000);
    assert.doesNotMatch(r.stderr, SUMMARY);
  });

  it('a bad DMTCP_LAZY value is refused with a clear message', async () => {
    const image = await launchAndCheckpoint(16);
    const r = await sb.tool('dmtcp_restart', ['-p', String(sb.port), image], { DMTCP_LAZY: 'sometimes' });
    assert.equal(r.code, 2);
    assert.match(r.stderr.trim(), /^dmtcp_restart: DMTCP_LAZY must be auto, on \(1\) or off \(0\), not "sometimes"$/);
  });
});
