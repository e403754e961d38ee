// A small, strict command-line parser for DMTCP-style options: -x VALUE, --long VALUE, --long=VALUE, flags.
// Unknown options are errors (never silently ignored); parsing may stop at the first operand (dmtcp_launch PROG).

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface OptionSpec {
  /** Canonical long name without dashes; the key in the result. */
  name: string;
  short?: string;
  aliases?: string[];
  /** Whether the option consumes a value. */
  value?: boolean;
  /** Options that may repeat collect every value. */
  repeat?: boolean;
  help: string;
  /** Placeholder for help output. */
  arg?: string;
}

export interface Parsed {
  options: Map<string, string | true | string[]>;
  operands: string[];
}

export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[], opts: { stopAtOperand?: boolean } = {}): Parsed {
  const byName = new Map<string, OptionSpec>();
  for (const s of specs) {
    byName.set(`--${s.name}`, s);
    if (s.short) byName.set(`-${s.short}`, s);
    for (const a of s.aliases ?? []) byName.set(a.startsWith('-') ? a : `--${a}`, s);
  }
  const options = new Map<string, string | true | string[]>();
  const operands: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      operands.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      if (opts.stopAtOperand) {
        operands.push(...argv.slice(i));
        break;
      }
      operands.push(arg);
      continue;
    }
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const key = eq > 0 ? arg.slice(0, eq) : arg;
    const spec = byName.get(key);
    if (!spec) throw new UsageError(`unknown option ${key}; see --help`);
    let value: string | true = true;
    if (spec.value) {
      if (eq > 0) value = arg.slice(eq + 1);
      else if (i + 1 < argv.length) value = argv[++i];
      else throw new UsageError(`option ${key} needs a value (${spec.arg ?? 'VALUE'})`);
    } else if (eq > 0) {
      throw new UsageError(`option ${key} takes no value`);
    }
    if (spec.repeat) {
      const prev = options.get(spec.name);
      options.set(spec.name, [...(Array.isArray(prev) ? prev : []), String(value)]);
    } else {
      options.set(spec.name, value);
    }
  }
  return { options, operands };
}

export function helpText(usage: string, specs: readonly OptionSpec[], footer = ''): string {
  const rows = specs.map((s) => {
    const names = [s.short ? `-${s.short}` : '', `--${s.name}`].filter(Boolean).join(', ');
    return [`  ${names}${s.value ? ` ${s.arg ?? 'VALUE'}` : ''}`, s.help] as const;
  });
  const width = Math.min(40, Math.max(...rows.map((r) => r[0].length)) + 2);
  const body = rows.map(([l, r]) => (l.length >= width ? `${l}\n${' '.repeat(width)}${r}` : l.padEnd(width) + r)).join('\n');
  return `${usage}\n\nOptions:\n${body}\n${footer ? `\n${footer}\n` : ''}`;
}

export function optString(p: Parsed, name: string): string | undefined {
  const v = p.options.get(name);
  return typeof v === 'string' ? v : undefined;
}

export function optFlag(p: Parsed, name: string): boolean {
  return p.options.has(name);
}

export function optList(p: Parsed, name: string): string[] {
  const v = p.options.get(name);
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

/** An integer option, checked against a range, with the exact message users see. */
export function optInt(p: Parsed, name: string, min: number, max: number): number | undefined {
  const v = optString(p, name);
  if (v === undefined) return undefined;
  return parseIntStrict(v, `--${name}`, min, max);
}

export function parseIntStrict(v: string, what: string, min: number, max: number): number {
  if (!/^\d+$/.test(v.trim())) throw new UsageError(`${what} must be a whole number, got ${JSON.stringify(v)}`);
  const n = Number(v.trim());
  if (n < min || n > max) throw new UsageError(`${what} must be between ${min} and ${max}, got ${n}`);
  return n;
}
