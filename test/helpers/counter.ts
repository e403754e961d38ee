// Reading the counter test program's output: its counts must continue without a gap across restarts.
import * as assert from 'node:assert/strict';

export function counts(lines: string[]): number[] {
  return lines.map((l) => /^count (\d+)$/.exec(l)).filter((m): m is RegExpExecArray => m !== null).map((m) => Number(m[1]));
}

/** The restarted run starts right after a count the earlier run printed, and counts on one by one. */
export function assertContinues(before: number[], after: number[], label = 'restart'): void {
  assert.ok(after.length >= 2, `${label}: the restarted program printed too little: ${after.join(',')}`);
  assert.ok(before.includes(after[0] - 1), `${label}: restarted at ${after[0]}, but ${after[0] - 1} was never printed before (printed: ${before.slice(-5).join(',')})`);
  for (let i = 1; i < after.length; i++) assert.equal(after[i], after[i - 1] + 1, `${label}: gap after ${after[i - 1]}`);
}
