// The image file writer on its own: appends of every size, in order, across the switch from the page cache to
// O_DIRECT staging, an unaligned tail, a header rewritten in place, and the buffered path DMTCP_DIRECT_IO=0 keeps.
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ImageFile } from '../../src/pipeline/image-file';

const MiB = 1 << 20;

/** Parts of random sizes (1 byte to 3 MiB, some tiny) adding up to about `total` bytes. */
function randomParts(total: number, seed: number): Buffer[] {
  const parts: Buffer[] = [];
  let left = total;
  let x = seed;
  while (left > 0) {
    x = (x * 1103515245 + 12345) >>> 0;
    const size = Math.min(left, x % 7 === 0 ? 1 + (x % 100) : 1 + (x % (3 * MiB)));
    parts.push(crypto.randomBytes(size));
    left -= size;
  }
  return parts;
}

/** Whether files in `dir` can be opened with O_DIRECT (not on tmpfs, for one). */
function directAllowed(dir: string): boolean {
  const probe = path.join(dir, 'probe');
  try {
    fs.closeSync(fs.openSync(probe, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_DIRECT, 0o600));
    return true;
  } catch {
    return false;
  } finally {
    fs.rmSync(probe, { force: true });
  }
}

describe('image file', () => {
  let dir: string;
  const saved = process.env.DMTCP_DIRECT_IO;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmtcp-image-file-'));
  });

  afterEach(() => {
    if (saved === undefined) delete process.env.DMTCP_DIRECT_IO;
    else process.env.DMTCP_DIRECT_IO = saved;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function writeAndCheck(parts: Buffer[], durable = true): Promise<ImageFile> {
    const file = path.join(dir, 'image.tmp');
    const f = await ImageFile.create(file, durable);
    // Several appends of a few parts each, as the writer's batches are.
    for (let i = 0; i < parts.length; i += 3) await f.append(parts.slice(i, i + 3));
    const header = Buffer.from('HEADER-REWRITTEN');
    await f.finish();
    await f.writeAt(header, 0);
    await f.sync();
    await f.close();
    const expected = Buffer.concat(parts);
    header.copy(expected, 0);
    const got = fs.readFileSync(file);
    assert.equal(got.length, expected.length);
    assert.ok(got.equals(expected), 'file content differs from the appended parts');
    assert.equal(f.position, expected.length);
    return f;
  }

  it('keeps every byte in order across the switch to O_DIRECT, with an unaligned tail', async () => {
    const f = await writeAndCheck(randomParts(21 * MiB + 1234, 7));
    assert.equal(f.usedDirect, directAllowed(dir));
  });

  it('switches in the middle of a part at any offset', async () => {
    // The 8 MiB mark falls inside one large part, 3 bytes past an aligned offset.
    const f = await writeAndCheck([crypto.randomBytes(8 * MiB - 4093), crypto.randomBytes(6 * MiB + 5), crypto.randomBytes(17)]);
    assert.equal(f.usedDirect, directAllowed(dir));
  });

  it('stays in the page cache for small images, non-durable files and DMTCP_DIRECT_IO=0', async () => {
    assert.equal((await writeAndCheck(randomParts(3 * MiB, 1))).usedDirect, false);
    fs.rmSync(path.join(dir, 'image.tmp'));
    assert.equal((await writeAndCheck(randomParts(12 * MiB, 2), false)).usedDirect, false);
    fs.rmSync(path.join(dir, 'image.tmp'));
    process.env.DMTCP_DIRECT_IO = '0';
    assert.equal((await writeAndCheck(randomParts(12 * MiB, 3))).usedDirect, false);
  });

  it('refuses to replace an existing file', async () => {
    const file = path.join(dir, 'exists');
    fs.writeFileSync(file, 'x');
    await assert.rejects(ImageFile.create(file, true), /EEXIST/);
  });
});
