// Progress of a blocking checkpoint for the command waiting on it (dmtcp_command -bc asks with PROGRESS): PROGRESS
// frames carrying the page bytes encoded so far and an estimate of the total, every 200 ms and once more at the end.
import * as fsp from 'node:fs/promises';
import { Tag } from '../protocol/constants';
import { FieldWriter } from '../protocol/frame';
import type { ProgressCounts } from '../plugins/progress';

/** Bytes the images of these processes will hold, about: their private anonymous memory, resident or swapped
 *  (what the capture library sends; zero pages it skips make this an over-estimate). 0 when unknown. */
export async function estimateImageBytes(pids: readonly number[]): Promise<number> {
  let total = 0;
  for (const pid of pids) {
    let text: string;
    try {
      text = await fsp.readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
    } catch {
      continue;
    }
    for (const m of text.matchAll(/^(Anonymous|Swap):\s+(\d+) kB$/gm)) total += Number(m[2]) * 1024;
  }
  return total;
}

export interface ProgressReport {
  counts: ProgressCounts;
  pids: readonly number[];
  generation: number;
  send(fields: FieldWriter): void;
  intervalMs?: number;
}

/** Starts sending PROGRESS fields; the returned function stops and sends the last one (before the RESULT). */
export function reportProgress(r: ProgressReport): () => void {
  const base = r.counts.encoded;
  let total = 0;
  void estimateImageBytes(r.pids).then((n) => (total = n));
  const fields = (last: boolean) => {
    const done = r.counts.encoded - base;
    return new FieldWriter()
      .u32(Tag.GENERATION, r.generation)
      .u64(Tag.DONE_BYTES, done)
      .u64(Tag.TOTAL_BYTES, last ? Math.max(total, done) : total);
  };
  const timer = setInterval(() => r.send(fields(false)), r.intervalMs ?? 200);
  timer.unref();
  return () => {
    clearInterval(timer);
    r.send(fields(true));
  };
}
