// Incremental images on a real program under a real coordinator: dirtypages rewrites a known set of pages of its
// buffer every tick. Five generations make a chain (one full image, then images of the changed pages only); the
// program comes back from each of them with its checksum intact and its count going on; readimage shows, verifies,
// diffs and extracts through the chain; a missing or replaced parent is one clear line; a full image comes every N.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Sandbox, sandboxPerTest, program, type Proc, type RunResult } from '../helpers/sandbox';
import { assertContinues, counts } from '../helpers/counter';
import { assertOneLineError } from '../helpers/errors';
import { literally } from '../helpers/regexp';

const MIB = 16;
const STRIDE = 64;
const PAGE = 4096;

interface Summary {
  fileBytes: number;
  generation: number;
  incremental?: { depth: number; parent: string | null; parentGeneration?: number; parentPages: number; storedPages: number; full?: string };
}

interface DiffDoc {
  areas: { start: string; end: string; status: string; changedPages: string[]; changedPagesOmitted: number }[];
}

/** fill_random() of test/programs/common.h: xorshift64 words from `seed`. */
function fillRandom(bytes: number, seed: bigint): Buffer {
  const b = Buffer.alloc(bytes);
  let s = seed | 1n;
  for (let i = 0; i < bytes; i += 8) {
    s ^= BigInt.asUintN(64, s << 13n);
    s ^= s >> 7n;
    s ^= BigInt.asUintN(64, s << 17n);
    b.writeBigUInt64LE(s, i);
  }
  return b;
}

function assertOk(r: RunResult, label: string): void {
  assert.equal(r.code, 0, `${label}: exit ${r.code}; stderr: ${r.stderr}`);
}

describe('incremental images', function () {
  this.timeout(300000);
  let sb!: Sandbox;
  sandboxPerTest((s) => (sb = s));

  const readimage = (...args: string[]) => sb.tool('readimage', args);
  const summary = async (file: string): Promise<Summary> => {
    const r = await readimage('--json', file);
    assertOk(r, `readimage ${path.basename(file)}`);
    return JSON.parse(r.stdout) as Summary;
  };

  /** Waits for a few counts, checkpoints, and returns the last count printed before the checkpoint returned. */
  async function generation(p: Proc): Promise<number> {
    await p.waitFor(/^count \d+$/);
    await p.waitFor(/^count \d+$/);
    await sb.checkpoint();
    const c = counts(p.output());
    return c[c.length - 1];
  }

  /** Restarts from `start` (an image, or the generated script), checks the program's checksum and its counting. */
  async function restartAndCheck(r: Proc, before: number[], after: number, upTo: number, label: string, then?: () => Promise<void>): Promise<void> {
    for (let i = 0; i < 3; i++) await r.waitFor(/^count \d+$/, 60000);
    r.child.kill('SIGUSR1');
    const [verdict] = await r.waitFor(/^(PASS|FAIL)\b.*$/, 60000);
    assert.match(verdict, /^PASS /, `${label}: ${verdict}`);
    const resumed = counts(r.output());
    assertContinues(before, resumed, label);
    assert.ok(resumed[0] > after && resumed[0] <= upTo + 1, `${label}: resumed at ${resumed[0]}, expected after ${after} and at most ${upTo + 1}`);
    await then?.();
    await r.kill();
  }

  it('five generations: later images are small, each restarts intact, readimage follows the chain', async () => {
    const p = sb.launch([program('dirtypages'), String(MIB), String(STRIDE), '40'], { args: ['--incremental'] });
    const [, bufferHex, pagesText, hotText] = await p.waitFor(/^READY buffer=0x([0-9a-f]+) pages=(\d+) hot=(\d+) checksum=\w+$/);
    const buffer = BigInt(`0x${bufferHex}`);
    const hot = Number(hotText);
    assert.equal(Number(pagesText), (MIB << 20) / PAGE);
    const seenAt = [0];
    for (let gen = 1; gen <= 5; gen++) seenAt.push(await generation(p));
    const images = sb.images();
    assert.deepEqual(images.map((f) => /_(\d{5})\.dmtcp$/.exec(f)?.[1]), ['00001', '00002', '00003', '00004', '00005'], '--incremental turns unique names on');
    const names = images.map((f) => path.basename(f));

    // The chain, as readimage shows it, and the sizes: only the first image holds the whole buffer.
    const s = await Promise.all(images.map(summary));
    assert.equal(s[0].incremental?.parent, null, 'generation 1 is full');
    assert.ok(s[0].fileBytes > (MIB << 20), `generation 1 holds the buffer (${s[0].fileBytes} bytes)`);
    for (let i = 1; i < 5; i++) {
      const inc = s[i].incremental!;
      assert.equal(inc.parent, names[i - 1], `generation ${i + 1} names its parent`);
      assert.equal(inc.parentGeneration, i);
      assert.equal(inc.depth, i);
      assert.ok(inc.parentPages >= (MIB << 20) / PAGE - hot, `generation ${i + 1} leaves the unchanged buffer to its parent (${inc.parentPages} pages)`);
      assert.ok(inc.storedPages >= hot && inc.storedPages < hot + 400, `generation ${i + 1} stores the hot pages and a few others (${inc.storedPages})`);
      assert.ok(s[i].fileBytes * 20 < s[0].fileBytes, `generation ${i + 1} is small: ${s[i].fileBytes} bytes against ${s[0].fileBytes}`);
    }
    const text = (await readimage(images[4])).stdout;
    assert.match(text, new RegExp(`incremental: parent ${names[3]} \\(generation 4\\), \\d+ pages left to it, \\d+ stored; chain depth 4`));

    // --verify follows the chain and checks every page taken from it.
    const v = await readimage('--verify', images[4]);
    assertOk(v, 'readimage --verify');
    assert.match(v.stdout, new RegExp(`PARENT chunks \\(.*\\) checked against 4 parent images \\(${names[3]}, ${names[2]}, ${names[1]}, ${names[0]}\\), every checksum matches`));

    // reencode needs no parent: PARENT blocks are copied as they are, and the image comes out identical.
    const re = await readimage('reencode', images[4], '-o', sb.path('reencoded.dmtcp'));
    assertOk(re, 'readimage reencode');
    assert.match(re.stdout, /identical/);

    // diff across two incremental images: in the buffer, exactly the hot pages changed.
    const d = await readimage('diff', '--json', images[3], images[4]);
    assertOk(d, 'readimage diff');
    const hotPages = Array.from({ length: hot }, (_, i) => '0x' + (buffer + BigInt(i * STRIDE * PAGE)).toString(16).padStart(12, '0'));
    const inBuffer = (JSON.parse(d.stdout) as DiffDoc).areas.flatMap((a) => a.changedPages)
      .filter((x) => BigInt(x) >= buffer && BigInt(x) < buffer + BigInt(MIB << 20));
    assert.deepEqual(inBuffer, hotPages, 'diff names exactly the hot pages of the buffer');

    // extract through the chain: the buffer as generation 5 had it; every page but the hot ones as first filled.
    const out = sb.path('buffer.bin');
    const range = `${buffer.toString(16)}-${(buffer + BigInt(MIB << 20)).toString(16)}`;
    assertOk(await readimage('extract', images[4], '--range', range, '-o', out), 'readimage extract');
    const got = fs.readFileSync(out);
    const initial = fillRandom(MIB << 20, 4242n);
    assert.equal(got.length, initial.length);
    const differing: number[] = [];
    for (let pg = 0; pg < got.length / PAGE; pg++) {
      if (!got.subarray(pg * PAGE, (pg + 1) * PAGE).equals(initial.subarray(pg * PAGE, (pg + 1) * PAGE))) differing.push(pg);
    }
    assert.deepEqual(differing, Array.from({ length: hot }, (_, i) => i * STRIDE), 'only the hot pages differ from the first fill');
    await p.kill();

    // Each generation restarts with its checksum intact and its count going on from that generation: the newest
    // through the generated restart script, the others with dmtcp_restart.
    const before = counts(p.output());
    const script = sb.spawnScript(sb.path('dmtcp_restart_script.sh'), ['-p', String(sb.port), '-j']);
    let sixth = 0;
    await restartAndCheck(script, before, seenAt[4], seenAt[5], 'generation 5 (restart script)', async () => {
      // The restarted process goes on with the chain: generation 6 names generation 5.
      await sb.checkpoint();
      const c = counts(script.output());
      sixth = c[c.length - 1];
    });
    const gen6 = sb.images()[5];
    assert.match(gen6, /_00006\.dmtcp$/);
    assert.equal((await summary(gen6)).incremental?.parent, names[4], 'generation 6, after the restart, names generation 5');
    await restartAndCheck(sb.restart([gen6]), [...before, ...counts(script.output())], seenAt[5], sixth, 'generation 6');
    for (let gen = 4; gen >= 1; gen--) {
      await restartAndCheck(sb.restart([images[gen - 1]]), before, seenAt[gen - 1], seenAt[gen], `generation ${gen}`);
    }

    // A missing parent: restarting or verifying generation 5 names the missing link and a full image to use.
    const aside = sb.path('aside.dmtcp');
    fs.renameSync(images[2], aside);
    const missing = new RegExp(`${literally(images[3])} needs parent ${names[2]}, which is missing: restart from a full image such as ${names[0]} or restore the file$`);
    assertOneLineError(await sb.tool('dmtcp_restart', ['-p', String(sb.port), '-j', images[4]]), missing, 'dmtcp_restart with a missing parent');
    for (const args of [['--verify', images[4]], ['diff', images[3], images[4]], ['extract', images[4], '--range', range, '-o', out]]) {
      const r = await readimage(...args);
      assertOneLineError(r, missing, `readimage ${args[0]} with a missing parent`);
      assert.equal(r.code, 3);
    }
    // A replaced parent is refused too.
    fs.copyFileSync(images[1], images[2]);
    assertOneLineError(await sb.tool('dmtcp_restart', ['-p', String(sb.port), '-j', images[4]]),
      new RegExp(`needs parent ${names[2]}, which was replaced by another image \\(.*\\): restart from a full image such as ${names[0]} or restore the file$`), 'dmtcp_restart with a replaced parent');
    // Put back, the chain works again.
    fs.renameSync(aside, images[2]);
    assertOk(await readimage('--verify', images[4]), 'readimage --verify after the parent is back');
  });

  it('a full image every N generations (DMTCP_INCREMENTAL_FULL_EVERY), which restarts without its predecessors', async () => {
    const p = sb.launch([program('dirtypages'), '4', '16', '40'], { env: { DMTCP_INCREMENTAL: '1', DMTCP_INCREMENTAL_FULL_EVERY: '3' } });
    await p.waitFor(/^READY /);
    const seenAt = [0];
    for (let gen = 1; gen <= 5; gen++) seenAt.push(await generation(p));
    const images = sb.images();
    const kinds = (await Promise.all(images.map(summary))).map((x) => (x.incremental!.parent ? `incremental(${x.incremental!.depth})` : `full: ${x.incremental!.full}`));
    assert.deepEqual(kinds, ['full: first image', 'incremental(1)', 'incremental(2)', 'full: a full image every 3 generations', 'incremental(1)']);
    await p.kill();
    const before = counts(p.output());
    // Generation 4 is full: it needs nothing older, and generation 5 needs only it.
    for (const old of images.slice(0, 3)) fs.unlinkSync(old);
    await restartAndCheck(sb.restart([images[4]]), before, seenAt[4], seenAt[5], 'generation 5 after 1-3 were deleted');
  });

  it('refuses --full-every without --incremental, and a bad count, before starting anything', async () => {
    const r1 = await sb.tool('dmtcp_launch', ['-p', String(sb.port), '-j', '--full-every', '4', program('dirtypages')]);
    assertOneLineError(r1, /--full-every N applies to incremental images; add --incremental/, '--full-every alone');
    const r2 = await sb.tool('dmtcp_launch', ['-p', String(sb.port), '-j', '--incremental', '--full-every', '0', program('dirtypages')]);
    assertOneLineError(r2, /--full-every must be between 1 and 1000000, got 0/, '--full-every 0');
    assert.equal((await sb.workers()).length, 0, 'nothing was launched');
  });
});
