// readimage diff OLD NEW: which memory areas and which pages differ between two images of one process (usually two
// generations), with every chunk decoded through the pipeline as a restart would and compared page by page.
import { helpText, optFlag, parseArgs, UsageError, type OptionSpec } from '../../src/cli/args';
import { CliError } from '../../src/cli/errors';
import { ImageReader } from '../../src/pipeline/image-reader';
import { Pipeline } from '../../src/pipeline/pipeline';
import type { AreaRecord } from '../../src/pipeline/wasm/image-module';
import { defaultPlugins } from '../../src/plugins';
import { backingName, hexAddr, kindName, perms } from './areas';
import { MappedFiles } from './mapped-files';
import { openImage } from './chunks';
import { buildPageMaps } from './page-map';
import { pairAreas, rowPages } from './page-diff';
import { printJson, table } from './text';

export const DIFF_USAGE = 'Usage: readimage diff OLD NEW [--json] [--force]';

const OPTIONS: OptionSpec[] = [
  { name: 'json', help: 'print one JSON document, with the changed page addresses of every area' },
  { name: 'force', help: 'compare images of different programs, computations or processes anyway' },
  { name: 'help', help: 'print this help' },
];

/** Changed page addresses listed per area in --json; the rest are counted in changedPagesOmitted. */
export const PAGE_LIST_CAP = 1000;

export type AreaStatus = 'same' | 'modified' | 'changed' | 'added' | 'removed';

interface AreaDescription {
  start: string;
  end: string;
  perms: string;
  kind: string;
  backing: string;
  path: string;
}

export interface AreaDiff extends AreaDescription {
  /** same: nothing differs; modified: same area, pages differ; changed: range, permissions, kind, backing or
   *  path differ; added / removed: only in NEW / only in OLD. */
  status: AreaStatus;
  /** What differs in the area's description (changed areas only). */
  changes: ('range' | 'perms' | 'kind' | 'backing' | 'path')[];
  /** The area as OLD had it, when it changed. */
  old?: AreaDescription;
  /** False for kernel memory (vdso, vvar, the restorer hole), whose contents no image holds. */
  compared: boolean;
  pagesChanged: number;
  /** Pages of the area (of both ranges, for a changed range). */
  pagesTotal: number;
  /** Pages this row adds to totals.pagesCompared (pages of a removed area that NEW maps elsewhere are compared in
   *  the row of the area that maps them now). */
  pagesCounted: number;
  changedPages: string[];
  changedPagesOmitted: number;
}

export interface ImageDiff {
  old: DiffSide;
  new: DiffSide;
  areas: AreaDiff[];
  totals: { areas: number; same: number; modified: number; changed: number; added: number; removed: number; pagesChanged: number; pagesCompared: number };
}

interface DiffSide {
  file: string;
  program: string;
  pid: number;
  generation: number;
  time: string;
  computation: string;
  workerId: string;
}

function side(r: ImageReader): DiffSide {
  return {
    file: r.path,
    program: r.strings.program,
    pid: r.process.pid,
    generation: r.process.generation,
    time: new Date(Number(r.process.ckptTimeNs / 1_000_000n)).toISOString(),
    computation: r.strings.computation,
    workerId: r.strings.workerId,
  };
}

function areaDescription(a: AreaRecord): AreaDescription {
  return { start: hexAddr(a.start), end: hexAddr(a.end), perms: perms(a.prot, a.flags), kind: kindName(a), backing: backingName(a), path: a.path };
}

/** Why two images are not of the same process, or undefined when they are. */
export function identityMismatch(a: DiffSide, b: DiffSide): string | undefined {
  if (a.program !== b.program) return `are images of different programs (${a.program} and ${b.program})`;
  if (a.computation !== b.computation) return `are images of different computations (${a.computation} and ${b.computation})`;
  if (a.workerId !== b.workerId) return `are images of different processes of one computation (worker ids ${a.workerId} and ${b.workerId})`;
  return undefined;
}

/** Compares two open images; `files` reads pages left to mapped files when only one side holds them. */
export async function diffImages(pipeline: Pipeline, oldImage: ImageReader, newImage: ImageReader, files: MappedFiles): Promise<ImageDiff> {
  const pairs = pairAreas(oldImage.areas, newImage.areas);
  const oldPages = await buildPageMaps(pipeline, oldImage, files);
  const newPages = await buildPageMaps(pipeline, newImage, files);
  const byAddress = <T extends { start: bigint }>(list: T[]) => list.sort((x, y) => (x.start < y.start ? -1 : x.start > y.start ? 1 : 0));
  const oldSorted = byAddress([...oldPages.values()]);
  const newSorted = byAddress([...newPages.values()]);
  const areas = pairs.map((p): AreaDiff => {
    const pages = rowPages({ old: p.old === undefined ? undefined : oldPages.get(p.old), new: p.new === undefined ? undefined : newPages.get(p.new) }, oldSorted, newSorted, PAGE_LIST_CAP);
    const rowCounts = {
      compared: pages.compared, pagesChanged: pages.changed, pagesTotal: pages.total, pagesCounted: pages.counted,
      changedPages: pages.addresses.map(hexAddr), changedPagesOmitted: pages.omitted,
    };
    if (p.old === undefined || p.new === undefined) {
      const a = p.old === undefined ? newImage.areas[p.new!] : oldImage.areas[p.old];
      return { ...areaDescription(a), status: p.old === undefined ? 'added' : 'removed', changes: [], ...rowCounts };
    }
    const o = oldImage.areas[p.old];
    const n = newImage.areas[p.new];
    const changes: AreaDiff['changes'] = [];
    if (o.start !== n.start || o.end !== n.end) changes.push('range');
    if (o.prot !== n.prot || o.flags !== n.flags) changes.push('perms');
    if (o.kind !== n.kind) changes.push('kind');
    if (o.backing !== n.backing) changes.push('backing');
    if (o.path !== n.path) changes.push('path');
    const status: AreaStatus = changes.length ? 'changed' : pages.changed ? 'modified' : 'same';
    return { ...areaDescription(n), status, changes, ...(changes.length ? { old: areaDescription(o) } : {}), ...rowCounts };
  });
  const count = (s: AreaStatus) => areas.filter((a) => a.status === s).length;
  return {
    old: side(oldImage),
    new: side(newImage),
    areas,
    totals: {
      areas: areas.length,
      same: count('same'),
      modified: count('modified'),
      changed: count('changed'),
      added: count('added'),
      removed: count('removed'),
      pagesChanged: areas.reduce((s, a) => s + a.pagesChanged, 0),
      pagesCompared: areas.reduce((s, a) => s + a.pagesCounted, 0),
    },
  };
}

function statusText(a: AreaDiff): string {
  if (a.status === 'removed' && a.compared && a.pagesCounted < a.pagesTotal) return `removed (${a.pagesTotal - a.pagesCounted} of its pages mapped by another area now)`;
  if (a.status !== 'changed' || !a.old) return a.status;
  const was = a.changes.map((c) => {
    switch (c) {
      case 'range':
        return `range was ${a.old!.start}-${a.old!.end}`;
      case 'path':
        return `path was ${a.old!.path || '(none)'}`;
      default:
        return `${c} was ${a.old![c]}`;
    }
  });
  return `changed (${was.join('; ')})`;
}

export function diffText(d: ImageDiff): string {
  const t = d.totals;
  const out = [
    `old: ${d.old.file}: ${d.old.program}, pid ${d.old.pid}, generation ${d.old.generation}, ${d.old.time}`,
    `new: ${d.new.file}: ${d.new.program}, pid ${d.new.pid}, generation ${d.new.generation}, ${d.new.time}`,
    ...table(
      ['RANGE', 'PERM', 'KIND', 'STATUS', 'CHANGED', 'PATH'],
      d.areas.map((a) => [`${a.start}-${a.end}`, a.perms, a.kind, statusText(a), a.compared || a.pagesChanged ? `${a.pagesChanged}/${a.pagesTotal}` : '-', a.path]),
    ),
    `totals: ${t.areas} areas: ${t.same} same, ${t.modified} modified, ${t.changed} changed, ${t.added} added, ${t.removed} removed; ${t.pagesChanged} pages changed of ${t.pagesCompared} compared`,
  ];
  return out.join('\n') + '\n';
}

export async function diffMain(argv: string[]): Promise<number> {
  const p = parseArgs(argv, OPTIONS);
  if (optFlag(p, 'help')) {
    process.stdout.write(helpText(`${DIFF_USAGE}\nShows which memory areas and pages differ between two images of one process (for example two generations).\nPages are decoded and compared one by one; pages an image leaves to a mapped file are read from that file.`, OPTIONS));
    return 0;
  }
  if (p.operands.length !== 2) throw new UsageError(`diff needs two images, OLD and NEW, got ${p.operands.length}; ${DIFF_USAGE}`);
  const [oldFile, newFile] = p.operands;
  const oldImage = openImage(oldFile);
  let newImage: ImageReader;
  try {
    newImage = openImage(newFile);
  } catch (e) {
    oldImage.close();
    throw e;
  }
  const pipeline = new Pipeline(defaultPlugins());
  const files = new MappedFiles((m) => process.stderr.write(`readimage: ${m}\n`));
  try {
    const why = identityMismatch(side(oldImage), side(newImage));
    if (why && !optFlag(p, 'force')) throw new CliError(`${oldFile} and ${newFile} ${why}; pass --force to compare them anyway`);
    const d = await diffImages(pipeline, oldImage, newImage, files);
    if (optFlag(p, 'json')) printJson(d);
    else process.stdout.write(diffText(d));
    return 0;
  } finally {
    files.close();
    oldImage.close();
    newImage.close();
    await pipeline.close();
  }
}
