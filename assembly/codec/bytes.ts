// Byte-range primitives with a SIMD and a scalar body chosen at compile time; both give identical results.

/** True if all `len` bytes at `ptr` equal `value`. */
export function allEqual(ptr: usize, len: usize, value: u8): bool {
  const end = ptr + len;
  if (ASC_FEATURE_SIMD) {
    const pattern = i8x16.splat(<i8>value);
    // 128 bytes per step: OR the differences together and test once.
    while (ptr + 128 <= end) {
      let diff = v128.or(v128.xor(v128.load(ptr), pattern), v128.xor(v128.load(ptr, 16), pattern));
      diff = v128.or(diff, v128.or(v128.xor(v128.load(ptr, 32), pattern), v128.xor(v128.load(ptr, 48), pattern)));
      diff = v128.or(diff, v128.or(v128.xor(v128.load(ptr, 64), pattern), v128.xor(v128.load(ptr, 80), pattern)));
      diff = v128.or(diff, v128.or(v128.xor(v128.load(ptr, 96), pattern), v128.xor(v128.load(ptr, 112), pattern)));
      if (v128.any_true(diff)) return false;
      ptr += 128;
    }
    while (ptr + 16 <= end) {
      if (v128.any_true(v128.xor(v128.load(ptr), pattern))) return false;
      ptr += 16;
    }
  } else {
    const pattern: u64 = <u64>value * 0x0101010101010101;
    while (ptr + 64 <= end) {
      let diff = (load<u64>(ptr) ^ pattern) | (load<u64>(ptr, 8) ^ pattern);
      diff |= (load<u64>(ptr, 16) ^ pattern) | (load<u64>(ptr, 24) ^ pattern);
      diff |= (load<u64>(ptr, 32) ^ pattern) | (load<u64>(ptr, 40) ^ pattern);
      diff |= (load<u64>(ptr, 48) ^ pattern) | (load<u64>(ptr, 56) ^ pattern);
      if (diff != 0) return false;
      ptr += 64;
    }
    while (ptr + 8 <= end) {
      if ((load<u64>(ptr) ^ pattern) != 0) return false;
      ptr += 8;
    }
  }
  while (ptr < end) {
    if (load<u8>(ptr) != value) return false;
    ptr++;
  }
  return true;
}

/**
 * Number of equal bytes at `a` and `b`, comparing forward until `a` reaches `limit`.
 * `b` must be below `a` so that every byte read from `b` is also below `limit`.
 */
export function matchLength(a: usize, b: usize, limit: usize): u32 {
  const start = a;
  if (ASC_FEATURE_SIMD) {
    // Most matches are short: settle them with one scalar word before going 16 bytes at a time.
    if (a + 8 <= limit) {
      const diff = load<u64>(a) ^ load<u64>(b);
      if (diff != 0) return <u32>(ctz<u64>(diff) >> 3);
      a += 8;
      b += 8;
    }
    while (a + 16 <= limit) {
      const equal = i8x16.bitmask(i8x16.eq(v128.load(a), v128.load(b)));
      if (equal != 0xffff) return <u32>(a - start) + ctz<u32>(~equal);
      a += 16;
      b += 16;
    }
  }
  while (a + 8 <= limit) {
    const diff = load<u64>(a) ^ load<u64>(b);
    if (diff != 0) return <u32>(a - start) + <u32>(ctz<u64>(diff) >> 3);
    a += 8;
    b += 8;
  }
  while (a < limit && load<u8>(a) == load<u8>(b)) {
    a++;
    b++;
  }
  return <u32>(a - start);
}

/** Copies 16 bytes; source and destination must not overlap within those 16 bytes. */
@inline
export function copy16(dst: usize, src: usize): void {
  if (ASC_FEATURE_SIMD) {
    v128.store(dst, v128.load(src));
  } else {
    store<u64>(dst, load<u64>(src));
    store<u64>(dst, load<u64>(src, 8), 8);
  }
}

/**
 * Copies `len` bytes in 16-byte steps, possibly writing up to 15 bytes past dst + len and reading
 * up to 15 bytes past src + len. Overlap is allowed when dst >= src + 16 (each step reads bytes
 * that earlier steps already wrote).
 */
@inline
export function wildCopy(dst: usize, src: usize, len: usize): void {
  const end = dst + len;
  do {
    copy16(dst, src);
    dst += 16;
    src += 16;
  } while (dst < end);
}

/**
 * Exact copy of a match of `len` bytes whose source starts `offset` bytes before `dst`, for any
 * offset >= 1. Overlapping matches repeat the last `offset` bytes; the periodic prefix doubles
 * with each memory.copy so long runs cost O(log(len / offset)) calls.
 */
export function copyMatchExact(dst: usize, offset: usize, len: usize): void {
  if (offset == 1) {
    memory.fill(dst, load<u8>(dst - 1), len);
    return;
  }
  const from = dst - offset;
  let done: usize = 0;
  while (done < len) {
    const available = dst + done - from; // a multiple of offset until the final step
    const n = min<usize>(available, len - done);
    memory.copy(dst + done, from, n);
    done += n;
  }
}
