// readimage map IMAGE -o FILE.svg|FILE.html: a picture of the process's address space for people.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { helpText, optFlag, optString, parseArgs, UsageError, type OptionSpec } from '../../src/cli/args';
import { CliError } from '../../src/cli/errors';
import { ImageReader } from '../../src/pipeline/image-reader';
import { layout, mapInput } from './map-layout';
import { renderHtml, renderSvg } from './map-render';
import { errnoText } from './text';

export const MAP_USAGE = 'Usage: readimage map IMAGE -o FILE.svg|FILE.html';

const OPTIONS: OptionSpec[] = [
  { name: 'output', short: 'o', value: true, arg: 'FILE', help: 'where to write the picture; .svg or .html decides the format' },
  { name: 'help', help: 'print this help' },
];

export async function mapMain(argv: string[]): Promise<number> {
  const p = parseArgs(argv, OPTIONS);
  if (optFlag(p, 'help')) {
    process.stdout.write(helpText(`${MAP_USAGE}\nDraws every memory area of the image in address order, its height growing with the logarithm of its size (gaps\nbetween areas are drawn as breaks), colored by kind, with a strip showing which of its pages the image stores,\nleaves to the mapped file, or knows to be zero. Hover over an area for its details. The file is self-contained.`, OPTIONS));
    return 0;
  }
  if (p.operands.length !== 1) throw new UsageError(`map needs one image, got ${p.operands.length}; ${MAP_USAGE}`);
  const output = optString(p, 'output');
  if (output === undefined) throw new UsageError(`map needs -o FILE.svg or -o FILE.html; ${MAP_USAGE}`);
  const format = path.extname(output).toLowerCase();
  if (format !== '.svg' && format !== '.html') throw new UsageError(`map writes .svg or .html files, got -o ${output}`);
  const [file] = p.operands;
  const reader = ImageReader.open(file);
  let text: string;
  try {
    const input = mapInput(reader, path.basename(file));
    const l = layout(input);
    text = format === '.svg' ? renderSvg(input, l) : renderHtml(input, l);
  } finally {
    reader.close();
  }
  try {
    fs.writeFileSync(output, text);
  } catch (e) {
    throw new CliError(`cannot write ${output}: ${errnoText(e)}`);
  }
  process.stdout.write(`${output}: map of ${file}, ${reader.areas.length} areas\n`);
  return 0;
}
