// The progress bar: silent unless its output is a terminal, silent for work shorter than its delay, a sane bar
// otherwise (never wider than the terminal), erased at the end. Time is injected; nothing here waits.
import * as assert from 'node:assert/strict';
import { ProgressBar, formatBytes, progressWanted, renderBar } from '../../src/cli/progress-bar';

class FakeOut {
  text = '';
  constructor(readonly isTTY: boolean, readonly columns = 80) {}
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}

const MiB = 1 << 20;

describe('progress bar', () => {
  it('draws nothing when the output is not a terminal', () => {
    const out = new FakeOut(false);
    let t = 0;
    const bar = new ProgressBar(out, { label: 'checkpoint', now: () => t });
    for (t = 0; t <= 5000; t += 250) bar.update(t * 1000, 5_000_000);
    bar.finish();
    assert.equal(out.text, '');
  });

  it('draws nothing before its delay, so quick work shows no bar', () => {
    const out = new FakeOut(true);
    let t = 0;
    const bar = new ProgressBar(out, { label: 'checkpoint', now: () => t, delayMs: 1000 });
    t = 999;
    bar.update(10, 100);
    bar.finish();
    assert.equal(out.text, '');
  });

  it('draws a bar on a terminal after the delay and erases it at the end', () => {
    const out = new FakeOut(true, 60);
    let t = 0;
    const bar = new ProgressBar(out, { label: 'checkpoint', now: () => t });
    t = 1500;
    bar.update(50 * MiB, 100 * MiB);
    assert.match(out.text, /^\r/);
    assert.ok(out.text.endsWith('\x1b[K'));
    const line = out.text.slice(1, -3);
    assert.match(line, /^checkpoint \[#+-+\]  50%  50\.0 MiB of 100\.0 MiB$/);
    assert.ok(line.length <= 59, `fits 60 columns: ${line.length}`);
    bar.finish();
    assert.ok(out.text.endsWith('\r\x1b[K'), 'the line is erased');
    const before = out.text;
    t = 3000;
    bar.update(100 * MiB, 100 * MiB);
    assert.equal(out.text, before, 'nothing after finish');
  });

  it('does not draw when turned off', () => {
    const out = new FakeOut(true);
    let t = 0;
    const bar = new ProgressBar(out, { label: 'restart', now: () => t, enabled: false });
    t = 5000;
    bar.update(1, 2);
    bar.finish();
    assert.equal(out.text, '');
  });

  const cases: [string, number, number, number, RegExp][] = [
    ['empty', 0, 1000, 80, /^restart \[-+\]   0%  0 B of 1000 B$/],
    ['full', 1000, 1000, 80, /^restart \[#+\] 100%  1000 B of 1000 B$/],
    ['more than expected is shown full', 3 * MiB, 2 * MiB, 80, /^restart \[#+\] 100%  2\.0 MiB of 2\.0 MiB$/],
    ['unknown total: bytes only', 5 * MiB, 0, 80, /^restart  5\.0 MiB$/],
    ['narrow terminal: no bar', 1, 2, 20, /^restart  50%  1 B/],
  ];
  for (const [name, done, total, cols, want] of cases) {
    it(`renders: ${name}`, () => {
      const line = renderBar('restart', done, total, cols);
      assert.match(line, want);
      assert.ok(line.length < Math.max(cols, 20), `${line.length} columns`);
      assert.doesNotMatch(line, /[\r\n\x1b]/);
      const bar = /\[([#-]+)\]/.exec(line);
      if (bar && total > 0) {
        const filled = bar[1].split('').filter((c) => c === '#').length;
        assert.equal(filled, Math.round((Math.min(done, total) / total) * bar[1].length));
      }
    });
  }

  it('formats sizes', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(1023), '1023 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(3 * 1024 * MiB), '3.0 GiB');
  });

  it('is wanted only when stdout and stderr are terminals and DMTCP_PROGRESS is not 0', () => {
    assert.equal(progressWanted({}, { isTTY: true }, { isTTY: true }), true);
    assert.equal(progressWanted({}, { isTTY: false }, { isTTY: true }), false);
    assert.equal(progressWanted({}, { isTTY: true }, { isTTY: undefined }), false);
    assert.equal(progressWanted({ DMTCP_PROGRESS: '0' }, { isTTY: true }, { isTTY: true }), false);
  });
});
