// dmtcp_restart: restarts processes from their images. Checks every image first (structure, mapped files, codecs),
// makes sure a coordinator is there, works out the restart plan (the process tree, sessions, groups and every
// descriptor), starts one detached decoder per image feeding a pipe, and replaces itself with mtcp_restart, which
// carries out the plan (forking the other processes) before each process reads its own pipe. The first image's
// process takes over this one (same pid, same terminal).
import * as os from 'node:os';
import * as dns from 'node:dns/promises';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { StreamTlv } from '../protocol/constants';
import { Backing } from '../protocol/constants';
import { Pipeline } from '../pipeline/pipeline';
import { defaultPlugins } from '../plugins';
import { lazyModeOf, openForRestart, type LazyMode } from '../pipeline/restore-decoder';
import { dup, execve, pipe, setCloexec, setPipeSize, spawnDetached } from '../native/addon';
import { PlanError, buildPlan, encodePlan, restoredProcs, type RestartPlan } from '../pipeline/restart-plan';
import { mtcpRestart, packageRoot } from '../paths';
import { helpText, optFlag, optList, optString, parseArgs, type OptionSpec } from './args';
import { CoordinatorClient } from './client';
import { COORDINATOR_OPTIONS, cleanEnv, coordinatorMode, coordinatorTarget, ensureCoordinator } from './coordinator-location';
import { CliError, EXIT_COORDINATOR, EXIT_IMAGE, runMain } from './errors';
import { PLUGIN_OPTION, givenPlugins, imagePlugins, restartedPluginList, restoreImagePlugins } from './plugin-options';
import { progressWanted } from './progress-bar';
import { PLUGINS_ENV, formatPluginSpec } from '../plugins/user-plugins';
import { BlockFlag } from '../pipeline/image-format';
import type { CoordinatorStatus } from '../coordinator/coordinator';

const RESTORER_BASE = 0x3f0000000000n;
const RESTORER_SIZE = 0x2000000n;

const OPTIONS: OptionSpec[] = [
  ...COORDINATOR_OPTIONS,
  { name: 'ckptdir', value: true, arg: 'DIR', help: 'directory for the images of later checkpoints (DMTCP_CHECKPOINT_DIR)' },
  { name: 'tmpdir', value: true, arg: 'DIR', help: 'directory for temporary files (DMTCP_TMPDIR)' },
  { ...PLUGIN_OPTION, help: 'a TypeScript plugin to use instead of the one an image names, or in addition (repeatable; DMTCP_TS_PLUGINS; docs/PLUGINS.md)' },
  { name: 'no-lazy', help: 'put every page back before the program resumes (default: large images resume at once and their big areas are filled while the program runs, as DMTCP_LAZY=auto; DMTCP_LAZY=0 is the same as this option)' },
  { name: 'quiet', short: 'q', help: 'print nothing but errors' },
  { name: 'debug', help: 'keep the decoder\'s diagnostics and let the restorer explain itself' },
  { name: 'help', help: 'print this help' },
];

const USAGE = 'Usage: dmtcp_restart [OPTIONS] ckpt_*.dmtcp ...\nRestarts the processes saved in the given images.';

export async function main(argv: string[]): Promise<number> {
  const p = parseArgs(argv, OPTIONS);
  if (optFlag(p, 'help')) {
    process.stdout.write(helpText(USAGE, OPTIONS));
    return 0;
  }
  if (p.operands.length === 0) throw new CliError('no image given; usage: dmtcp_restart [OPTIONS] ckpt_*.dmtcp', 2);
  const images = p.operands.map((f) => path.resolve(f));
  const trace = process.env.DMTCP_TRACE ? (m: string) => process.stderr.write(`[restart ${Date.now() % 100000}] ${m}\n`) : () => undefined;
  trace('start');
  if (!fs.existsSync(mtcpRestart)) throw new CliError(`${mtcpRestart} is missing; run "npm run build" first`, 1);

  // Every image is checked before anything is started: a bad one stops the restart with its own message.
  const plugins = givenPlugins(optList(p, 'plugin'));
  const pipeline = new Pipeline(defaultPlugins({ userPlugins: plugins.map((a) => a.spec) }));
  const opened = images.map((file) => openForRestart(pipeline, file, new Map()));
  const computation = opened[0].reader.strings.computation;
  /** One image of each checkpoint (generation) the images come from. */
  const generations = new Map<number, string>();
  for (const { reader } of opened) {
    reader.close();
    if (reader.strings.computation !== computation) {
      throw new CliError(`${reader.path} belongs to computation ${reader.strings.computation}, not ${computation}; restart the images of one checkpoint together`, EXIT_IMAGE);
    }
    if (!generations.has(reader.header.generation)) generations.set(reader.header.generation, reader.path);
    for (const a of reader.areas) {
      if (a.backing !== Backing.NONE && a.start < RESTORER_BASE + RESTORER_SIZE && a.end > RESTORER_BASE) {
        throw new CliError(`${reader.path}: the program mapped memory at 0x${a.start.toString(16)}, inside the range mtcp_restart needs; it cannot be restored`, EXIT_IMAGE);
      }
    }
  }
  if (generations.size > 1) {
    // A process that exited after an earlier checkpoint leaves its image beside the newer ones (ckpt_*.dmtcp finds
    // both): restarting them together would bring it back beside the processes that replaced it.
    const [older, newer] = [...generations.keys()].sort((a, b) => a - b);
    throw new CliError(`${generations.get(older)} is from checkpoint ${older} and ${generations.get(newer)} from checkpoint ${newer} of the same computation; restart the images of one checkpoint together (dmtcp_restart_script.sh names those of the latest)`, EXIT_IMAGE);
  }
  await pipeline.close();
  const readers = opened.map((o) => o.reader);
  const needed = imagePlugins(readers, plugins);
  // The decoder uses the same plugins (their codecs); later checkpoints of the restarted processes too.
  if (plugins.length) process.env[PLUGINS_ENV] = plugins.map((a) => formatPluginSpec(a.spec)).join(':');

  const tmpDir = optString(p, 'tmpdir') ?? process.env.DMTCP_TMPDIR;
  const coord = await ensureCoordinator(coordinatorTarget(p), coordinatorMode(p), { portFile: optString(p, 'port-file'), tmpDir });
  await checkCoordinatorFree(coord.host, coord.port, computation);
  const address = net.isIP(coord.host) ? coord.host : (await dns.lookup(coord.host, { family: 4 }).catch(() => dns.lookup(coord.host))).address;

  const info = new Map<number, string>([
    [StreamTlv.COORD_HOST, address],
    [StreamTlv.COORD_PORT, String(coord.port)],
    [StreamTlv.NPROCS, String(images.length)],
  ]);
  const ckptDir = optString(p, 'ckptdir');
  if (ckptDir) info.set(StreamTlv.CKPT_DIR, path.resolve(ckptDir));
  if (tmpDir) info.set(StreamTlv.TMPDIR, path.resolve(tmpDir));
  const pluginList = restartedPluginList(readers, plugins);
  if (pluginList !== undefined) info.set(StreamTlv.TS_PLUGINS, pluginList);
  const debug = optFlag(p, 'debug');

  trace('images checked, coordinator ready');
  // Plugins get their sections back first: what they restore (files, say) is there when the plan looks for it.
  await restoreImagePlugins(readers, needed);
  const plan = makePlan(readers);
  if (!optFlag(p, 'quiet')) for (const w of plan.warnings) process.stderr.write(`dmtcp_restart: warning: ${w}\n`);
  // One decoder per process, in the plan's order; every pipe end the restorers need stays open across exec.
  const restored = restoredProcs(plan);   // processes with an image (restored ones come first in the plan)
  const progress = !optFlag(p, 'quiet') && progressWanted() ? progressTarget(readers) : undefined;
  const lazy = optFlag(p, 'no-lazy') ? 'off' : lazyModeFromEnv();
  const restorers = startDecoder(restored.map((proc) => proc.image), info, debug, lazy, progress);
  const planFd = writePlanFile(
    encodePlan(plan, restorers.map((r) => ({ stream: r.stream, ack: r.ack, ptracer: r.decoderPid }))),
    tmpDir ?? os.tmpdir(),
  );
  for (const r of restorers) {
    setCloexec(r.stream, false);
    setCloexec(r.ack, false);
  }
  trace('decoders started; exec mtcp_restart');
  const args = ['mtcp_restart', '--plan-fd', String(planFd)];
  if (debug) args.push('--verbose');
  execve(mtcpRestart, args, process.env);
}

function makePlan(readers: Parameters<typeof buildPlan>[0]): RestartPlan {
  try {
    return buildPlan(readers);
  } catch (e) {
    if (e instanceof PlanError) throw new CliError(e.message, EXIT_IMAGE);
    throw e;
  }
}

/** The plan goes to mtcp_restart as an open, already unlinked file: nothing is left behind whatever happens. */
function writePlanFile(body: Buffer, dir: string): number {
  const file = path.join(dir, `dmtcp-plan-${process.pid}-${Date.now()}`);
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx+', 0o600);
  } catch (e) {
    throw new CliError(`cannot create the restart plan in ${dir}: ${(e as Error).message}; set --tmpdir or DMTCP_TMPDIR to a writable directory`, 1);
  }
  try {
    fs.unlinkSync(file);
    fs.writeSync(fd, body, 0, body.length, 0);
  } catch (e) {
    fs.closeSync(fd);
    throw new CliError(`cannot write the restart plan in ${dir}: ${(e as Error).message}`, 1);
  }
  setCloexec(fd, false);
  return fd;
}

interface Restorer {
  /** read end of the restore stream */
  stream: number;
  /** write end of the ack pipe back to the decoder */
  ack: number;
  decoderPid: number;
}

/** Starts the one detached decoder of this restart: for each image it writes the restore stream into one pipe and
 *  learns from a second one when that image's restorer is ready for pages written straight into its memory. */
function startDecoder(images: string[], info: Map<number, string>, debug: boolean, lazy: LazyMode, progress?: { fd: number; total: number }): Restorer[] {
  const ends = images.map((image) => {
    const stream = pipe();
    const ack = pipe();
    try {
      setPipeSize(stream.write, 1 << 20);
    } catch {
      // the default pipe size only costs speed
    }
    return { image, stream, ack };
  });
  const jobs = ends.map((e) => ({ image: e.image, fd: e.stream.write, ack: e.ack.read }));
  const infoArg = Buffer.from(JSON.stringify([...info.entries()])).toString('base64');
  const jobsArg = Buffer.from(JSON.stringify(jobs)).toString('base64');
  const script = path.join(packageRoot, 'dist', 'src', 'cli', 'restore-decoder.js');
  const progressArgs = progress ? ['--progress', `${progress.fd}:${progress.total}`] : [];
  // A lazy restore can fail after the program resumed (a damaged chunk): the decoder says so on our stderr.
  const report = openStderr();
  const reportArgs = report !== undefined ? ['--report', String(report)] : [];
  const decoderPid = spawnDetached(
    process.execPath,
    [process.execPath, script, '--jobs', jobsArg, '--info', infoArg, '--lazy', lazy, ...progressArgs, ...reportArgs],
    cleanEnv(), [...jobs.flatMap((j) => [j.fd, j.ack]), ...(progress ? [progress.fd] : []), ...(report !== undefined ? [report] : [])], !debug,
  );
  if (progress) fs.closeSync(progress.fd);
  if (report !== undefined) fs.closeSync(report);
  return ends.map((e) => {
    fs.closeSync(e.stream.write);
    fs.closeSync(e.ack.read);
    return { stream: e.stream.read, ack: e.ack.write, decoderPid };
  });
}

/** A descriptor of our own for this process's stderr (a pipe, a socket, a file or a terminal), or undefined. */
function openStderr(): number | undefined {
  try {
    return dup(2);
  } catch {
    return undefined;
  }
}

/** DMTCP_LAZY, checked here so a bad value stops the restart with a clear message. */
function lazyModeFromEnv(): LazyMode {
  try {
    return lazyModeOf(process.env.DMTCP_LAZY);
  } catch (e) {
    throw new CliError((e as Error).message, 2);
  }
}

/** Where the decoder draws its progress bar: this terminal (a descriptor of its own), and the bytes it will decode. */
function progressTarget(readers: readonly { chunks: readonly { header: { flags: number; rawLength: number } }[] }[]): { fd: number; total: number } | undefined {
  let fd: number;
  try {
    fd = fs.openSync('/proc/self/fd/2', fs.constants.O_WRONLY | fs.constants.O_NOCTTY);
  } catch {
    return undefined;
  }
  const total = readers.reduce((sum, r) => sum + r.chunks.reduce((s, c) => s + (c.header.flags & (BlockFlag.ZERO | BlockFlag.PARENT) ? 0 : c.header.rawLength), 0), 0);
  return { fd, total };
}

/** A coordinator already running another computation cannot take these processes. */
async function checkCoordinatorFree(host: string, port: number, computation: string): Promise<void> {
  const c = await CoordinatorClient.connect(host, port, 'dmtcp_restart');
  try {
    const { data } = await c.command('s');
    const s = data as unknown as CoordinatorStatus;
    if (s.numPeers > 0 && s.computation !== computation) {
      throw new CliError(`the coordinator at ${host}:${port} runs computation ${s.computation} with ${s.numPeers} process(es); restart with --new-coordinator (and -p 0 for a free port) or stop them first`, EXIT_COORDINATOR);
    }
  } finally {
    c.close();
  }
}

if (require.main === module) runMain('dmtcp_restart', main);
