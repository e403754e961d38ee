// npm run bench: speed and size of checkpoint and restart, as ratios against this machine's own limits measured in the
// same run (raw durable write of the same amount of data, memcpy), plus the figures the issues ask for. It reports;
// it does not pass or fail. `--quick` uses 256 MiB instead of 1 GiB; results also go to build/bench-results.json.
// `--only=incremental` runs just the incremental images section, `--only=sockets` and
// `--only=threads` and `--only=tree` just those sections, `--only=big` just the machine's limits and the large process.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { buildDir, testProgramsDir } from '../src/paths';
import { alignedBuffer } from '../src/native/addon';
import { ALIGN, openDirectForReading } from '../src/pipeline/image-file';
import { Sandbox, program, type Proc } from '../test/helpers/sandbox';
import { ImageReader } from '../src/pipeline/image-reader';
import { decodeSocketState, SockFlag } from '../src/pipeline/socket-state';
import { perCore, type PerCore } from './codec-bench';
import { FdKind } from '../src/protocol/constants';

const MiB = 1 << 20;

function now(): number {
  return Number(process.hrtime.bigint()) / 1e9;
}

function fmt(s: number): string {
  return `${s.toFixed(3)} s`;
}

function mb(n: number): string {
  return `${(n / MiB).toFixed(1)} MiB`;
}

/** The durable-write baseline: `bytes` of incompressible data written to `dir` and on disk, as a checkpoint must,
 *  both through the page cache (then fsync) and with O_DIRECT; the faster way is the machine's limit. Best of three
 *  each (the first write into freshly touched memory is much slower on VMs). */
function rawWrite(dir: string, bytes: number): { write: number; durable: number; direct: number; best: number } {
  const runs = [0, 1, 2].map(() => rawWriteOnce(dir, bytes));
  const direct = Math.min(...[0, 1, 2].map(() => rawWriteDirect(dir, bytes)));
  const durable = Math.min(...runs.map((r) => r.durable));
  return { write: Math.min(...runs.map((r) => r.write)), durable, direct, best: Math.min(durable, direct) };
}

function randomBlock(block: Uint8Array): void {
  const words = new Uint32Array(block.buffer, block.byteOffset, block.length / 4);
  for (let i = 0; i < words.length; i++) words[i] = (Math.random() * 2 ** 32) >>> 0;
}

function rawWriteOnce(dir: string, bytes: number): { write: number; durable: number } {
  const file = path.join(dir, 'raw-write.bin');
  const block = Buffer.alloc(8 * MiB);
  randomBlock(block);
  const fd = fs.openSync(file, 'w');
  const t0 = now();
  for (let done = 0; done < bytes; done += block.length) fs.writeSync(fd, block, 0, Math.min(block.length, bytes - done));
  const t1 = now();
  fs.fsyncSync(fd);
  const t2 = now();
  fs.closeSync(fd);
  fs.rmSync(file);
  syncFileSystem(dir);   // the next run starts with the blocks freed
  return { write: t1 - t0, durable: t2 - t0 };
}

/** The same write with O_DIRECT (aligned memory, 8 MiB requests) and a final fsync; Infinity where refused. */
function rawWriteDirect(dir: string, bytes: number): number {
  const file = path.join(dir, 'raw-write-direct.bin');
  const block = new Uint8Array(alignedBuffer(8 * MiB, 4096));
  randomBlock(block);
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_DIRECT, 0o600);
  } catch {
    return Infinity;
  }
  try {
    const t0 = now();
    for (let done = 0; done < bytes; done += block.length) fs.writeSync(fd, block, 0, block.length);
    fs.fsyncSync(fd);
    return now() - t0;
  } catch {
    return Infinity;
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file);
    syncFileSystem(dir);
  }
}

/** Flushes the file system holding `dir` and commits its journal; on a file system mounted with `discard`, deleting
 *  the previous image or raw-write file frees its blocks at that commit. */
function syncFileSystem(dir: string): void {
  spawnSync('sync', ['-f', dir]);
}

/** Lets the disk go quiet before a timed write (synced, then a short rest): each timed operation starts from the same
 *  state, so neither pays for the one before it. */
async function settle(dir: string): Promise<void> {
  syncFileSystem(dir);
  await new Promise((resolve) => setTimeout(resolve, 500));
}

/** Seconds to read `file` once with O_DIRECT (8 MiB requests, no page cache), as a restart reads a large image;
 *  Infinity where O_DIRECT is refused (or DMTCP_DIRECT_IO=0, as for a restart). */
function directRead(file: string): number {
  const fd = openDirectForReading(file);
  if (fd < 0) return Infinity;
  const block = new Uint8Array(alignedBuffer(8 * MiB, ALIGN));
  try {
    const t0 = now();
    for (let at = 0; ; ) {
      const n = fs.readSync(fd, block, 0, block.length, at);
      if (n < block.length) break;
      at += n;
    }
    return now() - t0;
  } finally {
    fs.closeSync(fd);
  }
}

/** Seconds for a bare `node -e 0`, the least each of a restart's two Node processes costs before its first line. */
function nodeStart(): number {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const t = now();
    spawnSync(process.execPath, ['-e', '0']);
    best = Math.min(best, now() - t);
  }
  return best;
}

/** memcpy bandwidth in GB/s over a buffer larger than the caches. */
function memcpyRate(): number {
  const a = Buffer.alloc(256 * MiB, 1);
  const b = Buffer.alloc(256 * MiB);
  a.copy(b);
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const t = now();
    a.copy(b);
    best = Math.min(best, now() - t);
  }
  return a.length / best / 1e9;
}

/** Size gzip -6 makes of the benchmark's memory: zlib level 6 (gzip's algorithm) over halves in two threads. */
async function gzip6Size(file: string): Promise<number> {
  const size = fs.statSync(file).size;
  const cache = path.join(buildDir, `bench-gzip6-${size}.json`);
  const gen = fs.statSync(path.join(testProgramsDir, 'bigmem')).mtimeMs;
  try {
    const c = JSON.parse(fs.readFileSync(cache, 'utf8')) as { gen: number; bytes: number };
    if (c.gen === gen) return c.bytes;
  } catch {
    // not cached yet
  }
  const parts = Math.max(1, Math.min(4, os.availableParallelism()));
  const step = Math.ceil(size / parts / MiB) * MiB;
  const sizes = await Promise.all([...Array(parts).keys()].map((i) => new Promise<number>((resolve, reject) => {
    const w = new Worker(`
      const { workerData, parentPort } = require('node:worker_threads');
      const fs = require('node:fs'); const zlib = require('node:zlib');
      const fd = fs.openSync(workerData.file, 'r'); const buf = Buffer.alloc(workerData.len);
      fs.readSync(fd, buf, 0, workerData.len, workerData.start);
      parentPort.postMessage(zlib.gzipSync(buf, { level: 6 }).length);`, { eval: true, workerData: { file, start: i * step, len: Math.max(0, Math.min(step, size - i * step)) } });
    w.on('message', resolve);
    w.on('error', reject);
  })));
  const bytes = sizes.reduce((a, b) => a + b, 0);
  fs.writeFileSync(cache, JSON.stringify({ gen, bytes }));
  return bytes;
}

/** 32 MiB of each half of the benchmark's memory (its random and its text part), plus zeros, for the codec section. */
function codecSample(dump: string, mib: number): [string, Uint8Array][] {
  const len = Math.min(32, mib / 2) * MiB;
  const fd = fs.openSync(dump, 'r');
  try {
    const part = (at: number): Uint8Array => {
      const buf = Buffer.alloc(len);
      fs.readSync(fd, buf, 0, len, at);
      return buf;
    };
    return [['text', part((mib / 2) * MiB)], ['random', part(0)], ['zero', new Uint8Array(len)]];
  } finally {
    fs.closeSync(fd);
  }
}

/** CPU seconds the build in use needs to compress the text half of a `mib` MiB benchmark process. */
function textCompressSeconds(rows: PerCore[], mib: number): number {
  const text = rows.find((r) => r.kind === 'text' && r.inUse)!;
  return ((mib / 2) * MiB) / 1e6 / text.compressMBs;
}

/**
 * Issue 6: the default codec's speed per core (1 MiB chunks, as the pipeline cuts them), on the benchmark's own text and
 * random bytes, and what that speed alone costs the checkpoint of the large process on this machine's cores.
 */
function codecSection(sample: [string, Uint8Array][], mib: number, quick: boolean): PerCore[] {
  const rows = perCore(sample, quick ? 3 : 5);
  const cores = os.availableParallelism();
  console.log(`default codec (dlz, level 1) per core, 1 MiB chunks of this memory (median of ${quick ? 3 : 5} passes):`);
  for (const r of rows) {
    const dec = r.ratio > 1 ? `, decompress ${r.decompressMBs.toFixed(0)} MB/s` : ' (stored as is)';
    const ratio = r.ratio < 100 ? r.ratio.toFixed(3) : r.ratio.toFixed(0);
    console.log(`  ${r.kind.padEnd(6)} ${r.build.padEnd(5)}: ratio ${ratio}, compress ${r.compressMBs.toFixed(0)} MB/s${dec}${r.inUse ? '' : ' (not the build in use)'}`);
  }
  const cpu = textCompressSeconds(rows, mib);
  console.log(`  compressing the ${mib / 2} MiB of text alone takes ${fmt(cpu)} of CPU: at least ${fmt(cpu / cores)} of a checkpoint on ${cores} cores\n`);
  return rows;
}

interface Round {
  checkpoint: number;
  imageBytes: number;
  restart: number;
  /** From the restart until the program's own checksum of all its memory, asked for as soon as it printed. */
  readBack: number;
  /** The same restart with --no-lazy, until the program prints again. */
  eager: number;
  verified: boolean;
  raw: { write: number; durable: number; direct: number; best: number };
  /** Reading the image alone with O_DIRECT, after the restart. */
  imageRead: number;
}

async function waitLine(p: Proc, re: RegExp, timeoutMs = 300000): Promise<void> {
  await p.waitFor(re, timeoutMs);
}

/** One launch, one checkpoint timed as `dmtcp_command -bc` wall time, a kill, one restart timed until the
 *  program prints again, then the program's own checksum verdict. */
async function measureBig(mib: number, codecArgs: string[]): Promise<Round> {
  const sb = Sandbox.create();
  try {
    await sb.startCoordinator(['--quiet']);
    const p = sb.launch([program('bigmem'), String(mib)], { args: codecArgs });
    const [, sum] = await p.waitFor(/^READY checksum=([0-9a-f]+)$/, 300000);
    await settle(sb.dir);
    const raw = rawWrite(sb.dir, mib * MiB);
    await settle(sb.dir);
    const t0 = now();
    const r = await sb.command('-bc');
    const checkpoint = now() - t0;
    if (r.code !== 0) throw new Error(`checkpoint failed: ${r.stderr}`);
    const [image] = sb.images();
    const imageBytes = fs.statSync(image).size;
    await p.kill();
    await settle(sb.dir);
    // Restarts `image`: seconds until the program prints again, until its own checksum (asked for at once) is in,
    // and that verdict.
    const restartOnce = async (args: string[]) => {
      const t = now();
      const r = sb.restart([image], { args });
      await waitLine(r, /^alive \d+$/);
      const alive = now() - t;
      r.child.kill('SIGUSR1');
      const [verdict] = await r.waitFor(/^(PASS|FAIL).*$/, 120000);
      const checked = now() - t;
      await r.kill();
      await settle(sb.dir);
      return { alive, checked, verdict };
    };
    const lazy = await restartOnce([]);
    const eager = await restartOnce(['--no-lazy']);
    const imageRead = directRead(image);
    const verified = lazy.verdict === `PASS checksum=${sum}` && eager.verdict === lazy.verdict;
    return { checkpoint, imageBytes, restart: lazy.alive, readBack: lazy.checked, eager: eager.alive, verified, raw, imageRead };
  } finally {
    await sb.cleanup();
  }
}

async function measureCounter(): Promise<{ bc: number[]; imageBytes: number; restart: number }> {
  const sb = Sandbox.create();
  try {
    await sb.startCoordinator(['--quiet']);
    const p = sb.launch([program('counter'), '50']);
    await p.waitFor(/^count 3$/);
    const bc: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = now();
      const r = await sb.command('-bc');
      bc.push(now() - t);
      if (r.code !== 0) throw new Error(r.stderr);
    }
    const [image] = sb.images();
    const imageBytes = fs.statSync(image).size;
    await p.kill();
    const t = now();
    const r = sb.restart([image]);
    await r.waitFor(/^count \d+$/);
    return { bc, imageBytes, restart: now() - t };
  } finally {
    await sb.cleanup();
  }
}

/** Checkpoint (median wall of `dmtcp_command -bc`) and restart (until the program prints again) of `argv`, whose
 *  every printed line matches `alive` once it runs. */
async function measureProgram(argv: string[], ready: RegExp, alive: RegExp, checkpoints = 5): Promise<{ bc: number[]; inside: number[]; restart: number; imageBytes: number; images: number; verdict?: string }> {
  const sb = Sandbox.create();
  try {
    await sb.startCoordinator(['--quiet']);
    const p = sb.launch(argv);
    await p.waitFor(ready, 300000);
    const bc: number[] = [];
    const inside: number[] = [];   // the coordinator's own measure: first barrier to the last (no command start-up)
    for (let i = 0; i < checkpoints; i++) {
      const t = now();
      const r = await sb.command('-bc', '--json');
      bc.push(now() - t);
      if (r.code !== 0) throw new Error(r.stderr);
      inside.push((JSON.parse(r.stdout) as { elapsedMs: number }).elapsedMs / 1000);
    }
    const images = sb.images();
    const imageBytes = images.reduce((sum, f) => sum + fs.statSync(f).size, 0);
    // Restarts are noisier than checkpoints on a virtual machine: the median of three, from the same images.
    const restarts: number[] = [];
    let r: Proc | undefined;
    for (let i = 0; i < 3; i++) {
      await sb.killComputation();
      const t = now();
      r = sb.restart(images);
      await r.waitFor(alive, 300000);
      restarts.push(now() - t);
    }
    const restart = median(restarts);
    r = r!;
    r.child.kill('SIGUSR1');
    const [verdict] = await r.waitFor(/^(PASS|FAIL)\b.*$/, 120000);
    return { bc, inside, restart, imageBytes, images: images.length, verdict };
  } finally {
    await sb.cleanup();
  }
}

/** Incremental images (issue 6): the big process checkpointed in full, then again after 1% of its pages changed,
 *  against a plain full checkpoint of the same process; then a restart through the chain. */
async function measureIncremental(mib: number): Promise<Record<string, unknown>> {
  const plain = await measureFullOnly(mib);
  const sb = Sandbox.create();
  try {
    await sb.startCoordinator(['--quiet']);
    const p = sb.launch([program('bigmem'), String(mib)], { args: ['--incremental'] });
    await p.waitFor(/^READY checksum=[0-9a-f]+$/, 300000);
    const timed = async () => {
      const t = now();
      const r = await sb.command('-bc');
      if (r.code !== 0) throw new Error(`checkpoint failed: ${r.stderr}`);
      return now() - t;
    };
    const first = await timed();
    const rounds: { checkpoint: number; imageBytes: number; dirtyPages: number }[] = [];
    for (let i = 0; i < 3; i++) {
      p.child.kill('SIGWINCH');
      const [, pages] = await p.waitFor(/^DIRTY pages=(\d+) checksum=[0-9a-f]+$/, 60000);
      const checkpoint = await timed();
      const images = sb.images();
      rounds.push({ checkpoint, imageBytes: fs.statSync(images[images.length - 1]).size, dirtyPages: Number(pages) });
    }
    const images = sb.images();
    const fullBytes = fs.statSync(images[0]).size;
    await p.kill();
    const t = now();
    const restarted = sb.restart([images[images.length - 1]]);
    await restarted.waitFor(/^alive \d+$/, 300000);
    const restart = now() - t;
    restarted.child.kill('SIGUSR1');
    const [verdict] = await restarted.waitFor(/^(PASS|FAIL).*$/, 120000);
    return { plainCheckpoint: plain.checkpoint, plainBytes: plain.imageBytes, firstCheckpoint: first, fullBytes, rounds, restart, verdict, chain: images.length };
  } finally {
    await sb.cleanup();
  }
}

/** A plain full checkpoint of the big process (no incremental images): the reference for measureIncremental. */
async function measureFullOnly(mib: number): Promise<{ checkpoint: number; imageBytes: number }> {
  const sb = Sandbox.create();
  try {
    await sb.startCoordinator(['--quiet']);
    const p = sb.launch([program('bigmem'), String(mib)]);
    await p.waitFor(/^READY checksum=[0-9a-f]+$/, 300000);
    const t = now();
    const r = await sb.command('-bc');
    const checkpoint = now() - t;
    if (r.code !== 0) throw new Error(`checkpoint failed: ${r.stderr}`);
    const [image] = sb.images();
    return { checkpoint, imageBytes: fs.statSync(image).size };
  } finally {
    await sb.cleanup();
  }
}

function printIncremental(mib: number, inc: Record<string, unknown>): void {
  const r = inc as { plainCheckpoint: number; plainBytes: number; firstCheckpoint: number; fullBytes: number; rounds: { checkpoint: number; imageBytes: number; dirtyPages: number }[]; restart: number; verdict: string; chain: number };
  const ck = median(r.rounds.map((x) => x.checkpoint));
  const size = median(r.rounds.map((x) => x.imageBytes));
  console.log(`\nincremental images, ${mib} MiB process, ${r.rounds[0].dirtyPages} pages (1%) changed between checkpoints:`);
  console.log(`  full checkpoint: ${fmt(r.plainCheckpoint)} plain, ${fmt(r.firstCheckpoint)} as the first image of a chain (${mb(r.fullBytes)})`);
  console.log(`  incremental checkpoint (median of ${r.rounds.length}): ${fmt(ck)} = ${(ck / r.plainCheckpoint).toFixed(2)}x the full checkpoint   [floor: 0.4x]`);
  console.log(`  incremental image: ${mb(size)} = ${((size / r.plainBytes) * 100).toFixed(2)}% of the full image   [floor: 3%]`);
  console.log(`  restart from the newest of ${r.chain} images (through the chain): ${fmt(r.restart)}; checksum: ${r.verdict.split(' ')[0]}   (rounds: ${r.rounds.map((x) => `${x.checkpoint.toFixed(2)} s/${mb(x.imageBytes)}`).join(', ')})`);
}

/** Issue 5: a program whose processes talk over sockets: checkpoint (median of -bc), bytes drained from its sockets
 *  (from the images), and restart until it prints `alive` again. `{dir}` in argv is the run's own directory. */
async function measureSockets(argv: string[], ready: RegExp, alive: RegExp, checkpoints = 3): Promise<{ bc: number[]; drained: number; sockets: number; restart: number }> {
  const sb = Sandbox.create();
  try {
    await sb.startCoordinator(['--quiet']);
    const p = sb.launch(argv.map((a) => a.replace('{dir}', sb.dir)));
    await p.waitFor(ready, 300000);
    const bc: number[] = [];
    for (let i = 0; i < checkpoints; i++) {
      const t = now();
      const r = await sb.command('-bc');
      bc.push(now() - t);
      if (r.code !== 0) throw new Error(r.stderr);
    }
    const images = sb.images();
    let drained = 0;
    let sockets = 0;
    for (const file of images) {
      const reader = ImageReader.open(file);
      try {
        for (const f of reader.fds) {
          const s = f.kind === FdKind.SOCKET ? decodeSocketState(f.data) : undefined;
          if (s && s.flags & SockFlag.INSIDE) {
            sockets++;
            drained += s.drained;
          }
        }
      } finally {
        reader.close();
      }
    }
    await sb.killComputation();
    const t = now();
    const r = sb.restart(images);
    await r.waitFor(alive, 300000);
    return { bc, drained, sockets, restart: now() - t };
  } finally {
    await sb.cleanup();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** Issue 5: a pair streaming 64 KiB blocks over loopback TCP, and an epoll echo server with 50 clients. */
async function socketSection(out: Record<string, unknown>): Promise<void> {
  const stream = await measureSockets([program('sockstream'), 'tcp4', '{dir}/port'], /^blocks 64$/, /^blocks \d+$/);
  console.log('\nstreaming pair, 64 KiB blocks over loopback TCP (sockstream.c):');
  console.log(`  checkpoint (dmtcp_command -bc wall, median of ${stream.bc.length}): ${fmt(median(stream.bc))}; bytes drained from ${stream.sockets} socket ends: ${mb(stream.drained)}`);
  console.log(`  restart until the server checks a block again: ${fmt(stream.restart)} (it prints every 16 blocks, about 70 ms)`);
  out.socketStream = stream;
  const echo = await measureSockets([program('epollecho'), '50', '100000', '{dir}/port'], /^round 5$/, /^round \d+$/);
  console.log('\nepoll echo server with 50 clients (epollecho.c):');
  console.log(`  checkpoint (dmtcp_command -bc wall, median of ${echo.bc.length}): ${fmt(median(echo.bc))}; ${echo.sockets} connected socket ends, ${mb(echo.drained)} drained`);
  console.log(`  restart until the client completes a round again: ${fmt(echo.restart)} (a round every 50 ms)`);
  out.socketEcho = echo;
}

/** Issue 3: 32 threads against one, same program (threads.c), printing every 5 ms so the restart is seen at once. */
async function threadSection(out: Record<string, unknown>): Promise<void> {
  const one = await measureProgram([program('threads'), '1', '5'], /^READY/, /^total \d+$/);
  const many = await measureProgram([program('threads'), '32', '5'], /^READY/, /^total \d+$/);
  const dCk = median(many.inside) - median(one.inside);
  const dRs = many.restart - one.restart;
  console.log('\n32 threads against 1 (threads.c):');
  console.log(`  checkpoint (coordinator's measure, median of ${one.inside.length}): ${fmt(median(one.inside))} -> ${fmt(median(many.inside))} (+${(dCk * 1000).toFixed(0)} ms)   [floor: +20 ms]`);
  console.log(`  checkpoint (dmtcp_command -bc wall): ${fmt(median(one.bc))} -> ${fmt(median(many.bc))}`);
  console.log(`  restart until it prints again (median of 3): ${fmt(one.restart)} -> ${fmt(many.restart)} (+${(dRs * 1000).toFixed(0)} ms)   [floor: +20 ms]`);
  console.log(`  state after restart: ${many.verdict}`);
  out.threads = { one, many };
}

/** Issue 4: a tree of 32 processes, 16 MiB of its own memory each (forest.c). */
async function treeSection(out: Record<string, unknown>, quick: boolean): Promise<void> {
  const n = 32;
  const tree = await measureProgram([program('forest'), String(n), '16', '10'], /^READY n=/, /^alive \d+$/, quick ? 1 : 3);
  console.log(`\n${n}-process tree, 16 MiB each (forest.c):`);
  console.log(`  checkpoint (dmtcp_command -bc wall, median of ${tree.bc.length}): ${fmt(median(tree.bc))} = ${((median(tree.bc) / n) * 1000).toFixed(1)} ms per process   [floor: 2 s]`);
  console.log(`  images: ${tree.images} files, ${mb(tree.imageBytes)}`);
  console.log(`  restart until the root prints again (median of 3): ${fmt(tree.restart)} = ${((tree.restart / n) * 1000).toFixed(1)} ms per process   [floor: 2 s]`);
  console.log(`  every process's checksum after restart: ${tree.verdict}`);
  out.tree = tree;
}

export async function main(argv: string[]): Promise<number> {
  const quick = argv.includes('--quick');
  const mib = quick ? 256 : 1024;
  const out: Record<string, unknown> = { date: new Date().toISOString(), host: os.hostname(), cores: os.availableParallelism(), mib };
  if (argv.includes('--only=threads')) {
    await threadSection(out);
    return 0;
  }
  if (argv.includes('--only=tree')) {
    await treeSection(out, quick);
    return 0;
  }
  if (argv.includes('--only=sockets')) {
    await socketSection(out);
    return 0;
  }
  if (argv.includes('--only=incremental')) {
    const inc = await measureIncremental(mib);
    printIncremental(mib, inc);
    fs.mkdirSync(buildDir, { recursive: true });
    fs.writeFileSync(path.join(buildDir, 'bench-incremental.json'), JSON.stringify(inc, null, 2));
    return 0;
  }
  console.log(`dmtcp-ts benchmark: ${os.availableParallelism()} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; process of ${mib} MiB (half random, half text)\n`);

  const copy = memcpyRate();
  console.log(`machine: memcpy ${copy.toFixed(1)} GB/s`);
  out.memcpyGBs = copy;

  const dumpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmtcp-bench-'));
  let gzipBytes: number;
  let sample: [string, Uint8Array][];
  try {
    const dump = path.join(dumpDir, 'mem.bin');
    const r = spawnSync(program('bigmem'), ['--dump', String(mib), dump]);
    if (r.status !== 0) throw new Error(`bigmem --dump failed: ${r.stderr}`);
    gzipBytes = await gzip6Size(dump);
    sample = codecSample(dump, mib);
  } finally {
    fs.rmSync(dumpDir, { recursive: true, force: true });
  }
  console.log(`gzip -6 of the same memory: ${mb(gzipBytes)}\n`);
  out.gzip6Bytes = gzipBytes;
  const codec = codecSection(sample, mib, quick);
  out.codec = codec;

  const startup = nodeStart();
  for (const [label, args] of [['default codec (dlz)', []], ['no compression (--no-gzip)', ['--no-gzip']]] as [string, string[]][]) {
    const rounds: Round[] = [];
    for (let i = 0; i < (quick ? 1 : 2); i++) rounds.push(await measureBig(mib, args));
    const ck = median(rounds.map((r) => r.checkpoint));
    const rs = median(rounds.map((r) => r.restart));
    const raw = median(rounds.map((r) => r.raw.best));
    const rawDurable = median(rounds.map((r) => r.raw.durable));
    const rawDirect = median(rounds.map((r) => r.raw.direct));
    const rawNoSync = median(rounds.map((r) => r.raw.write));
    const size = rounds[0].imageBytes;
    console.log(`${label}:`);
    console.log(`  raw write of ${mib} MiB here: ${fmt(raw)} = the faster of ${fmt(rawDurable)} through the page cache with fsync (${fmt(rawNoSync)} without) and ${fmt(rawDirect)} with O_DIRECT`);
    console.log(`  checkpoint (dmtcp_command -bc): ${fmt(ck)} = ${(ck / raw).toFixed(2)}x raw write   [floor: 3x; issue 6: 1.5x]`);
    console.log(`  image: ${mb(size)} = ${(size / gzipBytes).toFixed(3)}x gzip -6   [floor: 1.1x]`);
    const compressing = args.length === 0 ? textCompressSeconds(codec, mib) / os.availableParallelism() : 0;
    const writing = (size / (mib * MiB)) * raw;
    console.log(`  what a checkpoint cannot avoid here: ${compressing ? `compressing the text on every core ${fmt(compressing)}, ` : ''}` +
      `writing the image at the raw rate ${fmt(writing)}, one Node start-up (dmtcp_command) ${fmt(startup)}`);
    console.log(`  restart until the program prints again: ${fmt(rs)} = ${(rs / raw).toFixed(2)}x raw write   [floor: 1.5x; issue 6: 1x]`);
    const back = median(rounds.map((r) => r.readBack));
    const eager = median(rounds.map((r) => r.eager));
    console.log(`    (lazy restore: the buffer's pages come in while the program runs; its own checksum of all ${mib} MiB, asked for at once, was done after ${fmt(back)})`);
    console.log(`  restart with --no-lazy (every page in before the program resumes): ${fmt(eager)} = ${(eager / raw).toFixed(2)}x raw write`);
    console.log(`  what a restart cannot avoid here: reading the image with O_DIRECT ${fmt(median(rounds.map((r) => r.imageRead)))}, and two Node start-ups (dmtcp_restart, its decoder) of ${fmt(startup)} each at least`);
    console.log(`  checksum after restart: ${rounds.every((r) => r.verified) ? 'PASS' : 'FAIL'}   (rounds: ${rounds.map((r) => `${r.checkpoint.toFixed(2)}/${r.restart.toFixed(2)}`).join(', ')})\n`);
    out[label] = { rounds, checkpoint: ck, restart: rs, readBack: back, eagerRestart: eager, rawBest: raw, rawDurable, rawDirect, rawWrite: rawNoSync, imageBytes: size };
  }

  if (argv.includes('--only=big')) return 0;

  const c = await measureCounter();
  console.log('counter program:');
  console.log(`  checkpoint (dmtcp_command -bc wall, median of ${c.bc.length}): ${fmt(median(c.bc))}   [floor: 0.25 s; DMTCP: 0.6 s]`);
  console.log(`  image: ${(c.imageBytes / 1024).toFixed(1)} KiB   [floor: 2 MiB; DMTCP: 3.5 MiB]`);
  console.log(`  restart until it counts again: ${fmt(c.restart)}`);
  out.counter = c;

  await threadSection(out);

  await treeSection(out, quick);

  await socketSection(out);

  const inc = await measureIncremental(mib);
  printIncremental(mib, inc);
  out.incremental = inc;

  fs.mkdirSync(buildDir, { recursive: true });
  fs.writeFileSync(path.join(buildDir, 'bench-results.json'), JSON.stringify(out, null, 2));
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
    console.error(e);
    process.exit(1);
  });
}

