// Where the coordinator is (options, then DMTCP's environment variables, then 127.0.0.1:7779), and making sure one
// is there: join it, start a new one, or either (dmtcp_launch and dmtcp_restart's default).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { binCommand } from '../paths';
import { optString, parseIntStrict, type OptionSpec, type Parsed } from './args';
import { CoordinatorClient, CoordinatorUnreachable } from './client';
import { CliError, EXIT_COORDINATOR } from './errors';

export const DEFAULT_PORT = 7779;
export const DEFAULT_HOST = '127.0.0.1';

export const COORDINATOR_OPTIONS: OptionSpec[] = [
  { name: 'coord-host', short: 'h', value: true, arg: 'HOST', help: 'coordinator host (DMTCP_COORD_HOST; default 127.0.0.1)' },
  { name: 'coord-port', short: 'p', value: true, arg: 'PORT', aliases: ['--port'], help: 'coordinator port (DMTCP_COORD_PORT; default 7779; 0 = pick a free one)' },
  { name: 'port-file', value: true, arg: 'FILE', help: 'write the coordinator port to FILE' },
  { name: 'join-coordinator', short: 'j', help: 'join a running coordinator; fail if there is none' },
  { name: 'new-coordinator', help: 'start a new coordinator; fail if one already runs on the port' },
];

export interface CoordinatorTarget {
  host: string;
  port: number;
}

export function coordinatorTarget(p: Parsed, env: NodeJS.ProcessEnv = process.env): CoordinatorTarget {
  const host = optString(p, 'coord-host') ?? (env.DMTCP_COORD_HOST || env.DMTCP_HOST || DEFAULT_HOST);
  const portText = optString(p, 'coord-port') ?? (env.DMTCP_COORD_PORT || env.DMTCP_PORT || String(DEFAULT_PORT));
  const port = parseIntStrict(portText, optString(p, 'coord-port') !== undefined ? '--coord-port' : 'DMTCP_COORD_PORT', 0, 65535);
  return { host, port };
}

export type CoordinatorMode = 'any' | 'join' | 'new';

export function coordinatorMode(p: Parsed): CoordinatorMode {
  if (p.options.has('join-coordinator') && p.options.has('new-coordinator')) {
    throw new CliError('-j/--join-coordinator and --new-coordinator contradict each other; pick one', 2);
  }
  return p.options.has('join-coordinator') ? 'join' : p.options.has('new-coordinator') ? 'new' : 'any';
}

function isLocal(host: string): boolean {
  if (['localhost', '127.0.0.1', '::1', '0.0.0.0', os.hostname()].includes(host)) return true;
  return Object.values(os.networkInterfaces()).some((list) => list?.some((i) => i.address === host));
}

/** The environment for processes we start that must not be checkpointed themselves. */
export function cleanEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out = { ...env };
  if (out.LD_PRELOAD) {
    const kept = out.LD_PRELOAD.split(/[: ]/).filter((l) => l && !l.endsWith('libdmtcp.so'));
    if (kept.length) out.LD_PRELOAD = kept.join(':');
    else delete out.LD_PRELOAD;
  }
  return out;
}

export interface StartOptions {
  portFile?: string;
  interval?: number;
  ckptDir?: string;
  tmpDir?: string;
  exitOnLast?: boolean;
}

/** Starts dmtcp_coordinator --daemon in the background and returns the port it listens on. */
export async function startCoordinator(port: number, opts: StartOptions = {}): Promise<number> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dmtcp-start-'));
  const portFile = path.join(tmp, 'port');
  const [node, script] = binCommand('dmtcp_coordinator');
  const args = [script, '--daemon', '--quiet', '-p', String(port), '--port-file', portFile];
  if (opts.exitOnLast !== false) args.push('--exit-on-last');
  if (opts.interval !== undefined) args.push('-i', String(opts.interval));
  if (opts.ckptDir) args.push('--ckptdir', opts.ckptDir);
  if (opts.tmpDir) args.push('--tmpdir', opts.tmpDir);
  const child = spawn(node, args, { stdio: ['ignore', 'ignore', 'pipe'], env: cleanEnv() });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
  try {
    if (code !== 0) throw new CliError(`could not start a coordinator on port ${port}: ${stderr.trim().split('\n').pop() || `exit status ${code}`}`, EXIT_COORDINATOR);
    const actual = Number(fs.readFileSync(portFile, 'utf8').trim());
    if (opts.portFile) writePortFile(opts.portFile, actual);
    return actual;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Writes the port atomically, so a reader never sees a partial number. */
export function writePortFile(file: string, port: number): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, `${port}\n`);
  fs.renameSync(tmp, file);
}

/** Makes sure a coordinator answers at the target, as the mode says; returns where it is. */
export async function ensureCoordinator(target: CoordinatorTarget, mode: CoordinatorMode, opts: StartOptions = {}): Promise<CoordinatorTarget & { started: boolean }> {
  const probe = async (): Promise<boolean> => {
    try {
      const c = await CoordinatorClient.connect(target.host, target.port, 'probe', 3000);
      c.close();
      return true;
    } catch (e) {
      if (e instanceof CoordinatorUnreachable) return false;
      throw e;
    }
  };
  if (mode === 'new') {
    if (target.port !== 0 && (await probe())) {
      throw new CliError(`a coordinator already runs at ${target.host}:${target.port} (--new-coordinator); join it with -j or choose another -p PORT`, EXIT_COORDINATOR);
    }
    if (!isLocal(target.host)) throw new CliError(`--new-coordinator can only start a coordinator on this host, not on ${target.host}`, EXIT_COORDINATOR);
    const port = await startCoordinator(target.port, opts);
    return { host: target.host, port, started: true };
  }
  if (target.port !== 0 && (await probe())) {
    if (opts.portFile) writePortFile(opts.portFile, target.port);
    return { ...target, started: false };
  }
  if (mode === 'join') {
    throw new CliError(`no coordinator at ${target.host}:${target.port} (-j/--join-coordinator); start one with dmtcp_coordinator or drop -j`, EXIT_COORDINATOR);
  }
  if (!isLocal(target.host)) {
    throw new CliError(`no coordinator at ${target.host}:${target.port}, and one can only be started on this host`, EXIT_COORDINATOR);
  }
  const port = await startCoordinator(target.port, opts);
  return { host: target.host, port, started: true };
}
