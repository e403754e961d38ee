// readimage show IMAGE --plugins: the sections plugins added to an image, each with its size and a hex and ASCII
// preview (base64 payloads with --json).
import { helpText, optFlag, parseArgs, UsageError, type OptionSpec } from '../../src/cli/args';
import { ImageReader } from '../../src/pipeline/image-reader';
import { bytes, printJson } from './text';

export const SHOW_USAGE = 'Usage: readimage show IMAGE --plugins [--json]';

const OPTIONS: OptionSpec[] = [
  { name: 'plugins', help: 'the plugin sections: name, size and the first bytes' },
  { name: 'json', help: 'print one JSON document, payloads in base64' },
  { name: 'help', help: 'print this help' },
];

/** Bytes shown per section in the text preview. */
export const PREVIEW_BYTES = 64;

/** Classic hex dump lines: offset, 16 bytes in hex, the same bytes as ASCII ('.' for the rest). */
export function hexPreview(data: Uint8Array, limit = PREVIEW_BYTES): string[] {
  const lines: string[] = [];
  const shown = data.subarray(0, limit);
  for (let off = 0; off < shown.length; off += 16) {
    const row = shown.subarray(off, off + 16);
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0'));
    const left = hex.slice(0, 8).join(' ');
    const right = hex.slice(8).join(' ');
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${off.toString(16).padStart(8, '0')}  ${left.padEnd(23)}  ${right.padEnd(23)}  |${ascii}|`);
  }
  if (data.length > limit) lines.push(`... ${data.length - limit} more bytes`);
  return lines;
}

export interface PluginSection {
  name: string;
  size: number;
  base64: string;
}

export function pluginSections(reader: ImageReader): PluginSection[] {
  return [...reader.plugins].map(([name, data]) => ({ name, size: data.length, base64: data.toString('base64') }));
}

export function pluginsText(file: string, reader: ImageReader): string {
  if (reader.plugins.size === 0) return `${file}: no plugin sections\n`;
  const out = [`${file}: ${reader.plugins.size} plugin section${reader.plugins.size === 1 ? '' : 's'}`];
  for (const [name, data] of reader.plugins) {
    out.push(`${name} (${bytes(data.length)}${data.length >= 1024 ? `, ${data.length} bytes` : ''}):`);
    out.push(...(data.length ? hexPreview(data).map((l) => `  ${l}`) : ['  (empty)']));
  }
  return out.join('\n') + '\n';
}

export async function showMain(argv: string[]): Promise<number> {
  const p = parseArgs(argv, OPTIONS);
  if (optFlag(p, 'help')) {
    process.stdout.write(helpText(`${SHOW_USAGE}\nShows one part of an image in full. --plugins: the sections that plugins added (ctx.sections at checkpoint).`, OPTIONS));
    return 0;
  }
  if (p.operands.length !== 1) throw new UsageError(`show needs one image, got ${p.operands.length}; ${SHOW_USAGE}`);
  if (!optFlag(p, 'plugins')) throw new UsageError(`show needs to be told what to show: --plugins; ${SHOW_USAGE}`);
  const [file] = p.operands;
  const reader = ImageReader.open(file);
  try {
    if (optFlag(p, 'json')) printJson({ file, plugins: pluginSections(reader) });
    else process.stdout.write(pluginsText(file, reader));
    return 0;
  } finally {
    reader.close();
  }
}
