// The ZDTM-style round trip: a test program sets up its state and prints READY; it is checkpointed (more than once if
// asked), killed and restarted; on SIGUSR1 it checks its own state and prints PASS or FAIL.
import * as assert from 'node:assert/strict';
import type { Proc, Sandbox } from './sandbox';

export interface SurviveOptions {
  args?: string[];
  launchArgs?: string[];
  restartArgs?: string[];
  env?: NodeJS.ProcessEnv;
  /** Checkpoints taken before the kill (each one is also checked in the running original). */
  checkpoints?: number;
  /** A line the program prints regularly, awaited after the restart before the check. */
  alive?: RegExp;
  ready?: RegExp;
  timeoutMs?: number;
}

export async function check(p: Proc, timeoutMs = 60000): Promise<string> {
  p.child.kill('SIGUSR1');
  const [line] = await p.waitFor(/^(PASS|FAIL)\b.*$/, timeoutMs);
  return line;
}

/** Launches, checkpoints, checks, kills, restarts and checks again; returns the restarted process. */
export async function survives(sb: Sandbox, argv: string[], opts: SurviveOptions = {}): Promise<Proc> {
  const p = sb.launch(argv, { args: opts.launchArgs, env: opts.env });
  await p.waitFor(opts.ready ?? /^READY\b/, opts.timeoutMs ?? 60000);
  return restartChecked(sb, p, opts);
}

/**
 * Checkpoints the running `p` (checking it after each checkpoint), ends it with `kill` (by default `p` alone),
 * restarts every image and checks the restarted process, which it returns. `p` may itself be a restarted process.
 */
export async function restartChecked(sb: Sandbox, p: Proc, opts: SurviveOptions = {}, kill = () => p.kill()): Promise<Proc> {
  const timeout = opts.timeoutMs ?? 60000;
  for (let i = 0; i < (opts.checkpoints ?? 1); i++) {
    await sb.checkpoint();
    const line = await check(p, timeout);
    assert.match(line, /^PASS\b/, `the process before the restart (${p.label}), after checkpoint ${i + 1}: ${line}`);
  }
  await kill();
  const r = sb.restart(sb.images(), { args: opts.restartArgs, env: opts.env });
  if (opts.alive) await r.waitFor(opts.alive, timeout);
  const line = await check(r, timeout);
  assert.match(line, /^PASS\b/, `the restarted process: ${line}`);
  return r;
}
