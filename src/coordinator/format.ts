// Text forms of the coordinator's status and process list, shared by its own keys and dmtcp_command.
import type { WorkerInfo } from './peer';
import type { CoordinatorStatus } from './coordinator';

export function statusText(s: CoordinatorStatus): string {
  const lines = [
    'Coordinator:',
    `  Host: ${s.host}`,
    `  Port: ${s.port}`,
    'Status...',
    `  NUM_PEERS=${s.numPeers}`,
    `  RUNNING=${s.running ? 'yes' : 'no'}`,
    `  STATE=${s.state}${s.barrier ? ` (barrier ${s.barrier})` : ''}${s.waitingFor ? ` (waiting for ${s.waitingFor} restarted process(es))` : ''}`,
    `  COMPUTATION=${s.computation || '-'}`,
    `  GENERATION=${s.generation}`,
    `  CKPT_INTERVAL=${s.interval ? `${s.interval}s` : 'disabled'}`,
    `  CKPT_DIR=${s.ckptDir}`,
  ];
  if (s.lastCheckpoint) {
    const l = s.lastCheckpoint;
    lines.push(`  LAST_CHECKPOINT=generation ${l.generation} ${l.ok ? 'ok' : 'FAILED'} (${l.elapsedMs} ms, ${l.images.length} image(s))`);
  }
  return lines.join('\n') + '\n';
}

export function listText(workers: WorkerInfo[]): string {
  const lines = ['Client List:', '#, PROG[PID]@HOST, DMTCP-UNIQUEPID, STATE'];
  workers.forEach((w, i) => lines.push(`${i + 1}, ${w.program}[${w.pid}]@${w.host}, ${w.id}, ${w.state}`));
  return lines.join('\n') + '\n';
}

export const KEYS_HELP = `COMMANDS:
  l : List connected processes
  s : Print status message
  c : Checkpoint all processes
  i : Print current checkpoint interval ('i N' sets it to N seconds, 0 = off)
  k : Kill all processes
  q : Kill all processes and quit
  h : Print this message
`;
