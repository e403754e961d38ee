// Nothing is lost: a checkpoint that dies halfway leaves the previous image as it was and restartable, and damaged or
// truncated images are refused by readimage and dmtcp_restart with one line naming the offset.
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ImageReader } from '../../src/pipeline/image-reader';
import { assertOneLineError } from '../helpers/errors';
import { Sandbox, sandboxPerTest, program } from '../helpers/sandbox';
import { assertContinues, counts } from '../helpers/counter';
import { decodersIn } from '../helpers/decoders';
import { literally } from '../helpers/regexp';
import { until } from '../helpers/until';

function sha(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Waits until no decoder works on images under `dir` (it leaves once dmtcp_restart has); fails after 10 s. */
async function noDecoderLeft(dir: string): Promise<void> {
  const deadline = Date.now() + 10000;
  while (decodersIn(dir).length > 0) {
    if (Date.now() > deadline) assert.fail(`decoder(s) ${decodersIn(dir).join(', ')} still running after dmtcp_restart gave up`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('failures', () => {
  let sb!: Sandbox;
  sandboxPerTest((s) => (sb = s));

  it('a checkpoint killed halfway leaves the previous image intact and restartable', async () => {
    const p = sb.launch([program('bigmem'), '512']);
    const [, sum] = await p.waitFor(/^READY checksum=([0-9a-f]+)$/, 60000);
    await sb.checkpoint();
    const [image] = sb.images();
    const before = sha(image);
    const second = sb.command('-bc');
    const deadline = Date.now() + 30000;
    while (!fs.readdirSync(sb.dir).some((f) => f.includes('.dmtcp.tmp-'))) {
      assert.ok(Date.now() < deadline, 'the second checkpoint never started writing');
      await new Promise((r) => setTimeout(r, 5));
    }
    await p.kill();
    const r = await second;
    assert.equal(r.code, 1, `the interrupted checkpoint reports failure: ${r.stderr}`);
    assert.match(r.stderr, /lost during the checkpoint|stream ended|closed its stream/);
    assert.equal(sha(image), before, 'the previous image is byte for byte the same');
    await new Promise((res) => setTimeout(res, 200));
    assert.deepEqual(fs.readdirSync(sb.dir).filter((f) => f.includes('.tmp-')), [], 'no temporary image is left behind');
    const restarted = sb.restart([image]);
    await restarted.waitFor(/^alive/, 60000);
    restarted.child.kill('SIGUSR1');
    const [verdict] = await restarted.waitFor(/^(PASS|FAIL).*$/, 30000);
    assert.equal(verdict, `PASS checksum=${sum}`);
  });

  it('a process whose coordinator dies mid-checkpoint is not left frozen', async () => {
    const p = sb.launch([program('counter'), '20']);
    await p.waitFor(/^count 3$/);
    await sb.coordinator!.kill('SIGKILL');
    const n = counts(p.output()).length;
    await p.waitFor(/^count \d+$/);
    assert.ok(counts(p.output()).length > n, 'the program keeps running without its coordinator');
  });

  it('refuses images of two checkpoints of one computation, naming them, and restarts the latest alone', async () => {
    const p = sb.launch([program('counter'), '20']);
    await p.waitFor(/^count 3$/);
    await sb.checkpoint();
    const [image] = sb.images();
    // Set aside elsewhere: in the image directory, the next checkpoint would remove it as superseded.
    fs.mkdirSync(sb.path('aside'));
    const older = sb.path('aside', 'ckpt_counter_older.dmtcp');
    fs.copyFileSync(image, older);
    await p.waitFor(/^count 6$/);
    await sb.checkpoint();
    await p.kill();
    const r = await sb.tool('dmtcp_restart', ['-p', String(sb.port), '-j', older, image]);
    assertOneLineError(r, /ckpt_counter_older\.dmtcp is from checkpoint 1 and .*ckpt_counter_[^ ]*\.dmtcp from checkpoint 2 of the same computation; restart the images of one checkpoint together \(dmtcp_restart_script\.sh names those of the latest\)/, 'dmtcp_restart');
    assert.equal(r.code, 3);
    await noDecoderLeft(sb.dir);
    const latest = sb.restart([image]);
    await latest.waitFor(/^count \d+$/, 60000);
    assert.ok(counts(latest.output())[0] > 6, `the latest checkpoint restarts: ${latest.output().slice(0, 2).join(' | ')}`);
  });

  it('removes the image of a process gone since the last checkpoint, so the directory restarts as one checkpoint', async () => {
    const a = sb.launch([program('counter'), '20']);
    const b = sb.launch([program('counter'), '20']);
    await a.waitFor(/^count 3$/);
    await b.waitFor(/^count 3$/);
    await sb.checkpoint();
    const first = sb.images();
    assert.equal(first.length, 2);
    const imageOf = (pid: number) => first.find((f) => {
      const r = ImageReader.open(f);
      r.close();
      return r.process.pid === pid;
    })!;
    const [imageA, imageB] = [imageOf(a.pid), imageOf(b.pid)];
    // Beside them, what must stay: a generation-numbered image (a history kept on purpose) and a file that is no image.
    const numbered = sb.path('ckpt_counter_kept_00001.dmtcp');
    fs.copyFileSync(imageB, numbered);
    const junk = sb.path('ckpt_junk.dmtcp');
    fs.writeFileSync(junk, 'not an image');
    await b.kill();
    await until('the coordinator to see the killed counter go', async () => (await sb.workers()).length === 1);
    await a.waitFor(/^count 6$/);
    await sb.checkpoint();
    assert.ok(!fs.existsSync(imageB), 'the image of the process gone since checkpoint 1 is removed');
    assert.deepEqual(sb.images(), [imageA, junk, numbered].sort());
    await sb.coordinator!.waitForStderr(new RegExp(`removed 1 image\\(s\\) of processes gone since an earlier checkpoint: ${literally(path.basename(imageB))}\n`), 10000);
    fs.rmSync(numbered);
    fs.rmSync(junk);
    await a.kill();
    const r = sb.restart(sb.images());
    await r.waitFor(/^count \d+$/, 60000);
    await r.waitFor(/^count \d+$/, 60000);
    assertContinues(counts(a.output()), counts(r.output()));
  });

  describe('damaged images', () => {
    let image: string;
    let reader: ImageReader;
    let bytes: Buffer;
    beforeEach(async () => {
      const p = sb.launch([program('counter'), '50']);
      await p.waitFor(/^count 3$/);
      await sb.checkpoint();
      await p.kill();
      [image] = sb.images();
      reader = ImageReader.open(image);
      reader.close();
      bytes = fs.readFileSync(image);
    });

    function variant(name: string, make: (b: Buffer) => Buffer): string {
      const file = sb.path(`${name}.dmtcp`);
      fs.writeFileSync(file, make(Buffer.from(bytes)));
      return file;
    }

    const structural: [string, (b: Buffer, r: ImageReader) => Buffer, RegExp][] = [
      ['a text file', () => Buffer.from('hello, this is not a checkpoint image at all\n'.repeat(10)), /not a dmtcp image: expected magic "DMTCPIMG", found "hello, t"/],
      ['an empty file', () => Buffer.alloc(0), /offset 0: empty file, not a dmtcp image/],
      ['a newer format version', (b) => (b.writeUInt32LE(2, 8), b), /offset 8: image format version 2 is not supported: this build reads version 1/],
      ['a damaged file header', (b) => (b[30] ^= 1, b), /offset 60: file header check failed \(expected 0x[0-9a-f]{8}, found 0x[0-9a-f]{8}\)/],
      ['a damaged block header', (b, r) => (b[r.chunks[0].at + 13] ^= 1, b), /offset \d+: block header check failed/],
      ['a damaged area table', (b, r) => (b[r.chunks[0].at - 100] ^= 1, b), /offset \d+: payload checksum mismatch/],
      ['a truncated image (half)', (b) => b.subarray(0, b.length >> 1), /offset \d+: truncated at \d+ bytes: the block at offset \d+ needs \d+ bytes|offset \d+: missing trailer/],
      ['a truncated image (trailer cut)', (b) => b.subarray(0, b.length - 10), /offset \d+: (truncated|missing trailer|\d+ stray bytes)/],
      ['extra bytes appended', (b) => Buffer.concat([b, Buffer.from('junk')]), /offset \d+: the trailer is here, followed by 4 unexpected bytes/],
    ];
    for (const [name, make, pattern] of structural) {
      it(`refuses ${name} in readimage and dmtcp_restart`, async () => {
        const file = variant(name.replace(/\W+/g, '_'), (b) => make(b, reader));
        assertOneLineError(await sb.tool('readimage', [file]), pattern, `readimage ${name}`);
        const r = await sb.tool('dmtcp_restart', ['-p', String(sb.port), '-j', file]);
        assertOneLineError(r, pattern, `dmtcp_restart ${name}`);
        await noDecoderLeft(sb.dir);   // started before the checks, it must not outlive the refusal
      });
    }

    it('refuses a damaged chunk payload: readimage --verify and dmtcp_restart name its offset', async () => {
      const chunk = reader.chunks.find((c) => c.header.storedLength > 64)!;
      const file = variant('payload', (b) => (b[chunk.at + 48 + 10] ^= 0x10, b));
      const plain = await sb.tool('readimage', [file]);
      assert.equal(plain.code, 0, 'the structure is intact, so the summary still works');
      const pattern = new RegExp(`offset ${chunk.at}: chunk of area ${chunk.header.area} at \\+0x[0-9a-f]+: payload checksum mismatch`);
      assertOneLineError(await sb.tool('readimage', ['--verify', file]), pattern, 'readimage --verify');
      const r = await sb.tool('dmtcp_restart', ['-p', String(sb.port), '-j', file]);
      assertOneLineError(r, pattern, 'dmtcp_restart');
      await noDecoderLeft(sb.dir);
    });

    it('refuses an image of a missing file name', async () => {
      assertOneLineError(await sb.tool('readimage', [sb.path('nope.dmtcp')]), /nope\.dmtcp: cannot open image: no such file/, 'readimage');
      assertOneLineError(await sb.tool('dmtcp_restart', ['-p', String(sb.port), '-j', sb.path('nope.dmtcp')]), /nope\.dmtcp: cannot open image: no such file/, 'dmtcp_restart');
    });

    it('still restarts the undamaged original', async () => {
      const r = sb.restart([image]);
      for (let i = 0; i < 3; i++) await r.waitFor(/^count \d+$/);
      assert.ok(counts(r.output()).length >= 3);
      assertContinues([...Array(counts(r.output())[0]).keys()], counts(r.output()));
    });
  });
});
