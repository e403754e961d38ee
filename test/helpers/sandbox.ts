// A test's private world: its own directory, its own coordinator on port 0, and every process it started, which
// cleanup() ends by pid. End-to-end tests drive the real commands through it.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setCloexec } from '../../src/native/addon';
import { packageRoot, testProgramsDir } from '../../src/paths';
import type { WorkerInfo } from '../../src/coordinator/peer';

const BIN = path.join(packageRoot, 'bin');

// Descriptors the test runner inherited from whatever started it (libuv marks only the first ones close-on-exec)
// would reach every program under test and show up in its images; a test's programs start from a clean table.
for (const entry of fs.readdirSync('/proc/self/fd')) {
  const fd = Number(entry);
  if (fd > 2) {
    try {
      setCloexec(fd, true);
    } catch {
      // the directory's own descriptor, already closed
    }
  }
}

export function program(name: string): string {
  return path.join(testProgramsDir, name);
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A running process with its output collected line by line. */
export class Proc {
  readonly lines: string[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private cursor = 0;
  private partial = '';
  private watchers: (() => void)[] = [];
  /** More to say when a wait fails: the coordinator's last lines, for a process of the computation. */
  context?: () => string;

  constructor(readonly child: ChildProcess, readonly label: string) {
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      const parts = (this.partial + d).split('\n');
      this.partial = parts.pop() ?? '';
      this.lines.push(...parts);
      for (const w of this.watchers) w();
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      this.stderr += d;
      for (const w of this.watchers) w();
    });
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => {
      for (const w of this.watchers) w();
      resolve({ code, signal });
    }));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits for the next output line (after the previous match) that matches `re`. */
  async waitFor(re: RegExp, timeoutMs = 30000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (; this.cursor < this.lines.length; this.cursor++) {
        const m = this.lines[this.cursor].match(re);
        if (m) {
          this.cursor++;
          return m;
        }
      }
      if (!this.alive) {
        throw new Error(`${this.label} exited (${this.child.exitCode ?? this.child.signalCode}) before printing ${re}; ${this.lastWords()}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.label} did not print ${re} within ${timeoutMs} ms; ${this.lastWords()}`);
      await this.change(left);
    }
  }

  /** Waits until the stderr collected so far matches `re`. It may still arrive after the exit: another process (a
   *  detached decoder) can hold the pipe. */
  async waitForStderr(re: RegExp, timeoutMs = 30000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.stderr.match(re);
      if (m) return m;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.label} did not write ${re} on stderr within ${timeoutMs} ms; ${this.lastWords()}`);
      await this.change(left);
    }
  }

  /** Resolves on new output, the exit, or after min(ms, 250) ms. */
  private async change(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, Math.min(ms, 250));
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.watchers.push(done);
    });
    this.watchers = [];
  }

  private lastWords(): string {
    const words = `stderr: ${this.stderr.trim()}; last output: ${this.lines.slice(-3).join(' | ')}`;
    return this.context ? `${words}; ${this.context()}` : words;
  }

  /** Every output line so far. */
  output(): string[] {
    return [...this.lines];
  }

  /** Sends `signal` and waits for the exit; escalates to SIGKILL after `graceMs`. */
  async kill(signal: NodeJS.Signals = 'SIGKILL', graceMs = 5000): Promise<void> {
    if (this.alive) this.child.kill(signal);
    const timer = setTimeout(() => this.alive && this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

export class Sandbox {
  port = 0;
  coordinator?: Proc;
  private readonly procs = new Set<Proc>();
  private readonly extraPids = new Set<number>();

  private constructor(readonly dir: string) {}

  static create(): Sandbox {
    return new Sandbox(fs.mkdtempSync(path.join(os.tmpdir(), 'dmtcp-test-')));
  }

  path(...parts: string[]): string {
    return path.join(this.dir, ...parts);
  }

  /** Starts one of our commands; `wrapper` (a program and its arguments) runs it, e.g. with a system call refused. */
  private spawnNode(bin: string, args: string[], env?: NodeJS.ProcessEnv, label = bin, wrapper: string[] = []): Proc {
    const argv = [...wrapper, process.execPath, path.join(BIN, `${bin}.js`), ...args];
    const child = spawn(argv[0], argv.slice(1), {
      cwd: this.dir,
      env: { ...process.env, DMTCP_TMPDIR: this.dir, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const p = new Proc(child, label);
    if (bin !== 'dmtcp_coordinator') p.context = () => this.coordinatorTail();
    this.procs.add(p);
    return p;
  }

  /** The test coordinator's last log lines, for failure messages. */
  private coordinatorTail(): string {
    const c = this.coordinator;
    if (!c) return 'no coordinator';
    const log = [...c.output(), ...c.stderr.split('\n')].filter((l) => l.trim()).slice(-8);
    return `coordinator (${c.alive ? 'running' : 'exited'}): ${log.join(' | ')}`;
  }

  /** Starts this test's coordinator on a free port (stdin is kept open for its interactive keys). */
  async startCoordinator(args: string[] = []): Promise<number> {
    const portFile = this.path(`coord-${Date.now()}.port`);
    this.coordinator = this.spawnNode('dmtcp_coordinator', ['-p', '0', '--port-file', portFile, '--ckptdir', this.dir, ...args], {}, 'dmtcp_coordinator');
    const deadline = Date.now() + 15000;
    while (!fs.existsSync(portFile)) {
      if (!this.coordinator.alive) throw new Error(`coordinator exited: ${this.coordinator.stderr}`);
      if (Date.now() > deadline) throw new Error('coordinator did not start');
      await new Promise((r) => setTimeout(r, 20));
    }
    this.port = Number(fs.readFileSync(portFile, 'utf8'));
    return this.port;
  }

  /** Types a line on the coordinator's stdin. */
  key(line: string): void {
    this.coordinator!.child.stdin!.write(`${line}\n`);
  }

  /** dmtcp_launch joining this test's coordinator (join: false lets it start one, as a user's first launch does). */
  launch(argv: string[], opts: { args?: string[]; env?: NodeJS.ProcessEnv; port?: number; join?: boolean } = {}): Proc {
    const port = opts.port ?? this.port;
    const join = opts.join === false ? [] : ['-j'];
    return this.spawnNode('dmtcp_launch', ['-p', String(port), ...join, ...(opts.args ?? []), ...argv], opts.env, `dmtcp_launch ${path.basename(argv[0])}`);
  }

  restart(images: string[], opts: { args?: string[]; env?: NodeJS.ProcessEnv; port?: number; join?: boolean; wrapper?: string[] } = {}): Proc {
    const port = opts.port ?? this.port;
    const coord = opts.join === false ? [] : ['-p', String(port), '-j'];
    return this.spawnNode('dmtcp_restart', [...coord, ...(opts.args ?? []), ...images], opts.env, 'dmtcp_restart', opts.wrapper);
  }

  /** Starts one of our commands with extra environment, exactly as given (no -p/-j added). */
  spawnWith(bin: string, args: string[], env: NodeJS.ProcessEnv): Proc {
    return this.spawnNode(bin, args, env, bin);
  }

  /** Starts a script (the generated restart script) as a tracked process. */
  spawnScript(file: string, args: string[]): Proc {
    const child = spawn(file, args, { cwd: this.dir, env: { ...process.env, DMTCP_TMPDIR: this.dir }, stdio: ['pipe', 'pipe', 'pipe'] });
    const p = new Proc(child, path.basename(file));
    this.procs.add(p);
    return p;
  }

  /** Runs a process to completion. */
  async run(file: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<RunResult> {
    const child = spawn(file, args, { cwd: this.dir, env: { ...process.env, DMTCP_TMPDIR: this.dir, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    // A program that exits without reading its input closes the pipe first: EPIPE then is no failure of ours.
    child.stdin.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
    });
    child.stdin.end(opts.input ?? '');
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    return { code, signal, stdout, stderr };
  }

  /** Runs one of our commands to completion. */
  tool(bin: string, args: string[], env?: NodeJS.ProcessEnv): Promise<RunResult> {
    return this.run(process.execPath, [path.join(BIN, `${bin}.js`), ...args], { env });
  }

  command(...args: string[]): Promise<RunResult> {
    return this.tool('dmtcp_command', ['-p', String(this.port), ...args]);
  }

  async checkpoint(): Promise<void> {
    const r = await this.command('-bc');
    if (r.code !== 0) throw new Error(`dmtcp_command -bc failed (${r.code}): ${r.stderr}`);
  }

  /** ckpt_*.dmtcp images in the sandbox directory (or `dir`), sorted. */
  images(dir = this.dir): string[] {
    return fs.readdirSync(dir).filter((f) => /^ckpt_.*\.dmtcp$/.test(f)).sort().map((f) => path.join(dir, f));
  }

  /** The processes under this test's coordinator, as `dmtcp_command -l --json` lists them. */
  async workers(port = this.port): Promise<WorkerInfo[]> {
    const r = await this.tool('dmtcp_command', ['-p', String(port), '-l', '--json']);
    if (r.code !== 0) throw new Error(`dmtcp_command -l failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as WorkerInfo[];
  }

  /** Kills every process of the computation by its real pid (the tree the test launched, children included) and
   *  waits until the coordinator has seen them all go. */
  async killComputation(port = this.port): Promise<void> {
    const list = await this.workers(port);
    for (const w of list) {
      try {
        process.kill(w.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    const deadline = Date.now() + 15000;
    // The coordinator may exit with the last process (--exit-on-last, or one dmtcp_restart started): none left then.
    while ((await this.workers(port).catch(() => [])).length > 0) {
      if (Date.now() > deadline) throw new Error('the computation\'s processes did not go away');
      await new Promise((r) => setTimeout(r, 50));
    }
    const pids = new Set(list.map((w) => w.pid));
    for (const p of this.procs) if (pids.has(p.pid)) await p.exited;
  }

  /** A process this test caused to exist outside Proc (an auto-started coordinator): ended by pid at cleanup. */
  adopt(pid: number): void {
    this.extraPids.add(pid);
  }

  async cleanup(): Promise<void> {
    // Children the launched programs forked are processes of this test too: end them by pid while the coordinator
    // can still name them.
    if (this.coordinator?.alive && this.port) {
      for (const w of await this.workers().catch(() => [])) {
        try {
          process.kill(w.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    for (const p of this.procs) {
      if (p !== this.coordinator) await p.kill('SIGKILL');
    }
    if (this.coordinator) {
      await this.coordinator.kill('SIGTERM');
    }
    for (const pid of this.extraPids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Gives every test of the calling suite its own sandbox and coordinator (port 0), cleaned up after the test; `use`
 *  receives each new sandbox. */
export function sandboxPerTest(use: (sb: Sandbox) => void): void {
  let sb: Sandbox | undefined;
  beforeEach(async () => {
    sb = Sandbox.create();
    use(sb);
    await sb.startCoordinator();
  });
  afterEach(() => sb?.cleanup());
}
