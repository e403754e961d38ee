// The page hashes of one image (XXH64 of every 4 KiB page it holds, by address): what the diff stage of the next
// generation compares against. Kept in memory by the image service between generations.
import { PAGE_SIZE } from '../protocol/constants';

interface Run {
  /** Address of the first page (user addresses stay below 2^47, so a double holds them exactly). */
  start: number;
  pages: number;
  /** A u64 (little-endian) per page. */
  hashes: Uint8Array;
}

export class PageHashTable {
  private readonly runs: Run[] = [];
  private sorted = true;
  private pageCount = 0;

  /** Pages whose hash is known. */
  get pages(): number {
    return this.pageCount;
  }

  /** Records the hashes of the pages from `address` on (runs of one image never overlap). */
  add(address: bigint | number, hashes: ArrayBuffer | Uint8Array): void {
    const bytes = hashes instanceof Uint8Array ? hashes : new Uint8Array(hashes);
    const run: Run = { start: Number(address), pages: bytes.length / 8, hashes: bytes };
    const last = this.runs[this.runs.length - 1];
    if (last && last.start > run.start) this.sorted = false;
    this.runs.push(run);
    this.pageCount += run.pages;
  }

  /**
   * The previous-generation view of `pages` pages from `address`, as the diff job takes it: a u64 hash per page, then
   * a byte per page, 1 where the hash is known. Pages no run covers stay unknown (their bytes are 0).
   */
  lookup(address: bigint | number, pages: number): ArrayBuffer {
    this.sort();
    const out = new Uint8Array(pages * 9);
    const lo = Number(address);
    const hi = lo + pages * PAGE_SIZE;
    // The last run starting at or below `lo`, then every run starting below `hi`.
    let a = 0;
    let b = this.runs.length;
    while (a < b) {
      const m = (a + b) >> 1;
      if (this.runs[m].start <= lo) a = m + 1;
      else b = m;
    }
    for (let i = Math.max(0, a - 1); i < this.runs.length && this.runs[i].start < hi; i++) {
      const r = this.runs[i];
      const rEnd = r.start + r.pages * PAGE_SIZE;
      const from = Math.max(lo, r.start);
      const to = Math.min(hi, rEnd);
      if (from >= to) continue;
      const n = (to - from) / PAGE_SIZE;
      const src = (from - r.start) / PAGE_SIZE;
      const dst = (from - lo) / PAGE_SIZE;
      out.set(r.hashes.subarray(src * 8, (src + n) * 8), dst * 8);
      out.fill(1, pages * 8 + dst, pages * 8 + dst + n);
    }
    return out.buffer;
  }

  private sort(): void {
    if (this.sorted) return;
    this.runs.sort((x, y) => x.start - y.start);
    this.sorted = true;
  }
}

/** XXH64 of the XXH64s (u64 little-endian each) of every page of `raw`: the checksum a PARENT block carries for the
 *  pages it leaves to the parent image (docs/IMAGE-FORMAT.md). Computed by the diff stage's WebAssembly export. */
export function pageHashDigest(raw: Uint8Array): bigint {
  // Loaded here, not at the top: the writer side of this module runs where no codec stage is needed.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { hashInPlace, threadCodecModule } = require('./wasm/thread-stage') as typeof import('./wasm/thread-stage');
  const mod = threadCodecModule();
  const pages = Math.floor(raw.length / PAGE_SIZE);
  const hashesAt = Math.ceil(raw.length / 64) * 64;
  const prevAt = hashesAt + pages * 8;
  const knownAt = prevAt + pages * 8;
  const changedAt = knownAt + pages;
  mod.ensure(changedAt + pages);
  const base = mod.heapBase;
  new Uint8Array(mod.exports.memory.buffer, base, raw.length).set(raw);
  new Uint8Array(mod.exports.memory.buffer, base + knownAt, pages).fill(0);
  mod.exports.pageDiff(base, pages * PAGE_SIZE, PAGE_SIZE, base + prevAt, base + knownAt, base + hashesAt, base + changedAt);
  return hashInPlace(mod, base + hashesAt, pages * 8);
}
