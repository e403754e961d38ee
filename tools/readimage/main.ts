// readimage: shows what a .dmtcp image holds (header, memory areas, threads), as text or JSON, and verifies every
// checksum with --verify; subcommands compare two images (diff), take out an area's bytes (extract), show plugin
// sections (show), draw the address space (map) and round-trip an image through the encoder (reencode). It parses
// through the same WebAssembly stage and pipeline as dmtcp_restart.
import * as path from 'node:path';
import { helpText, optFlag, parseArgs, type OptionSpec } from '../../src/cli/args';
import { CliError, runMain } from '../../src/cli/errors';
import { ImageReader } from '../../src/pipeline/image-reader';
import { DIFF_USAGE, diffMain } from './diff';
import { EXTRACT_USAGE, extractMain } from './extract';
import { MAP_USAGE, mapMain } from './map';
import { REENCODE_USAGE, reencodeMain } from './reencode';
import { SHOW_USAGE, showMain } from './show';
import { summarize, summaryText } from './summary';
import { bytes } from './text';
import { verifyImage, type Verified } from './verify';

export { summarize, summaryText, type AreaSummary, type ImageSummary } from './summary';
export { verifyImage } from './verify';
export { bytes } from './text';

const OPTIONS: OptionSpec[] = [
  { name: 'json', help: 'print one JSON document instead of text' },
  { name: 'verify', help: 'decode every chunk and check every checksum (of an incremental image: through its parents)' },
  { name: 'help', help: 'print this help' },
];

/** Subcommands by the name given as the first argument; anything else is an image to summarize. */
export const SUBCOMMANDS: Readonly<Record<string, { usage: string; main: (argv: string[]) => Promise<number> }>> = Object.freeze({
  diff: { usage: DIFF_USAGE, main: diffMain },
  extract: { usage: EXTRACT_USAGE, main: extractMain },
  show: { usage: SHOW_USAGE, main: showMain },
  map: { usage: MAP_USAGE, main: mapMain },
  reencode: { usage: REENCODE_USAGE, main: reencodeMain },
});

const USAGE = [
  'Usage: readimage [--json] [--verify] IMAGE...',
  ...Object.values(SUBCOMMANDS).map((c) => c.usage.replace(/^Usage: /, '       ')),
  'Shows what a .dmtcp checkpoint image holds.',
].join('\n');

const FOOTER = [
  'Commands:',
  '  diff       which areas and pages differ between two images of one process',
  '  extract    the bytes of one memory area, as the process had them',
  '  show       the plugin sections of an image',
  '  map        a picture of the address space (SVG or HTML)',
  '  reencode   decode an image and write it again; must come out identical',
  'Run readimage COMMAND --help for a command\'s options. (An image file named like a command: write ./diff.)',
].join('\n');

export async function main(argv: string[]): Promise<number> {
  const sub = argv.length ? SUBCOMMANDS[argv[0]] : undefined;
  if (sub) return sub.main(argv.slice(1));
  const p = parseArgs(argv, OPTIONS);
  if (optFlag(p, 'help')) {
    process.stdout.write(helpText(USAGE, OPTIONS, FOOTER));
    return 0;
  }
  if (p.operands.length === 0) throw new CliError('no image given; usage: readimage [--json] [--verify] IMAGE...', 2);
  const json = optFlag(p, 'json');
  const docs: unknown[] = [];
  for (const file of p.operands) {
    const reader = ImageReader.open(file);
    const s = summarize(reader);
    reader.close();
    let verified: Verified | undefined;
    if (optFlag(p, 'verify')) verified = await verifyImage(file);
    if (json) {
      docs.push(verified ? { ...s, verified } : s);
    } else {
      process.stdout.write(summaryText(s));
      if (verified) {
        const chain = verified.parents.length
          ? `; ${verified.parentChunks} PARENT chunks (${bytes(verified.parentBytes)}) checked against ${verified.parents.length} parent image${verified.parents.length === 1 ? '' : 's'} (${verified.parents.map((f) => path.basename(f)).join(', ')})`
          : '';
        process.stdout.write(`verified: ${verified.chunks} chunks, ${bytes(verified.bytes)} decoded${chain}, every checksum matches\n`);
      }
    }
  }
  if (json) process.stdout.write(JSON.stringify(docs.length === 1 ? docs[0] : docs, null, 2) + '\n');
  return 0;
}

if (require.main === module) runMain('readimage', main);
