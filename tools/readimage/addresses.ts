// Parsing the addresses people type on readimage's command line: hex with or without 0x, and START-END ranges.
import { UsageError } from '../../src/cli/args';

const MAX = (1n << 64n) - 1n;

/** A hex address ("7f12a000", "0x7f12a000"); `what` names the option in the error. */
export function parseAddress(text: string, what: string): bigint {
  const t = text.trim();
  if (!/^(0[xX])?[0-9a-fA-F]+$/.test(t)) throw new UsageError(`${what} must be a hex address such as 0x7f0000001000, got ${JSON.stringify(text)}`);
  const v = BigInt(/^0[xX]/.test(t) ? t : `0x${t}`);
  if (v > MAX) throw new UsageError(`${what} ${JSON.stringify(text)} does not fit in 64 bits`);
  return v;
}

/** "START-END" in hex, END exclusive, START below END. */
export function parseRange(text: string, what: string): { start: bigint; end: bigint } {
  const parts = text.split('-');
  if (parts.length !== 2 || !parts[0].trim() || !parts[1].trim()) {
    throw new UsageError(`${what} must be START-END in hex, such as 0x7f0000001000-0x7f0000003000, got ${JSON.stringify(text)}`);
  }
  const start = parseAddress(parts[0], `${what} start`);
  const end = parseAddress(parts[1], `${what} end`);
  if (start >= end) throw new UsageError(`${what} start must be below its end, got ${JSON.stringify(text)}`);
  return { start, end };
}
