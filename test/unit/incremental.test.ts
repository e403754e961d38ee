// Incremental images, in process: the WebAssembly diff stage (pages compared exactly), the page-hash table, and the
// image writer with the incremental plugin fed synthetic process streams: changed pages stored, unchanged ones left
// to the parent as PARENT blocks, areas that grew or moved, the restore stream rebuilt through the chain, a failed
// generation never becoming a parent, a full image every N, and the one-line errors of a broken chain.
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AreaKind, Backing, PAGE_SIZE, PROT_READ, PROT_WRITE, Rec, StreamTlv } from '../../src/protocol/constants';
import { BlockFlag, FileFlag } from '../../src/pipeline/image-format';
import { ChainError, incrementalMeta, openChain, resolveParent } from '../../src/pipeline/image-chain';
import { ImageReader } from '../../src/pipeline/image-reader';
import { ImageWriter } from '../../src/pipeline/image-writer';
import { PageHashTable, pageHashDigest } from '../../src/pipeline/page-hashes';
import { Pipeline } from '../../src/pipeline/pipeline';
import { openForRestart, writeRestoreStream } from '../../src/pipeline/restore-decoder';
import { encodeTlvs } from '../../src/pipeline/raw-stream';
import { CodecModule } from '../../src/pipeline/wasm/codec-module';
import type { WrittenImage } from '../../src/pipeline/types';
import { defaultPlugins } from '../../src/plugins';

const PAGE = PAGE_SIZE;

// ---- the WebAssembly diff stage ----

describe('diff stage (pageDiff in the codec module)', () => {
  for (const simd of [false, true]) {
    const mod = new CodecModule({ simd });
    const pages = 64;
    const layout = { data: 0, hashes: pages * PAGE, prev: pages * PAGE + pages * 8, known: pages * PAGE + pages * 16, changed: pages * PAGE + pages * 17 };
    mod.ensure(layout.changed + pages);
    const mem = () => new Uint8Array(mod.exports.memory.buffer, mod.heapBase);
    const run = (prev: Uint8Array, known: Uint8Array): { count: number; hashes: Buffer; changed: number[] } => {
      mem().set(prev, layout.prev);
      mem().set(known, layout.known);
      const b = mod.heapBase;
      const count = mod.exports.pageDiff(b + layout.data, pages * PAGE, PAGE, b + layout.prev, b + layout.known, b + layout.hashes, b + layout.changed);
      const changed = [...mem().subarray(layout.changed, layout.changed + pages)].flatMap((c, i) => (c ? [i] : []));
      return { count, hashes: Buffer.from(mem().subarray(layout.hashes, layout.hashes + pages * 8)), changed };
    };
    const data = crypto.randomBytes(pages * PAGE);
    mem().set(data, layout.data);
    const first = run(new Uint8Array(pages * 8), new Uint8Array(pages));
    const all = new Uint8Array(pages).fill(1);

    it(`${simd ? 'SIMD' : 'plain'} build: every page is changed when nothing is known, and hashes are XXH64 per page`, () => {
      assert.equal(first.count, pages);
      for (let i = 0; i < pages; i++) assert.equal(first.hashes.readBigUInt64LE(i * 8), mod.xxh64(data.subarray(i * PAGE, (i + 1) * PAGE)), `page ${i}`);
    });

    const cases: [string, number[], number[], number[]][] = [
      // name, pages rewritten, pages unknown -> the pages found changed
      ['nothing changed', [], [], []],
      ['one byte of one page', [17], [], [17]],
      ['first and last pages', [0, 63], [], [0, 63]],
      ['a run and a scatter', [5, 6, 7, 40, 50], [], [5, 6, 7, 40, 50]],
      ['unknown pages count as changed', [3], [10, 11], [3, 10, 11]],
    ];
    for (const [name, rewrite, unknown, want] of cases) {
      it(`${simd ? 'SIMD' : 'plain'} build: ${name}`, () => {
        mem().set(data, layout.data);
        for (const p of rewrite) mem()[layout.data + p * PAGE + (p % PAGE)] ^= 0x5a;
        const known = Uint8Array.from(all);
        for (const p of unknown) known[p] = 0;
        const r = run(first.hashes, known);
        assert.deepEqual(r.changed, want);
        assert.equal(r.count, want.length);
      });
    }
  }
});

describe('PageHashTable', () => {
  const h = (n: number) => {
    const b = Buffer.alloc(n * 8);
    for (let i = 0; i < n; i++) b.writeBigUInt64LE(BigInt(1000 + i), i * 8);
    return b;
  };
  it('answers hashes and known flags across runs added out of order, with holes', () => {
    const t = new PageHashTable();
    t.add(0x20000, h(4));             // pages 0x20..0x23
    t.add(0x10000, h(2));             // pages 0x10..0x11
    const view = Buffer.from(t.lookup(0x11000, 0x14));   // pages 0x11..0x24
    const known = [...view.subarray(0x14 * 8)];
    assert.deepEqual(known.flatMap((k, i) => (k ? [i + 0x11] : [])), [0x11, 0x20, 0x21, 0x22, 0x23]);
    assert.equal(view.readBigUInt64LE(0), 1001n);
    assert.equal(view.readBigUInt64LE((0x22 - 0x11) * 8), 1002n);
    assert.equal(t.pages, 6);
  });
});

// ---- the writer with the incremental plugin, fed synthetic streams ----

const COMPUTATION = 'c0ffee';
const WORKER = 'test-1-1';

interface FakeArea {
  start: bigint;
  pages: number;
  /** Page contents by page index (pages not listed are zero and not sent). */
  data: Map<number, Buffer>;
}

function processBody(generation: number, nAreas: number, dir: string, every: number): Buffer {
  const b = Buffer.alloc(672);
  b.writeUInt32LE(4242, 0);
  b.writeUInt32LE(1, 4);
  b.writeUInt32LE(generation, 8);
  b.writeUInt32LE(1, 12);
  b.writeUInt32LE(nAreas, 16);
  b.writeUInt32LE(12, 20);
  b.writeBigUInt64LE(BigInt(Date.now()) * 1_000_000n, 24);
  const strings = new Map<number, string>([
    [StreamTlv.HOST, 'testhost'], [StreamTlv.PROGRAM, 'synthetic'], [StreamTlv.ARGV, 'synthetic\0'], [StreamTlv.CWD, dir],
    [StreamTlv.WORKER_ID, WORKER], [StreamTlv.COMPUTATION, COMPUTATION], [StreamTlv.CKPT_DIR, dir], [StreamTlv.UNIQUE, '0'],
    [StreamTlv.VPID, '4242'], [StreamTlv.VPPID, '1'],
  ]);
  if (every) strings.set(StreamTlv.INCREMENTAL, String(every));
  return Buffer.concat([b, encodeTlvs(strings)]);
}

function areaBody(a: FakeArea): Buffer {
  const b = Buffer.alloc(80);
  b.writeBigUInt64LE(a.start, 0);
  b.writeBigUInt64LE(a.start + BigInt(a.pages * PAGE), 8);
  b.writeUInt32LE(PROT_READ | PROT_WRITE, 60);
  b.writeUInt32LE(AreaKind.ANON, 68);
  b.writeUInt32LE(Backing.ZERO, 72);
  return b;
}

/** Streams the areas into a writer as the capture library would (push mode: DATA records with the bytes). */
async function checkpoint(pipeline: Pipeline, dir: string, generation: number, areas: FakeArea[], every = 8): Promise<WrittenImage> {
  const w = new ImageWriter(pipeline, { fsync: false });
  w.header(0);
  w.record(Rec.PROCESS, processBody(generation, areas.length, dir, every));
  w.record(Rec.THREAD, Buffer.alloc(32));
  for (const a of areas) w.record(Rec.AREA, areaBody(a));
  let sent = 0;
  areas.forEach((a, index) => {
    // Runs of consecutive non-zero pages, as the library sends them.
    const idx = [...a.data.keys()].sort((x, y) => x - y);
    for (let i = 0; i < idx.length; ) {
      let j = i + 1;
      while (j < idx.length && idx[j] === idx[j - 1] + 1) j++;
      const bytes = Buffer.concat(idx.slice(i, j).map((p) => a.data.get(p)!));
      w.dataStart({ area: index, flags: 0, offset: BigInt(idx[i] * PAGE), length: bytes.length });
      w.data(bytes);
      w.dataEnd();
      sent += bytes.length;
      i = j;
    }
  });
  const end = Buffer.alloc(32);
  end.writeBigUInt64LE(BigInt(sent), 0);
  w.record(Rec.END, end);
  return w.done;
}

/** Makes the generation final, as the coordinator does: rename, then afterCommit. */
async function commit(pipeline: Pipeline, dir: string, generation: number, images: WrittenImage[]): Promise<void> {
  for (const img of images) fs.renameSync(img.tempPath, img.finalPath);
  await pipeline.hooks.afterCommit.promise({ generation, computation: COMPUTATION, images, scriptDir: dir, coordinator: { host: 'localhost', port: 1 }, removed: [] });
}

function randomArea(start: bigint, pages: number): FakeArea {
  const data = new Map<number, Buffer>();
  for (let i = 0; i < pages; i++) data.set(i, crypto.randomBytes(PAGE));
  return { start, pages, data };
}

function clone(a: FakeArea, over: Partial<FakeArea> = {}): FakeArea {
  return { start: a.start, pages: a.pages, data: new Map([...a.data].map(([k, v]) => [k, Buffer.from(v)])), ...over };
}

function touch(a: FakeArea, pages: number[]): void {
  for (const p of pages) a.data.get(p)![(p * 7) % PAGE] ^= 0xff;
}

/** The chunks of an image as [first page, pages, kind] in address order, per area. */
function blocks(r: ImageReader): [number, number, number, 'data' | 'parent' | 'zero'][] {
  return r.chunks.map((c) => [c.header.area, Number(c.header.offset) / PAGE, c.header.rawLength / PAGE,
    c.header.flags & BlockFlag.PARENT ? 'parent' : c.header.flags & BlockFlag.ZERO ? 'zero' : 'data']);
}

/** Merges adjacent blocks of one kind (the writer cuts chunks at 1 MiB; the test cares about runs). */
function runs(list: ReturnType<typeof blocks>): string[] {
  const out: [number, number, number, string][] = [];
  for (const [area, first, n, kind] of list) {
    const last = out[out.length - 1];
    if (last && last[0] === area && last[3] === kind && last[1] + last[2] === first) last[2] += n;
    else out.push([area, first, n, kind]);
  }
  return out.map(([area, first, n, kind]) => `${area}:${first}+${n} ${kind}`);
}

/** The process's memory as the restore stream of `file` rebuilds it (decoded through the chain, no restorer). */
async function restoredMemory(pipeline: Pipeline, file: string): Promise<Map<string, Buffer>> {
  const { reader, ctx } = openForRestart(pipeline, file, new Map());
  const out = path.join(path.dirname(file), `stream-${path.basename(file)}`);
  const fd = fs.openSync(out, 'w');
  try {
    await writeRestoreStream(pipeline, reader, ctx, fd);
  } finally {
    fs.closeSync(fd);
  }
  const areas = reader.areas.map((a) => Buffer.alloc(Number(a.end - a.start)));
  const bytes = fs.readFileSync(out);
  let at = 32;
  while (at < bytes.length) {
    const type = bytes.readUInt32LE(at);
    const len = bytes.readUInt32LE(at + 4);
    const body = bytes.subarray(at + 8, at + 8 + len);
    at += 8 + len;
    if (type === Rec.DATA || type === Rec.ZERO) {
      const area = body.readUInt32LE(0);
      const offset = Number(body.readBigUInt64LE(8));
      const length = Number(body.readBigUInt64LE(16));
      if (type === Rec.DATA) {
        bytes.copy(areas[area], offset, at, at + length);
        at += length;
      } else {
        areas[area].fill(0, offset, offset + length);
      }
    }
  }
  const mem = new Map<string, Buffer>();
  reader.areas.forEach((a, i) => mem.set(a.start.toString(16), areas[i]));
  reader.close();
  return mem;
}

function expected(areas: FakeArea[]): Map<string, Buffer> {
  const mem = new Map<string, Buffer>();
  for (const a of areas) {
    const b = Buffer.alloc(a.pages * PAGE);
    for (const [p, d] of a.data) d.copy(b, p * PAGE);
    mem.set(a.start.toString(16), b);
  }
  return mem;
}

describe('incremental images (writer, diff stage, chain)', function () {
  this.timeout(60000);
  let dir: string;
  let pipeline: Pipeline;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmtcp-incr-'));
    pipeline = new Pipeline(defaultPlugins());
  });
  afterEach(async () => {
    await pipeline.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('stores exactly the changed pages and leaves the rest to the parent; restores each generation exactly', async () => {
    const g1 = [randomArea(0x10000000n, 600), randomArea(0x20000000n, 40)];
    const img1 = await checkpoint(pipeline, dir, 1, g1);
    await commit(pipeline, dir, 1, [img1]);
    assert.match(path.basename(img1.finalPath), /_00001\.dmtcp$/, 'incremental turns unique names on');

    // Generation 2: pages 3, 4, 300 and 599 rewritten; the first area grew by 10 pages; page 20 of the second
    // area became zero (not sent: it must not come from the parent either).
    const heap = clone(g1[0], { pages: 610 });
    touch(heap, [3, 4, 300, 599]);
    for (let p = 600; p < 610; p++) heap.data.set(p, crypto.randomBytes(PAGE));
    const small = clone(g1[1]);
    small.data.delete(20);
    const g2 = [heap, small];
    const img2 = await checkpoint(pipeline, dir, 2, g2);
    await commit(pipeline, dir, 2, [img2]);

    const r1 = ImageReader.open(img1.finalPath);
    const r2 = ImageReader.open(img2.finalPath);
    try {
      assert.equal(r1.header.flags & FileFlag.INCREMENTAL, 0, 'the first image is full');
      assert.equal(incrementalMeta(r1)!.parent, null);
      assert.equal(r2.header.flags & FileFlag.INCREMENTAL, FileFlag.INCREMENTAL);
      const meta = incrementalMeta(r2)!;
      assert.deepEqual({ ...meta.parent, imageId: undefined }, { file: path.basename(img1.finalPath), imageId: undefined, generation: 1, bytes: img1.bytes });
      assert.equal(meta.parent!.imageId, incrementalMeta(r1)!.imageId);
      assert.equal(meta.depth, 1);
      assert.deepEqual(runs(blocks(r2)), [
        '0:0+3 parent', '0:3+2 data', '0:5+295 parent', '0:300+1 data', '0:301+298 parent', '0:599+11 data',
        '1:0+20 parent', '1:21+19 parent',
      ]);
      assert.equal(meta.storedPages, 4 + 10);
      assert.equal(meta.parentPages, 600 - 4 + 39);
      // A PARENT block carries the digest of its page hashes; the chain resolves it to generation 1's chunks.
      openChain(r2);
      const before = expected(g1);
      for (const c of r2.chunks.filter((x) => x.header.flags & BlockFlag.PARENT)) {
        const raw = Buffer.alloc(c.header.rawLength);
        for (const s of resolveParent(r2, c)) {
          assert.equal(s.image, r2.parent);
          const area = s.image.areas[s.chunk!.header.area];
          const at = s.address - Number(area.start);
          before.get(area.start.toString(16))!.copy(raw, s.address - Number(r2.areas[c.header.area].start + c.header.offset), at, at + s.length);
        }
        assert.equal(pageHashDigest(raw), c.header.rawChecksum);
      }
    } finally {
      r1.close();
      r2.close();
    }
    assert.ok(img2.bytes < img1.bytes / 10, `generation 2 is small (${img2.bytes} of ${img1.bytes} bytes)`);
    assert.deepEqual(await restoredMemory(pipeline, img2.finalPath), expected(g2));
    assert.deepEqual(await restoredMemory(pipeline, img1.finalPath), expected(g1));

    // Generation 3 on top: a chain of three, restored through both parents.
    const g3 = [clone(heap), clone(small)];
    touch(g3[0], [100]);
    const img3 = await checkpoint(pipeline, dir, 3, g3);
    await commit(pipeline, dir, 3, [img3]);
    const r3 = ImageReader.open(img3.finalPath);
    assert.equal(openChain(r3).length, 3);
    r3.close();
    assert.deepEqual(await restoredMemory(pipeline, img3.finalPath), expected(g3));
  });

  it('an area that moved to another address is stored again in full', async () => {
    const a = randomArea(0x10000000n, 16);
    const img1 = await checkpoint(pipeline, dir, 1, [a]);
    await commit(pipeline, dir, 1, [img1]);
    const moved = clone(a, { start: 0x30000000n });
    const img2 = await checkpoint(pipeline, dir, 2, [moved]);
    await commit(pipeline, dir, 2, [img2]);
    const r2 = ImageReader.open(img2.finalPath);
    assert.deepEqual(runs(blocks(r2)), ['0:0+16 data']);
    assert.equal(r2.header.flags & FileFlag.INCREMENTAL, 0, 'nothing comes from the parent: a full image');
    assert.equal(incrementalMeta(r2)!.full, 'every page changed');
    r2.close();
    assert.deepEqual(await restoredMemory(pipeline, img2.finalPath), expected([moved]));
  });

  it('a generation that was never committed does not become a parent', async () => {
    const g1 = [randomArea(0x10000000n, 32)];
    const img1 = await checkpoint(pipeline, dir, 1, g1);
    await commit(pipeline, dir, 1, [img1]);
    const g2 = [clone(g1[0])];
    touch(g2[0], [1]);
    const img2 = await checkpoint(pipeline, dir, 2, g2);
    fs.unlinkSync(img2.tempPath);              // the checkpoint failed: the coordinator drops the generation
    const g3 = [clone(g2[0])];
    touch(g3[0], [2]);
    const img3 = await checkpoint(pipeline, dir, 3, g3);
    await commit(pipeline, dir, 3, [img3]);
    const r3 = ImageReader.open(img3.finalPath);
    assert.equal(incrementalMeta(r3)!.parent!.file, path.basename(img1.finalPath));
    assert.deepEqual(runs(blocks(r3)), ['0:0+1 parent', '0:1+2 data', '0:3+29 parent']);
    r3.close();
    assert.deepEqual(await restoredMemory(pipeline, img3.finalPath), expected(g3));
  });

  it('writes a full image every N generations', async () => {
    let mem = [randomArea(0x10000000n, 8)];
    const kinds: string[] = [];
    for (let gen = 1; gen <= 7; gen++) {
      mem = [clone(mem[0])];
      touch(mem[0], [gen % 8]);
      const img = await checkpoint(pipeline, dir, gen, mem, 3);
      await commit(pipeline, dir, gen, [img]);
      const r = ImageReader.open(img.finalPath);
      const m = incrementalMeta(r)!;
      kinds.push(m.parent ? `incr(${m.depth})` : 'full');
      r.close();
    }
    assert.deepEqual(kinds, ['full', 'incr(1)', 'incr(2)', 'full', 'incr(1)', 'incr(2)', 'full']);
  });

  it('reports a missing or replaced parent in one line naming both images', async () => {
    const g1 = [randomArea(0x10000000n, 8)];
    const img1 = await checkpoint(pipeline, dir, 1, g1);
    await commit(pipeline, dir, 1, [img1]);
    const g2 = [clone(g1[0])];
    touch(g2[0], [0]);
    const img2 = await checkpoint(pipeline, dir, 2, g2);
    await commit(pipeline, dir, 2, [img2]);
    const g3 = [clone(g2[0])];
    touch(g3[0], [1]);
    const img3 = await checkpoint(pipeline, dir, 3, g3);
    await commit(pipeline, dir, 3, [img3]);
    const [n1, n2] = [img1, img2].map((i) => path.basename(i.finalPath));

    // Replaced: generation 2's file is now a copy of generation 1.
    const saved = fs.readFileSync(img2.finalPath);
    fs.copyFileSync(img1.finalPath, img2.finalPath);
    assert.throws(() => openForRestart(pipeline, img3.finalPath, new Map()), (e: unknown) => {
      assert.ok(e instanceof ChainError);
      assert.match(e.message, new RegExp(`^${img3.finalPath} needs parent ${n2}, which was replaced by another image \\(image id \\w+, expected \\w+\\): restart from a full image such as ${n1} or restore the file$`));
      return true;
    });
    // Missing.
    fs.unlinkSync(img2.finalPath);
    assert.throws(() => openForRestart(pipeline, img3.finalPath, new Map()), {
      message: `${img3.finalPath} needs parent ${n2}, which is missing: restart from a full image such as ${n1} or restore the file`,
    });
    // Missing, with no full image left either.
    fs.writeFileSync(img2.finalPath, saved);
    fs.unlinkSync(img1.finalPath);
    assert.throws(() => openForRestart(pipeline, img3.finalPath, new Map()), {
      message: `${img2.finalPath} needs parent ${n1}, which is missing: restore the file (no full image of this process is left in ${dir})`,
    });
  });
});
