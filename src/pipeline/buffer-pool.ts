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
