// Files the program mapped read-only are not copied into the image: they are taken from the current file at restart,
// and a restart refuses, naming the file, when it is gone or changed.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { Sandbox, program } from '../helpers/sandbox';
import { literally } from '../helpers/regexp';

describe('mapped files', () => {
  let sb: Sandbox;
  let data: string;
  beforeEach(async () => {
    sb = Sandbox.create();
    await sb.startCoordinator();
    data = sb.path('data.bin');
    fs.writeFileSync(data, Buffer.alloc(8 << 20, 'mapped file contents. '));
  });
  afterEach(() => sb.cleanup());

  async function checkpointMapper(): Promise<{ image: string; sum: string }> {
    const p = sb.launch([program('mapfile'), data]);
    const [, sum] = await p.waitFor(/^READY checksum=([0-9a-f]+)$/);
    await sb.checkpoint();
    await p.kill();
    return { image: sb.images()[0], sum };
  }

  it('stores a reference, not the 8 MiB, and restarts from the file', async () => {
    const { image, sum } = await checkpointMapper();
    assert.ok(fs.statSync(image).size < 1 << 20, `image is ${fs.statSync(image).size} bytes`);
    const info = JSON.parse((await sb.tool('readimage', ['--json', image])).stdout) as { areas: { path: string; backing: string; savedPages: number; filePages: number }[] };
    const area = info.areas.find((a) => a.path === data)!;
    assert.equal(area.backing, 'file');
    assert.equal(area.savedPages, 0);
    assert.equal(area.filePages, 2048);
    const r = sb.restart([image]);
    await r.waitFor(/^alive/);
    r.child.kill('SIGUSR1');
    const [verdict] = await r.waitFor(/^(PASS|FAIL).*$/);
    assert.equal(verdict, `PASS checksum=${sum}`);
  });

  it('refuses to restart when the file is gone, naming it', async () => {
    const { image } = await checkpointMapper();
    fs.renameSync(data, `${data}.moved`);
    const r = await sb.tool('dmtcp_restart', ['-p', String(sb.port), '-j', image]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, new RegExp(`^dmtcp_restart: .*\\.dmtcp: ${literally(data)} \\(mapped at 0x[0-9a-f]+\\) is gone; put the file back where it was, or checkpoint with --ckpt-open-files\\n$`));
  });

  it('refuses to restart when the file changed, and accepts it with DMTCP_IGNORE_FILE_CHANGES=1', async () => {
    const { image } = await checkpointMapper();
    fs.appendFileSync(data, 'more');
    const r = await sb.tool('dmtcp_restart', ['-p', String(sb.port), '-j', image]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /data\.bin \(mapped at 0x[0-9a-f]+\) changed since the checkpoint \(was 8388608 bytes, modified .*; now 8388612 bytes, modified .*\); restore the original file or set DMTCP_IGNORE_FILE_CHANGES=1 to use it anyway\n$/);
    const forced = sb.restart([image], { env: { DMTCP_IGNORE_FILE_CHANGES: '1' } });
    await forced.waitFor(/^alive/);
  });
});
