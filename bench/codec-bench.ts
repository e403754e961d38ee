// Benchmarks the dlz codec stage (plain and SIMD builds) per core, and exports the deterministic test-data generators.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { CodecModule } from '../src/pipeline/wasm/codec-module';

// ---------------------------------------------------------------------------------------------
// Deterministic data generators (shared with test/unit/codec.test.ts).
// ---------------------------------------------------------------------------------------------

/** xorshift32: small, fast and reproducible; never returns 0 for a non-zero state. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = (seed >>> 0) || 0x9e3779b9;
  }

  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }

  below(n: number): number {
    return this.next() % n;
  }
}

const SYLLABLES = ['ka', 'to', 're', 'mi', 'an', 'el', 'or', 'st', 'th', 'in', 'qu', 'pr', 've', 'lo', 'su', 'ne',
  'di', 'ca', 'ba', 'xe', 'wo', 'ly', 'ing', 'ed', 'er', 'al', 'ion', 'ous', 'ent', 'ar'];

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/**
 * Pseudo-English sentences over a 4000-word vocabulary with a skewed word distribution, mixed
 * with log lines (timestamps, worker ids, request ids) - the same idea as the reference corpus.
 */
export function makeText(len: number, seed = 1): Uint8Array {
  const rng = new Rng(seed);
  const words: string[] = [];
  for (let i = 0; i < 4000; i++) {
    let w = '';
    const parts = 1 + rng.below(4);
    for (let j = 0; j < parts; j++) w += SYLLABLES[rng.below(SYLLABLES.length)];
    words.push(w);
  }
  const out = Buffer.alloc(len);
  let at = 0;
  let line = 0;
  while (at < len) {
    let text: string;
    if (rng.below(4) === 0) {
      const t = `${pad(Math.floor(line / 3600) % 24, 2)}:${pad(Math.floor(line / 60) % 60, 2)}:${pad(line % 60, 2)}`;
      text = `2026-11-21T${t}.${pad(rng.below(1000), 3)} worker-${rng.below(16)} INFO request id=${rng.below(1000000)} took ${rng.below(500)}ms\n`;
      line++;
    } else {
      const count = 5 + rng.below(15);
      const picked: string[] = [];
      for (let w = 0; w < count; w++) {
        const r = rng.next() % 4000;
        picked.push(words[Math.floor((r * r) / 4000)]);
      }
      text = picked.join(' ') + '.\n';
    }
    at += out.write(text, at, 'latin1');
  }
  return out;
}

/** Uniformly random bytes. */
export function makeRandom(len: number, seed = 2): Uint8Array {
  const rng = new Rng(seed);
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = rng.next() >>> 24;
  return out;
}

/** An array of 32-byte records: a pointer stepping by 32, an index, constant flags, a small float, zero padding. */
export function makeStructs(len: number): Uint8Array {
  const out = Buffer.alloc(Math.ceil(len / 32) * 32);
  for (let i = 0; i * 32 < out.length; i++) {
    const at = i * 32;
    out.writeBigUInt64LE(0x7f3a12c00000n + BigInt(i * 32), at);
    out.writeUInt32LE(i, at + 8);
    out.writeUInt32LE(0x00010003, at + 12);
    out.writeDoubleLE(1.5 + (i % 7), at + 16);
  }
  return out.subarray(0, len);
}

/** Runs of one byte value with random lengths (1..300). */
export function makeRuns(len: number, seed = 3): Uint8Array {
  const rng = new Rng(seed);
  const out = new Uint8Array(len);
  let at = 0;
  while (at < len) {
    const run = 1 + rng.below(300);
    out.fill(rng.next() >>> 24, at, Math.min(len, at + run));
    at += run;
  }
  return out;
}

/** 4 KiB pages that are each text, random or zero, like a process memory image. */
export function makeMixedPages(len: number, seed = 4): Uint8Array {
  const rng = new Rng(seed);
  const text = makeText(len, seed);
  const random = makeRandom(len, seed + 1);
  const out = new Uint8Array(len);
  for (let at = 0; at < len; at += 4096) {
    const end = Math.min(len, at + 4096);
    const kind = rng.below(3);
    if (kind === 0) out.set(text.subarray(at, end), at);
    else if (kind === 1) out.set(random.subarray(at, end), at);
  }
  return out;
}

/** Text in each chunk's first half, random bytes in its second half. */
export function makeHalfTextHalfRandom(len: number, chunk: number, text?: Uint8Array): Uint8Array {
  const source = text ?? makeText(len);
  const random = makeRandom(len, 5);
  const out = new Uint8Array(len);
  for (let at = 0; at < len; at += chunk) {
    const half = at + Math.floor(Math.min(chunk, len - at) / 2);
    out.set(source.subarray(at, half), at);
    out.set(random.subarray(half, Math.min(len, at + chunk)), half);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Benchmark.
// ---------------------------------------------------------------------------------------------

const KiB = 1024;
const MiB = 1024 * 1024;

interface Options {
  textFile: string | null;
  bytes: number;
  repeats: number;
  levels: number[];
  chunks: number[];
  /** Directory with codec.wasm and codec.simd.wasm (default: the package's build/wasm). */
  wasmDir: string | undefined;
}

function parseArgs(argv: string[]): Options {
  const options: Options = {
    textFile: null,
    bytes: 32 * MiB,
    repeats: 5,
    levels: [1, 2, 3],
    chunks: [256 * KiB, MiB],
    wasmDir: undefined,
  };
  const list = (value: string): number[] => value.split(',').map((v) => Number(v));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--text') options.textFile = argv[++i];
    else if (arg === '--generated') options.textFile = null;
    else if (arg === '--mb') options.bytes = Number(argv[++i]) * MiB;
    else if (arg === '--repeats') options.repeats = Number(argv[++i]);
    else if (arg === '--levels') options.levels = list(argv[++i]);
    else if (arg === '--chunks') options.chunks = list(argv[++i]).map((k) => k * KiB);
    else if (arg === '--wasm-dir') options.wasmDir = argv[++i];
    else {
      throw new Error(`unknown argument ${arg} (use --text FILE | --generated | --mb N | --repeats N | --levels 1,2,3 | ` +
        '--chunks 256,1024 | --wasm-dir DIR)');
    }
  }
  if (options.levels.some((l) => !Number.isInteger(l)) || options.chunks.some((c) => !(c > 0))) {
    throw new Error('--levels and --chunks take comma-separated positive numbers');
  }
  return options;
}

interface Result {
  ratio: number;
  compressMBs: number;
  compressBestMBs: number;
  decompressMBs: number;
  decompressBestMBs: number;
}

/** Wall times in seconds of `runs` calls of `fn`. */
function times(runs: number, fn: () => void): number[] {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    fn();
    out.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  return out;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Compresses `data` chunk by chunk at `level` with the staged (hot-path) API: every chunk is
 * staged once, and compressed or decompressed in place; the timed loops include no
 * JavaScript-side copies. Speeds are the median (and the best) of `repeats` passes over all
 * chunks; the machine may be shared, so the median is the figure to compare.
 */
function measure(mod: CodecModule, data: Uint8Array, chunk: number, level: number, repeats: number): Result {
  const e = mod.exports;
  const count = Math.ceil(data.length / chunk);
  const bound = e.dlzBound(chunk) >>> 0;
  // Layout above heapBase: all input chunks, then one compressed slot per chunk, then the output.
  const inputAt = mod.heapBase;
  const framesAt = inputAt + count * chunk;
  const outputAt = framesAt + count * bound;
  mod.ensure(outputAt - mod.heapBase + count * chunk);
  new Uint8Array(e.memory.buffer).set(data, inputAt);
  const sizes = new Array<number>(count).fill(0);
  const lengthOf = (i: number): number => Math.min(chunk, data.length - i * chunk);
  const compressAll = (): void => {
    for (let i = 0; i < count; i++) {
      sizes[i] = e.dlzCompress(inputAt + i * chunk, lengthOf(i), framesAt + i * bound, bound, level) >>> 0;
    }
  };
  const decompressAll = (): void => {
    for (let i = 0; i < count; i++) {
      if (sizes[i] === 0) continue;
      const n = e.dlzDecompress(framesAt + i * bound, sizes[i], outputAt + i * chunk, lengthOf(i));
      if (n !== lengthOf(i)) throw new Error(`decompression failed with ${n}`);
    }
  };
  // One untimed pass each (it also lets the engine finish optimizing), then the check.
  compressAll();
  decompressAll();
  const memory = new Uint8Array(e.memory.buffer);
  for (let i = 0; i < count; i++) {
    if (sizes[i] === 0) continue;
    const original = memory.subarray(inputAt + i * chunk, inputAt + i * chunk + lengthOf(i));
    const decoded = memory.subarray(outputAt + i * chunk, outputAt + i * chunk + lengthOf(i));
    if (Buffer.compare(original, decoded) !== 0) throw new Error(`round trip mismatch in chunk ${i}`);
  }
  const stored = sizes.reduce((sum, n, i) => sum + (n === 0 ? lengthOf(i) : n), 0);
  const compress = times(repeats, compressAll);
  const decompress = times(repeats, decompressAll);
  const mbs = (seconds: number): number => data.length / seconds / 1e6;
  return {
    ratio: data.length / stored,
    compressMBs: mbs(median(compress)),
    compressBestMBs: mbs(Math.min(...compress)),
    decompressMBs: mbs(median(decompress)),
    decompressBestMBs: mbs(Math.min(...decompress)),
  };
}
/** One row of `npm run bench`'s codec section: a kind of data at one chunk size, level 1, in both builds. */
export interface PerCore {
  kind: string;
  build: string;
  ratio: number;
  compressMBs: number;
  decompressMBs: number;
  /** The build the pipeline loads by default (SIMD where the engine validates it). */
  inUse: boolean;
}

/**
 * The codec's speed on one core, as `npm run bench` reports it: each kind of data in 1 MiB chunks (the pipeline's chunk
 * size) at the default level, plain and SIMD builds, median of `repeats` passes.
 */
export function perCore(kinds: [string, Uint8Array][], repeats = 5): PerCore[] {
  const rows: PerCore[] = [];
  const defaultSimd = new CodecModule().simd;
  for (const simd of [false, true]) {
    const mod = new CodecModule({ simd });
    for (const [kind, data] of kinds) {
      const r = measure(mod, data, MiB, 1, repeats);
      rows.push({ kind, build: simd ? 'simd' : 'plain', ratio: r.ratio, compressMBs: r.compressMBs, decompressMBs: r.decompressMBs, inUse: simd === defaultSimd });
    }
  }
  return rows;
}

/** Ratio of the system `gzip -6` on `data`, whole and (if given) compressed chunk by chunk. */
function gzipRatio(data: Uint8Array, chunk?: number): number | null {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codec-bench-'));
  try {
    let compressed = 0;
    const step = chunk ?? data.length;
    for (let at = 0; at < data.length; at += step) {
      const file = path.join(dir, 'chunk');
      fs.writeFileSync(file, data.subarray(at, Math.min(data.length, at + step)));
      const run = spawnSync('gzip', ['-6', '-c', file], { maxBuffer: 2 * data.length + MiB });
      if (run.status !== 0 || !run.stdout) return null;
      compressed += run.stdout.length;
    }
    return data.length / compressed;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function loadText(options: Options): { text: Uint8Array; source: string } {
  if (options.textFile) {
    const file = fs.readFileSync(options.textFile);
    return { text: file.subarray(0, Math.min(file.length, options.bytes)), source: options.textFile };
  }
  return { text: makeText(options.bytes), source: 'generated text' };
}

function row(cells: (string | number)[]): string {
  const widths = [10, 6, 6, 6, 10, 10, 10, 10, 10];
  return cells.map((c, i) => String(c).padStart(widths[i] ?? 10)).join(' ');
}

export async function main(argv: string[]): Promise<number> {
  const options = parseArgs(argv);
  const { text, source } = loadText(options);
  const size = text.length;
  const modules: [string, CodecModule][] = [
    ['plain', new CodecModule({ simd: false, wasmDir: options.wasmDir })],
    ['simd', new CodecModule({ simd: true, wasmDir: options.wasmDir })],
  ];
  console.log(`dlz codec benchmark: ${(size / MiB).toFixed(0)} MiB per data kind (text: ${source}), single thread, ` +
    `median and best of ${options.repeats} passes${options.wasmDir ? ` (modules from ${options.wasmDir})` : ''}`);
  console.log(row(['data', 'chunk', 'build', 'level', 'ratio', 'comp MB/s', '(best)', 'dec MB/s', '(best)']));
  const random = makeRandom(size);
  const zero = new Uint8Array(size);
  for (const chunk of options.chunks) {
    // Levels only change how compressible data is parsed; random and zero data are the same at every level.
    const kinds: [string, Uint8Array, number[]][] = [
      ['text', text, options.levels],
      ['half/half', makeHalfTextHalfRandom(size, chunk, text), options.levels],
      ['random', random, options.levels.slice(0, 1)],
      ['zero', zero, options.levels.slice(0, 1)],
    ];
    for (const [kind, data, levels] of kinds) {
      for (const level of levels) {
        for (const [build, mod] of modules) {
          const r = measure(mod, data, chunk, level, options.repeats);
          const compressed = r.ratio > 1;
          const dec = (v: number): string => (compressed && Number.isFinite(v) ? v.toFixed(0) : '-');
          console.log(row([kind, `${chunk / KiB}K`, build, level, r.ratio.toFixed(3), r.compressMBs.toFixed(0),
            r.compressBestMBs.toFixed(0), dec(r.decompressMBs), dec(r.decompressBestMBs)]));
        }
      }
    }
  }
  const whole = gzipRatio(text);
  const perChunk = gzipRatio(text, 256 * KiB);
  if (whole === null || perChunk === null) {
    console.log('gzip -6: not available');
  } else {
    console.log(`gzip -6 on the same text: ratio ${whole.toFixed(3)} (whole), ${perChunk.toFixed(3)} (256K chunks)`);
  }
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
