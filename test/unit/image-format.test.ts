// The container stage: constants agree between WebAssembly and TypeScript, headers round-trip, and every corruption
// of a header is reported with what was expected and what was found.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../../src/paths';
import * as F from '../../src/pipeline/image-format';
import { FormatError, ImageStage } from '../../src/pipeline/wasm/image-module';

describe('image container stage', () => {
  const stage = new ImageStage();

  it('mirrors assembly/image/format.ts', () => {
    const text = fs.readFileSync(path.join(packageRoot, 'assembly', 'image', 'format.ts'), 'utf8');
    const num = (name: string): number => {
      const m = text.match(new RegExp(`export const ${name}: [ui]\\d+ = ([^;]+);`));
      assert.ok(m, `${name} missing from format.ts`);
      return Number(eval(m[1].replace(/u64|u32/g, '')));   // literals and shifts only
    };
    assert.equal(num('FORMAT_VERSION'), F.FORMAT_VERSION);
    assert.equal(num('FILE_HEADER_SIZE'), F.FILE_HEADER_SIZE);
    assert.equal(num('BLOCK_HEADER_SIZE'), F.BLOCK_HEADER_SIZE);
    assert.equal(num('TRAILER_SIZE'), F.TRAILER_SIZE);
    assert.equal(num('BLOCK_MAGIC'), F.BLOCK_MAGIC);
    assert.equal(num('MAX_CHUNK_RAW'), F.MAX_CHUNK_RAW);
    for (const [k, v] of Object.entries(F.BlockKind)) assert.equal(num(`KIND_${k}`), v, k);
    assert.equal(num('FLAG_ZERO'), F.BlockFlag.ZERO);
    assert.equal(num('FLAG_PARENT'), F.BlockFlag.PARENT);
    assert.equal(num('FILE_FLAG_INCREMENTAL'), F.FileFlag.INCREMENTAL);
    for (const [k, v] of Object.entries(F.ErrorCode)) if (k !== 'OK') assert.equal(num(`E_${k}`), v, k);
    const magic = Buffer.alloc(8);
    magic.writeBigUInt64LE(BigInt(text.match(/FILE_MAGIC: u64 = (0x[0-9a-f]+)/)![1]));
    assert.equal(magic.toString('latin1'), F.FILE_MAGIC_TEXT);
    magic.writeBigUInt64LE(BigInt(text.match(/TRAILER_MAGIC: u64 = (0x[0-9a-f]+)/)![1]));
    assert.equal(magic.toString('latin1'), F.TRAILER_MAGIC_TEXT);
  });

  it('round-trips the file header', () => {
    const b = stage.encodeFileHeader(F.FileFlag.INCREMENTAL, 7, 1234567890123456789n);
    assert.equal(b.length, F.FILE_HEADER_SIZE);
    assert.equal(b.subarray(0, 8).toString('latin1'), 'DMTCPIMG');
    assert.deepEqual(stage.fileHeader(b), { version: 1, arch: 62, pageSize: 4096, flags: 1, generation: 7, createdNs: 1234567890123456789n });
  });

  it('round-trips block headers and checks payloads', () => {
    const payload = Buffer.from('some section bytes');
    const block = stage.encodeSection(F.BlockKind.META, payload);
    assert.equal(block.length, F.BLOCK_HEADER_SIZE + 24);
    const h = stage.blockHeader(block);
    assert.equal(h.kind, F.BlockKind.META);
    assert.equal(h.rawLength, payload.length);
    assert.equal(h.span, block.length);
    stage.verifyStored(block, payload);
    assert.throws(() => stage.verifyStored(block, Buffer.from('some section byteZ')), /^FormatError: payload checksum mismatch \(expected 0x[0-9a-f]{16}, found 0x[0-9a-f]{16}\)$/);
  });

  const headerDamage: [string, (b: Buffer) => void, RegExp][] = [
    ['magic', (b) => b.write('XMTCPIMG', 0, 'latin1'), /^not a dmtcp image: expected magic "DMTCPIMG", found "XMTCPIMG"$/],
    ['version', (b) => b.writeUInt32LE(2, 8), /^image format version 2 is not supported: this build reads version 1; use the dmtcp-ts that wrote it$/],
    ['generation (caught by the check)', (b) => b.writeUInt32LE(99, 28), /^file header check failed \(expected 0x[0-9a-f]{8}, found 0x[0-9a-f]{8}\)$/],
    ['architecture', (b) => { b.writeUInt32LE(183, 16); b.writeUInt32LE(stage.hash(b.subarray(0, 60)) & 0xffffffffn ? Number(stage.hash(b.subarray(0, 60)) & 0xffffffffn) : 0, 60); }, /^image was written on architecture aarch64 \(183\); this machine is x86_64 \(62\)$/],
    ['length', (b) => b.fill(0, 40), /^file header check failed/],
  ];
  for (const [name, damage, message] of headerDamage) {
    it(`reports a damaged file header: ${name}`, () => {
      const b = stage.encodeFileHeader(0, 1, 1n);
      damage(b);
      assert.throws(() => stage.fileHeader(b), (e: unknown) => e instanceof FormatError && message.test(e.message));
    });
  }

  it('reports a truncated file header and trailer', () => {
    const b = stage.encodeFileHeader(0, 1, 1n);
    assert.throws(() => stage.fileHeader(b.subarray(0, 30)), /^FormatError: truncated file header: expected 64 bytes, found 30$/);
    const t = stage.encodeTrailer(5, 1000);
    assert.deepEqual(stage.trailer(t), { blocks: 5n, fileSize: 1000n });
    assert.throws(() => stage.trailer(t.subarray(0, 20)), /^FormatError: truncated trailer: expected 32 bytes, found 20$/);
  });

  const blockDamage: [string, number, RegExp][] = [
    ['magic', 0, /^block header: expected magic "DBLK", found /],
    ['kind', 4, /^block header check failed/],
    ['stored length', 40, /^block header check failed/],
    ['check itself', 44, /^block header check failed/],
  ];
  for (const [name, at, message] of blockDamage) {
    it(`reports a damaged block header: ${name}`, () => {
      const b = stage.encodeSection(F.BlockKind.END, Buffer.alloc(32));
      b[at] ^= 0x40;
      assert.throws(() => stage.blockHeader(b), (e: unknown) => e instanceof FormatError && message.test(e.message));
    });
  }

  it('rejects chunk headers whose lengths cannot be right even with a valid check', () => {
    const h = { kind: F.BlockKind.CHUNK, codec: 1, flags: 0, area: 0, rawLength: 4096, offset: 0n, rawChecksum: 1n, storedChecksum: 2n, storedLength: 100 };
    assert.equal(stage.blockHeader(stage.encodeBlockHeader(h)).rawLength, 4096);
    assert.throws(() => stage.blockHeader(stage.encodeBlockHeader({ ...h, rawLength: 1000 })), /impossible length field \(1000\)/);
    assert.throws(() => stage.blockHeader(stage.encodeBlockHeader({ ...h, offset: 12n })), /impossible length field \(12\)/);
    assert.throws(() => stage.blockHeader(stage.encodeBlockHeader({ ...h, flags: F.BlockFlag.ZERO })), /impossible length field \(100\)/);
    assert.throws(() => stage.blockHeader(stage.encodeBlockHeader({ ...h, storedLength: 1 << 20 })), /impossible length field \(1048576\)/);
  });
});
