// The geometry of readimage map, free of I/O: areas in address order down the page, each as tall as the logarithm
// of its size (the address space is sparse: gaps are drawn as fixed breaks with their size), and within each area
// a strip showing where its pages are stored, left to the file, or zero.
import { Backing, PAGE_SIZE } from '../../src/protocol/constants';
import { BlockFlag } from '../../src/pipeline/image-format';
import type { ImageReader } from '../../src/pipeline/image-reader';
import { areaLabel, areaPages, category, codeFiles, kindName, perms, type Category } from './areas';

export type PageState = 'stored' | 'file' | 'zero' | 'none';

export interface MapArea {
  start: bigint;
  end: bigint;
  perms: string;
  kind: string;
  category: Category;
  label: string;
  /** Consecutive runs of pages in one state, covering the area in order. */
  runs: { pages: number; state: PageState }[];
  /** The state of pages no chunk covers (the area's backing). */
  rest: PageState;
}

export interface MapInput {
  title: string;
  areas: MapArea[];
}

export const GEOMETRY = Object.freeze({
  width: 960,
  top: 84,
  bottom: 16,
  minHeight: 14,
  perDoubling: 5,
  gap: 18,
  adjacent: 2,
  addressX: 10,
  blockX: 150,
  blockWidth: 170,
  stripX: 326,
  stripWidth: 28,
  labelX: 364,
});

export interface AreaBox {
  area: MapArea;
  y: number;
  height: number;
  /** Runs drawn over the strip's background (the area's `rest` state), each at least one pixel tall. */
  marks: { y: number; height: number; state: PageState }[];
  counts: Record<PageState, number>;
}

export interface GapBox {
  y: number;
  height: number;
  start: bigint;
  end: bigint;
}

export interface Layout {
  width: number;
  height: number;
  areas: AreaBox[];
  gaps: GapBox[];
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

/** Height of an area of `pages` pages: the minimum, plus a fixed step for every doubling. */
export function areaHeight(pages: number): number {
  return round2(GEOMETRY.minHeight + GEOMETRY.perDoubling * Math.log2(Math.max(1, pages)));
}

/** Page runs of every area of an image, from its chunk headers alone (nothing is decoded). */
export function mapInput(reader: ImageReader, name: string): MapInput {
  const code = codeFiles(reader.areas);
  const byArea = reader.areas.map(() => [] as { offset: bigint; length: number; zero: boolean }[]);
  for (const c of reader.chunks) byArea[c.header.area].push({ offset: c.header.offset, length: c.header.rawLength, zero: (c.header.flags & BlockFlag.ZERO) !== 0 });
  const areas = reader.areas.map((a, i): MapArea => {
    const rest: PageState = a.backing === Backing.FILE ? 'file' : a.backing === Backing.NONE ? 'none' : 'zero';
    const runs: MapArea['runs'] = [];
    const push = (pages: number, state: PageState) => {
      if (pages <= 0) return;
      const last = runs[runs.length - 1];
      if (last && last.state === state) last.pages += pages;
      else runs.push({ pages, state });
    };
    let pos = 0;
    for (const c of byArea[i].sort((x, y) => (x.offset < y.offset ? -1 : 1))) {
      const first = Number(c.offset / BigInt(PAGE_SIZE));
      push(first - pos, rest);
      push(Math.ceil(c.length / PAGE_SIZE), c.zero ? 'zero' : 'stored');
      pos = first + Math.ceil(c.length / PAGE_SIZE);
    }
    push(areaPages(a) - pos, rest);
    return { start: a.start, end: a.end, perms: perms(a.prot, a.flags), kind: kindName(a), category: category(a, code), label: areaLabel(a), runs, rest };
  });
  const time = new Date(Number(reader.process.ckptTimeNs / 1_000_000n)).toISOString();
  return { title: `${name}: ${reader.strings.program}, pid ${reader.process.pid}, generation ${reader.process.generation}, ${time}`, areas };
}

/** Places every area and gap; the same input always gives the same numbers. */
export function layout(input: MapInput): Layout {
  const g = GEOMETRY;
  const areas: AreaBox[] = [];
  const gaps: GapBox[] = [];
  let y = g.top;
  const sorted = [...input.areas].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  sorted.forEach((area, i) => {
    if (i > 0) {
      const prev = sorted[i - 1];
      if (area.start > prev.end) {
        gaps.push({ y: round2(y), height: g.gap, start: prev.end, end: area.start });
        y += g.gap;
      } else {
        y += g.adjacent;
      }
    }
    const total = Number((area.end - area.start) / BigInt(PAGE_SIZE));
    const height = areaHeight(total);
    const counts: Record<PageState, number> = { stored: 0, file: 0, zero: 0, none: 0 };
    const marks: AreaBox['marks'] = [];
    let at = 0;
    for (const run of area.runs) {
      counts[run.state] += run.pages;
      if (run.state !== area.rest && total > 0) {
        marks.push({ y: round2(y + (height * at) / total), height: round2(Math.max(1, (height * run.pages) / total)), state: run.state });
      }
      at += run.pages;
    }
    areas.push({ area, y: round2(y), height, marks, counts });
    y += height;
  });
  return { width: g.width, height: round2(y + g.bottom), areas, gaps };
}
