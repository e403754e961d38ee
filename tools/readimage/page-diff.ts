// The comparison at the heart of readimage diff, kept free of I/O: which areas of two images correspond, and which
// pages differ at each address, from each page's digest or, for pages an image does not hold, its backing.
import * as crypto from 'node:crypto';
import { Backing, PAGE_SIZE } from '../../src/protocol/constants';
import type { AreaRecord } from '../../src/pipeline/wasm/image-module';

const PAGE = BigInt(PAGE_SIZE);

export function pageDigest(page: Uint8Array): Buffer {
  return crypto.createHash('sha256').update(page).digest();
}

export const ZERO_DIGEST = pageDigest(new Uint8Array(PAGE_SIZE));

/** One area's pages as an image has them: digests of stored pages; ZERO chunks; everything else per backing. */
export interface AreaPages {
  start: bigint;
  end: bigint;
  backing: number;
  /** Identity of the mapped file, for file-backed areas. */
  file?: { path: string; dev: bigint; inode: bigint; offset: bigint };
  /** Page index in the area -> SHA-256 of the page, for pages held in data chunks. */
  stored: Map<number, Buffer>;
  /** Page indexes covered by ZERO chunks. */
  zeroed: Set<number>;
  /** SHA-256 of a page the image leaves to its file (read on demand). */
  fileDigest?: (index: number) => Buffer;
}

export interface PageDiff {
  /** Whether contents were compared at all (not for kernel memory, which no image holds). */
  compared: boolean;
  /** Pages in the row's areas (the union of both ranges for a pair). */
  total: number;
  /** Pages this row accounts for in the totals: its NEW area's, and its OLD area's that NEW no longer maps (a page
   *  of a removed area that a merged neighbour now maps is that neighbour's). */
  counted: number;
  changed: number;
  /** The first `cap` changed page addresses, ascending. */
  addresses: bigint[];
  /** Changed pages beyond the cap. */
  omitted: number;
}

type Range = Pick<AreaRecord, 'start' | 'end'>;

/** Pairs of corresponding areas, in address order: same range first, then same start (grew or shrank at the end),
 *  then same end (a stack that grew down). An area without a partner was added (new only) or removed (old only). */
export function pairAreas(oldAreas: readonly Range[], newAreas: readonly Range[]): { old?: number; new?: number }[] {
  const oldPartner = new Array<number | undefined>(oldAreas.length);
  const newPartner = new Array<number | undefined>(newAreas.length);
  const rules: ((a: Range) => string)[] = [(a) => `${a.start}-${a.end}`, (a) => `${a.start}-`, (a) => `-${a.end}`];
  for (const key of rules) {
    // Areas of one image never overlap, so no two share a start or an end: each key names at most one area.
    const unpaired = new Map<string, number>();
    oldAreas.forEach((a, i) => oldPartner[i] === undefined && unpaired.set(key(a), i));
    newAreas.forEach((a, j) => {
      const i = newPartner[j] === undefined ? unpaired.get(key(a)) : undefined;
      if (i === undefined) return;
      unpaired.delete(key(a));
      oldPartner[i] = j;
      newPartner[j] = i;
    });
  }
  const rows: { old?: number; new?: number; at: bigint }[] = [];
  newAreas.forEach((a, j) => {
    const i = newPartner[j];
    rows.push(i === undefined ? { new: j, at: a.start } : { old: i, new: j, at: a.start < oldAreas[i].start ? a.start : oldAreas[i].start });
  });
  oldAreas.forEach((a, i) => oldPartner[i] === undefined && rows.push({ old: i, at: a.start }));
  // By address; at one address, a removed area before the area that replaced it.
  rows.sort((x, y) => (x.at < y.at ? -1 : x.at > y.at ? 1 : (x.new === undefined ? 0 : 1) - (y.new === undefined ? 0 : 1)));
  return rows.map(({ at: _at, ...row }) => row);
}

/** Whether two areas leave the same contents in the pages neither image holds, at every shared address. */
function sameDefault(a: AreaPages, b: AreaPages): boolean {
  if (a.backing !== b.backing) return false;
  if (a.backing === Backing.ZERO) return true;
  if (a.backing !== Backing.FILE || !a.file || !b.file) return false;
  return a.file.path === b.file.path && a.file.dev === b.file.dev && a.file.inode === b.file.inode
    && a.file.offset - a.start === b.file.offset - b.start;
}

function digestAt(side: AreaPages, page: number): Buffer {
  const index = page - Number(side.start / PAGE);
  const stored = side.stored.get(index);
  if (stored) return stored;
  if (side.zeroed.has(index) || side.backing === Backing.ZERO) return ZERO_DIGEST;
  if (!side.fileDigest) throw new Error(`no way to read page ${index} of the area at 0x${side.start.toString(16)}`);
  return side.fileDigest(index);
}

/** A run of pages [first, end) as page numbers (address / page size), with what covers it, if anything. */
interface Segment<T> {
  first: number;
  end: number;
  by?: T;
}

function pageRange(a: { start: bigint; end: bigint }): { first: number; end: number } {
  return { first: Number(a.start / PAGE), end: Number(a.end / PAGE) };
}

/** Cuts [first, end) into the parts covered by areas of `cover` (sorted by address, not overlapping) and the rest. */
function segments<T extends { start: bigint; end: bigint }>(first: number, end: number, cover: readonly T[]): Segment<T>[] {
  let lo = 0;
  let hi = cover.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (pageRange(cover[mid]).end <= first) lo = mid + 1;
    else hi = mid;
  }
  const out: Segment<T>[] = [];
  let at = first;
  for (let i = lo; i < cover.length && at < end; i++) {
    const r = pageRange(cover[i]);
    if (r.first >= end) break;
    if (r.first > at) out.push({ first: at, end: r.first });
    const to = Math.min(end, r.end);
    if (to > Math.max(at, r.first)) out.push({ first: Math.max(at, r.first), end: to, by: cover[i] });
    at = Math.max(at, to);
  }
  if (at < end) out.push({ first: at, end });
  return out;
}

/**
 * Which pages of one row of the diff changed. The row is an area of NEW, of OLD, or a corresponding pair. Every page
 * of the NEW area is compared with whichever OLD area held that address (so areas that merged or split compare
 * page by page), and counts as changed when no OLD area did; a page of the OLD area that no NEW area maps any more
 * counts as changed too (pages NEW still maps are compared in the row of the NEW area that maps them). Kernel
 * memory is never compared. `oldAreas` and `newAreas` are every area of each image, sorted by address.
 */
export function rowPages(
  row: { old?: AreaPages; new?: AreaPages },
  oldAreas: readonly AreaPages[],
  newAreas: readonly { start: bigint; end: bigint }[],
  cap = 1000,
): PageDiff {
  const union = (a?: AreaPages, b?: AreaPages): number => {
    const pages = (x?: AreaPages) => (x ? Number((x.end - x.start) / PAGE) : 0);
    const lap = a && b ? Math.max(0, Number(((a.end < b.end ? a.end : b.end) - (a.start > b.start ? a.start : b.start)) / PAGE)) : 0;
    return pages(a) + pages(b) - lap;
  };
  const result: PageDiff = { compared: false, total: union(row.old, row.new), counted: 0, changed: 0, addresses: [], omitted: 0 };
  if (row.old?.backing === Backing.NONE || row.new?.backing === Backing.NONE) return result;
  result.compared = true;
  const work: (Segment<AreaPages> & { changed: boolean })[] = [];
  if (row.new) {
    const n = pageRange(row.new);
    for (const s of segments(n.first, n.end, oldAreas)) work.push({ ...s, changed: !s.by });
  }
  if (row.old) {
    const o = pageRange(row.old);
    for (const s of segments(o.first, o.end, newAreas)) if (!s.by) work.push({ first: s.first, end: s.end, changed: true });
  }
  work.sort((x, y) => x.first - y.first);
  const mark = (page: number) => {
    result.changed++;
    if (result.addresses.length < cap) result.addresses.push(BigInt(page) * PAGE);
    else result.omitted++;
  };
  for (const s of work) {
    result.counted += s.end - s.first;
    if (s.changed) {
      const listed = Math.max(0, Math.min(s.end - s.first, cap - result.addresses.length));
      for (let p = s.first; p < s.first + listed; p++) result.addresses.push(BigInt(p) * PAGE);
      result.changed += s.end - s.first;
      result.omitted += s.end - s.first - listed;
    } else if (s.by!.backing !== Backing.NONE) {
      comparePages(s.by!, row.new!, s.first, s.end, mark);
    }
  }
  return result;
}

/** Calls `changed` for every page in [first, end) (both areas cover it) whose contents differ, ascending. */
export function comparePages(a: AreaPages, b: AreaPages, first: number, end: number, changed: (page: number) => void): void {
  let pages: Iterable<number>;
  if (sameDefault(a, b)) {
    // Pages neither image holds nor zeroes are equal: only the others need a look.
    const set = new Set<number>();
    for (const side of [a, b]) {
      const base = Number(side.start / PAGE);
      for (const index of side.stored.keys()) set.add(base + index);
      for (const index of side.zeroed) set.add(base + index);
    }
    pages = [...set].filter((p) => p >= first && p < end).sort((x, y) => x - y);
  } else {
    pages = (function* () {
      for (let p = first; p < end; p++) yield p;
    })();
  }
  for (const p of pages) if (!digestAt(a, p).equals(digestAt(b, p))) changed(p);
}
