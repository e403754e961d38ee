// readimage's subcommands on real images of real programs: diff names exactly the pages pagewriter changed, extract
// gives back the bytes the program checksummed (and a mapped file's bytes), reencode reproduces every byte, map
// draws every area, and show --plugins lists plugin sections or says there are none.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { packageRoot } from '../../src/paths';
import { BlockKind, TRAILER_SIZE } from '../../src/pipeline/image-format';
import { ImageReader } from '../../src/pipeline/image-reader';
import { blocksOf } from '../../src/pipeline/reencode';
import { imageStage } from '../../src/pipeline/wasm/image-module';
import { Sandbox, program, type RunResult } from '../helpers/sandbox';
import { literally } from '../helpers/regexp';

/** common.h's checksum(): FNV-1a over little-endian 64-bit words. */
function fnv64(bytes: Buffer): string {
  let h = 1469598103934665603n;
  for (let i = 0; i + 8 <= bytes.length; i += 8) h = BigInt.asUintN(64, (h ^ bytes.readBigUInt64LE(i)) * 1099511628211n);
  return h.toString(16).padStart(16, '0');
}

/** How readimage prints addresses: 0x and at least 12 hex digits. */
function addr(v: bigint): string {
  return '0x' + v.toString(16).padStart(12, '0');
}

function assertOk(r: RunResult, label: string): void {
  assert.equal(r.code, 0, `${label}: exit ${r.code}; stderr: ${r.stderr}`);
}

function assertOneLineError(r: RunResult, code: number, pattern: RegExp, label: string): void {
  assert.equal(r.code, code, `${label}: exit ${r.code}; stderr: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `${label}: one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0], pattern, label);
}

/** A copy of `src` with one more PLUGIN section, placed where the writer puts them (before META). */
function withPluginSection(src: string, dst: string, name: string, payload: Buffer): void {
  const reader = ImageReader.open(src);
  const blocks = blocksOf(reader);
  reader.close();
  const bytes = fs.readFileSync(src);
  const meta = blocks.find((b) => b.header.kind === BlockKind.META)!;
  const nameBytes = Buffer.from(name, 'utf8');
  const head = Buffer.alloc(2);
  head.writeUInt16LE(nameBytes.length);
  const stage = imageStage();
  const block = stage.encodeSection(BlockKind.PLUGIN, Buffer.concat([head, nameBytes, payload]));
  const body = Buffer.concat([bytes.subarray(0, meta.at), block, bytes.subarray(meta.at, bytes.length - TRAILER_SIZE)]);
  fs.writeFileSync(dst, Buffer.concat([body, stage.encodeTrailer(blocks.length + 1, body.length + TRAILER_SIZE)]));
}

/** Checks that every tag is closed in order (enough to catch a malformed SVG or HTML document). */
function assertBalanced(text: string, voidTags: ReadonlySet<string>, label: string): void {
  const stack: string[] = [];
  for (const m of text.matchAll(/<(\/?)([a-zA-Z][\w-]*)\b[^>]*?(\/?)>/g)) {
    const [, close, tag, selfClose] = m;
    if (selfClose || voidTags.has(tag.toLowerCase())) continue;
    if (!close) stack.push(tag);
    else assert.equal(stack.pop(), tag, `${label}: </${tag}> closes the wrong element at ${m.index}`);
  }
  assert.deepEqual(stack, [], `${label}: unclosed elements`);
}

interface DiffDoc {
  areas: { start: string; end: string; status: string; compared: boolean; pagesChanged: number; pagesTotal: number; changedPages: string[]; changedPagesOmitted: number }[];
  totals: { pagesChanged: number; same: number; areas: number };
}

describe('readimage on real images', () => {
  let sb: Sandbox;
  let gen1: string;
  let gen2: string;
  let mapped: string;
  let dataFile: string;
  let base: bigint;
  let sumBefore: string;
  let sumAfter: string;
  let written: bigint[];
  const PAGES = 256;
  const readimage = (...args: string[]) => sb.tool('readimage', args);

  before(async () => {
    sb = Sandbox.create();
    await sb.startCoordinator();
    dataFile = sb.path('mapped.bin');
    const data = Buffer.alloc(256 << 10);
    for (let i = 0; i < data.length; i += 4) data.writeUInt32LE((i * 2654435761) >>> 0, i);
    fs.writeFileSync(dataFile, data);
    const writer = sb.launch([program('pagewriter')]);
    const mapper = sb.launch([program('mapfile'), dataFile]);
    const ready = await writer.waitFor(/^READY base=0x([0-9a-f]+) pages=(\d+) checksum=([0-9a-f]+)$/);
    base = BigInt(`0x${ready[1]}`);
    assert.equal(Number(ready[2]), PAGES);
    sumBefore = ready[3];
    await mapper.waitFor(/^READY/);
    await sb.checkpoint();
    const image = (prog: string) => sb.images().find((f) => path.basename(f).startsWith(`ckpt_${prog}_`))!;
    gen1 = sb.path('pagewriter-gen1.dmtcp');
    fs.copyFileSync(image('pagewriter'), gen1);
    mapped = sb.path('mapfile-gen1.dmtcp');
    fs.copyFileSync(image('mapfile'), mapped);
    writer.child.kill('SIGUSR1');
    const wrote = await writer.waitFor(/^WROTE checksum=([0-9a-f]+)((?: 0x[0-9a-f]+)+)$/);
    sumAfter = wrote[1];
    written = wrote[2].trim().split(' ').map((a) => BigInt(a));
    await sb.checkpoint();
    gen2 = sb.path('pagewriter-gen2.dmtcp');
    fs.copyFileSync(image('pagewriter'), gen2);
  });
  after(() => sb.cleanup());

  it('diff lists exactly the pages the program wrote in its buffer', async () => {
    const expected = [3, 17, ...Array.from({ length: 10 }, (_, i) => 100 + i)].map((p) => base + BigInt(p * 4096));
    assert.deepEqual(written, expected, 'pagewriter wrote the pages it promises');
    const r = await readimage('diff', '--json', gen1, gen2);
    assertOk(r, 'diff --json');
    const d = JSON.parse(r.stdout) as DiffDoc;
    const area = d.areas.find((a) => a.start === addr(base));
    assert.ok(area, `an area starts at the buffer ${addr(base)}`);
    assert.equal(area.end, addr(base + BigInt(PAGES * 4096)));
    assert.equal(area.status, 'modified');
    assert.equal(area.pagesTotal, PAGES);
    assert.equal(area.pagesChanged, written.length);
    assert.deepEqual(area.changedPages, written.map(addr));
    assert.equal(area.changedPagesOmitted, 0);
    assert.ok(d.totals.pagesChanged >= written.length);
    const text = await readimage('diff', gen1, gen2);
    assertOk(text, 'diff');
    const row = text.stdout.split('\n').find((l) => l.includes(`${addr(base)}-`));
    assert.match(row ?? '', / modified +12\/256\b/);
    assert.match(text.stdout, /^totals: \d+ areas: \d+ same, \d+ modified, \d+ changed, \d+ added, \d+ removed; \d+ pages changed of \d+ compared$/m);
  });

  it('diff of an image with itself finds nothing changed', async () => {
    const d = JSON.parse((await readimage('diff', '--json', gen2, gen2)).stdout) as DiffDoc;
    assert.equal(d.totals.pagesChanged, 0);
    assert.equal(d.totals.same, d.totals.areas);
    assert.ok(d.areas.every((a) => a.status === 'same' && a.changedPages.length === 0));
  });

  it('diff refuses images of different programs unless --force', async () => {
    const r = await readimage('diff', gen1, mapped);
    assertOneLineError(r, 1, new RegExp(`^readimage: ${literally(gen1)} and .*mapfile-gen1\\.dmtcp are images of different programs \\(pagewriter and mapfile\\); pass --force to compare them anyway$`), 'diff');
    const forced = await readimage('diff', '--force', '--json', gen1, mapped);
    assertOk(forced, 'diff --force');
    assert.ok((JSON.parse(forced.stdout) as DiffDoc).areas.length > 0);
  });

  it('extract gives the buffer as the program had it at each checkpoint', async () => {
    for (const [image, sum, label] of [[gen1, sumBefore, 'before'], [gen2, sumAfter, 'after']] as const) {
      const out = sb.path(`buffer-${label}.bin`);
      const r = await readimage('extract', image, '--area', addr(base + 5000n), '-o', out);
      assertOk(r, `extract ${label}`);
      assert.match(r.stdout, new RegExp(`^${literally(out)}: 1048576 bytes of ${addr(base)}-${addr(base + 1048576n)} \\(\\[anon\\]\\) from .*: 1048576 stored, 0 zero, 0 read from the mapped file\\n$`));
      const bytes = fs.readFileSync(out);
      assert.equal(bytes.length, PAGES * 4096);
      assert.equal(fnv64(bytes), sum, `the checksum pagewriter printed ${label} writing`);
    }
  });

  it('extract writes to stdout when it is not a terminal, and takes a sub-range', async () => {
    const bin = path.join(packageRoot, 'bin', 'readimage.js');
    const whole = spawnSync(process.execPath, [bin, 'extract', gen2, '--area', base.toString(16)], { encoding: 'buffer', maxBuffer: 1 << 24 });
    assert.equal(whole.status, 0, whole.stderr.toString());
    assert.equal(fnv64(whole.stdout), sumAfter);
    const from = base + 100n * 4096n;
    const to = base + 110n * 4096n + 17n;
    const part = spawnSync(process.execPath, [bin, 'extract', gen2, '--area', addr(base), '--range', `${addr(from)}-${to.toString(16)}`], { encoding: 'buffer' });
    assert.equal(part.status, 0, part.stderr.toString());
    assert.ok(part.stdout.equals(whole.stdout.subarray(100 * 4096, 110 * 4096 + 17)));
    const outside = await readimage('extract', gen2, '--area', addr(base), '--range', `${addr(base)}-${addr(base + 2n * 1048576n)}`);
    assertOneLineError(outside, 1, /^readimage: --range 0x[0-9a-f]+-0x[0-9a-f]+ is not inside the area 0x[0-9a-f]+-0x[0-9a-f]+ that contains 0x[0-9a-f]+$/, 'extract --range outside');
    const nowhere = await readimage('extract', gen2, '--area', '0x10');
    assertOneLineError(nowhere, 1, /^readimage: no area of .*pagewriter-gen2\.dmtcp contains 0x000000000010$/, 'extract unmapped');
  });

  it('extract reads pages left to a mapped file from that file, and names the file when it is gone', async () => {
    const info = JSON.parse((await readimage('--json', mapped)).stdout) as { areas: { start: string; end: string; path: string; filePages: number; savedPages: number }[] };
    const area = info.areas.find((a) => a.path === dataFile)!;
    assert.equal(area.savedPages, 0, 'the mapping is left to its file');
    const out = sb.path('mapped-area.bin');
    const r = await readimage('extract', mapped, '--area', area.start, '-o', out);
    assertOk(r, 'extract file-backed');
    assert.match(r.stdout, /: 262144 bytes of .*: 0 stored, 0 zero, 262144 read from the mapped file\n$/);
    assert.ok(fs.readFileSync(out).equals(fs.readFileSync(dataFile)));
    fs.renameSync(dataFile, `${dataFile}.away`);
    try {
      const gone = await readimage('extract', mapped, '--area', area.start, '-o', sb.path('never.bin'));
      const where = `${literally(dataFile)} \\(mapped at 0x[0-9a-f]+\\)`;
      assertOneLineError(gone, 1, new RegExp(`^readimage: ${where} is gone: the image holds no copy of its pages, only a reference to the file$`), 'extract of a gone file');
      assert.equal(fs.existsSync(sb.path('never.bin')), false, 'no output file is left behind');
    } finally {
      fs.renameSync(`${dataFile}.away`, dataFile);
    }
  });

  it('reencode writes every image again byte for byte', async () => {
    for (const image of [gen1, gen2, mapped]) {
      const out = `${image}.re`;
      const r = await readimage('reencode', image, '-o', out);
      assertOk(r, `reencode ${path.basename(image)}`);
      assert.match(r.stdout, /: identical to .* \(\d+ bytes, \d+ blocks, \d+ chunks decoded and encoded again\)\n$/);
      assert.ok(fs.readFileSync(out).equals(fs.readFileSync(image)), `${path.basename(image)} round-trips`);
    }
    const json = JSON.parse((await readimage('reencode', '--json', gen2, '-o', sb.path('again.dmtcp'))).stdout) as { identical: boolean; chunks: number; recoded: number; firstDifference: number | null };
    assert.equal(json.identical, true);
    assert.equal(json.firstDifference, null);
    assert.equal(json.recoded, 0);
    assert.ok(json.chunks > 0);
  });

  it('reencode reports the first differing offset when a chunk was encoded another way', async () => {
    // One data chunk replaced by raw deflate from zlib at level 1; the deflate codec plugin encodes at its own level.
    const reader = ImageReader.open(gen1);
    const blocks = blocksOf(reader);
    const target = reader.chunks.find((c) => !(c.header.flags & 1) && c.header.rawLength === 4096)!;
    reader.close();
    const stage = imageStage();
    const raw = Buffer.alloc(4096);
    for (let i = 0; i < raw.length; i += 32) raw.write(`line ${i % 7} of a log, more or less\n`.slice(0, 32).padEnd(32, '.'), i);
    const payload = zlib.deflateRawSync(raw, { level: 1 });
    const header = stage.encodeBlockHeader({
      ...target.header, codec: 2, rawChecksum: stage.hash(raw), storedChecksum: stage.hash(payload), storedLength: payload.length,
    });
    const pad = Buffer.alloc(((payload.length + 7) & ~7) - payload.length);
    const bytes = fs.readFileSync(gen1);
    const parts = [bytes.subarray(0, blocks[0].at)];
    for (const b of blocks) parts.push(b.at === target.at ? Buffer.concat([header, payload, pad]) : bytes.subarray(b.at, b.at + b.header.span));
    const body = Buffer.concat(parts);
    const odd = sb.path('odd.dmtcp');
    fs.writeFileSync(odd, Buffer.concat([body, stage.encodeTrailer(blocks.length, body.length + TRAILER_SIZE)]));
    assertOk(await readimage('--verify', odd), 'the altered image is valid');
    const r = await readimage('reencode', odd, '-o', sb.path('odd-again.dmtcp'));
    assert.equal(r.code, 1, r.stderr);
    const m = /: differs from .*odd\.dmtcp at offset (\d+), in the CHUNK block at offset (\d+) \(1 of \d+ chunks encoded differently; \d+ bytes written, \d+ read\)\n$/.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.equal(Number(m[2]), target.at);
    assert.ok(Number(m[1]) >= target.at && Number(m[1]) < target.at + 48 + payload.length);
  });

  it('show --plugins says when an image has no plugin sections', async () => {
    const r = await readimage('show', gen1, '--plugins');
    assertOk(r, 'show --plugins');
    assert.equal(r.stdout, `${gen1}: no plugin sections\n`);
    assert.deepEqual(JSON.parse((await readimage('show', '--json', '--plugins', gen1)).stdout), { file: gen1, plugins: [] });
  });

  it('show --plugins lists plugin sections with a preview, and reencode keeps them', async () => {
    const payload = Buffer.concat([Buffer.from('hello from a plugin\n'), Buffer.from(Array.from({ length: 100 }, (_, i) => i))]);
    const image = sb.path('with-plugin.dmtcp');
    withPluginSection(gen1, image, 'example-plugin', payload);
    const r = await readimage('show', image, '--plugins');
    assertOk(r, 'show --plugins');
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], `${image}: 1 plugin section`);
    assert.equal(lines[1], 'example-plugin (120 B):');
    assert.equal(lines[2], '  00000000  68 65 6c 6c 6f 20 66 72  6f 6d 20 61 20 70 6c 75  |hello from a plu|');
    assert.equal(lines[6], '  ... 56 more bytes');
    const json = JSON.parse((await readimage('show', image, '--plugins', '--json')).stdout) as { plugins: { name: string; size: number; base64: string }[] };
    assert.deepEqual(json.plugins.map((p) => [p.name, p.size]), [['example-plugin', 120]]);
    assert.ok(Buffer.from(json.plugins[0].base64, 'base64').equals(payload));
    assert.match((await readimage(image)).stdout, /^Plugin sections: example-plugin$/m);
    const again = await readimage('reencode', image, '-o', sb.path('with-plugin-again.dmtcp'));
    assertOk(again, 'reencode with a plugin section');
    assert.ok(fs.readFileSync(sb.path('with-plugin-again.dmtcp')).equals(fs.readFileSync(image)));
  });

  it('map draws every area to SVG and HTML, the same way every time', async () => {
    const reader = ImageReader.open(gen1);
    const areas = reader.areas.length;
    reader.close();
    const svgFile = sb.path('map.svg');
    assertOk(await readimage('map', gen1, '-o', svgFile), 'map svg');
    const svg = fs.readFileSync(svgFile, 'utf8');
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="\d+" height="[\d.]+" viewBox="0 0 \d+ [\d.]+"[^>]*>\n/);
    assert.match(svg, /<\/svg>\n$/);
    assertBalanced(svg, new Set(), 'svg');
    const groups = [...svg.matchAll(/<g class="area" data-start="(0x[0-9a-f]+)" data-end="(0x[0-9a-f]+)" data-category="(\w+)">\n<title>([^<]+)<\/title>\n<rect class="block"/g)];
    assert.equal(groups.length, areas, 'one group with a title and a block per area');
    assert.ok((svg.match(/<rect /g) ?? []).length >= areas);
    const buffer = groups.find((g) => g[1] === addr(base));
    assert.ok(buffer, 'the buffer is drawn');
    assert.equal(buffer[3], 'anonymous');
    assert.match(buffer[4], /^0x[0-9a-f]+-0x[0-9a-f]+ rw-p anon \(anonymous\)\n\[anon\]\n256 pages \(1\.0 MiB\)\n256 stored, 0 left to the file, 0 zero$/);
    assert.doesNotMatch(svg, /<script|@import|<image|href="http/i, 'self-contained');
    assertOk(await readimage('map', gen1, '-o', sb.path('map2.svg')), 'map svg again');
    assert.equal(fs.readFileSync(sb.path('map2.svg'), 'utf8'), svg, 'deterministic');

    const htmlFile = sb.path('map.html');
    assertOk(await readimage('map', gen1, '-o', htmlFile), 'map html');
    const html = fs.readFileSync(htmlFile, 'utf8');
    assert.match(html, /^<!DOCTYPE html>\n<html lang="en">/);
    assertBalanced(html.replace(/^<!DOCTYPE html>/, ''), new Set(['meta']), 'html');
    assert.ok(html.includes(svg.trimEnd()), 'the page carries the same picture');
    assert.equal((html.match(/<tr><td>/g) ?? []).length, areas, 'and a table row per area');
    assert.doesNotMatch(html, /<script|<link|@import|src="/i, 'self-contained');
  });
});
