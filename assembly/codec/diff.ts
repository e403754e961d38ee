// diff.ts: the diff stage of incremental images: hashes every page of a staged chunk and says which pages differ
// from the previous generation's hashes, without copying the chunk (it is hashed where it was staged).
import { hash64 } from './xxh64';

/**
 * For each of the `len / pageSize` pages at `data`: writes its XXH64 (seed 0) as a u64 to `hashes`, and to
 * `changed` one byte, 1 when the page differs from the previous generation (`known` byte 0: the previous image held
 * no bytes for that address; or its u64 at `prev` differs), else 0. Returns the number of changed pages.
 * `len` must be a multiple of `pageSize`; the four output/input arrays must not overlap the data.
 */
export function pageDiff(data: usize, len: usize, pageSize: usize, prev: usize, known: usize, hashes: usize, changed: usize): u32 {
  const pages = len / pageSize;
  let count: u32 = 0;
  for (let i: usize = 0; i < pages; i++) {
    const h = hash64(data + i * pageSize, pageSize, 0);
    store<u64>(hashes + (i << 3), h);
    const differs: u32 = load<u8>(known + i) == 0 || load<u64>(prev + (i << 3)) != h ? 1 : 0;
    store<u8>(changed + i, <u8>differs);
    count += differs;
  }
  return count;
}
