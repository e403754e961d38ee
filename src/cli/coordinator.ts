// dmtcp_coordinator: runs the coordinator and its image service; interactive keys on stdin (h c l s k q i).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { Coordinator } from '../coordinator/coordinator';
import { KEYS_HELP, listText, statusText } from '../coordinator/format';
import { Pipeline } from '../pipeline/pipeline';
import { defaultPlugins } from '../plugins';
import { binCommand } from '../paths';
import { helpText, optFlag, optString, parseArgs, parseIntStrict, type OptionSpec } from './args';
import { DEFAULT_PORT, cleanEnv, writePortFile } from './coordinator-location';
import { CliError, runMain } from './errors';

const OPTIONS: OptionSpec[] = [
  { name: 'coord-port', short: 'p', value: true, arg: 'PORT', aliases: ['--port'], help: 'port to listen on (DMTCP_COORD_PORT, DMTCP_PORT; default 7779; 0 = any free port, printed)' },
  { name: 'port-file', value: true, arg: 'FILE', help: 'write the port number to FILE once listening' },
  { name: 'ckptdir', value: true, arg: 'DIR', help: 'directory for the restart script and for images of processes that set none' },
  { name: 'tmpdir', value: true, arg: 'DIR', help: 'directory for the image service socket (DMTCP_TMPDIR; default $TMPDIR or /tmp)' },
  { name: 'interval', short: 'i', value: true, arg: 'SECONDS', help: 'checkpoint every SECONDS (DMTCP_CHECKPOINT_INTERVAL; 0 = only on request)' },
  { name: 'exit-on-last', help: 'exit when the last process exits' },
  { name: 'daemon', help: 'run in the background' },
  { name: 'quiet', short: 'q', help: 'print no banner or log lines' },
  { name: 'help', help: 'print this help' },
  { name: 'background', help: '(internal) the process --daemon started' },
];

const USAGE = 'Usage: dmtcp_coordinator [OPTIONS]\nCoordinates checkpoints of the processes started with dmtcp_launch.';

export async function main(argv: string[]): Promise<number> {
  const p = parseArgs(argv, OPTIONS);
  if (optFlag(p, 'help')) {
    process.stdout.write(helpText(USAGE, OPTIONS.filter((o) => o.name !== 'background'), `Keys while running:\n${KEYS_HELP}`));
    return 0;
  }
  if (p.operands.length) throw new CliError(`unexpected argument ${JSON.stringify(p.operands[0])}; see --help`, 2);
  const env = process.env;
  const port = parseIntStrict(optString(p, 'coord-port') ?? (env.DMTCP_COORD_PORT || env.DMTCP_PORT || String(DEFAULT_PORT)), 'the port', 0, 65535);
  const intervalText = optString(p, 'interval') ?? env.DMTCP_CHECKPOINT_INTERVAL;
  const interval = intervalText === undefined ? 0 : parseIntStrict(intervalText, '--interval', 0, 10_000_000);
  const quiet = optFlag(p, 'quiet');
  const ckptDir = optString(p, 'ckptdir');
  const tmpDir = optString(p, 'tmpdir') ?? (env.DMTCP_TMPDIR || undefined);
  if (optFlag(p, 'daemon') && !optFlag(p, 'background')) return daemonize(argv, optString(p, 'port-file'), port);

  let exit!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (exit = resolve));
  const log = quiet ? undefined : (line: string) => process.stderr.write(`[dmtcp_coordinator] ${line}\n`);
  const coordinator = new Coordinator({
    port,
    ckptDir: ckptDir ? path.resolve(ckptDir) : undefined,
    interval,
    exitOnLast: optFlag(p, 'exit-on-last'),
    tmpDir,
    pipeline: new Pipeline(defaultPlugins()),
    log,
    onExit: (code) => exit(code),
  });
  let actual: number;
  try {
    actual = await coordinator.start();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new CliError(`port ${port} is already in use (another coordinator?); choose another with -p, or 0 for any free port`, 4);
    throw e;
  }
  const portFile = optString(p, 'port-file');
  if (portFile) writePortFile(portFile, actual);
  if (!quiet) {
    process.stderr.write(
      `dmtcp_coordinator starting...\n    Host: ${os.hostname()}\n    Port: ${actual}\n` +
        `    Checkpoint Interval: ${interval ? `${interval} s` : 'disabled (checkpoint manually instead)'}\n` +
        `    Exit on last client: ${optFlag(p, 'exit-on-last') ? 1 : 0}\n`,
    );
  }
  if (port === 0 && !optFlag(p, 'background')) process.stdout.write(`Port: ${actual}\n`);
  const keys = optFlag(p, 'background') ? undefined : startKeys(coordinator, exit, quiet);
  process.once('SIGINT', () => {
    coordinator.killAll();
    exit(0);
  });
  process.once('SIGTERM', () => exit(0));
  const code = await exited;
  keys?.close();
  await coordinator.stop();
  return code;
}

/** Interactive keys on stdin, one command per line, as DMTCP's coordinator reads them. */
function startKeys(coordinator: Coordinator, exit: (code: number) => void, quiet: boolean): readline.Interface | undefined {
  if (!process.stdin.readable) return undefined;
  if (!quiet && process.stdin.isTTY) process.stderr.write("Type '?' or 'h' for help.\n");
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  const out = (s: string) => process.stdout.write(s);
  rl.on('line', (line) => {
    const [key, arg] = line.trim().split(/\s+/);
    switch (key) {
      case '':
        return;
      case 'h':
      case '?':
        return out(KEYS_HELP);
      case 's':
        return out(statusText(coordinator.status()));
      case 'l':
        return out(listText(coordinator.workers));
      case 'c': {
        const c = coordinator.checkpoint();
        if (!c.started) return out(`checkpoint not started: ${c.reason}\n`);
        out('checkpointing...\n');
        c.done.then((o) => out(o.ok ? `checkpoint ${o.generation} done (${o.elapsedMs} ms)\n` : `checkpoint failed: ${o.errors.join('; ')}\n`));
        return;
      }
      case 'k':
        out(`killing ${coordinator.killAll()} process(es)\n`);
        return;
      case 'q':
        out(`killing ${coordinator.killAll()} process(es) and quitting\n`);
        setTimeout(() => exit(0), 300);
        return;
      case 'i':
        if (arg !== undefined) {
          try {
            coordinator.setInterval(parseIntStrict(arg, 'interval', 0, 10_000_000));
          } catch (e) {
            return out(`${(e as Error).message}\n`);
          }
        }
        return out(`checkpoint interval: ${coordinator.interval ? `${coordinator.interval} s` : 'disabled'}\n`);
      default:
        return out(`unknown key '${key}'; type 'h' for help\n`);
    }
  });
  rl.on('close', () => undefined);   // stdin closed (e.g. </dev/null): keep coordinating
  return rl;
}

/** --daemon: start the coordinator detached and return once it listens (or failed). */
async function daemonize(argv: string[], userPortFile: string | undefined, requestedPort: number): Promise<number> {
  // Without --port-file the child reports its port through a file in a private directory, removed once read.
  const tmp = userPortFile ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), 'dmtcp-daemon-'));
  const portFile = tmp ? path.join(tmp, 'port') : path.resolve(userPortFile!);
  fs.rmSync(portFile, { force: true });
  const [node, script] = binCommand('dmtcp_coordinator');
  const args = argv.filter((a) => a !== '--daemon');
  if (!userPortFile) args.push('--port-file', portFile);
  args.push('--background', '--quiet');
  const logFile = process.env.DMTCP_COORD_LOG_FILENAME;
  const logFd = logFile ? fs.openSync(logFile, 'a') : 'ignore';
  const child = spawn(node, [script, ...args], { detached: true, stdio: ['ignore', logFd, logFd], env: cleanEnv() });
  child.unref();
  try {
    const deadline = Date.now() + 15000;
    let exitCode: number | null = null;
    child.on('exit', (c) => (exitCode = c ?? 1));
    while (!fs.existsSync(portFile)) {
      if (exitCode !== null) throw new CliError(`the background coordinator exited with status ${exitCode} before listening (is port ${requestedPort} in use?)`, 4);
      if (Date.now() > deadline) throw new CliError('the background coordinator did not start within 15 s', 4);
      await new Promise((r) => setTimeout(r, 20));
    }
    if (requestedPort === 0) process.stdout.write(`Port: ${fs.readFileSync(portFile, 'utf8').trim()}\n`);
    return 0;
  } finally {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    if (typeof logFd === 'number') fs.closeSync(logFd);
  }
}

if (require.main === module) runMain('dmtcp_coordinator', main);
