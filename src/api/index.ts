// The TypeScript counterpart of dmtcp.h, for Node programs and scripts: is this process under checkpoint control,
// ask for a checkpoint and learn whether we came back from a restart, read the coordinator's status and process list.
import * as fs from 'node:fs';
import { Tag } from '../protocol/constants';
import { CoordinatorClient } from '../cli/client';
import type { CheckpointOutcome, CoordinatorStatus } from '../coordinator/coordinator';
import type { WorkerInfo } from '../coordinator/peer';

export type { CheckpointOutcome, CoordinatorStatus, WorkerInfo };

export type CheckpointResult = 'after-checkpoint' | 'after-restart';

/** The kernel's pid of this process right now: a restarted program runs in a new process, while Node's own
 *  `process.pid` was read before the checkpoint and comes back with the rest of memory. */
function kernelPid(): number {
  return Number(fs.readlinkSync('/proc/self'));
}

export class Dmtcp {
  private constructor(private readonly client: CoordinatorClient) {}

  /** True when this process was started by dmtcp_launch (or restarted by dmtcp_restart). */
  static isEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
    return !!(env.DMTCP_COORD_PORT || env.DMTCP_PORT) && /(^|[: ])[^: ]*libdmtcp\.so/.test(env.LD_PRELOAD ?? '');
  }

  /** Connects to this process's coordinator (or the one given). */
  static async connect(opts: { host?: string; port?: number } = {}, env: NodeJS.ProcessEnv = process.env): Promise<Dmtcp> {
    const host = opts.host ?? (env.DMTCP_COORD_HOST || env.DMTCP_HOST || '127.0.0.1');
    const port = opts.port ?? Number(env.DMTCP_COORD_PORT || env.DMTCP_PORT || 7779);
    return new Dmtcp(await CoordinatorClient.connect(host, port, 'dmtcp-ts api'));
  }

  /** Checkpoints the computation and resolves when every image is on disk ('after-checkpoint'), or, in a process
   *  restarted from that checkpoint, once it runs again ('after-restart'). Rejects when the checkpoint failed. */
  async checkpoint(): Promise<CheckpointResult> {
    const before = kernelPid();
    try {
      const r = await this.client.command('bc', undefined, 0);
      if (kernelPid() !== before) return 'after-restart';
      if (!r.ok) throw new Error(`checkpoint failed: ${((r.data as unknown as CheckpointOutcome).errors ?? []).join('; ')}`);
      return 'after-checkpoint';
    } catch (e) {
      if (kernelPid() !== before) return 'after-restart';
      throw e;
    }
  }

  async status(): Promise<CoordinatorStatus> {
    return (await this.client.command('s')).data as unknown as CoordinatorStatus;
  }

  async list(): Promise<WorkerInfo[]> {
    return (await this.client.command('l')).data as WorkerInfo[];
  }

  /** Sets the coordinator's checkpoint interval in seconds (0 = only on request). */
  async setInterval(seconds: number): Promise<void> {
    await this.client.command('i', (w) => w.u32(Tag.INTERVAL, seconds));
  }

  close(): void {
    this.client.close();
  }
}
