// A fixed set of worker threads running chunk-worker.js; jobs go to the next idle worker, results come back in any
// order and callers put them in sequence.
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Job, JobResult } from './protocol';

type Pending = { resolve(r: JobResult): void; reject(e: Error): void };

/** Distributive Omit, so each member of the Job union keeps its own fields. */
type JobInput = Job extends infer J ? (J extends Job ? Omit<J, 'job'> : never) : never;

interface Slot {
  worker: Worker;
  busy: number;
}

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending & { slot: Slot }>();
  private nextJob = 1;
  private closed = false;

  constructor(size = Math.max(1, os.availableParallelism())) {
    const script = path.join(__dirname, 'chunk-worker.js');
    for (let i = 0; i < size; i++) {
      const worker = new Worker(script);
      const slot: Slot = { worker, busy: 0 };
      worker.on('message', (r: JobResult) => this.settle(r));
      worker.on('error', (e) => this.failAll(slot, e));
      worker.on('exit', (code) => {
        if (!this.closed) this.failAll(slot, new Error(`pipeline worker exited with code ${code}`));
      });
      worker.unref();   // idle workers must not keep the process alive; busy ones are ref'd in run()
      this.slots.push(slot);
    }
  }

  get size(): number {
    return this.slots.length;
  }

  /** Runs a job on the least busy worker; buffers named in `transfer` move to the worker. */
  run(job: JobInput, transfer: ArrayBuffer[]): Promise<JobResult> {
    if (this.closed) return Promise.reject(new Error('worker pool is closed'));
    const id = this.nextJob++;
    let slot = this.slots[0];
    for (const s of this.slots) if (s.busy < slot.busy) slot = s;
    if (slot.busy++ === 0) slot.worker.ref();
    return new Promise<JobResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, slot });
      slot.worker.postMessage({ ...job, job: id } as Job, transfer);
    });
  }

  private settle(r: JobResult): void {
    const p = this.pending.get(r.job);
    if (!p) return;
    this.pending.delete(r.job);
    if (--p.slot.busy === 0) p.slot.worker.unref();
    p.resolve(r);
  }

  private failAll(slot: Slot, e: Error): void {
    for (const [id, p] of this.pending) {
      if (p.slot !== slot) continue;
      this.pending.delete(id);
      if (--p.slot.busy === 0) p.slot.worker.unref();
      p.reject(e);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
