// A gigabyte of memory, half random and half text, survives checkpoint and restart byte for byte, compressed with the
// default codec and stored uncompressed; the program itself recomputes its checksum after the restart.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { Sandbox, sandboxPerTest, program } from '../helpers/sandbox';

describe('a 1 GiB process', () => {
  let sb!: Sandbox;
  sandboxPerTest((s) => (sb = s));

  // A restart of this size is lazy by default: the program runs again while its buffer comes in (the SIGUSR1 check
  // right after the restart reads pages still missing); --no-lazy puts every page back first.
  const variants: [string, string[], string, string[]][] = [
    ['with the default codec', [], 'dlz', []],
    ['stored uncompressed (--no-gzip)', ['--no-gzip'], 'stored', []],
    ['with the default codec, restarted with --no-lazy', [], 'dlz', ['--no-lazy']],
  ];
  for (const [name, args, codec, restartArgs] of variants) {
    it(`keeps its checksum ${name}`, async () => {
      const p = sb.launch([program('bigmem'), '1024'], { args });
      const [, sum] = await p.waitFor(/^READY checksum=([0-9a-f]+)$/, 120000);
      await sb.checkpoint();
      await p.kill();
      const [image] = sb.images();
      const info = JSON.parse((await sb.tool('readimage', ['--json', image])).stdout) as { codec: string; rawBytes: number; storedBytes: number };
      assert.equal(info.codec, codec);
      assert.ok(info.rawBytes >= 1 << 30, `at least the buffer was saved (${info.rawBytes})`);
      const size = fs.statSync(image).size;
      if (codec === 'dlz') assert.ok(size < 0.8 * 2 ** 30, `compressed image is ${size} bytes`);
      else assert.ok(size > 2 ** 30, `stored image is ${size} bytes`);
      const r = sb.restart([image], { args: ['--debug', ...restartArgs], env: { DMTCP_LAZY: undefined } });
      await r.waitFor(/^alive \d+$/, 120000);
      r.child.kill('SIGUSR1');
      const [verdict] = await r.waitFor(/^(PASS|FAIL).*$/, 60000);
      assert.equal(verdict, `PASS checksum=${sum}`);
      // The decoder's summary (--debug) comes once every page is in, which the check above needed.
      const summary = /lazy restore of .*: 10\d\d\.\d MiB filled while the program ran/;
      if (restartArgs.length === 0) await r.waitForStderr(summary, 30000);
      else assert.doesNotMatch(r.stderr, summary);
    });
  }
});
