// readimage extract IMAGE --area ADDR: the bytes of one memory area (or a range of it) as the process had them:
// decoded chunks, zero pages, and pages the image left to the mapped file, read from that file.
import { Backing } from '../../src/protocol/constants';
import { helpText, optString, optFlag, parseArgs, UsageError, type OptionSpec } from '../../src/cli/args';
import { CliError } from '../../src/cli/errors';
import { CHUNK_SIZE } from '../../src/pipeline/image-format';
import { ImageReader, type ChunkEntry } from '../../src/pipeline/image-reader';
import { Pipeline } from '../../src/pipeline/pipeline';
import type { AreaRecord } from '../../src/pipeline/wasm/image-module';
import { defaultPlugins } from '../../src/plugins';
import { parseAddress, parseRange } from './addresses';
import { areaLabel, hexAddr } from './areas';
import { openBinarySink, refuseTerminal } from './binary-out';
import { forEachDecoded, openImage } from './chunks';
import { restartContextOf } from '../../src/pipeline/restore-decoder';
import { MappedFiles } from './mapped-files';

export const EXTRACT_USAGE = 'Usage: readimage extract IMAGE --area ADDR [--range START-END] [-o FILE]';

const OPTIONS: OptionSpec[] = [
  { name: 'area', value: true, arg: 'ADDR', help: 'the area containing this address (hex, 0x optional)' },
  { name: 'range', value: true, arg: 'START-END', help: 'only these bytes of the area (hex addresses, END exclusive); alone, the area is the one containing START' },
  { name: 'output', short: 'o', value: true, arg: 'FILE', help: 'write to FILE instead of stdout (stdout must not be a terminal)' },
  { name: 'help', help: 'print this help' },
];

/** Index of the area containing `addr`, or -1. */
export function findArea(areas: readonly Pick<AreaRecord, 'start' | 'end'>[], addr: bigint): number {
  return areas.findIndex((a) => a.start <= addr && addr < a.end);
}

export interface ExtractCounts {
  bytes: number;
  stored: number;
  zero: number;
  file: number;
}

const ZEROS = Buffer.alloc(CHUNK_SIZE);

/** The chunks of area `index` that overlap [from, to), in address order. */
function chunksIn(reader: ImageReader, index: number, from: bigint, to: bigint): ChunkEntry[] {
  return reader.chunks
    .filter((c) => c.header.area === index && c.header.offset < to && c.header.offset + BigInt(c.header.rawLength) > from)
    .sort((x, y) => (x.header.offset < y.header.offset ? -1 : 1));
}

/** Fails before any output when the bytes cannot be had: kernel memory, or a needed mapped file that is gone. */
export function checkExtractable(reader: ImageReader, index: number, from: bigint, to: bigint, files: MappedFiles): void {
  const area = reader.areas[index];
  if (area.backing === Backing.NONE) {
    throw new CliError(`the area ${hexAddr(area.start)}-${hexAddr(area.end)} (${areaLabel(area)}) is kernel memory: no image holds its contents`);
  }
  if (area.backing !== Backing.FILE) return;
  let covered = 0n;
  for (const c of chunksIn(reader, index, from, to)) {
    const end = c.header.offset + BigInt(c.header.rawLength);
    covered += (end < to ? end : to) - (c.header.offset > from ? c.header.offset : from);
  }
  if (covered < to - from) files.read(area, from, new Uint8Array(0));
}

/** Writes bytes [from, to) of area `index` (offsets from the area's start) to `write`, in address order. */
export async function extractArea(
  pipeline: Pipeline,
  reader: ImageReader,
  index: number,
  from: bigint,
  to: bigint,
  files: MappedFiles,
  write: (bytes: Uint8Array) => Promise<void>,
): Promise<ExtractCounts> {
  checkExtractable(reader, index, from, to, files);
  const area = reader.areas[index];
  const counts: ExtractCounts = { bytes: 0, stored: 0, zero: 0, file: 0 };
  /** Writes [lo, hi) from zeros or, with `fromFile`, from the mapped file, in pieces of at most a chunk. */
  const fill = async (lo: bigint, hi: bigint, fromFile: boolean) => {
    for (let at = lo; at < hi; ) {
      const n = Number(hi - at < BigInt(CHUNK_SIZE) ? hi - at : BigInt(CHUNK_SIZE));
      if (fromFile) {
        const buf = Buffer.allocUnsafe(n);
        files.read(area, at, buf);
        await write(buf);
        counts.file += n;
      } else {
        await write(ZEROS.subarray(0, n));
        counts.zero += n;
      }
      at += BigInt(n);
    }
  };
  const backing = (lo: bigint, hi: bigint) => fill(lo, hi, area.backing === Backing.FILE);
  const chunks = chunksIn(reader, index, from, to);
  let pos = from;
  await forEachDecoded(pipeline, reader, restartContextOf(reader), chunks, async (c, raw) => {
    const start = c.header.offset;
    const lo = start > pos ? start : pos;
    const end = start + BigInt(c.header.rawLength);
    const hi = end < to ? end : to;
    await backing(pos, lo);
    if (raw) {
      await write(raw.subarray(Number(lo - start), Number(hi - start)));
      counts.stored += Number(hi - lo);
    } else {
      await fill(lo, hi, false);   // a ZERO chunk
    }
    pos = hi;
  });
  await backing(pos, to);
  counts.bytes = Number(to - from);
  return counts;
}

export async function extractMain(argv: string[]): Promise<number> {
  const p = parseArgs(argv, OPTIONS);
  if (optFlag(p, 'help')) {
    process.stdout.write(helpText(`${EXTRACT_USAGE}\nWrites the bytes of the memory area containing ADDR as the process had them: stored pages decoded, zero pages as\nzeros, pages left to a mapped file read from that file (which must still exist).`, OPTIONS));
    return 0;
  }
  if (p.operands.length !== 1) throw new UsageError(`extract needs one image, got ${p.operands.length}; ${EXTRACT_USAGE}`);
  const areaText = optString(p, 'area');
  const rangeText = optString(p, 'range');
  if (areaText === undefined && rangeText === undefined) throw new UsageError(`extract needs --area ADDR; ${EXTRACT_USAGE}`);
  const range = rangeText === undefined ? undefined : parseRange(rangeText, '--range');
  const addr = areaText === undefined ? range!.start : parseAddress(areaText, '--area');
  const output = optString(p, 'output');
  refuseTerminal(output, 'extract');
  const [file] = p.operands;
  const reader = openImage(file);
  const pipeline = new Pipeline(defaultPlugins());
  const files = new MappedFiles((m) => process.stderr.write(`readimage: ${m}\n`));
  try {
    const index = findArea(reader.areas, addr);
    if (index < 0) throw new CliError(`no area of ${file} contains ${hexAddr(addr)}`);
    const area = reader.areas[index];
    if (range && (range.start < area.start || range.end > area.end)) {
      throw new CliError(`--range ${hexAddr(range.start)}-${hexAddr(range.end)} is not inside the area ${hexAddr(area.start)}-${hexAddr(area.end)} that contains ${hexAddr(addr)}`);
    }
    const from = range ? range.start - area.start : 0n;
    const to = range ? range.end - area.start : area.end - area.start;
    checkExtractable(reader, index, from, to, files);
    const sink = openBinarySink(output, 'extract');
    let counts: ExtractCounts;
    try {
      counts = await extractArea(pipeline, reader, index, from, to, files, (b) => sink.write(b));
    } catch (e) {
      await sink.close(false);
      throw e;
    }
    await sink.close(true);
    if (output !== undefined) {
      const what = `${hexAddr(area.start + from)}-${hexAddr(area.start + to)} (${areaLabel(area)})`;
      process.stdout.write(`${output}: ${counts.bytes} bytes of ${what} from ${file}: ${counts.stored} stored, ${counts.zero} zero, ${counts.file} read from the mapped file\n`);
    }
    return 0;
  } finally {
    files.close();
    reader.close();
    await pipeline.close();
  }
}
