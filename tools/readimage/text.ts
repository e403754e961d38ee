// Plain-text output helpers shared by readimage's commands: aligned tables and human-readable byte sizes.

/** Rows under a header, columns padded to the widest cell; the last column is left ragged. */
export function table(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => '  ' + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)];
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** Like bytes(), with larger units for the sizes of address ranges (terabytes of unmapped space are common). */
export function spanBytes(n: number): string {
  const units = ['TiB', 'PiB', 'EiB'];
  if (n < 1024 ** 4) return bytes(n);
  let v = n / 1024 ** 4;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(2)} ${units[u]}`;
}

/** Writes one JSON document to stdout, the way every readimage command does. */
export function printJson(doc: unknown): void {
  process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
}

/** A short reason for a failed file operation: "no such file or directory", "permission denied", else the code. */
export function errnoText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const known: Record<string, string> = { ENOENT: 'no such file or directory', EACCES: 'permission denied', EISDIR: 'is a directory', ENOSPC: 'no space left on device', EROFS: 'read-only file system' };
  return (err.code && known[err.code]) ?? err.code ?? err.message;
}
