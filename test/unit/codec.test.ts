// Unit tests of the codec WebAssembly stage: XXH64, isZero, dlz round trips, build equivalence and hostile input.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CodecAbort, CodecModule, DlzDecodeError, DlzError, alignUp64 } from '../../src/pipeline/wasm/codec-module';
import {
  Rng, makeText, makeRandom, makeStructs, makeRuns, makeMixedPages,
} from '../../bench/codec-bench';

const KiB = 1024;
const MiB = 1024 * 1024;

const plain = new CodecModule({ simd: false });
const simd = new CodecModule({ simd: true });
const builds: [string, CodecModule][] = [['plain', plain], ['simd', simd]];
/** The dlz format version (first byte of every frame) these tests expect. */
const FORMAT_VERSION = 2;
/** Compression levels with distinct parsers (docs/CODEC-DLZ.md §10). */
const LEVELS = [1, 2, 3];

// ---------------------------------------------------------------------------------------------
// An independent XXH64 written with BigInt arithmetic, straight from the specification.
// ---------------------------------------------------------------------------------------------

const P1 = 0x9e3779b185ebca87n;
const P2 = 0xc2b2ae3d27d4eb4fn;
const P3 = 0x165667b19e3779f9n;
const P4 = 0x85ebca77c2b2ae63n;
const P5 = 0x27d4eb2f165667c5n;
const M64 = (1n << 64n) - 1n;

const rotl = (v: bigint, r: bigint): bigint => ((v << r) | (v >> (64n - r))) & M64;
const mul = (a: bigint, b: bigint): bigint => (a * b) & M64;
const lane = (v: bigint, input: bigint): bigint => mul(rotl((v + mul(input, P2)) & M64, 31n), P1);

function referenceXxh64(data: Uint8Array, seed: bigint): bigint {
  const view = Buffer.from(data.buffer, data.byteOffset, data.length);
  let p = 0;
  let h: bigint;
  if (data.length >= 32) {
    const v = [(seed + P1 + P2) & M64, (seed + P2) & M64, seed, (seed - P1) & M64];
    for (; p + 32 <= data.length; p += 32) {
      for (let i = 0; i < 4; i++) v[i] = lane(v[i], view.readBigUInt64LE(p + 8 * i));
    }
    h = (rotl(v[0], 1n) + rotl(v[1], 7n) + rotl(v[2], 12n) + rotl(v[3], 18n)) & M64;
    for (const x of v) h = (mul(h ^ lane(0n, x), P1) + P4) & M64;
  } else {
    h = (seed + P5) & M64;
  }
  h = (h + BigInt(data.length)) & M64;
  for (; p + 8 <= data.length; p += 8) h = (mul(rotl(h ^ lane(0n, view.readBigUInt64LE(p)), 27n), P1) + P4) & M64;
  if (p + 4 <= data.length) {
    h = (mul(rotl(h ^ mul(BigInt(view.readUInt32LE(p)), P1), 23n), P2) + P3) & M64;
    p += 4;
  }
  for (; p < data.length; p++) h = mul(rotl(h ^ mul(BigInt(view[p]), P5), 11n), P1);
  h = mul(h ^ (h >> 33n), P2);
  h = mul(h ^ (h >> 29n), P3);
  return h ^ (h >> 32n);
}

function ramp(len: number): Uint8Array {
  return Uint8Array.from({ length: len }, (_, i) => (i * 7 + 3) & 255);
}

function lcgBytes(len: number): Uint8Array {
  const out = new Uint8Array(len);
  let s = 12345;
  for (let i = 0; i < len; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

/**
 * Low 32 bits of XXH64(data, seed 0), obtained independently from the zstd CLI: a frame written by
 * `zstd --check` ends with those 32 bits (little-endian), e.g. `zstd -q -c --check FILE | tail -c 4 | od -An -tx4`.
 */
const ZSTD_VECTORS: [string, Uint8Array, number][] = [
  ['empty', new Uint8Array(0), 0x51d8e999],
  ['"a"', Buffer.from('a'), 0xa98c6e5b],
  ['"abc"', Buffer.from('abc'), 0xad770999],
  ['quick brown fox', Buffer.from('The quick brown fox jumps over the lazy dog'), 0x1fda71bc],
  ['ramp 3', ramp(3), 0x52e564c9],
  ['ramp 4', ramp(4), 0x66ee9fda],
  ['ramp 8', ramp(8), 0xc6f90092],
  ['ramp 31', ramp(31), 0xcc4a6119],
  ['ramp 32', ramp(32), 0xf790fd97],
  ['ramp 33', ramp(33), 0xba588784],
  ['ramp 100', ramp(100), 0x170fe531],
  ['ramp 1000', ramp(1000), 0x33f1a3fb],
  ['lcg 4095', lcgBytes(4095), 0xa4e2505e],
  ['lcg 65536', lcgBytes(65536), 0x175bcfd0],
];

describe('codec stage', () => {
  describe('loading', () => {
    it('loads the plain and the SIMD build as asked', () => {
      assert.equal(plain.simd, false);
      assert.equal(simd.simd, true);
      for (const [, mod] of builds) assert.equal(mod.exports.version(), FORMAT_VERSION);
    });

    it('places the heap base 64-byte aligned above its scratch region', () => {
      for (const [, mod] of builds) {
        assert.equal(mod.heapBase % 64, 0);
        assert.ok(mod.heapBase >= mod.exports.scratchSize());
        assert.ok(mod.exports.memory.buffer.byteLength >= mod.heapBase);
      }
    });

    it('exports the error codes the loader names', () => {
      const e = plain.exports;
      assert.deepEqual(
        [e.DLZ_ERR_TRUNCATED, e.DLZ_ERR_CORRUPT, e.DLZ_ERR_VERSION, e.DLZ_ERR_OUTPUT_SIZE, e.DLZ_ERR_OFFSET,
          e.DLZ_ERR_TRAILING, e.DLZ_ERR_TABLE].map((g) => g.value as number),
        [DlzError.TRUNCATED, DlzError.CORRUPT, DlzError.VERSION, DlzError.OUTPUT_SIZE, DlzError.OFFSET,
          DlzError.TRAILING, DlzError.TABLE],
      );
    });

    it('uses the plain build when DMTCP_WASM_SIMD=0', () => {
      const saved = process.env.DMTCP_WASM_SIMD;
      process.env.DMTCP_WASM_SIMD = '0';
      try {
        assert.equal(new CodecModule().simd, false);
      } finally {
        if (saved === undefined) delete process.env.DMTCP_WASM_SIMD;
        else process.env.DMTCP_WASM_SIMD = saved;
      }
    });

    it('turns an abort of the stage into a thrown CodecAbort naming message, line and column', () => {
      // A stand-in module, assembled from this text with binaryen's parseText/emitBinary:
      //   (module
      //     (import "env" "abort" (func $abort (param i32 i32 i32 i32)))
      //     (memory (export "memory") 1)
      //     (data (i32.const 16) "\04\00\00\00h\00i\00")            ;; AssemblyScript string "hi" at 20
      //     (func (export "heapBase") (result i32) (i32.const 1024))
      //     (func (export "version") (result i32)
      //       (call $abort (i32.const 20) (i32.const 0) (i32.const 12) (i32.const 34)) (i32.const 1)))
      const aborting = Uint8Array.from([
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0c, 0x02, 0x60, 0x04, 0x7f, 0x7f, 0x7f, 0x7f, 0x00,
        0x60, 0x00, 0x01, 0x7f, 0x02, 0x0d, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x05, 0x61, 0x62, 0x6f, 0x72, 0x74, 0x00,
        0x00, 0x03, 0x03, 0x02, 0x01, 0x01, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x1f, 0x03, 0x06, 0x6d, 0x65, 0x6d,
        0x6f, 0x72, 0x79, 0x02, 0x00, 0x08, 0x68, 0x65, 0x61, 0x70, 0x42, 0x61, 0x73, 0x65, 0x00, 0x01, 0x07, 0x76,
        0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x00, 0x02, 0x0a, 0x16, 0x02, 0x05, 0x00, 0x41, 0x80, 0x08, 0x0b, 0x0e,
        0x00, 0x41, 0x14, 0x41, 0x00, 0x41, 0x0c, 0x41, 0x22, 0x10, 0x00, 0x41, 0x01, 0x0b, 0x0b, 0x0e, 0x01, 0x00,
        0x41, 0x10, 0x0b, 0x08, 0x04, 0x00, 0x00, 0x00, 0x68, 0x00, 0x69, 0x00,
      ]);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codec-abort-'));
      try {
        fs.writeFileSync(path.join(dir, 'codec.wasm'), aborting);
        const mod = new CodecModule({ wasmDir: dir, simd: false });
        assert.throws(() => mod.exports.version(), (e: unknown) =>
          e instanceof CodecAbort && /hi/.test(e.message) && /:12:34/.test(e.message));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('grows memory on demand and refuses impossible sizes', () => {
      const mod = new CodecModule({ simd: false });
      mod.ensure(8 * MiB);
      assert.ok(mod.exports.memory.buffer.byteLength >= mod.heapBase + 8 * MiB);
      assert.equal(mod.exports.ensureMemory(0xffffffff), -1);
      assert.throws(() => mod.ensure(0xffffffff), RangeError);
    });
  });

  describe('xxh64', () => {
    for (const [name, data, low] of ZSTD_VECTORS) {
      it(`matches zstd's checksum of ${name}`, () => {
        for (const [, mod] of builds) assert.equal(Number(mod.xxh64(data) & 0xffffffffn), low);
      });
    }

    it('hashes the empty input with seed 0 to 0xEF46DB3751D8E999', () => {
      for (const [, mod] of builds) assert.equal(mod.xxh64(new Uint8Array(0)), 0xef46db3751d8e999n);
    });

    it('agrees with a BigInt reference on every length up to 300 and on seeds', () => {
      const data = makeRandom(300, 77);
      const seeds = [0n, 1n, 0xffffffffn, 0x123456789abcdef0n, M64];
      for (let len = 0; len <= 300; len++) {
        const slice = data.subarray(0, len);
        const seed = seeds[len % seeds.length];
        const expected = referenceXxh64(slice, seed);
        for (const [build, mod] of builds) assert.equal(mod.xxh64(slice, seed), expected, `${build} len ${len}`);
      }
    });

    it('agrees with the reference on large inputs', () => {
      for (const len of [4096, 65536 + 13]) {
        const data = makeText(len, len);
        for (const [, mod] of builds) assert.equal(mod.xxh64(data, 42n), referenceXxh64(data, 42n));
      }
    });
  });

  describe('isZero', () => {
    const sizes = [0, 1, 7, 8, 15, 16, 63, 64, 127, 128, 255, 256, 4095, 4096, 65537];
    for (const size of sizes) {
      it(`classifies ${size}-byte buffers`, () => {
        const zero = new Uint8Array(size);
        for (const [, mod] of builds) {
          assert.equal(mod.isZero(zero), true);
          for (const at of new Set([0, size >> 1, size - 1])) {
            if (at < 0 || at >= size) continue;
            const one = new Uint8Array(size);
            one[at] = 0x80;
            assert.equal(mod.isZero(one), false, `nonzero byte at ${at}`);
          }
        }
      });
    }
  });

  describe('dlz round trips', () => {
    const sizes = [0, 1, 7, 4095, 4096, 12345, 65536, 100003, 131073, 262144, 262145, MiB, 3 * MiB + 5];
    const kinds: [string, (len: number) => Uint8Array][] = [
      ['random', (len) => makeRandom(len, len + 1)],
      ['zero', (len) => new Uint8Array(len)],
      ['text', (len) => makeText(len, 7)],
      ['mixed pages', (len) => makeMixedPages(len, 9)],
      ['long runs', (len) => makeRuns(len, 11)],
      ['struct array', (len) => makeStructs(len)],
    ];
    /** Generated inputs, shared by the levels. */
    const inputs = new Map<string, Uint8Array>();
    const input = (kind: string, make: (len: number) => Uint8Array, size: number): Uint8Array => {
      const key = `${kind}/${size}`;
      let data = inputs.get(key);
      if (!data) inputs.set(key, (data = make(size)));
      return data;
    };
    after(() => inputs.clear());
    for (const level of LEVELS) {
      for (const [kind, make] of kinds) {
        for (const size of sizes) {
          it(`level ${level}: ${kind}, ${size} bytes`, function () {
            this.timeout(20000);
            const data = input(kind, make, size);
            const plainFrame = plain.compress(data, level);
            const simdFrame = simd.compress(data, level);
            assert.deepEqual(simdFrame, plainFrame, 'SIMD and plain builds must produce identical frames');
            if (kind === 'random' && size >= 4096) assert.equal(plainFrame, null, 'random data is stored raw');
            if (kind !== 'random' && size >= 4096) assert.notEqual(plainFrame, null, 'compressible data compresses');
            if (plainFrame === null) return;
            assert.ok(plainFrame.length < size, 'a frame is always smaller than its input');
            assert.equal(plainFrame[0], FORMAT_VERSION);
            for (const [build, mod] of builds) {
              assert.ok(Buffer.from(mod.decompress(plainFrame, size)).equals(Buffer.from(data)), `${build} decodes`);
            }
          });
        }
      }
    }

    it('accepts levels 0 to 9 and decodes every result', () => {
      const data = makeMixedPages(200000, 21);
      for (let level = 0; level <= 9; level++) {
        const frame = plain.compress(data, level);
        assert.notEqual(frame, null);
        assert.deepEqual(simd.compress(data, level), frame);
        assert.ok(Buffer.from(simd.decompress(frame!, data.length)).equals(Buffer.from(data)));
      }
    });

    it('treats levels below 1 as 1 and above 3 as 3', () => {
      const data = makeText(300000, 22);
      assert.deepEqual(plain.compress(data, 0), plain.compress(data, 1));
      assert.deepEqual(plain.compress(data, -5), plain.compress(data, 1));
      assert.deepEqual(plain.compress(data, 9), plain.compress(data, 3));
    });

    it('round-trips inputs whose repeats lie beyond the largest offset', function () {
      this.timeout(120000);
      // The same MiB of text at the start and the end, 17 MiB apart: farther than OFFSET_MAX.
      const far = 17 * MiB;
      const head = makeText(MiB, 23);
      const data = new Uint8Array(far + MiB);
      data.set(head);
      for (let at = MiB; at < far; at += 4 * MiB) data.set(makeText(Math.min(4 * MiB, far - at), at), at);
      data.set(head, far);
      for (const level of LEVELS) {
        const frame = plain.compress(data, level)!;
        assert.notEqual(frame, null);
        assert.ok(Buffer.from(plain.decompress(frame, data.length)).equals(Buffer.from(data)), `level ${level}`);
      }
    });
  });

  describe('dlz compression decisions', () => {
    it('shrinks zero-filled and repetitive data to a tiny fraction', () => {
      const record = makeStructs(40);
      const repeated = new Uint8Array(MiB);
      for (let at = 0; at < MiB; at += record.length) repeated.set(record.subarray(0, Math.min(40, MiB - at)), at);
      for (const [, mod] of builds) {
        assert.ok(mod.compress(new Uint8Array(MiB))!.length < 64);
        assert.ok(mod.compress(new Uint8Array(MiB).fill(0xab))!.length < 64);
        assert.ok(mod.compress(repeated)!.length < MiB / 1000);
        // Records whose pointer and index fields count up leave a few literal bytes per record.
        assert.ok(mod.compress(makeStructs(MiB))!.length < MiB / 5);
      }
    });

    it('compresses text by more than 2x', () => {
      const text = makeText(MiB, 3);
      for (const [, mod] of builds) assert.ok(mod.compress(text)!.length * 2 < text.length);
    });

    it('compresses text and structured data at every level, and text better at higher levels', () => {
      const text = makeText(MiB, 3);
      const structs = makeStructs(MiB);
      let previous = Infinity;
      for (const level of LEVELS) {
        const textFrame = plain.compress(text, level)!;
        assert.ok(textFrame.length * 2 < text.length, `level ${level}: text`);
        assert.ok(textFrame.length <= previous, `level ${level}: no larger than the level below`);
        previous = textFrame.length;
        assert.ok(plain.compress(structs, level)!.length < MiB / 5, `level ${level}: struct array`);
      }
    });

    it('stores random data raw even inside a larger input, and compresses the rest', () => {
      const data = new Uint8Array(512 * KiB);
      data.set(makeText(256 * KiB, 5));
      data.set(makeRandom(256 * KiB, 6), 256 * KiB);
      const frame = plain.compress(data)!;
      assert.ok(frame.length < 256 * KiB + 256 * KiB / 2 + 1000);
      assert.ok(Buffer.from(plain.decompress(frame, data.length)).equals(Buffer.from(data)));
    });

    it('refuses inputs that would not shrink by at least 1/64', () => {
      // Three quarters random, one quarter zero: saves 25%, so it compresses; 1/128 zero does not.
      const mostlyRandom = makeRandom(64 * KiB, 8);
      mostlyRandom.fill(0, 0, 16 * KiB);
      assert.notEqual(plain.compress(mostlyRandom), null);
      const barely = makeRandom(64 * KiB, 8);
      barely.fill(0, 0, 512);
      assert.equal(plain.compress(barely), null);
    });

    it('never writes more than dstCap bytes, and gives up when the frame would not fit', () => {
      const data = makeText(100000, 12);
      const frame = plain.compress(data)!;
      const e = plain.exports;
      const src = plain.heapBase;
      const dst = src + alignUp64(data.length);
      for (const cap of [0, 4, 100, frame.length - 1, frame.length, frame.length + 7]) {
        plain.ensure(alignUp64(data.length) + cap + 4096);
        const memory = new Uint8Array(e.memory.buffer);
        memory.set(data, src);
        memory.fill(0x5a, dst, dst + cap + 4096);
        const n = e.dlzCompress(src, data.length, dst, cap, 1) >>> 0;
        assert.ok(n === 0 || n <= cap, `cap ${cap}: returned ${n}`);
        assert.ok(memory.subarray(dst + cap, dst + cap + 4096).every((b) => b === 0x5a), `cap ${cap}: wrote past dstCap`);
        if (n !== 0) assert.ok(Buffer.from(plain.decompress(memory.slice(dst, dst + n), data.length)).equals(Buffer.from(data)));
      }
    });

    it('reads nothing past the end of its input (input placed at the end of memory)', () => {
      for (const [, mod] of builds) {
        for (const data of [makeText(70001, 13), makeStructs(4099), makeRuns(131075, 2), new Uint8Array(9).fill(1)]) {
          const e = mod.exports;
          const bound = e.dlzBound(data.length) >>> 0;
          mod.ensure(bound + data.length + 4096);
          const end = e.memory.buffer.byteLength;
          const src = end - data.length;
          new Uint8Array(e.memory.buffer).set(data, src);
          const n = e.dlzCompress(src, data.length, mod.heapBase, bound, 1) >>> 0;
          if (n === 0) continue;
          const frame = new Uint8Array(e.memory.buffer).slice(mod.heapBase, mod.heapBase + n);
          const at = end - n;
          new Uint8Array(e.memory.buffer).set(frame, at);
          assert.equal(e.dlzDecompress(at, n, mod.heapBase, data.length), data.length);
          assert.ok(Buffer.from(e.memory.buffer, mod.heapBase, data.length).equals(Buffer.from(data)));
        }
      }
    });
  });

  describe('dlz hand-made frames (docs/CODEC-DLZ.md)', () => {
    const u24 = (v: number): number[] => [v & 255, (v >>> 8) & 255, (v >>> 16) & 255];
    const ascii = (text: string): number[] => [...Buffer.from(text, 'latin1')];
    /** A compressed block: header, payload size, payload. */
    const block = (rawSize: number, payload: number[]): number[] => [...u24(2 | ((rawSize - 1) << 2)), ...u24(payload.length), ...payload];
    const rawBlock = (bytes: number[]): number[] => [...u24((bytes.length - 1) << 2), ...bytes];
    /** Payload with raw sections: literals, then per sequence a token, an offset symbol and side bytes. */
    const payload = (literals: number[], tokens: number[], symbols: number[], side: number[]): number[] => tokens.length === 0
      ? [...u24(literals.length), 0, ...literals, ...u24(0)]
      : [...u24(literals.length), 0, ...literals, ...u24(tokens.length), 0, ...tokens, 0, ...symbols, ...side];
    const frame = (...blocks: number[][]): Uint8Array => Uint8Array.from([FORMAT_VERSION, ...blocks.flat()]);
    const repeat = (text: string, n: number): string => text.repeat(n);
    const lits300 = Array.from({ length: 300 }, (_, i) => 97 + (i % 26));

    const valid: [string, Uint8Array, string][] = [
      ['a repeat at the frame start uses offset 1', frame(block(9, payload(ascii('abcd'), [0x31], [0], []))), 'abccccccd'],
      ['an explicit offset is (symbol - 1) << 16 | u16',
        frame(block(10, payload(ascii('abcd'), [0x42], [1], [4, 0]))), 'abcdabcdab'],
      ['a short extension is one byte',
        frame(block(17 + 4, payload(ascii(repeat('x', 17)), [0xf0], [1], [2, 1, 0]))), repeat('x', 21)],
      ['long extensions are 255 and a u24, literal length first',
        frame(block(300 + 319, payload(lits300, [0xff], [0], [255, ...u24(285), 255, ...u24(300)]))),
        Buffer.from(lits300).toString('latin1') + repeat(String.fromCharCode(lits300[299]), 319)],
      ['the repeat offset carries over blocks, and raw blocks do not change it',
        frame(block(6, payload(ascii('ab'), [0x20], [1], [2, 0])), rawBlock(ascii('xy')), block(5, payload(ascii('q'), [0x10], [0], []))),
        'ababab' + 'xy' + 'qyqyq'],
      ['a Huffman section with a single-symbol table takes no bits',
        frame(block(9, [...u24(4), 0, ...ascii('abcd'), ...u24(1), 2, 0, 0x31, ...u24(0), 0, 0])), 'abccccccd'],
      ['an RLE literal section repeats its byte', frame(block(9, [...u24(4), 1, 122, ...u24(1), 1, 0x31, 1, 0])), 'zzzzzzzzz'],
      ['a block without sequences is its literals', frame(block(3, payload(ascii('abc'), [], [], []))), 'abc'],
    ];
    for (const [name, bytes, expected] of valid) {
      it(name, () => {
        for (const [build, mod] of builds) {
          assert.equal(Buffer.from(mod.decompress(bytes, expected.length)).toString('latin1'), expected, build);
        }
      });
    }

    const invalid: [string, Uint8Array, number, number][] = [
      ['a version-1 frame', Uint8Array.from([1, ...block(8, payload(ascii('abcd'), [0x31], [0], []))]), 8, DlzError.VERSION],
      ['an explicit offset of 0', frame(block(10, payload(ascii('abcd'), [0x42], [1], [0, 0]))), 10, DlzError.OFFSET],
      ['an offset before the frame start', frame(block(10, payload(ascii('abcd'), [0x42], [1], [5, 0]))), 10, DlzError.OFFSET],
      ['side bytes left over', frame(block(10, payload(ascii('abcd'), [0x42], [1], [4, 0, 0]))), 10, DlzError.CORRUPT],
      ['a side stream too short', frame(block(10, payload(ascii('abcd'), [0x42], [1], [4]))), 10, DlzError.CORRUPT],
      ['more literals used than stored', frame(block(10, payload(ascii('ab'), [0x42], [1], [1, 0]))), 10, DlzError.CORRUPT],
      ['sequences longer than the block', frame(block(8, payload(ascii('abcd'), [0x32], [0], []))), 8, DlzError.CORRUPT],
      ['more sequences than rawSize / 4', frame(block(7, payload(ascii('abc'), [0x00, 0x00], [0, 0], []))), 7, DlzError.CORRUPT],
      ['an unknown section mode', frame(block(8, [...u24(4), 4, ...ascii('abcd'), ...u24(0)])), 8, DlzError.CORRUPT],
      ['four Huffman streams for fewer than 256 symbols',
        frame(block(8, [...u24(4), 3, 1, 1, 0x11, ...u24(1), ...u24(0), ...u24(0), ...u24(0), 0, ...u24(0)])), 8, DlzError.CORRUPT],
      ['a block larger than 1 MiB', frame([...u24(2 | (MiB << 2)), ...u24(0)]), MiB + 1, DlzError.CORRUPT],
    ];
    for (const [name, bytes, rawLen, code] of invalid) {
      it(`rejects ${name}`, () => {
        for (const [build, mod] of builds) {
          assert.throws(() => mod.decompress(bytes, rawLen), (e: unknown) => e instanceof DlzDecodeError && e.code === code, build);
        }
      });
    }
  });

  describe('dlz hostile input', () => {
    const GUARD = 4096;
    const samples: [string, Uint8Array][] = [
      ['text', makeText(64 * KiB, 31)],
      ['struct array', makeStructs(48 * KiB + 5)],
      ['mixed pages', makeMixedPages(160 * KiB, 33)],
      ['long runs', makeRuns(20000, 35)],
    ];

    /**
     * Decodes `frame` with the source placed at the very end of linear memory (so any read past
     * it traps) and guard bytes on both sides of the destination; checks that neither the guards
     * nor the source change, and returns the decoder's result code.
     */
    function decodeGuarded(mod: CodecModule, frame: Uint8Array, rawLen: number): number {
      const e = mod.exports;
      mod.ensure(GUARD + rawLen + GUARD + frame.length + 64);
      const memory = new Uint8Array(e.memory.buffer);
      const dst = mod.heapBase + GUARD;
      const src = memory.length - frame.length;
      memory.fill(0xc3, mod.heapBase, dst + rawLen + GUARD);
      memory.set(frame, src);
      const result = e.dlzDecompress(src, frame.length, dst, rawLen);
      assert.ok(memory.subarray(mod.heapBase, dst).every((b) => b === 0xc3), 'wrote before dst');
      assert.ok(memory.subarray(dst + rawLen, dst + rawLen + GUARD).every((b) => b === 0xc3), 'wrote after dst');
      assert.ok(Buffer.from(memory.subarray(src)).equals(Buffer.from(frame)), 'modified src');
      assert.ok(result === rawLen || (result < 0 && result >= -7), `unexpected result ${result}`);
      return result;
    }

    // The levels' frames differ in shape (sequence density, extensions, repeat use).
    for (const level of [1, 3]) {
      for (const [name, data] of samples) {
        const frame = plain.compress(data, level)!;

        it(`${name} (level ${level}): the intact frame decodes exactly`, () => {
          for (const [, mod] of builds) assert.equal(decodeGuarded(mod, frame, data.length), data.length);
        });

        it(`${name} (level ${level}): single bit flips are rejected or stay inside the destination`, function () {
          this.timeout(60000);
          const rng = new Rng(frame.length);
          let rejected = 0;
          let tried = 0;
          const positions = new Set<number>([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, frame.length - 1]);
          for (let i = 0; i < 400; i++) positions.add(rng.below(frame.length));
          for (const at of positions) {
            const broken = frame.slice();
            broken[at] ^= 1 << rng.below(8);
            for (const [, mod] of builds) {
              tried++;
              if (decodeGuarded(mod, broken, data.length) < 0) rejected++;
            }
          }
          // Flips inside Huffman-coded literals often still decode (the container's checksum catches
          // those); flips in headers, tables and sequences are mostly detected here.
          assert.ok(rejected > tried / 10, `only ${rejected} of ${tried} corruptions detected`);
        });

        it(`${name} (level ${level}): truncated frames are rejected`, () => {
          const rng = new Rng(7);
          const lengths = new Set<number>([0, 1, 2, 3, 4, 6, 10, frame.length - 1, frame.length - 2, frame.length - 9]);
          for (let i = 0; i < 60; i++) lengths.add(rng.below(frame.length));
          for (const len of lengths) {
            for (const [, mod] of builds) assert.ok(decodeGuarded(mod, frame.subarray(0, len), data.length) < 0, `length ${len}`);
          }
        });

        it(`${name} (level ${level}): appended garbage is rejected`, () => {
          for (const extra of [1, 3, 64, 1000]) {
            const longer = new Uint8Array(frame.length + extra);
            longer.set(frame);
            longer.set(makeRandom(extra, extra), frame.length);
            for (const [, mod] of builds) assert.equal(decodeGuarded(mod, longer, data.length), DlzError.TRAILING);
          }
        });

        it(`${name} (level ${level}): a wrong decompressed length is rejected`, () => {
          for (const rawLen of [0, 1, data.length - 1, data.length + 1, data.length - 4096, data.length + 4096, 2 * data.length]) {
            if (rawLen < 0) continue;
            for (const [, mod] of builds) assert.ok(decodeGuarded(mod, frame, rawLen) < 0, `rawLen ${rawLen}`);
          }
        });

        it(`${name} (level ${level}): random byte overwrites and shuffled spans never escape`, function () {
          this.timeout(60000);
          const rng = new Rng(data.length);
          for (let i = 0; i < 150; i++) {
            const broken = frame.slice();
            const at = rng.below(frame.length);
            const span = 1 + rng.below(Math.min(64, frame.length - at));
            for (let k = 0; k < span; k++) broken[at + k] = rng.next() >>> 24;
            for (const [, mod] of builds) decodeGuarded(mod, broken, data.length);
          }
        });
      }
    }

    it('rejects all-0xff inputs of many lengths', () => {
      for (const len of [1, 2, 3, 4, 7, 8, 100, 4096, 70000]) {
        for (const [, mod] of builds) {
          assert.ok(decodeGuarded(mod, new Uint8Array(len).fill(0xff), 65536) < 0);
        }
      }
    });

    it('rejects random garbage that starts with a valid version byte', () => {
      const rng = new Rng(99);
      for (let i = 0; i < 300; i++) {
        const garbage = makeRandom(1 + rng.below(3000), i + 1000);
        garbage[0] = FORMAT_VERSION;
        for (const [, mod] of builds) assert.ok(decodeGuarded(mod, garbage, 1 + rng.below(200000)) < 0);
      }
    });

    it('names the error: an unknown version', () => {
      const frame = plain.compress(makeText(10000, 1))!.slice();
      frame[0] = 99;
      assert.equal(decodeGuarded(plain, frame, 10000), DlzError.VERSION);
      assert.throws(() => plain.decompress(frame, 10000), (e: unknown) => e instanceof DlzDecodeError && /VERSION/.test(e.message));
    });

    it('names the error: an empty frame', () => {
      assert.equal(decodeGuarded(simd, new Uint8Array(0), 100), DlzError.TRUNCATED);
      assert.throws(() => simd.decompress(new Uint8Array(0), 100), /TRUNCATED/);
    });

    it('decodes an empty frame body to zero bytes only', () => {
      assert.equal(decodeGuarded(plain, Uint8Array.of(FORMAT_VERSION), 0), 0);
      assert.equal(decodeGuarded(plain, Uint8Array.of(FORMAT_VERSION), 5), DlzError.TRUNCATED);
    });
  });
});
