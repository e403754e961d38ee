// readimage's pure parts, table by table: address parsing, area pairing and page comparison for diff, the hex
// preview of show, the map's geometry and escaping, file comparison for reencode, reads of mapped files, and the
// exact messages and help of every subcommand.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UsageError } from '../../src/cli/args';
import { CliError } from '../../src/cli/errors';
import { AreaKind, Backing, PROT_EXEC, PROT_READ, PROT_WRITE } from '../../src/protocol/constants';
import type { AreaRecord } from '../../src/pipeline/wasm/image-module';
import { parseAddress, parseRange } from '../../tools/readimage/addresses';
import { category, codeFiles, type Category } from '../../tools/readimage/areas';
import { identityMismatch } from '../../tools/readimage/diff';
import { findArea } from '../../tools/readimage/extract';
import { main } from '../../tools/readimage/main';
import { GEOMETRY, areaHeight, layout, type MapArea } from '../../tools/readimage/map-layout';
import { escapeXml, renderSvg } from '../../tools/readimage/map-render';
import { MappedFiles } from '../../tools/readimage/mapped-files';
import { ZERO_DIGEST, comparePages, pageDigest, pairAreas, rowPages, type AreaPages } from '../../tools/readimage/page-diff';
import { firstDifference } from '../../tools/readimage/reencode';
import { hexPreview } from '../../tools/readimage/show';
import { spanBytes } from '../../tools/readimage/text';

const P = 4096n;
const page = (fill: number) => pageDigest(Buffer.alloc(4096, fill));

function area(startPage: number, pages: number, over: Partial<AreaPages> = {}): AreaPages {
  return { start: BigInt(startPage) * P, end: BigInt(startPage + pages) * P, backing: Backing.ZERO, stored: new Map(), zeroed: new Set(), ...over };
}

function record(over: Partial<AreaRecord>): AreaRecord {
  return {
    start: 0x1000n, end: 0x2000n, fileOffset: 0n, dev: 0n, inode: 0n, fileSize: 0n, mtimeSec: 0n, mtimeNsec: 0,
    prot: PROT_READ, flags: 0, kind: AreaKind.ANON, backing: Backing.ZERO, path: '', raw: Buffer.alloc(0), ...over,
  };
}

/** Runs readimage's main() in-process, collecting stdout. */
async function run(argv: string[]): Promise<{ code: number; out: string }> {
  const write = process.stdout.write;
  let out = '';
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += chunk.toString();
    return true;
  }) as typeof process.stdout.write;
  try {
    return { code: await main(argv), out };
  } finally {
    process.stdout.write = write;
  }
}

describe('readimage', () => {
  describe('address parsing', () => {
    const good: [string, string, bigint][] = [
      ['with 0x', '0x7f0000001000', 0x7f0000001000n],
      ['without 0x', '7f0000001000', 0x7f0000001000n],
      ['upper case', '0X7F00ABCD', 0x7f00abcdn],
      ['surrounding blanks', ' 10 ', 0x10n],
      ['the top of the address space', 'ffffffffffffffff', 0xffffffffffffffffn],
    ];
    for (const [name, text, value] of good) it(`reads ${name}`, () => assert.equal(parseAddress(text, '--area'), value));

    const bad: [string, string, string][] = [
      ['a word', 'stack', '--area must be a hex address such as 0x7f0000001000, got "stack"'],
      ['nothing', '', '--area must be a hex address such as 0x7f0000001000, got ""'],
      ['a bare 0x', '0x', '--area must be a hex address such as 0x7f0000001000, got "0x"'],
      ['a negative number', '-10', '--area must be a hex address such as 0x7f0000001000, got "-10"'],
      ['more than 64 bits', '0x10000000000000000', '--area "0x10000000000000000" does not fit in 64 bits'],
    ];
    for (const [name, text, message] of bad) {
      it(`rejects ${name}`, () => assert.throws(() => parseAddress(text, '--area'), (e: unknown) => e instanceof UsageError && e.message === message));
    }

    const ranges: [string, string, { start: bigint; end: bigint } | string][] = [
      ['a range', '0x1000-0x3000', { start: 0x1000n, end: 0x3000n }],
      ['a range without 0x', '1000-3000', { start: 0x1000n, end: 0x3000n }],
      ['one address', '0x1000', '--range must be START-END in hex, such as 0x7f0000001000-0x7f0000003000, got "0x1000"'],
      ['a missing end', '0x1000-', '--range must be START-END in hex, such as 0x7f0000001000-0x7f0000003000, got "0x1000-"'],
      ['an empty range', '0x3000-0x3000', '--range start must be below its end, got "0x3000-0x3000"'],
      ['a backward range', '0x3000-0x1000', '--range start must be below its end, got "0x3000-0x1000"'],
      ['a bad end', '0x1000-zz', '--range end must be a hex address such as 0x7f0000001000, got "zz"'],
    ];
    for (const [name, text, want] of ranges) {
      it(`parses ${name}`, () => {
        if (typeof want === 'string') assert.throws(() => parseRange(text, '--range'), (e: unknown) => e instanceof UsageError && e.message === want);
        else assert.deepEqual(parseRange(text, '--range'), want);
      });
    }

    it('finds the area containing an address, end exclusive', () => {
      const areas = [{ start: 0x1000n, end: 0x3000n }, { start: 0x5000n, end: 0x6000n }];
      const cases: [bigint, number][] = [[0x1000n, 0], [0x2fffn, 0], [0x3000n, -1], [0x5800n, 1], [0x0n, -1]];
      for (const [addr, index] of cases) assert.equal(findArea(areas, addr), index, `0x${addr.toString(16)}`);
    });
  });

  describe('diff', () => {
    const A = (s: number, e: number) => ({ start: BigInt(s) * P, end: BigInt(e) * P });
    const pairings: [string, { start: bigint; end: bigint }[], { start: bigint; end: bigint }[], { old?: number; new?: number }[]][] = [
      ['identical lists', [A(1, 2), A(5, 8)], [A(1, 2), A(5, 8)], [{ old: 0, new: 0 }, { old: 1, new: 1 }]],
      ['a heap that grew at its end', [A(1, 2), A(5, 8)], [A(1, 2), A(5, 12)], [{ old: 0, new: 0 }, { old: 1, new: 1 }]],
      ['a stack that grew down', [A(10, 20)], [A(7, 20)], [{ old: 0, new: 0 }]],
      ['an added area, in address order', [A(1, 2), A(9, 10)], [A(1, 2), A(4, 6), A(9, 10)], [{ old: 0, new: 0 }, { new: 1 }, { old: 1, new: 2 }]],
      ['a removed area', [A(1, 2), A(4, 6)], [A(4, 6)], [{ old: 0 }, { old: 1, new: 0 }]],
      ['an area moved elsewhere', [A(4, 6)], [A(30, 32)], [{ old: 0 }, { new: 0 }]],
      ['an exact match preferred over a shared start', [A(1, 3), A(3, 5)], [A(1, 5)], [{ old: 0, new: 0 }, { old: 1 }]],
    ];
    for (const [name, before, after, want] of pairings) it(`pairs ${name}`, () => assert.deepEqual(pairAreas(before, after), want));

    const comparisons: [string, AreaPages, AreaPages, { compared: boolean; total: number; changed: number; pages: number[]; omitted?: number }][] = [
      ['identical stored pages', area(0, 4, { stored: new Map([[1, page(1)]]) }), area(0, 4, { stored: new Map([[1, page(1)]]) }), { compared: true, total: 4, changed: 0, pages: [] }],
      ['a rewritten page', area(0, 4, { stored: new Map([[1, page(1)], [2, page(2)]]) }), area(0, 4, { stored: new Map([[1, page(1)], [2, page(9)]]) }), { compared: true, total: 4, changed: 1, pages: [2] }],
      ['a page written for the first time', area(0, 4), area(0, 4, { stored: new Map([[3, page(3)]]) }), { compared: true, total: 4, changed: 1, pages: [3] }],
      ['a stored all-zero page against an absent one', area(0, 4, { stored: new Map([[0, ZERO_DIGEST]]) }), area(0, 4), { compared: true, total: 4, changed: 0, pages: [] }],
      ['a ZERO chunk against a stored page', area(0, 4, { zeroed: new Set([2]) }), area(0, 4, { stored: new Map([[2, page(5)]]) }), { compared: true, total: 4, changed: 1, pages: [2] }],
      ['a range that grew by two pages', area(8, 4, { stored: new Map([[0, page(1)]]) }), area(8, 6, { stored: new Map([[0, page(1)]]) }), { compared: true, total: 6, changed: 2, pages: [12, 13] }],
      ['a stack that grew down a page', area(20, 2), area(19, 3), { compared: true, total: 3, changed: 1, pages: [19] }],
      ['kernel memory', area(0, 2, { backing: Backing.NONE }), area(0, 2, { backing: Backing.NONE }), { compared: false, total: 2, changed: 0, pages: [] }],
      ['a long list, capped', area(0, 10), area(0, 10, { stored: new Map(Array.from({ length: 10 }, (_, i) => [i, page(7)] as [number, Buffer])) }), { compared: true, total: 10, changed: 10, pages: [0, 1, 2], omitted: 7 }],
    ];
    for (const [name, a, b, want] of comparisons) {
      it(`compares ${name}`, () => {
        const d = rowPages({ old: a, new: b }, [a], [b], 3);
        assert.deepEqual(
          { compared: d.compared, total: d.total, changed: d.changed, pages: d.addresses.map((x) => Number(x / P)), omitted: d.omitted },
          { omitted: 0, ...want },
        );
      });
    }

    // Rows of areas that merged, split or went away: every address is compared with the OLD area that held it.
    const low = area(0, 4, { stored: new Map([[1, page(1)]]) });
    const high = area(4, 3, { stored: new Map([[0, page(2)]]) });
    const merged = area(0, 7, { stored: new Map([[1, page(1)], [4, page(2)], [6, page(6)]]) });
    const rows: [string, AreaPages[], AreaPages[], { old?: AreaPages; new?: AreaPages }, { total: number; counted: number; changed: number; pages: number[] }][] = [
      ['two areas merged into one: the survivor', [low, high], [merged], { old: low, new: merged }, { total: 7, counted: 7, changed: 1, pages: [6] }],
      ['two areas merged into one: the one that went', [low, high], [merged], { old: high }, { total: 3, counted: 0, changed: 0, pages: [] }],
      ['an area split in two: the part that kept its start', [merged], [low, high], { old: merged, new: low }, { total: 7, counted: 4, changed: 0, pages: [] }],
      ['an area split in two: the new part', [merged], [low, high], { new: high }, { total: 3, counted: 3, changed: 1, pages: [6] }],
      ['an area unmapped', [low, area(10, 2)], [low], { old: area(10, 2) }, { total: 2, counted: 2, changed: 2, pages: [10, 11] }],
      ['an area mapped where nothing was', [low], [low, area(10, 2)], { new: area(10, 2) }, { total: 2, counted: 2, changed: 2, pages: [10, 11] }],
      ['a heap that shrank', [area(0, 6)], [area(0, 4)], { old: area(0, 6), new: area(0, 4) }, { total: 6, counted: 6, changed: 2, pages: [4, 5] }],
    ];
    for (const [name, olds, news, row, want] of rows) {
      it(`compares ${name}`, () => {
        const d = rowPages(row, olds, news);
        assert.deepEqual({ total: d.total, counted: d.counted, changed: d.changed, pages: d.addresses.map((x) => Number(x / P)) }, want);
      });
    }

    it('never reads a file both images leave it to, and reads it when only one does', () => {
      const file = { path: '/lib/x.so', dev: 1n, inode: 2n, offset: 0n };
      const reads: string[] = [];
      const fromFile = (label: string, fill: number) => (i: number) => (reads.push(`${label}:${i}`), page(fill));
      const changed: number[] = [];
      comparePages(area(0, 3, { backing: Backing.FILE, file, fileDigest: fromFile('old', 4) }), area(0, 3, { backing: Backing.FILE, file, fileDigest: fromFile('new', 4) }), 0, 3, (p) => changed.push(p));
      assert.equal(changed.length + reads.length, 0, 'no page differs and the file is never read');
      comparePages(
        area(0, 3, { backing: Backing.FILE, file, fileDigest: fromFile('old', 4) }),
        area(0, 3, { backing: Backing.FILE, file, fileDigest: fromFile('new', 4), stored: new Map([[1, page(4)], [2, page(6)]]) }),
        0, 3, (p) => changed.push(p),
      );
      assert.deepEqual(changed, [2], 'page 1 equals the file, page 2 does not');
      assert.deepEqual(reads.sort(), ['old:1', 'old:2']);
    });

    it('reads every page when the two areas map different files', () => {
      const a = area(0, 2, { backing: Backing.FILE, file: { path: '/a', dev: 1n, inode: 2n, offset: 0n }, fileDigest: () => page(1) });
      const b = area(0, 2, { backing: Backing.FILE, file: { path: '/b', dev: 1n, inode: 3n, offset: 0n }, fileDigest: (i) => page(i === 0 ? 1 : 2) });
      const changed: number[] = [];
      comparePages(a, b, 0, 2, (p) => changed.push(p));
      assert.deepEqual(changed, [1]);
    });

    const identities: [string, [string, string, string], [string, string, string], string | undefined][] = [
      ['the same process', ['counter', 'c1', 'w1'], ['counter', 'c1', 'w1'], undefined],
      ['another program', ['counter', 'c1', 'w1'], ['bigmem', 'c2', 'w2'], 'are images of different programs (counter and bigmem)'],
      ['another computation', ['counter', 'c1', 'w1'], ['counter', 'c2', 'w2'], 'are images of different computations (c1 and c2)'],
      ['another process', ['counter', 'c1', 'w1'], ['counter', 'c1', 'w2'], 'are images of different processes of one computation (worker ids w1 and w2)'],
    ];
    for (const [name, [p1, c1, w1], [p2, c2, w2], want] of identities) {
      it(`tells ${name}`, () => {
        const side = (program: string, computation: string, workerId: string) => ({ file: 'f', program, pid: 1, generation: 1, time: '', computation, workerId });
        assert.equal(identityMismatch(side(p1, c1, w1), side(p2, c2, w2)), want);
      });
    }
  });

  describe('areas', () => {
    const areas: [string, Partial<AreaRecord>, Category][] = [
      ['the program text', { prot: PROT_READ | PROT_EXEC, kind: AreaKind.FILE, backing: Backing.FILE, path: '/bin/prog' }, 'code'],
      ['the program data', { prot: PROT_READ | PROT_WRITE, kind: AreaKind.FILE, backing: Backing.FILE, path: '/bin/prog' }, 'data'],
      ['a mapped data file', { prot: PROT_READ, kind: AreaKind.FILE, backing: Backing.FILE, path: '/tmp/data.bin' }, 'file'],
      ['the heap', { prot: PROT_READ | PROT_WRITE, kind: AreaKind.HEAP, path: '[heap]' }, 'heap'],
      ['the stack', { prot: PROT_READ | PROT_WRITE, kind: AreaKind.STACK, path: '[stack]' }, 'stack'],
      ['anonymous memory', { prot: PROT_READ | PROT_WRITE, kind: AreaKind.ANON }, 'anonymous'],
      ['the vdso', { prot: PROT_READ | PROT_EXEC, kind: AreaKind.VDSO, backing: Backing.NONE, path: '[vdso]' }, 'kernel'],
    ];
    const code = codeFiles([record({ prot: PROT_READ | PROT_EXEC, kind: AreaKind.FILE, backing: Backing.FILE, path: '/bin/prog' })]);
    for (const [name, over, want] of areas) it(`files ${name} under ${want}`, () => assert.equal(category(record(over), code), want));
  });

  describe('show', () => {
    const previews: [string, Buffer, number, string[]][] = [
      ['an empty payload', Buffer.alloc(0), 64, []],
      ['a short text', Buffer.from('hi\n'), 64, [`00000000  68 69 0a${' '.repeat(42)}|hi.|`]],
      ['two rows', Buffer.from(Array.from({ length: 20 }, (_, i) => 0x41 + i)), 64, [
        '00000000  41 42 43 44 45 46 47 48  49 4a 4b 4c 4d 4e 4f 50  |ABCDEFGHIJKLMNOP|',
        '00000010  51 52 53 54                                       |QRST|',
      ]],
      ['a payload beyond the limit', Buffer.alloc(40, 0xff), 16, ['00000000  ff ff ff ff ff ff ff ff  ff ff ff ff ff ff ff ff  |................|', '... 24 more bytes']],
    ];
    for (const [name, data, limit, want] of previews) it(`previews ${name}`, () => assert.deepEqual(hexPreview(data, limit), want));
  });

  describe('map', () => {
    const mapArea = (start: number, pages: number, over: Partial<MapArea> = {}): MapArea => ({
      start: BigInt(start) * P, end: BigInt(start + pages) * P, perms: 'rw-p', kind: 'anon', category: 'anonymous', label: '[anon]',
      runs: [{ pages, state: 'zero' }], rest: 'zero', ...over,
    });

    const heights: [number, number][] = [[1, GEOMETRY.minHeight], [2, GEOMETRY.minHeight + GEOMETRY.perDoubling], [1024, GEOMETRY.minHeight + 10 * GEOMETRY.perDoubling]];
    for (const [pages, h] of heights) it(`draws ${pages} pages ${h} pixels tall`, () => assert.equal(areaHeight(pages), h));

    it('stacks areas in address order, with a break for every gap', () => {
      const l = layout({ title: 't', areas: [mapArea(100, 4), mapArea(0, 1), mapArea(1, 2)] });
      assert.deepEqual(l.areas.map((b) => Number(b.area.start / P)), [0, 1, 100]);
      assert.equal(l.areas[1].y, l.areas[0].y + l.areas[0].height + GEOMETRY.adjacent, 'adjacent areas sit close');
      assert.equal(l.gaps.length, 1);
      assert.deepEqual([l.gaps[0].start, l.gaps[0].end], [3n * P, 100n * P]);
      assert.equal(l.areas[2].y, l.gaps[0].y + GEOMETRY.gap);
      assert.equal(l.height, l.areas[2].y + l.areas[2].height + GEOMETRY.bottom);
    });

    it('marks stored and file pages where they are, at least a pixel tall', () => {
      const a = mapArea(0, 1 << 20, { runs: [{ pages: 10, state: 'zero' }, { pages: 1, state: 'stored' }, { pages: (1 << 20) - 11, state: 'file' }], rest: 'file' });
      const [box] = layout({ title: 't', areas: [a] }).areas;
      assert.deepEqual(box.counts, { stored: 1, file: (1 << 20) - 11, zero: 10, none: 0 });
      assert.deepEqual(box.marks.map((m) => m.state), ['zero', 'stored']);
      assert.ok(box.marks.every((m) => m.height >= 1 && m.y >= box.y && m.y < box.y + box.height));
    });

    it('escapes text and gives the same SVG for the same input', () => {
      assert.equal(escapeXml(`<a href="x">&'`), '&lt;a href=&quot;x&quot;&gt;&amp;&#39;');
      const input = { title: 'a <b> & c', areas: [mapArea(0, 3, { label: '/tmp/<odd>&name' })] };
      const svg = renderSvg(input, layout(input));
      assert.equal(renderSvg(input, layout(input)), svg);
      assert.ok(svg.includes('/tmp/&lt;odd&gt;&amp;name'));
      assert.ok(!svg.includes('<odd>'));
    });

    const spans: [number, string][] = [[512, '512 B'], [3 * 1024 ** 3, '3.00 GiB'], [5 * 1024 ** 4, '5.00 TiB'], [2 ** 64, '16.00 EiB']];
    for (const [n, text] of spans) it(`writes ${text}`, () => assert.equal(spanBytes(n), text));
  });

  describe('files', () => {
    let dir: string;
    before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'readimage-unit-'))));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    const diffs: [string, Buffer, Buffer, number | null][] = [
      ['identical files', Buffer.from('abcdef'), Buffer.from('abcdef'), null],
      ['a changed byte', Buffer.from('abcdef'), Buffer.from('abcXef'), 3],
      ['a longer second file', Buffer.from('abc'), Buffer.from('abcdef'), 3],
      ['two empty files', Buffer.alloc(0), Buffer.alloc(0), null],
      ['a change past the first megabyte', Buffer.alloc((1 << 20) + 10), Buffer.concat([Buffer.alloc((1 << 20) + 5), Buffer.from([1]), Buffer.alloc(4)]), (1 << 20) + 5],
    ];
    for (const [name, a, b, want] of diffs) {
      it(`finds the first difference of ${name}`, () => {
        fs.writeFileSync(path.join(dir, 'a'), a);
        fs.writeFileSync(path.join(dir, 'b'), b);
        assert.equal(firstDifference(path.join(dir, 'a'), path.join(dir, 'b')), want);
      });
    }

    it('reads a mapped file at the area offset, zeros past its end, and names a file that is gone', () => {
      const file = path.join(dir, 'mapped');
      fs.writeFileSync(file, Buffer.concat([Buffer.alloc(4096, 1), Buffer.alloc(100, 2)]));
      const st = fs.statSync(file, { bigint: true });
      const a = record({ start: 0x10000n, end: 0x13000n, backing: Backing.FILE, kind: AreaKind.FILE, path: file, fileOffset: 4096n, fileSize: st.size, mtimeSec: st.mtimeNs / 1_000_000_000n, mtimeNsec: Number(st.mtimeNs % 1_000_000_000n) });
      const warnings: string[] = [];
      const files = new MappedFiles((m) => warnings.push(m));
      const into = Buffer.alloc(4096, 0xee);
      files.read(a, 0n, into);
      assert.ok(into.subarray(0, 100).equals(Buffer.alloc(100, 2)));
      assert.ok(into.subarray(100).equals(Buffer.alloc(3996)), 'zeros past the end of the file');
      assert.equal(warnings.length, 0, 'an unchanged file reads without a warning');
      files.close();
      const gone = record({ ...a, path: path.join(dir, 'gone') });
      assert.throws(() => new MappedFiles().read(gone, 0n, into), (e: unknown) => e instanceof CliError && e.message === `${gone.path} (mapped at 0x10000) is gone: the image holds no copy of its pages, only a reference to the file`);
      fs.appendFileSync(file, 'more');
      const changed = new MappedFiles((m) => warnings.push(m));
      changed.read(a, 0n, into);
      changed.close();
      assert.equal(warnings.length, 1);
      assert.match(warnings[0], /^warning: .*mapped \(mapped at 0x10000\) changed since the checkpoint \(was 4196 bytes, .*; now 4200 bytes, .*\); its pages are read as they are now$/);
    });
  });

  describe('command line', () => {
    const usage: [string, string[], string][] = [
      ['diff without images', ['diff'], 'diff needs two images, OLD and NEW, got 0; Usage: readimage diff OLD NEW [--json] [--force]'],
      ['diff with three images', ['diff', 'a', 'b', 'c'], 'diff needs two images, OLD and NEW, got 3; Usage: readimage diff OLD NEW [--json] [--force]'],
      ['diff with an unknown option', ['diff', '--pages', 'a', 'b'], 'unknown option --pages; see --help'],
      ['extract without an image', ['extract', '--area', '0x1000'], 'extract needs one image, got 0; Usage: readimage extract IMAGE --area ADDR [--range START-END] [-o FILE]'],
      ['extract without --area', ['extract', 'x.dmtcp'], 'extract needs --area ADDR; Usage: readimage extract IMAGE --area ADDR [--range START-END] [-o FILE]'],
      ['extract with a bad address', ['extract', 'x.dmtcp', '--area', 'heap'], '--area must be a hex address such as 0x7f0000001000, got "heap"'],
      ['extract with a bad range', ['extract', 'x.dmtcp', '--range', '0x2000-0x1000'], '--range start must be below its end, got "0x2000-0x1000"'],
      ['extract with -o but no file', ['extract', 'x.dmtcp', '--area', '1000', '-o'], 'option -o needs a value (FILE)'],
      ['show without --plugins', ['show', 'x.dmtcp'], 'show needs to be told what to show: --plugins; Usage: readimage show IMAGE --plugins [--json]'],
      ['show without an image', ['show', '--plugins'], 'show needs one image, got 0; Usage: readimage show IMAGE --plugins [--json]'],
      ['map without -o', ['map', 'x.dmtcp'], 'map needs -o FILE.svg or -o FILE.html; Usage: readimage map IMAGE -o FILE.svg|FILE.html'],
      ['map to a PNG', ['map', 'x.dmtcp', '-o', 'x.png'], 'map writes .svg or .html files, got -o x.png'],
      ['reencode without -o', ['reencode', 'x.dmtcp'], 'reencode needs -o OUT, the file to write; Usage: readimage reencode IMAGE -o OUT [--json]'],
      ['reencode onto its input', ['reencode', 'x.dmtcp', '-o', './x.dmtcp'], '-o ./x.dmtcp is the input image itself; name another file'],
    ];
    for (const [name, argv, message] of usage) {
      it(`rejects ${name}`, async () => {
        await assert.rejects(main(argv), (e: unknown) => e instanceof UsageError && e.message === message);
      });
    }

    it('refuses to write binary data to a terminal', async () => {
      const was = Object.getOwnPropertyDescriptor(process.stdout, 'isTTY');
      Object.defineProperty(process.stdout, 'isTTY', { value: true, configurable: true });
      try {
        await assert.rejects(main(['extract', 'x.dmtcp', '--area', '0x1000']), (e: unknown) => e instanceof UsageError && e.message === 'extract writes binary data; refusing to write it to a terminal: use -o FILE or redirect stdout');
      } finally {
        if (was) Object.defineProperty(process.stdout, 'isTTY', was);
        else delete (process.stdout as { isTTY?: boolean }).isTTY;
      }
    });

    it('keeps the old message for no image at all', async () => {
      await assert.rejects(main([]), (e: unknown) => e instanceof CliError && e.code === 2 && e.message === 'no image given; usage: readimage [--json] [--verify] IMAGE...');
    });

    const helps: [string, string[], RegExp][] = [
      ['readimage', ['--help'], /^Usage: readimage \[--json\] \[--verify\] IMAGE\.\.\.\n {7}readimage diff OLD NEW.*\n {7}readimage extract .*\n {7}readimage show .*\n {7}readimage map .*\n {7}readimage reencode .*\n[^]*Commands:\n {2}diff {7}/],
      ['diff', ['diff', '--help'], /^Usage: readimage diff OLD NEW \[--json\] \[--force\]\n[^]*--force/],
      ['extract', ['extract', '--help'], /^Usage: readimage extract IMAGE --area ADDR \[--range START-END\] \[-o FILE\]\n[^]*-o, --output FILE/],
      ['show', ['show', '--help'], /^Usage: readimage show IMAGE --plugins \[--json\]\n[^]*--plugins/],
      ['map', ['map', '--help'], /^Usage: readimage map IMAGE -o FILE\.svg\|FILE\.html\n[^]*-o, --output FILE/],
      ['reencode', ['reencode', '--help'], /^Usage: readimage reencode IMAGE -o OUT \[--json\]\n[^]*Exit status 0 when OUT is identical/],
    ];
    for (const [name, argv, pattern] of helps) {
      it(`prints help for ${name}`, async () => {
        const r = await run(argv);
        assert.equal(r.code, 0);
        assert.match(r.out, pattern);
      });
    }
  });
});
