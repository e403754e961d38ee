// A one-line progress bar on a terminal, for operations that take longer than a second (dmtcp_command -bc,
// dmtcp_restart). Nothing is drawn when the output is not a terminal; the line is erased when the work ends.

export interface ProgressOutput {
  readonly isTTY?: boolean;
  readonly columns?: number;
  write(text: string): unknown;
}

export interface ProgressBarOptions {
  /** What is in progress: "checkpoint", "restart". */
  label: string;
  /** Nothing is drawn before this much time has passed (default 1000 ms): quick work shows no bar. */
  delayMs?: number;
  /** Redraws at most this often (default 100 ms), except the last. */
  intervalMs?: number;
  /** False turns the bar off; it is drawn only on a terminal in any case. */
  enabled?: boolean;
  now?: () => number;
}

/** Whether a command should show progress: stdout and stderr are terminals and DMTCP_PROGRESS is not 0. */
export function progressWanted(env: NodeJS.ProcessEnv = process.env, out: { isTTY?: boolean } = process.stdout, err: { isTTY?: boolean } = process.stderr): boolean {
  return env.DMTCP_PROGRESS !== '0' && out.isTTY === true && err.isTTY === true;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** The bar's text for `columns` terminal columns (no control characters): label, bar, percentage, bytes. */
export function renderBar(label: string, done: number, total: number, columns = 80): string {
  const width = Math.max(20, Math.min(columns, 200)) - 1;   // the last column would wrap on some terminals
  if (total <= 0) return `${label}  ${formatBytes(done)}`.slice(0, width);
  const shown = Math.min(done, total);
  const pct = Math.floor((shown / total) * 100);
  const tail = ` ${String(pct).padStart(3)}%  ${formatBytes(shown)} of ${formatBytes(total)}`;
  const barWidth = width - label.length - 3 - tail.length;
  if (barWidth < 10) return `${label}${tail}`.slice(0, width);
  const filled = Math.round((shown / total) * barWidth);
  return `${label} [${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]${tail}`;
}

export class ProgressBar {
  private readonly started: number;
  private readonly delayMs: number;
  private readonly intervalMs: number;
  private readonly enabled: boolean;
  private readonly now: () => number;
  private lastDraw = -Infinity;
  private drawn = false;
  private finished = false;

  constructor(private readonly out: ProgressOutput, private readonly opts: ProgressBarOptions) {
    this.now = opts.now ?? Date.now;
    this.started = this.now();
    this.delayMs = opts.delayMs ?? 1000;
    this.intervalMs = opts.intervalMs ?? 100;
    this.enabled = (opts.enabled ?? true) && out.isTTY === true;
  }

  /** Shows `done` of `total` bytes (total 0: unknown), once the delay has passed and not too often. */
  update(done: number, total: number): void {
    if (!this.enabled || this.finished) return;
    const t = this.now();
    if (t - this.started < this.delayMs || t - this.lastDraw < this.intervalMs) return;
    this.lastDraw = t;
    this.drawn = true;
    this.out.write(`\r${renderBar(this.opts.label, done, total, this.out.columns || 80)}\x1b[K`);
  }

  /** Erases the bar, if one was drawn; later updates draw nothing. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.drawn) this.out.write('\r\x1b[K');
  }
}
