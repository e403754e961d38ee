// progress: counts the page bytes that pass through the pipeline, for progress bars (dmtcp_command -bc,
// dmtcp_restart). It only intercepts the chunk hooks (tapable's hook.intercept, as webpack's ProgressPlugin does):
// no stage knows it is there.
import type { Pipeline, PipelinePlugin } from '../pipeline/pipeline';
import type { ChunkWork } from '../pipeline/types';

export interface ProgressCounts {
  /** Raw bytes of chunks encoded into images (checkpoint) so far. */
  readonly encoded: number;
  /** Raw bytes of chunks decoded out of images (restart) so far. */
  readonly decoded: number;
}

export class ProgressPlugin implements PipelinePlugin, ProgressCounts {
  static readonly pluginName = 'ProgressPlugin';
  encoded = 0;
  decoded = 0;
  private readonly listeners = new Set<(counts: ProgressCounts) => void>();

  /** Calls `fn` after every chunk; returns the function that stops it. */
  onChange(fn: (counts: ProgressCounts) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  apply(pipeline: Pipeline): void {
    // `result` sees the value a waterfall ends with: the chunk once every stage has handled it.
    pipeline.hooks.encodeChunk.intercept({
      result: (chunk: ChunkWork) => {
        this.encoded += chunk.rawLength;
        this.changed();
      },
    });
    pipeline.hooks.decodeChunk.intercept({
      result: (chunk: ChunkWork) => {
        this.decoded += chunk.rawLength;
        this.changed();
      },
    });
  }

  private changed(): void {
    for (const fn of this.listeners) {
      try {
        fn(this);
      } catch {
        // a progress display must never break the work it displays
      }
    }
  }
}
