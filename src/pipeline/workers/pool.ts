// A fixed set of worker threads running chunk-worker.js; jobs wait in one queue and go to a worker as it has room
// (one running and one ready behind it), results come back in any order and callers put them in sequence. A thread
// that dies (a codec plugin calling process.exit, say) fails the jobs it held and is replaced, so one bad job does not
// take every later checkpoint with it; one that dies again and again without finishing a job is not.
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Job, JobResult } from './protocol';

type Pending = { resolve(r: JobResult): void; reject(e: Error): void };

/** Jobs handed to one worker at a time: the one it runs and one more, so it never waits for the next message. A job
 *  given to a worker early is stuck there while another worker may be idle, so no more than that. */
const PER_WORKER = 2;

/** Distributive Omit, so each member of the Job union keeps its own fields. */
type JobInput = Job extends infer J ? (J extends Job ? Omit<J, 'job'> : never) : never;

/** A thread that died this many times in a row without finishing a job is not replaced again. */
const MAX_DEATHS = 3;

interface Slot {
  worker: Worker;
  busy: number;
  /** Set when the thread failed or exited, until it is replaced: it takes no jobs. */
  dead?: Error;
  /** Deaths since this slot's thread last finished a job. */
  deaths: number;
  /** Died MAX_DEATHS times in a row: not replaced any more. */
  gone?: boolean;
}

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending & { slot: Slot }>();
  /** Jobs no worker has room for yet, in the order they came. */
  private readonly queue: { id: number; job: Job; transfer: ArrayBuffer[]; resolve(r: JobResult): void; reject(e: Error): void }[] = [];
  private nextJob = 1;
  private closed = false;

  constructor(size = Math.max(1, os.availableParallelism())) {
    for (let i = 0; i < size; i++) {
      const slot = { busy: 0, deaths: 0 } as Slot;
      this.start(slot);
      this.slots.push(slot);
    }
  }

  /** Gives the slot a new thread. */
  private start(slot: Slot): void {
    const worker = new Worker(path.join(__dirname, 'chunk-worker.js'));
    Object.assign(slot, { worker, busy: 0, dead: undefined });
    worker.on('message', (r: JobResult) => this.settle(r));
    worker.on('error', (e) => {
      if (slot.worker === worker) this.failAll(slot, e);
    });
    worker.on('exit', (code) => {
      if (this.closed || slot.worker !== worker) return;
      this.failAll(slot, new Error(`pipeline worker exited with code ${code}`));
      if (++slot.deaths < MAX_DEATHS) this.start(slot);
      else slot.gone = true;
      this.dispatch();
    });
    worker.unref();   // idle workers must not keep the process alive; busy ones are ref'd in dispatch()
  }

  get size(): number {
    return this.slots.length;
  }

  /** Runs a job on the first worker with room for it; buffers named in `transfer` move to the worker. */
  run(job: JobInput, transfer: ArrayBuffer[]): Promise<JobResult> {
    if (this.closed) return Promise.reject(new Error('worker pool is closed'));
    const id = this.nextJob++;
    return new Promise<JobResult>((resolve, reject) => {
      this.queue.push({ id, job: { ...job, job: id } as Job, transfer, resolve, reject });
      this.dispatch();
    });
  }

  /** Hands queued jobs to the least busy workers while they have room. */
  private dispatch(): void {
    while (this.queue.length) {
      let slot: Slot | undefined;
      for (const s of this.slots) if (!s.dead && (!slot || s.busy < slot.busy)) slot = s;
      if (!slot) {
        // Every thread is dead: wait for the replacements, or fail the jobs when none is coming.
        if (!this.slots.every((s) => s.gone)) return;
        const why = this.slots[0]?.dead ?? new Error('worker pool has no threads');
        for (const q of this.queue.splice(0)) q.reject(why);
        return;
      }
      if (slot.busy >= PER_WORKER) return;
      const q = this.queue.shift()!;
      if (slot.busy++ === 0) slot.worker.ref();
      this.pending.set(q.id, { resolve: q.resolve, reject: q.reject, slot });
      slot.worker.postMessage(q.job, q.transfer);
    }
  }

  private settle(r: JobResult): void {
    const p = this.pending.get(r.job);
    if (!p) return;
    this.pending.delete(r.job);
    p.slot.deaths = 0;
    if (--p.slot.busy === 0) p.slot.worker.unref();
    this.dispatch();
    p.resolve(r);
  }

  /** The slot's thread failed: its jobs fail with `e`, and it takes no more until it is replaced. */
  private failAll(slot: Slot, e: Error): void {
    slot.dead ??= e;
    for (const [id, p] of this.pending) {
      if (p.slot !== slot) continue;
      this.pending.delete(id);
      p.reject(e);
    }
    slot.busy = 0;
    slot.worker.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const q of this.queue.splice(0)) q.reject(new Error('worker pool is closed'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
