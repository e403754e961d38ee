// readimage: shows what a .dmtcp image holds (header, memory areas, threads), as text or JSON, and verifies every
// checksum with --verify. It parses through the same WebAssembly stage and pipeline as dmtcp_restart.
import { AreaFlag, AreaKind, Backing, PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE, ThreadFlag } from '../../src/protocol/constants';
import { BLOCK_HEADER_SIZE, BlockFlag } from '../../src/pipeline/image-format';
import { ImageError, ImageReader } from '../../src/pipeline/image-reader';
import { Pipeline } from '../../src/pipeline/pipeline';
import { defaultPlugins } from '../../src/plugins';
import { openForRestart } from '../../src/pipeline/restore-decoder';
import { PluginError } from '../../src/pipeline/pipeline';
import { helpText, optFlag, parseArgs, type OptionSpec } from '../../src/cli/args';
import { CliError, runMain } from '../../src/cli/errors';
import type { ChunkWork } from '../../src/pipeline/types';

const OPTIONS: OptionSpec[] = [
  { name: 'json', help: 'print one JSON document instead of text' },
  { name: 'verify', help: 'decode every chunk and check every checksum' },
  { name: 'help', help: 'print this help' },
];

const KIND_NAMES: Record<number, string> = Object.fromEntries(Object.entries(AreaKind).map(([k, v]) => [v, k.toLowerCase().replace('_', '-')]));
const BACKING_NAMES: Record<number, string> = { [Backing.ZERO]: 'anon', [Backing.FILE]: 'file', [Backing.NONE]: 'kernel' };

export interface AreaSummary {
  start: string;
  end: string;
  size: number;
  perms: string;
  kind: string;
  backing: string;
  path: string;
  storedBytes: number;
  savedPages: number;
  zeroPages: number;
  filePages: number;
  chunks: number;
}

export interface ImageSummary {
  file: string;
  format: number;
  arch: string;
  fileBytes: number;
  program: string;
  argv: string[];
  exe: string;
  cwd: string;
  pid: number;
  ppid: number;
  host: string;
  time: string;
  generation: number;
  computation: string;
  workerId: string;
  codec: string;
  writer: string;
  rawBytes: number;
  storedBytes: number;
  zeroPages: number;
  filePages: number;
  areas: AreaSummary[];
  threads: { tid: number; main: boolean; ckpt: boolean; fsBase: string; name: string }[];
  plugins: string[];
}

function perms(prot: number, flags: number): string {
  return `${prot & PROT_READ ? 'r' : '-'}${prot & PROT_WRITE ? 'w' : '-'}${prot & PROT_EXEC ? 'x' : '-'}${flags & AreaFlag.SHARED ? 's' : 'p'}`;
}

const hex = (v: bigint) => '0x' + v.toString(16).padStart(12, '0');

export function summarize(r: ImageReader): ImageSummary {
  const perArea = r.areas.map(() => ({ stored: 0, covered: 0, zero: 0, chunks: 0 }));
  for (const c of r.chunks) {
    const a = perArea[c.header.area];
    a.chunks++;
    a.stored += c.header.storedLength;
    const pages = c.header.rawLength / PAGE_SIZE;
    if (c.header.flags & BlockFlag.ZERO) a.zero += pages;
    else a.covered += pages;
  }
  const areas = r.areas.map((a, i): AreaSummary => {
    const pages = Number((a.end - a.start) / BigInt(PAGE_SIZE));
    const s = perArea[i];
    const rest = a.backing === Backing.NONE ? 0 : pages - s.covered - s.zero;
    return {
      start: hex(a.start),
      end: hex(a.end),
      size: Number(a.end - a.start),
      perms: perms(a.prot, a.flags),
      kind: KIND_NAMES[a.kind] ?? String(a.kind),
      backing: BACKING_NAMES[a.backing] ?? String(a.backing),
      path: a.path,
      storedBytes: s.stored,
      savedPages: s.covered,
      zeroPages: s.zero + (a.backing === Backing.ZERO ? rest : 0),
      filePages: a.backing === Backing.FILE ? rest : 0,
      chunks: s.chunks,
    };
  });
  const m = r.meta as { codec?: string; writer?: string; stats?: { rawBytes?: number; storedBytes?: number } };
  return {
    file: r.path,
    format: r.header.version,
    arch: 'x86_64',
    fileBytes: r.size,
    program: r.strings.program,
    argv: r.strings.argv,
    exe: r.strings.exe,
    cwd: r.strings.cwd,
    pid: r.process.pid,
    ppid: r.process.ppid,
    host: r.strings.host,
    time: new Date(Number(r.process.ckptTimeNs / 1_000_000n)).toISOString(),
    generation: r.process.generation,
    computation: r.strings.computation,
    workerId: r.strings.workerId,
    codec: m.codec ?? 'unknown',
    writer: m.writer ?? 'unknown',
    rawBytes: r.chunks.reduce((s, c) => s + (c.header.flags & BlockFlag.ZERO ? 0 : c.header.rawLength), 0),
    storedBytes: r.chunks.reduce((s, c) => s + c.header.storedLength, 0),
    zeroPages: areas.reduce((s, a) => s + a.zeroPages, 0),
    filePages: areas.reduce((s, a) => s + a.filePages, 0),
    areas,
    threads: r.threads.map((t) => ({
      tid: t.tid,
      main: (t.flags & ThreadFlag.MAIN) !== 0,
      ckpt: (t.flags & ThreadFlag.CKPT) !== 0,
      fsBase: '0x' + t.fsBase.toString(16),
      name: t.name,
    })),
    plugins: [...r.plugins.keys()],
  };
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export function summaryText(s: ImageSummary): string {
  const ratio = s.storedBytes ? (s.rawBytes / s.storedBytes).toFixed(2) : '-';
  const out = [
    `${s.file}: dmtcp image format ${s.format}, ${s.arch}, ${bytes(s.fileBytes)}`,
    `  program:     ${s.program}`,
    `  argv:        ${s.argv.join(' ')}`,
    `  pid:         ${s.pid} (parent ${s.ppid})`,
    `  host:        ${s.host}`,
    `  time:        ${s.time}`,
    `  generation:  ${s.generation}`,
    `  computation: ${s.computation}`,
    `  worker id:   ${s.workerId}`,
    `  codec:       ${s.codec}`,
    `  sizes:       ${bytes(s.storedBytes)} stored for ${bytes(s.rawBytes)} of saved pages (${ratio}x); ${s.zeroPages} zero pages, ${s.filePages} pages left to their files`,
    `  written by:  ${s.writer}`,
    `Memory areas (${s.areas.length}):`,
  ];
  const rows = s.areas.map((a) => [`${a.start}-${a.end}`, a.perms, a.kind, a.backing, bytes(a.storedBytes), String(a.savedPages), String(a.zeroPages), String(a.filePages), a.path]);
  out.push(...table(['RANGE', 'PERM', 'KIND', 'BACKING', 'STORED', 'SAVED', 'ZERO', 'FILE', 'PATH'], rows));
  out.push(`Threads (${s.threads.length}):`);
  out.push(...table(['TID', 'ROLE', 'FS BASE', 'NAME'], s.threads.map((t) => [String(t.tid), t.main ? 'main' : t.ckpt ? 'checkpoint' : 'user', t.fsBase, t.name])));
  if (s.plugins.length) out.push(`Plugin sections: ${s.plugins.join(', ')}`);
  return out.join('\n') + '\n';
}

function table(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => '  ' + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)];
}

/** Decodes every chunk through the restart pipeline; throws ImageError for the first bad one (in file order). */
export async function verifyImage(file: string): Promise<{ chunks: number; bytes: number }> {
  const pipeline = new Pipeline(defaultPlugins({ ignoreFileChanges: true }));
  const { reader, ctx } = openForRestart(pipeline, file, new Map());
  try {
    const data = reader.chunks.filter((c) => !(c.header.flags & (BlockFlag.ZERO | BlockFlag.PARENT)));
    const failures = new Map<number, ImageError>();
    let decoded = 0;
    let bytes = 0;
    const verifyOne = async (c: (typeof data)[number]): Promise<void> => {
      const h = c.header;
      try {
        const work: ChunkWork = {
          area: h.area, offset: h.offset, rawLength: h.rawLength, source: null, raw: null, stored: null,
          storedAt: { file, offset: c.at + BLOCK_HEADER_SIZE, length: h.storedLength },
          codecId: h.codec, rawChecksum: h.rawChecksum, storedChecksum: h.storedChecksum, flags: h.flags,
        };
        const out = await pipeline.hooks.decodeChunk.promise(work, ctx);
        out.release?.();
        decoded++;
        bytes += h.rawLength;
      } catch (e) {
        const cause = e instanceof PluginError ? (e.cause as Error) : (e as Error);
        failures.set(c.at, cause instanceof ImageError ? cause : new ImageError(file, c.at, `chunk of area ${h.area} at +0x${h.offset.toString(16)}: ${cause.message}`));
      }
    };
    // A few chunks per worker in flight; each promise handles its own failure, so none can go unobserved.
    const inFlight = new Set<Promise<void>>();
    for (const c of data) {
      const p = verifyOne(c).finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= pipeline.workers().size * 3) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    if (failures.size) throw failures.get(Math.min(...failures.keys()))!;
    if (decoded !== data.length) throw new Error(`verified ${decoded} of ${data.length} chunks`);
    return { chunks: reader.chunks.length, bytes };
  } finally {
    reader.close();
    await pipeline.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  const p = parseArgs(argv, OPTIONS);
  if (optFlag(p, 'help')) {
    process.stdout.write(helpText('Usage: readimage [--json] [--verify] IMAGE...\nShows what a .dmtcp checkpoint image holds.', OPTIONS));
    return 0;
  }
  if (p.operands.length === 0) throw new CliError('no image given; usage: readimage [--json] [--verify] IMAGE...', 2);
  const json = optFlag(p, 'json');
  const docs: unknown[] = [];
  for (const file of p.operands) {
    const reader = ImageReader.open(file);
    const s = summarize(reader);
    reader.close();
    let verified: { chunks: number; bytes: number } | undefined;
    if (optFlag(p, 'verify')) verified = await verifyImage(file);
    if (json) {
      docs.push(verified ? { ...s, verified } : s);
    } else {
      process.stdout.write(summaryText(s));
      if (verified) process.stdout.write(`verified: ${verified.chunks} chunks, ${bytes(verified.bytes)} decoded, every checksum matches\n`);
    }
  }
  if (json) process.stdout.write(JSON.stringify(docs.length === 1 ? docs[0] : docs, null, 2) + '\n');
  return 0;
}

if (require.main === module) runMain('readimage', main);
