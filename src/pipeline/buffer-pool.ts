// Recycled fixed-size ArrayBuffers for chunk data. Chunks travel to worker threads and back by transfer; reusing the
// same buffers keeps a checkpoint from touching fresh memory for every megabyte it moves.

export class BufferPool {
  private readonly free: ArrayBuffer[] = [];

  constructor(readonly size: number, private readonly keep = 64) {}

  take(): ArrayBuffer {
    return this.free.pop() ?? new ArrayBuffer(this.size);
  }

  give(buf: ArrayBuffer | null | undefined): void {
    if (buf && buf.byteLength === this.size && !isDetached(buf) && this.free.length < this.keep) this.free.push(buf);
  }
}

function isDetached(buf: ArrayBuffer): boolean {
  return (buf as ArrayBuffer & { detached?: boolean }).detached === true || buf.byteLength === 0;
}

/** Bytes of chunk data in flight (being encoded, or encoded and waiting for their write) across every image a
 *  pipeline writes at once. Shared, so 32 processes streaming together use the buffers one would, not 32 times as
 *  many fresh ones. A writer takes before it starts a chunk and gives back after the chunk is written; writers
 *  waiting for room are woken in turn. */
export class ByteBudget {
  private used = 0;
  private readonly waiters = new Set<() => void>();
  private limitValue?: number;

  constructor(private readonly limitOf: () => number) {}

  get limit(): number {
    return (this.limitValue ??= this.limitOf());
  }

  /** Takes `n` bytes if they fit (or nothing at all is in flight, so a chunk always makes progress). */
  tryTake(n: number): boolean {
    if (this.used > 0 && this.used + n > this.limit) return false;
    this.used += n;
    return true;
  }

  give(n: number): void {
    this.used -= n;
    for (const wake of [...this.waiters]) wake();
  }

  /** Calls `wake` whenever bytes are given back, until the returned function is called. */
  subscribe(wake: () => void): () => void {
    this.waiters.add(wake);
    return () => this.waiters.delete(wake);
  }
}
