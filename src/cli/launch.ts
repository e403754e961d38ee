// dmtcp_launch (alias dmtcp_checkpoint): runs a program under checkpoint control. Makes sure a coordinator is there,
// prepares the environment libdmtcp.so reads, and replaces itself with the program (same pid, same terminal).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execve } from '../native/addon';
import { libdmtcp } from '../paths';
import { helpText, optFlag, optInt, optList, optString, parseArgs, parseIntStrict, type OptionSpec } from './args';
import { CoordinatorClient } from './client';
import { COORDINATOR_OPTIONS, coordinatorMode, coordinatorTarget, ensureCoordinator } from './coordinator-location';
import { CliError, runMain } from './errors';
import { launchNativePlugins } from './native-plugins';
import { PLUGIN_OPTION, launchPlugins } from './plugin-options';

export const LAUNCH_OPTIONS: OptionSpec[] = [
  ...COORDINATOR_OPTIONS,
  { name: 'interval', short: 'i', value: true, arg: 'SECONDS', help: 'checkpoint every SECONDS (DMTCP_CHECKPOINT_INTERVAL; 0 = only on request)' },
  { name: 'ckptdir', value: true, arg: 'DIR', help: 'directory for checkpoint images (DMTCP_CHECKPOINT_DIR)' },
  { name: 'tmpdir', value: true, arg: 'DIR', help: 'directory for temporary files (DMTCP_TMPDIR)' },
  { name: 'gzip', help: 'compress images with the default codec (DMTCP_GZIP=1, the default)' },
  { name: 'no-gzip', help: 'store images uncompressed (DMTCP_GZIP=0)' },
  { name: 'codec', value: true, arg: 'NAME', help: 'image codec: dlz (default), deflate (gzip-compatible), none, or a plugin codec (DMTCP_CODEC)' },
  { ...PLUGIN_OPTION, help: 'a TypeScript plugin the image service runs for this program, with its options (repeatable; DMTCP_TS_PLUGINS, \':\'-separated; docs/PLUGINS.md)' },
  { name: 'with-plugin', value: true, repeat: true, arg: 'PATH[:PATH...]', help: 'a native plugin (shared object with dmtcp_event_hook) loaded into every process of the computation (repeatable; DMTCP_PLUGIN, \':\'-separated; native/api/dmtcp_plugin.h)' },
  { name: 'ckpt-signal', value: true, arg: 'N', help: 'signal used to stop threads for a checkpoint (DMTCP_SIGCKPT; default 12, SIGUSR2)' },
  { name: 'ckpt-open-files', help: 'save the contents of open files in the images, so a restart works after they changed or went away (DMTCP_CKPT_OPEN_FILES=1)' },
  { name: 'enable-unique-checkpoint-filenames', help: 'give every checkpoint generation its own image names (DMTCP_UNIQUE_CKPT_PLUGIN=1)' },
  { name: 'incremental', help: 'after the first checkpoint, images store only the pages that changed and name their parent image; implies unique image names (DMTCP_INCREMENTAL=1)' },
  { name: 'full-every', value: true, arg: 'N', help: 'with --incremental: a full image every N generations, default 8 (DMTCP_INCREMENTAL_FULL_EVERY)' },
  { name: 'debug', help: 'print what the checkpoint library does (DMTCP_DEBUG=1)' },
  { name: 'quiet', short: 'q', help: 'print nothing but errors' },
  { name: 'help', help: 'print this help' },
];

const USAGE = 'Usage: dmtcp_launch [OPTIONS] PROGRAM [ARGS...]\nRuns PROGRAM under checkpoint control, starting a coordinator in the background if none is running.';

/** Finds the program as execvp would; a clear error when it is not there or not runnable. */
export function resolveProgram(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const candidates = name.includes('/')
    ? [path.resolve(name)]
    : (env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':').filter(Boolean).map((d) => path.join(d, name));
  for (const c of candidates) {
    let st: fs.Stats;
    try {
      st = fs.statSync(c);
    } catch {
      continue;
    }
    if (!st.isFile()) continue;
    try {
      fs.accessSync(c, fs.constants.X_OK);
    } catch {
      if (name.includes('/')) throw new CliError(`${name} is not executable (chmod +x it)`, 127);
      continue;
    }
    return c;
  }
  throw new CliError(name.includes('/') ? `${name}: no such file` : `${name}: command not found in PATH`, 127);
}

/** Refuses what LD_PRELOAD cannot reach: statically linked and 32-bit executables. Scripts are fine. */
export function checkExecutable(file: string): void {
  const fd = fs.openSync(file, 'r');
  const head = Buffer.alloc(4096);
  const n = fs.readSync(fd, head, 0, head.length, 0);
  fs.closeSync(fd);
  if (n < 4 || head.readUInt32BE(0) !== 0x7f454c46) return;     // not ELF: a script, the kernel finds its interpreter
  if (head[4] !== 2) throw new CliError(`${file} is a 32-bit program; only 64-bit x86_64 programs can be checkpointed`, 126);
  const machine = head.readUInt16LE(18);
  if (machine !== 62) throw new CliError(`${file} is not an x86_64 program (e_machine ${machine})`, 126);
  const phoff = Number(head.readBigUInt64LE(32));
  const phentsize = head.readUInt16LE(54);
  const phnum = head.readUInt16LE(56);
  if (phoff + phnum * phentsize > n) return;                      // headers beyond what we read: let the loader judge
  for (let i = 0; i < phnum; i++) {
    if (head.readUInt32LE(phoff + i * phentsize) === 3 /* PT_INTERP */) return;
  }
  throw new CliError(`${file} is statically linked; dmtcp_launch can only checkpoint dynamically linked programs`, 126);
}

/** --incremental / DMTCP_INCREMENTAL and --full-every / DMTCP_INCREMENTAL_FULL_EVERY, checked before anything starts. */
export function incrementalOptions(p: ReturnType<typeof parseArgs>, env: NodeJS.ProcessEnv): { fullEvery: number } | undefined {
  const on = optFlag(p, 'incremental') || /^[^0nNfF]/.test(env.DMTCP_INCREMENTAL ?? '');
  const flag = optString(p, 'full-every');
  if (flag !== undefined && !on) throw new CliError('--full-every N applies to incremental images; add --incremental (or set DMTCP_INCREMENTAL=1)', 2);
  if (!on) return undefined;
  const text = flag ?? env.DMTCP_INCREMENTAL_FULL_EVERY;
  return { fullEvery: text === undefined ? 8 : parseIntStrict(text, flag !== undefined ? '--full-every' : 'DMTCP_INCREMENTAL_FULL_EVERY', 1, 1_000_000) };
}

export async function main(argv: string[]): Promise<number> {
  const p = parseArgs(argv, LAUNCH_OPTIONS, { stopAtOperand: true });
  if (optFlag(p, 'help')) {
    process.stdout.write(helpText(USAGE, LAUNCH_OPTIONS));
    return 0;
  }
  if (p.operands.length === 0) throw new CliError('no program given; usage: dmtcp_launch [OPTIONS] PROGRAM [ARGS...]', 2);
  const env = { ...process.env };
  const [program, ...args] = p.operands;
  const file = resolveProgram(program, env);
  checkExecutable(file);
  if (!fs.existsSync(libdmtcp)) throw new CliError(`${libdmtcp} is missing; run "npm run build" first`, 1);
  const nativePlugins = launchNativePlugins(p, env);
  const incremental = incrementalOptions(p, env);
  const codecOpt = optString(p, 'codec');
  const plugins = launchPlugins(optList(p, 'plugin'), codecOpt ?? env.DMTCP_CODEC, codecOpt !== undefined ? '--codec ' : 'DMTCP_CODEC=', env);

  const target = coordinatorTarget(p, env);
  const mode = coordinatorMode(p);
  const intervalText = optString(p, 'interval') ?? env.DMTCP_CHECKPOINT_INTERVAL;
  const interval = intervalText === undefined ? undefined : parseIntStrict(intervalText, '--interval', 0, 10_000_000);
  const ckptDirOpt = optString(p, 'ckptdir') ?? env.DMTCP_CHECKPOINT_DIR;
  const ckptDir = ckptDirOpt ? path.resolve(ckptDirOpt) : undefined;
  if (ckptDir) fs.mkdirSync(ckptDir, { recursive: true });
  const tmpDir = optString(p, 'tmpdir') ?? env.DMTCP_TMPDIR;
  const coord = await ensureCoordinator(target, mode, { portFile: optString(p, 'port-file'), interval, tmpDir });
  if (interval !== undefined && !coord.started) {
    const c = await CoordinatorClient.connect(coord.host, coord.port, 'dmtcp_launch');
    await c.command('i', (w) => w.u32(18 /* Tag.INTERVAL */, interval));
    c.close();
  }

  const signal = optInt(p, 'ckpt-signal', 1, 64) ?? (env.DMTCP_SIGCKPT ? parseIntStrict(env.DMTCP_SIGCKPT, 'DMTCP_SIGCKPT', 1, 64) : 12);
  if (signal === 9 || signal === 19) throw new CliError(`--ckpt-signal ${signal} cannot be caught; choose another signal`, 2);
  if (optFlag(p, 'gzip') && optFlag(p, 'no-gzip')) throw new CliError('--gzip and --no-gzip contradict each other', 2);

  env.DMTCP_COORD_HOST = coord.host;
  env.DMTCP_COORD_PORT = String(coord.port);
  env.DMTCP_SIGCKPT = String(signal);
  if (ckptDir) env.DMTCP_CHECKPOINT_DIR = ckptDir;
  if (tmpDir) env.DMTCP_TMPDIR = path.resolve(tmpDir);
  if (optFlag(p, 'no-gzip')) env.DMTCP_GZIP = '0';
  if (optFlag(p, 'gzip')) env.DMTCP_GZIP = '1';
  const codec = optString(p, 'codec');
  if (codec !== undefined) env.DMTCP_CODEC = codec;
  if (plugins !== undefined) env.DMTCP_TS_PLUGINS = plugins;
  if (optFlag(p, 'enable-unique-checkpoint-filenames')) env.DMTCP_UNIQUE_CKPT_PLUGIN = '1';
  if (optFlag(p, 'ckpt-open-files')) env.DMTCP_CKPT_OPEN_FILES = '1';
  if (incremental) {
    env.DMTCP_INCREMENTAL = '1';
    env.DMTCP_INCREMENTAL_FULL_EVERY = String(incremental.fullEvery);
  }
  if (nativePlugins.length) env.DMTCP_PLUGIN = nativePlugins.join(':');
  if (optFlag(p, 'debug')) env.DMTCP_DEBUG = '1';
  const preload = (env.LD_PRELOAD ?? '').split(/[: ]/).filter((l) => l && !l.endsWith('libdmtcp.so'));
  env.LD_PRELOAD = [libdmtcp, ...preload].join(':');

  execve(file, [program, ...args], env);
}

if (require.main === module) runMain('dmtcp_launch', main);
