// Files the program has open when it is checkpointed. One it only reads must be as it was at restart: gone or
// changed, the restart stops with one line naming it, unless --ckpt-open-files kept a copy, which then serves the
// program (recreated under its name when gone; a private copy when changed, leaving the user's new version alone).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { assertOneLineError } from '../helpers/errors';
import { Sandbox, program, type Proc } from '../helpers/sandbox';

const line = /^count (\d+) size (\d+) sum ([0-9a-f]{16})$/;

describe('open files at restart', function () {
  this.timeout(120000);
  let sb: Sandbox;
  let data: string;
  const original = Buffer.from(Array.from({ length: 40000 }, (_, i) => (i * 7919) & 0xff));
  beforeEach(async () => {
    sb = Sandbox.create();
    await sb.startCoordinator();
    data = sb.path('input.dat');
    fs.writeFileSync(data, original);
  });
  afterEach(() => sb.cleanup());

  async function checkpointed(launchArgs: string[] = []): Promise<{ p: Proc; sum: string; images: string[] }> {
    const p = sb.launch([program('fileread'), data, '30'], { args: launchArgs });
    const m = await p.waitFor(line);
    await sb.checkpoint();
    await p.kill();
    return { p, sum: m[3], images: sb.images() };
  }

  it('a file the program reads that changed stops the restart, naming it', async () => {
    const { images } = await checkpointed();
    fs.writeFileSync(data, Buffer.concat([original, Buffer.from('more')]));
    const r = await sb.tool('dmtcp_restart', ['-p', String(sb.port), '-j', ...images]);
    assertOneLineError(r, /input\.dat .*changed since the checkpoint .*--ckpt-open-files/, 'changed file');
  });

  it('a file the program reads that is gone stops the restart, naming it', async () => {
    const { images } = await checkpointed();
    fs.rmSync(data);
    const r = await sb.tool('dmtcp_restart', ['-p', String(sb.port), '-j', ...images]);
    assertOneLineError(r, /input\.dat .*is gone; put it back, or checkpoint with --ckpt-open-files/, 'missing file');
  });

  it('an unchanged file needs no copy', async () => {
    const { sum, images } = await checkpointed();
    const r = sb.restart(images);
    assert.equal((await r.waitFor(line))[3], sum);
  });

  it('with --ckpt-open-files a changed file is read as it was, and the new version stays', async () => {
    const { sum, images } = await checkpointed(['--ckpt-open-files']);
    const changed = Buffer.from('someone else wrote this');
    fs.writeFileSync(data, changed);
    const r = sb.restart(images);
    for (let i = 0; i < 3; i++) assert.equal((await r.waitFor(line))[3], sum, 'the program reads what it read before');
    assert.deepEqual(fs.readFileSync(data), changed, 'the user\'s file is left alone');
  });

  it('with --ckpt-open-files a file that is gone comes back with its saved contents', async () => {
    const { sum, images } = await checkpointed(['--ckpt-open-files']);
    fs.rmSync(data);
    const r = sb.restart(images);
    for (let i = 0; i < 3; i++) assert.equal((await r.waitFor(line))[3], sum);
    assert.deepEqual(fs.readFileSync(data), original, 'recreated under its name');
  });
});
