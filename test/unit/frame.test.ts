// Coordinator protocol framing: round trips, fields, and the exact reasons malformed input is rejected with.
import * as assert from 'node:assert/strict';
import { Msg, PROTO_MAGIC, Tag } from '../../src/protocol/constants';
import { encodeFrame, FieldWriter, Fields, FrameDecoder, ProtocolError, VersionMismatch } from '../../src/protocol/frame';

function frame(type: number, w: FieldWriter, seq = 0): Buffer {
  return encodeFrame(type, w, seq);
}

describe('protocol framing', () => {
  it('round-trips every field type', () => {
    const bytes = frame(Msg.HELLO_WORKER, new FieldWriter()
      .u32(Tag.PID, 4242)
      .u64(Tag.IMAGE_BYTES, 2n ** 40n + 7n)
      .str(Tag.PROGRAM, 'prog ü')
      .list(Tag.ARGV, ['a', 'b c', ''])
      .bytes(Tag.JSON, Buffer.from([1, 2, 3])), 77);
    const [f] = new FrameDecoder().push(bytes);
    assert.equal(f.type, Msg.HELLO_WORKER);
    assert.equal(f.seq, 77);
    assert.equal(f.fields.u32(Tag.PID), 4242);
    assert.equal(f.fields.u64(Tag.IMAGE_BYTES), 2n ** 40n + 7n);
    assert.equal(f.fields.str(Tag.PROGRAM), 'prog ü');
    assert.deepEqual(f.fields.list(Tag.ARGV), ['a', 'b c', '']);
    assert.deepEqual([...f.fields.raw(Tag.JSON)!], [1, 2, 3]);
    assert.equal(f.fields.str(Tag.HOST), undefined);
  });

  it('reassembles frames split at every byte and several frames in one chunk', () => {
    const a = frame(Msg.COMMAND, new FieldWriter().str(Tag.COMMAND, 's'), 1);
    const b = frame(Msg.COMMAND, new FieldWriter().str(Tag.COMMAND, 'bc'), 2);
    const all = Buffer.concat([a, b]);
    for (let cut = 1; cut < all.length; cut++) {
      const d = new FrameDecoder();
      const got = [...d.push(all.subarray(0, cut)), ...d.push(all.subarray(cut))];
      assert.deepEqual(got.map((f) => [f.seq, f.fields.str(Tag.COMMAND)]), [[1, 's'], [2, 'bc']], `cut at ${cut}`);
    }
  });

  const bad: [string, () => Buffer, RegExp, abstract new (...args: never[]) => ProtocolError][] = [
    ['wrong magic', () => Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), /^bad magic 0x20544547 \(expected "DMTP"\); not a dmtcp peer\?$/, ProtocolError],
    ['other version', () => { const b = frame(Msg.COMMAND, new FieldWriter()); b.writeUInt16LE(9, 4); return b; }, /^protocol version 9 is not supported \(this side speaks version 1\)$/, VersionMismatch],
    ['oversized frame', () => { const b = Buffer.alloc(16); b.writeUInt32LE(PROTO_MAGIC, 0); b.writeUInt16LE(1, 4); b.writeUInt32LE(2 ** 21, 8); return b; }, /^frame of 2097152 bytes exceeds the 1 MiB limit$/, ProtocolError],
    ['field longer than its frame', () => { const b = frame(Msg.COMMAND, new FieldWriter().str(Tag.COMMAND, 'abcdefgh')); b.writeUInt32LE(999, 16 + 4); return b; }, /^field 17 claims 999 bytes but only 8 remain$/, ProtocolError],
    ['truncated field header', () => { const b = Buffer.alloc(20); b.writeUInt32LE(PROTO_MAGIC, 0); b.writeUInt16LE(1, 4); b.writeUInt32LE(4, 8); return b; }, /^truncated field header at payload offset 0$/, ProtocolError],
  ];
  for (const [name, make, message, kind] of bad) {
    it(`rejects ${name} with an exact reason`, () => {
      assert.throws(() => new FrameDecoder().push(make()), (e: unknown) => e instanceof kind && message.test((e as Error).message));
    });
  }

  it('rejects a u32 field of the wrong width, naming the field', () => {
    const f = Fields.decode(new FieldWriter().str(Tag.PID, 'xx').finish());
    assert.throws(() => f.u32(Tag.PID), /^ProtocolError: field PID must be 4 bytes, got 2$/);
  });

  it('keeps unknown tags for newer peers', () => {
    const f = Fields.decode(new FieldWriter().u32(999, 5).str(Tag.HOST, 'h').finish());
    assert.equal(f.str(Tag.HOST), 'h');
    assert.equal(f.raw(999)!.readUInt32LE(0), 5);
  });
});
