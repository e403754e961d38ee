// XXH64, the 64-bit xxHash, written from its published specification.

const PRIME1: u64 = 0x9e3779b185ebca87;
const PRIME2: u64 = 0xc2b2ae3d27d4eb4f;
const PRIME3: u64 = 0x165667b19e3779f9;
const PRIME4: u64 = 0x85ebca77c2b2ae63;
const PRIME5: u64 = 0x27d4eb2f165667c5;

@inline
function round(acc: u64, lane: u64): u64 {
  return rotl<u64>(acc + lane * PRIME2, 31) * PRIME1;
}

@inline
function mergeRound(acc: u64, lane: u64): u64 {
  return (acc ^ round(0, lane)) * PRIME1 + PRIME4;
}

/** Folds 32-byte stripes into four lanes; returns the converged accumulator. `len` must be >= 32. */
function consumeStripes(ptr: usize, len: usize, seed: u64): u64 {
  let v1 = seed + PRIME1 + PRIME2;
  let v2 = seed + PRIME2;
  let v3 = seed;
  let v4 = seed - PRIME1;
  const last = ptr + len - 32;
  do {
    v1 = round(v1, load<u64>(ptr));
    v2 = round(v2, load<u64>(ptr, 8));
    v3 = round(v3, load<u64>(ptr, 16));
    v4 = round(v4, load<u64>(ptr, 24));
    ptr += 32;
  } while (ptr <= last);
  let acc = rotl<u64>(v1, 1) + rotl<u64>(v2, 7) + rotl<u64>(v3, 12) + rotl<u64>(v4, 18);
  acc = mergeRound(acc, v1);
  acc = mergeRound(acc, v2);
  acc = mergeRound(acc, v3);
  acc = mergeRound(acc, v4);
  return acc;
}

/** XXH64 of `len` bytes at `ptr`. */
export function hash64(ptr: usize, len: usize, seed: u64): u64 {
  let acc: u64;
  let p = ptr;
  const end = ptr + len;
  if (len >= 32) {
    acc = consumeStripes(ptr, len, seed);
    p += len & ~(<usize>31);
  } else {
    acc = seed + PRIME5;
  }
  acc += <u64>len;
  while (p + 8 <= end) {
    acc = rotl<u64>(acc ^ round(0, load<u64>(p)), 27) * PRIME1 + PRIME4;
    p += 8;
  }
  if (p + 4 <= end) {
    acc = rotl<u64>(acc ^ (<u64>load<u32>(p) * PRIME1), 23) * PRIME2 + PRIME3;
    p += 4;
  }
  while (p < end) {
    acc = rotl<u64>(acc ^ (<u64>load<u8>(p) * PRIME5), 11) * PRIME1;
    p++;
  }
  acc ^= acc >> 33;
  acc *= PRIME2;
  acc ^= acc >> 29;
  acc *= PRIME3;
  acc ^= acc >> 32;
  return acc;
}
