// dmtcp_command: sends one request to a running coordinator (status, list, checkpoint, kill, quit, interval).
import { Tag } from '../protocol/constants';
import { listText, statusText } from '../coordinator/format';
import type { CheckpointOutcome, CoordinatorStatus } from '../coordinator/coordinator';
import type { WorkerInfo } from '../coordinator/peer';
import { helpText, optFlag, optString, parseArgs, parseIntStrict, type OptionSpec } from './args';
import { CoordinatorClient } from './client';
import { coordinatorTarget } from './coordinator-location';
import { CliError, runMain } from './errors';
import { ProgressBar, progressWanted } from './progress-bar';

const OPTIONS: OptionSpec[] = [
  { name: 'coord-host', short: 'h', value: true, arg: 'HOST', help: 'coordinator host (DMTCP_COORD_HOST; default 127.0.0.1)' },
  { name: 'coord-port', short: 'p', value: true, arg: 'PORT', aliases: ['--port'], help: 'coordinator port (DMTCP_COORD_PORT; default 7779)' },
  { name: 'status', short: 's', help: 'print the coordinator status' },
  { name: 'list', short: 'l', help: 'list the processes under checkpoint control' },
  { name: 'checkpoint', short: 'c', help: 'start a checkpoint and return' },
  { name: 'bcheckpoint', short: 'bc', help: 'checkpoint and return only when every image is on disk' },
  { name: 'kcheckpoint', short: 'kc', help: 'checkpoint, wait for it, then kill every process' },
  { name: 'kill', short: 'k', help: 'kill every process under checkpoint control' },
  { name: 'quit', short: 'q', help: 'kill every process and stop the coordinator' },
  { name: 'interval', short: 'i', value: true, arg: 'SECONDS', help: 'set the checkpoint interval (0 = only on request)' },
  { name: 'json', help: 'print the answer as JSON, for scripts' },
  { name: 'help', help: 'print this help' },
];

const VERBS: Record<string, string> = { status: 's', list: 'l', checkpoint: 'c', bcheckpoint: 'bc', kcheckpoint: 'kc', kill: 'k', quit: 'q', interval: 'i' };

export async function main(argv: string[]): Promise<number> {
  const p = parseArgs(argv, OPTIONS);
  if (optFlag(p, 'help')) {
    process.stdout.write(helpText('Usage: dmtcp_command [-h HOST] [-p PORT] COMMAND [--json]', OPTIONS));
    return 0;
  }
  if (p.operands.length) throw new CliError(`unexpected argument ${JSON.stringify(p.operands[0])}; see --help`, 2);
  const chosen = Object.keys(VERBS).filter((k) => p.options.has(k));
  if (chosen.length !== 1) {
    throw new CliError(chosen.length ? `give one command, not ${chosen.map((c) => `--${c}`).join(' and ')}` : 'no command given; try -s, -l, -c, -bc, -k, -q or -i N (see --help)', 2);
  }
  const verb = VERBS[chosen[0]];
  const interval = verb === 'i' ? parseIntStrict(optString(p, 'interval')!, '--interval', 0, 10_000_000) : undefined;
  const { host, port } = coordinatorTarget(p);
  const json = optFlag(p, 'json');
  const client = await CoordinatorClient.connect(host, port, 'dmtcp_command');
  try {
    const blocking = verb === 'bc' || verb === 'kc';
    const bar = blocking && !json && progressWanted() ? new ProgressBar(process.stderr, { label: 'checkpoint' }) : undefined;
    const r = await client
      .command(verb, interval === undefined ? undefined : (w) => w.u32(Tag.INTERVAL, interval), blocking ? 0 : 10000, bar && ((done, total) => bar.update(done, total)))
      .finally(() => bar?.finish());
    if (json) process.stdout.write(JSON.stringify(r.data, null, 2) + '\n');
    else process.stdout.write(render(verb, r.data));
    if (!r.ok) {
      const d = r.data as { error?: string; errors?: string[] };
      const why = d.error ?? d.errors?.join('; ') ?? 'the coordinator reported a failure';
      if (!json) process.stderr.write(`dmtcp_command: ${why}\n`);
      return 1;
    }
    return 0;
  } finally {
    client.close();
  }
}

function render(verb: string, data: unknown): string {
  switch (verb) {
    case 's':
      return statusText(data as CoordinatorStatus);
    case 'l':
      return listText(data as WorkerInfo[]);
    case 'bc':
    case 'kc': {
      const o = data as CheckpointOutcome;
      if (!o.ok) return '';
      return `checkpoint ${o.generation} done: ${o.images.length} image(s) in ${o.elapsedMs} ms\n`;
    }
    case 'i':
      return `checkpoint interval: ${(data as { interval: number }).interval || 'disabled'}\n`;
    default:
      return '';
  }
}

if (require.main === module) runMain('dmtcp_command', main);
