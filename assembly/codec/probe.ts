// Entropy probe: classifies fixed-size input segments as random (store raw) or worth compressing.
import { BYTE_HIST, PROBE_FLAGS, countWordBytes } from './layout';

/** Inputs are classified in segments of this many bytes (a divisor of BLOCK_MAX). */
export const PROBE_SEGMENT: u32 = 16384;
/** Segments shorter than this are never called random (too few samples to be sure). */
const PROBE_MIN_SEGMENT: u32 = 4096;
/** Each segment is sampled as SAMPLE_RUNS runs of SAMPLE_RUN contiguous bytes spread over it. */
const SAMPLE_RUN: u32 = 256;
const SAMPLE_RUNS: u32 = 4;
const SAMPLE_BYTES: u32 = SAMPLE_RUN * SAMPLE_RUNS;
/**
 * For n uniformly random bytes the sum of squared byte counts is about n + n(n-1)/256 (5116 for
 * n = 1024) with a standard deviation near 90. Anything with real structure (text, code, numbers,
 * sparse data) lands far above; a segment under this threshold (+5.7 sigma) is treated as random.
 */
const RANDOM_SQUARES_LIMIT: u32 = 5632;

/** Sum over byte values of (count^2) for SAMPLE_BYTES bytes sampled from [ptr, ptr + len). */
function sampledSquares(ptr: usize, len: u32): u32 {
  const hist = BYTE_HIST; // four interleaved u32[256] tables, zero on entry and on exit
  const stride = (len - SAMPLE_RUN) / (SAMPLE_RUNS - 1);
  for (let r: u32 = 0; r < SAMPLE_RUNS; r++) {
    const run = ptr + <usize>(r * stride);
    for (let i: u32 = 0; i < SAMPLE_RUN; i += 4) {
      countWordBytes(load<u32>(run + i));
    }
  }
  let squares: u32 = 0;
  for (let s: usize = 0; s < 256; s++) {
    const p = hist + (s << 2);
    const count = load<u32>(p) + load<u32>(p, 1024) + load<u32>(p, 2048) + load<u32>(p, 3072);
    squares += count * count;
    store<u32>(p, 0);
    store<u32>(p, 0, 1024);
    store<u32>(p, 0, 2048);
    store<u32>(p, 0, 3072);
  }
  return squares;
}

/**
 * Writes one flag byte per PROBE_SEGMENT of the input to PROBE_FLAGS (1 = looks random) and
 * returns how many segments look random. The input must be at most 65536 segments long.
 */
export function classifySegments(ptr: usize, len: u32): u32 {
  memory.fill(BYTE_HIST, 0, 4096);
  let randomCount: u32 = 0;
  let segment: u32 = 0;
  for (let at: u32 = 0; at < len; at += PROBE_SEGMENT) {
    const segLen = min<u32>(PROBE_SEGMENT, len - at);
    const random = segLen >= PROBE_MIN_SEGMENT && sampledSquares(ptr + at, segLen) < RANDOM_SQUARES_LIMIT;
    store<u8>(PROBE_FLAGS + segment, random ? 1 : 0);
    if (random) randomCount++;
    segment++;
  }
  return randomCount;
}

/** Flag written by classifySegments for the segment holding byte `at`. */
@inline
export function segmentIsRandom(at: u32): bool {
  return load<u8>(PROBE_FLAGS + (at / PROBE_SEGMENT)) != 0;
}
