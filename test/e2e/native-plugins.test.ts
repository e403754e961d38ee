// Native plugins (native/api/dmtcp_plugin.h): dmtcp_launch --with-plugin and DMTCP_PLUGIN load shared objects into
// every process, each called once per event in load order (INIT, PRE_CHECKPOINT) or reverse order (RESUME, RESTART,
// EXIT); the example plugin (examples/native-plugin/applog.so) makes a rotated log harmless to a restart; a plugin
// that cannot be loaded stops the launch with one line naming it.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildDir, libdmtcp, nativeDir } from '../../src/paths';
import { Sandbox, sandboxPerTest, program, type Proc } from '../helpers/sandbox';
import { assertContinues, counts } from '../helpers/counter';

const TRACE_A = program('libtrace_a.so');
const TRACE_B = program('libtrace_b.so');
const APPLOG = path.join(buildDir, 'examples', 'native-plugin', 'applog.so');
const NO_ENTRY = path.join(nativeDir, 'libdmtcpaware.so');   // a real shared object without dmtcp_event_hook

/** The numbers of the "line N" entries of a log written by pluginapp, checked to run on without a gap. */
function logLines(file: string): number[] {
  const nums = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('line ')).map((l) => Number(l.slice(5)));
  for (let i = 1; i < nums.length; i++) assert.equal(nums[i], nums[i - 1] + 1, `${file}: line ${nums[i - 1]} is followed by ${nums[i]}`);
  return nums;
}

/** Runs a program directly (no dmtcp_launch) with stdin closed: it is expected to stop at once. */
async function runDirect(file: string, env: NodeJS.ProcessEnv, cwd: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(file, [], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdout.resume();
  const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, stderr };
}

async function checkAndExit(p: Proc): Promise<void> {
  p.child.kill('SIGUSR1');
  const [line] = await p.waitFor(/^(PASS|FAIL).*$/);
  assert.match(line, /^PASS /, `${p.label}: ${line}; stderr: ${p.stderr}`);
  const { code } = await p.exited;
  assert.equal(code, 0, `${p.label} exited with ${code}; stderr: ${p.stderr}`);
}

describe('native plugins', () => {
  let sb!: Sandbox;
  sandboxPerTest((s) => (sb = s));

  it('calls each plugin once per event, in load order then in reverse; the example reopens a rotated log at restart', async () => {
    const log = sb.path('app.log');
    const trace = sb.path('trace');
    const env = { APPLOG: log, PLUGIN_TRACE: trace };
    // Load order a, applog, b: both forms of the option, a list and a repeat.
    const p = sb.launch([program('pluginapp')], { args: ['--with-plugin', `${TRACE_A}:${APPLOG}`, '--with-plugin', TRACE_B], env });
    await p.waitFor(/^count 3$/);
    await sb.checkpoint();
    await p.waitFor(/^count \d+$/);
    await p.waitFor(/^count \d+$/);
    // log=: a runs before applog parks the log at PRE_CHECKPOINT and after it reopened it at RESUME; b the opposite.
    const launched = [
      'a INIT gen=0 restarts=0 log=closed',
      'b INIT gen=0 restarts=0 log=closed',
      'a PRE_CHECKPOINT gen=1 restarts=0 log=open',
      'b PRE_CHECKPOINT gen=1 restarts=0 log=closed',
      'b RESUME gen=1 restarts=0 log=closed',
      'a RESUME gen=1 restarts=0 log=open',
    ];
    assert.deepEqual(fs.readFileSync(trace, 'utf8').split('\n').filter(Boolean), launched);
    await p.kill();
    const before = logLines(log);
    assert.equal(before.length, before[before.length - 1], 'the log lost lines while it was parked');

    // logrotate while the program is down: the file it wrote to is no longer at its path.
    fs.renameSync(log, `${log}.1`);
    const r = sb.restart(sb.images());
    await r.waitFor(/^count \d+$/);
    await r.waitFor(/^count \d+$/);
    assert.match(r.stderr, new RegExp(`^applog: reopened ${log}$`, 'm'));
    await checkAndExit(r);
    assert.deepEqual(fs.readFileSync(trace, 'utf8').split('\n').filter(Boolean), [
      ...launched,
      'b RESTART gen=1 restarts=1 log=closed',
      'a RESTART gen=1 restarts=1 log=open',
      'b EXIT gen=1 restarts=1 log=open',
      'a EXIT gen=1 restarts=1 log=open',
    ]);
    // The new log holds what the restarted program wrote, from where its image left off, then its check.
    assertContinues(counts(p.output()), counts(r.output()));
    const after = logLines(log);
    const resumed = counts(r.output());
    // The image may have stopped the program between writing a line and printing its count.
    assert.ok(after[0] === resumed[0] || after[0] === resumed[0] + 1, `the new log starts at ${after[0]}, the counts at ${resumed[0]}`);
    assert.equal(after[after.length - 1], resumed[resumed.length - 1]);
    assert.match(fs.readFileSync(log, 'utf8'), /check\n$/);
    assert.deepEqual(logLines(`${log}.1`), before, 'the rotated log was written to after the restart');
  });

  it('without the example plugin, the same rotated log stops the restart', async () => {
    const log = sb.path('app.log');
    const p = sb.launch([program('pluginapp')], { env: { APPLOG: log } });
    await p.waitFor(/^count 3$/);
    await sb.checkpoint();
    await p.kill();
    fs.renameSync(log, `${log}.1`);
    const r = sb.restart(sb.images());
    const { code } = await r.exited;
    assert.notEqual(code, 0);
    assert.match(r.stderr, new RegExp(`${log} \\(open as .*\\) is gone`));
  });

  it('DMTCP_PLUGIN reaches a program exec\'d with an environment of its own, which loads the plugins again', async () => {
    const trace = sb.path('trace');
    const p = sb.launch([program('pluginapp'), 'exec'], { env: { DMTCP_PLUGIN: `${TRACE_A}:${TRACE_B}`, APPLOG: sb.path('app.log'), PLUGIN_TRACE: trace } });
    await p.waitFor(/^after exec ld_preload=set$/);
    await p.waitFor(/^count 2$/);
    await sb.checkpoint();
    await p.waitFor(/^count \d+$/);
    await checkAndExit(p);
    assert.deepEqual(fs.readFileSync(trace, 'utf8').split('\n').filter(Boolean), [
      'a INIT gen=0 restarts=0 log=closed',     // the launched program
      'b INIT gen=0 restarts=0 log=closed',
      'a INIT gen=0 restarts=0 log=closed',     // the program it exec'd
      'b INIT gen=0 restarts=0 log=closed',
      'a PRE_CHECKPOINT gen=1 restarts=0 log=open',
      'b PRE_CHECKPOINT gen=1 restarts=0 log=open',
      'b RESUME gen=1 restarts=0 log=open',
      'a RESUME gen=1 restarts=0 log=open',
      'b EXIT gen=1 restarts=0 log=open',
      'a EXIT gen=1 restarts=0 log=open',
    ]);
  });

  describe('a plugin that cannot be loaded stops the launch with one line naming it', () => {
    const cases: [string, () => { args: string[]; env: NodeJS.ProcessEnv }, () => string][] = [
      ['--with-plugin, missing (relative to the working directory)', () => ({ args: ['--with-plugin', 'missing.so'], env: {} }),
        () => `dmtcp_launch: plugin ${sb.path('missing.so')}: no such file`],
      ['DMTCP_PLUGIN, missing second entry', () => ({ args: [], env: { DMTCP_PLUGIN: `${TRACE_A}:${sb.path('gone.so')}` } }),
        () => `dmtcp_launch: plugin ${sb.path('gone.so')}: no such file`],
      ['no entry point', () => ({ args: ['--with-plugin', NO_ENTRY], env: {} }),
        () => `dmtcp_launch: plugin ${NO_ENTRY}: defines no dmtcp_event_hook (see native/api/dmtcp_plugin.h)`],
      ['not a shared object', () => {
        fs.writeFileSync(sb.path('notes.so'), 'not ELF at all\n');
        return { args: ['--with-plugin', sb.path('notes.so')], env: {} };
      }, () => `dmtcp_launch: plugin ${sb.path('notes.so')}: not an ELF shared object`],
      ['a program, not a plugin', () => ({ args: ['--with-plugin', program('pluginapp')], env: {} }),
        () => `dmtcp_launch: plugin ${program('pluginapp')}: defines no dmtcp_event_hook (see native/api/dmtcp_plugin.h)`],
    ];
    for (const [name, given, message] of cases) {
      it(name, async () => {
        const { args, env } = given();
        const p = sb.launch([program('pluginapp')], { args, env: { APPLOG: sb.path('app.log'), ...env } });
        const { code } = await p.exited;
        assert.equal(code, 1);
        assert.equal(p.stderr, `${message()}\n`);
        assert.deepEqual(p.output(), []);
        assert.equal(fs.existsSync(sb.path('app.log')), false, 'the program ran');
      });
    }
  });

  it('the library itself refuses a plugin it cannot load (a program started without dmtcp_launch\'s checks)', async () => {
    const base = { LD_PRELOAD: libdmtcp, DMTCP_COORD_HOST: '127.0.0.1', DMTCP_COORD_PORT: String(sb.port), DMTCP_TMPDIR: sb.dir, APPLOG: sb.path('app.log') };
    const missing = await runDirect(program('pluginapp'), { ...base, DMTCP_PLUGIN: `${TRACE_A}:${sb.path('missing.so')}` }, sb.dir);
    assert.equal(missing.code, 99);
    assert.match(missing.stderr, /^\[dmtcp pluginapp:\d+\] cannot load plugin \S+\/missing\.so: cannot open shared object file: No such file or directory\n$/);
    const noEntry = await runDirect(program('pluginapp'), { ...base, DMTCP_PLUGIN: NO_ENTRY }, sb.dir);
    assert.equal(noEntry.code, 99);
    assert.match(noEntry.stderr, /^\[dmtcp pluginapp:\d+\] plugin \S+\/libdmtcpaware\.so defines no dmtcp_event_hook \(see dmtcp_plugin\.h\)\n$/);
    assert.equal(fs.existsSync(sb.path('app.log')), false, 'the program ran');
    assert.deepEqual(await sb.workers(), [], 'a process registered with the coordinator before stopping');
  });
});
