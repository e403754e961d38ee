// User plugins (docs/PLUGINS.md) with real programs under a real coordinator: the workdir example keeps a directory in
// step with the program across checkpoint, kill and restart; the brotli example codec writes images that restart;
// missing or broken plugins are reported in one line; a blocking checkpoint reports its progress when asked.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../../src/paths';
import { ImageReader } from '../../src/pipeline/image-reader';
import { CoordinatorClient } from '../../src/cli/client';
import { Sandbox, program, type Proc } from '../helpers/sandbox';
import { check } from '../helpers/survive';
import { assertContinues, counts } from '../helpers/counter';
import { assertOneLineError } from '../helpers/errors';

const WORKDIR = path.join(packageRoot, 'dist', 'examples', 'workdir-plugin', 'index.js');
const BROTLI = path.join(packageRoot, 'dist', 'examples', 'brotli-codec', 'index.js');

function readImage<T>(file: string, fn: (r: ImageReader) => T): T {
  const r = ImageReader.open(file);
  try {
    return fn(r);
  } finally {
    r.close();
  }
}

/** counter.log as the program writes it: "line N" for N = 1.. */
function logLines(dir: string): number[] {
  return fs.readFileSync(path.join(dir, 'counter.log'), 'utf8').split('\n').filter(Boolean).map((l) => Number(/^line (\d+)$/.exec(l)?.[1] ?? NaN));
}

async function nextCounts(p: Proc, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await p.waitFor(/^count \d+$/);
}

describe('user plugins', function () {
  this.timeout(180000);
  let sb: Sandbox;
  beforeEach(async () => {
    sb = Sandbox.create();
    await sb.startCoordinator();   // started before any plugin is named: the plugin list travels with the program
  });
  afterEach(() => sb.cleanup());

  describe('workdir example', () => {
    it('saves the directory in the image and puts it back before the restarted program runs, after it was wiped', async () => {
      const dir = sb.path('work');
      const p = sb.launch([program('workdir'), dir, '100'], { args: ['--plugin', `${WORKDIR},dir=${dir}`] });
      await p.waitFor(/^READY$/);
      await nextCounts(p, 3);
      await sb.checkpoint();
      assert.match(await check(p), /^PASS\b/, 'the original after the checkpoint');
      const [image] = sb.images();
      const saved = readImage(image, (r) => ({ meta: r.meta, sections: [...r.plugins.keys()].sort(), data: r.plugins.get('workdir/data')! }));
      assert.deepEqual(saved.sections, ['workdir/data', 'workdir/manifest']);
      assert.deepEqual(saved.meta.userPlugins, [{ name: 'workdir', path: WORKDIR, options: { dir }, sections: ['manifest', 'data'], codecs: [] }]);
      const savedLines = saved.data.toString('utf8').split('\n').filter((l) => l.startsWith('line ')).length;
      assert.ok(savedLines >= 4, `the image holds counter.log's ${savedLines} lines`);

      await nextCounts(p, 3);
      await p.kill();
      assert.ok(logLines(dir).length > savedLines, 'the directory moved on after the checkpoint');
      fs.rmSync(dir, { recursive: true, force: true });

      const r = sb.restart([image]);   // no --plugin: the image says where the plugin is
      await nextCounts(r, 3);
      assertContinues(counts(p.output()), counts(r.output()));
      // Frozen after a tick's write and before its "count" line, it prints that count first.
      assert.ok([savedLines, savedLines + 1].includes(counts(r.output())[0]), `resumed where the saved directory was (${savedLines} lines)`);
      assert.match(await check(r), /^PASS\b/, 'the restarted program finds its files as its counter says');
      const lines = logLines(dir);
      assert.deepEqual(lines, lines.map((_, i) => i + 1), 'counter.log counts on without a gap or a repeat');
      assert.equal(r.stderr.includes('FAIL'), false);
    });

    it('puts a directory that moved on back as it was, with the plugin given to dmtcp_restart; later checkpoints keep it', async () => {
      const dir = sb.path('work');
      const p = sb.launch([program('workdir'), dir, '100'], { args: ['--plugin', `${WORKDIR},dir=${dir}`] });
      await p.waitFor(/^READY$/);
      await nextCounts(p, 2);
      await sb.checkpoint();
      const at = counts(p.output()).pop()!;
      await nextCounts(p, 4);
      await p.kill();
      fs.writeFileSync(path.join(dir, 'stray'), 'written after the checkpoint');
      fs.mkdirSync(path.join(dir, 'sub', 'newdir'));

      const r = sb.restart(sb.images(), { args: ['--plugin', WORKDIR] });   // options as the image recorded them
      await nextCounts(r, 2);
      assertContinues(counts(p.output()), counts(r.output()));
      assert.ok(counts(r.output())[0] <= at + 1, `resumed from the checkpoint (${counts(r.output())[0]} <= ${at + 1})`);
      assert.equal(fs.existsSync(path.join(dir, 'stray')), false, 'a file made after the checkpoint is gone');
      assert.equal(fs.existsSync(path.join(dir, 'sub', 'newdir')), false, 'so is a directory');
      assert.match(await check(r), /^PASS\b/);

      // The restarted process checkpoints with the plugin again (the list it was given at restart).
      await sb.checkpoint();
      const again = readImage(sb.images()[0], (r2) => ({ gen: r2.process.generation, plugins: r2.meta.userPlugins as { path: string; options: unknown }[], keys: [...r2.plugins.keys()] }));
      assert.equal(again.gen, 2);
      assert.deepEqual(again.plugins.map((x) => [x.path, x.options]), [[WORKDIR, { dir }]]);
      assert.ok(again.keys.includes('workdir/data'));
    });

    it('restart of an image whose plugin is gone names the plugin and what to pass; passing it works', async () => {
      const dir = sb.path('work');
      const copy = sb.path('plugins', 'workdir.js');
      fs.mkdirSync(path.dirname(copy));
      fs.copyFileSync(WORKDIR, copy);
      const p = sb.launch([program('workdir'), dir, '100'], { args: ['--plugin', `${copy},dir=${dir}`] });
      await p.waitFor(/^READY$/);
      await sb.checkpoint();
      await p.kill();
      fs.rmSync(copy);
      const [image] = sb.images();

      const bad = await sb.tool('dmtcp_restart', ['-p', String(sb.port), '-j', image]);
      assertOneLineError(bad, /^dmtcp_restart: \S+\.dmtcp needs plugin "workdir" \(its sections manifest, data\), recorded as \S+plugins\/workdir\.js, which cannot be loaded \(no such file\); pass --plugin PATH$/, 'plugin gone');
      assert.equal(bad.code, 3);

      const r = sb.restart([image], { args: ['--plugin', WORKDIR] });
      await nextCounts(r, 2);
      assertContinues(counts(p.output()), counts(r.output()));
      assert.match(await check(r), /^PASS\b/);
      // The restarted process was told the plugin's new place: its next checkpoint loads it from there.
      await sb.checkpoint();
      const next = readImage(sb.images()[0], (r2) => r2.meta.userPlugins as { path: string; options: unknown }[]);
      assert.deepEqual(next.map((x) => [x.path, x.options]), [[WORKDIR, { dir }]]);
    });

    it('a plugin that cannot load stops dmtcp_launch with one line naming its file', async () => {
      const broken = sb.path('broken.js');
      fs.writeFileSync(broken, 'module.exports = { name: "broken", checkpoint() {');
      const cases: [string, RegExp][] = [
        [broken, /^dmtcp_launch: cannot load plugin \S+broken\.js: syntax error: Unexpected end of input$/],
        [sb.path('nowhere.js'), /^dmtcp_launch: cannot load plugin \S+nowhere\.js: no such file$/],
        [`${WORKDIR},dir`, /^dmtcp_launch: plugin "\S+index\.js,dir": option "dir" must be KEY=VALUE$/],
      ];
      for (const [spec, re] of cases) {
        const r = await sb.tool('dmtcp_launch', ['-p', String(sb.port), '-j', '--plugin', spec, program('counter'), '10', '3']);
        assertOneLineError(r, re, spec);
        assert.equal(r.stdout, '', 'the program never ran');
      }
      const env = await sb.tool('dmtcp_launch', ['-p', String(sb.port), '-j', program('counter'), '10', '3'], { DMTCP_TS_PLUGINS: broken });
      assertOneLineError(env, /^dmtcp_launch: cannot load plugin \S+broken\.js: syntax error/, 'from DMTCP_TS_PLUGINS');
    });

    it('a plugin failing at checkpoint fails that checkpoint, naming the plugin; the program runs on', async () => {
      const p = sb.launch([program('workdir'), sb.path('work'), '100'], { args: ['--plugin', WORKDIR] });   // no dir=
      await p.waitFor(/^READY$/);
      const r = await sb.command('-bc');
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /plugin workdir \(\S+index\.js\) failed at checkpoint: no directory given: load the plugin as PATH,dir=DIR/);
      assert.deepEqual(sb.images(), [], 'no image of a failed checkpoint');
      await nextCounts(p, 2);
      assert.match(await check(p), /^PASS\b/);
    });
  });

  describe('brotli codec example', () => {
    it('writes brotli images that restart with the program\'s counter and checksum intact', async () => {
      const p = sb.launch([program('bigmem'), '16'], { args: ['--plugin', BROTLI, '--codec', 'brotli'] });
      await p.waitFor(/^READY checksum=/);
      await sb.checkpoint();
      assert.match(await check(p), /^PASS\b/);
      const [image] = sb.images();
      const info = readImage(image, (r) => ({ meta: r.meta, ids: new Set(r.chunks.map((c) => c.header.codec)) }));
      assert.equal(info.meta.codec, 'brotli');
      assert.equal((info.meta.codecs as Record<string, string>)['16'], 'brotli');
      assert.ok(info.ids.has(16), `chunks are brotli (codec ids ${[...info.ids].join(',')})`);
      assert.deepEqual(info.meta.userPlugins, [{ name: 'brotli', path: BROTLI, options: {}, sections: [], codecs: ['brotli'] }]);
      const verify = await sb.tool('readimage', ['--verify', image]);
      assert.equal(verify.code, 0, verify.stderr);
      assert.match(verify.stdout, /every checksum matches/);

      const before = p.output().filter((l) => /^alive \d+$/.test(l)).map((l) => Number(l.slice(6)));
      await p.kill();
      const r = sb.restart([image]);
      await r.waitFor(/^alive \d+$/);
      await r.waitFor(/^alive \d+$/);
      const after = r.output().filter((l) => /^alive \d+$/.test(l)).map((l) => Number(l.slice(6)));
      assert.ok(before.includes(after[0] - 1), `alive counts continue: ${after[0]} after ${before.slice(-3).join(',')}`);
      assert.match(await check(r), /^PASS checksum=/);
    });

    it('an image whose codec plugin is missing: dmtcp_restart and readimage --verify name the plugin', async () => {
      const copyDir = sb.path('brotli-copy');
      fs.mkdirSync(copyDir);
      for (const f of ['index.js', 'codec.js']) fs.copyFileSync(path.join(path.dirname(BROTLI), f), path.join(copyDir, f));
      const p = sb.launch([program('bigmem'), '4'], { args: ['--plugin', path.join(copyDir, 'index.js'), '--codec', 'brotli'] });
      await p.waitFor(/^READY checksum=/);
      await sb.checkpoint();
      await p.kill();
      fs.rmSync(copyDir, { recursive: true });
      const [image] = sb.images();

      const restart = await sb.tool('dmtcp_restart', ['-p', String(sb.port), '-j', image]);
      assertOneLineError(restart, /^dmtcp_restart: \S+\.dmtcp needs plugin "brotli" \(codec brotli\), recorded as \S+brotli-copy\/index\.js, which cannot be loaded \(no such file\); pass --plugin PATH$/, 'restart');
      const verify = await sb.tool('readimage', ['--verify', image]);
      assertOneLineError(verify, /^readimage: \S+\.dmtcp: the image's codec "brotli" comes from plugin "brotli" \(\S+brotli-copy\/index\.js\), which cannot be loaded here \(no such file\); pass --plugin PATH or set DMTCP_TS_PLUGINS=PATH$/, 'readimage --verify');
      assert.equal(verify.code, 3);

      const withEnv = await sb.tool('readimage', ['--verify', image], { DMTCP_TS_PLUGINS: BROTLI });
      assert.equal(withEnv.code, 0, withEnv.stderr);
      const r = sb.restart([image], { args: ['--plugin', BROTLI] });
      await r.waitFor(/^alive \d+$/);
      assert.match(await check(r), /^PASS checksum=/);
    });

    it('--codec brotli without its plugin is refused by dmtcp_launch in one line', async () => {
      const r = await sb.tool('dmtcp_launch', ['-p', String(sb.port), '-j', '--codec', 'brotli', program('counter'), '10', '3']);
      assertOneLineError(r, /^dmtcp_launch: --codec brotli: no such codec \(built in: dlz, deflate, none\); a plugin's codec needs --plugin PATH$/, '--codec');
      assert.equal(r.stdout, '');
    });
  });

  describe('progress of a blocking checkpoint', () => {
    it('arrives as PROGRESS frames when the command asks, and not at all on a pipe', async () => {
      const p = sb.launch([program('bigmem'), '32']);
      await p.waitFor(/^READY checksum=/);
      const client = await CoordinatorClient.connect('127.0.0.1', sb.port, 'progress-test');
      const frames: [number, number][] = [];
      try {
        const r = await client.command('bc', undefined, 0, (done, total) => frames.push([done, total]));
        assert.equal(r.ok, true, JSON.stringify(r.data));
      } finally {
        client.close();
      }
      assert.ok(frames.length >= 1, 'at least the last frame, before the result');
      const [done, total] = frames[frames.length - 1];
      assert.ok(done >= 16 << 20, `the last frame counts the pages written: ${done}`);
      assert.ok(total >= done, `and a total no smaller: ${total}`);
      for (let i = 1; i < frames.length; i++) assert.ok(frames[i][0] >= frames[i - 1][0], 'bytes done never go down');

      const plain = await sb.command('-bc');   // stdout and stderr are pipes here: no bar, no control characters
      assert.equal(plain.code, 0, plain.stderr);
      assert.equal(plain.stderr, '');
      assert.doesNotMatch(plain.stdout, /\r|\x1b/);
      assert.match(await check(p), /^PASS\b/);
    });
  });
});
