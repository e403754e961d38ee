// npm run demo: the whole life of a checkpoint, with the real commands: start a coordinator, launch a counting
// program, checkpoint it, kill it, restart it from its image (it counts on), and show what the image holds.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { binCommand, testProgramsDir } from '../paths';
import { runMain } from './errors';

function say(line: string): void {
  process.stdout.write(`\n==> ${line}\n`);
}

function start(bin: string, args: string[], cwd: string): ChildProcess {
  const [node, script] = binCommand(bin);
  return spawn(node, [script, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function run(bin: string, args: string[], cwd: string): Promise<{ code: number; out: string }> {
  const child = start(bin, args, cwd);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const code = await new Promise<number>((r) => child.on('exit', (c) => r(c ?? 1)));
  return { code, out };
}

/** Echoes a program's lines with a prefix and resolves when one matches. */
function follow(child: ChildProcess, prefix: string): (re: RegExp) => Promise<string> {
  const seen: string[] = [];
  const waiters: [RegExp, (l: string) => void][] = [];
  let partial = '';
  child.stdout!.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      process.stdout.write(`    ${prefix} | ${l}\n`);
      seen.push(l);
      for (const [re, res] of waiters.splice(0)) (re.test(l) ? res(l) : waiters.push([re, res]));
    }
  });
  child.stderr!.on('data', (d: Buffer) => process.stdout.write(`    ${prefix} ! ${d}`));
  return (re) => {
    const found = seen.find((l) => re.test(l));
    return found ? Promise.resolve(found) : new Promise((res) => waiters.push([re, res]));
  };
}

export async function main(): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmtcp-demo-'));
  const started: ChildProcess[] = [];
  try {
    say(`dmtcp_coordinator -p 0 --ckptdir ${dir}   (a free port, images and restart script in a scratch directory)`);
    const portFile = path.join(dir, 'port');
    const coord = start('dmtcp_coordinator', ['-p', '0', '--port-file', portFile, '--ckptdir', dir, '--quiet'], dir);
    started.push(coord);
    while (!fs.existsSync(portFile)) await new Promise((r) => setTimeout(r, 20));
    const port = fs.readFileSync(portFile, 'utf8').trim();
    process.stdout.write(`    listening on port ${port}\n`);

    const counter = path.join(testProgramsDir, 'counter');
    say(`dmtcp_launch -p ${port} -j ${counter} 200   (prints one count every 200 ms)`);
    const prog = start('dmtcp_launch', ['-p', port, '-j', counter, '200'], dir);
    started.push(prog);
    const progSaw = follow(prog, 'program');
    await progSaw(/^count 5$/);

    say(`dmtcp_command -p ${port} -bc   (checkpoint; returns when the image is on disk)`);
    const bc = await run('dmtcp_command', ['-p', port, '-bc'], dir);
    process.stdout.write(bc.out.replace(/^/gm, '    '));
    if (bc.code !== 0) return 1;
    await progSaw(/^count 7$/);

    say('kill -9 the program');
    prog.kill('SIGKILL');
    await new Promise((r) => prog.on('exit', r));
    const image = fs.readdirSync(dir).find((f) => f.endsWith('.dmtcp'))!;

    say(`dmtcp_restart -p ${port} -j ${image}   (it picks up right after the count it had reached)`);
    const restarted = start('dmtcp_restart', ['-p', port, '-j', path.join(dir, image)], dir);
    started.push(restarted);
    const restartSaw = follow(restarted, 'restarted');
    await restartSaw(/^count \d+$/);
    const last = Number((await restartSaw(/^count \d+$/)).split(' ')[1]);
    await restartSaw(new RegExp(`^count ${last + 2}$`));
    restarted.kill('SIGKILL');

    say(`readimage ${image}`);
    const info = await run('readimage', [path.join(dir, image)], dir);
    process.stdout.write(info.out);
    say(`the image is ${fs.statSync(path.join(dir, image)).size} bytes; ${path.join(dir, 'dmtcp_restart_script.sh')} restarts it too`);
    return 0;
  } finally {
    for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) runMain('demo', main);
