// What a user must see when something cannot work: an exit status between 1 and 127 and exactly one line on stderr
// that names the problem, never a stack trace or a crash.
import * as assert from 'node:assert/strict';
import type { RunResult } from './sandbox';

export function assertOneLineError(r: RunResult, pattern: RegExp, label: string): void {
  assert.ok(r.code !== null && r.code >= 1 && r.code <= 127, `${label}: exit code ${r.code} (signal ${r.signal}) is not 1-127; stderr: ${r.stderr}; stdout: ${r.stdout.slice(-500)}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `${label}: expected one line on stderr, got:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at |internal error|Segmentation/, `${label}: no stack trace or crash`);
  assert.match(lines[0], pattern, label);
}
