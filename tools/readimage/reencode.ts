// readimage reencode IMAGE -o OUT: decodes an image and writes it again through the image stage and the pipeline
// (src/pipeline/reencode.ts), then compares the two files: identical, or the first offset where they differ.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { helpText, optFlag, optString, parseArgs, UsageError, type OptionSpec } from '../../src/cli/args';
import { CliError } from '../../src/cli/errors';
import { blockKindName, FILE_HEADER_SIZE } from '../../src/pipeline/image-format';
import { ImageReader } from '../../src/pipeline/image-reader';
import { Pipeline } from '../../src/pipeline/pipeline';
import { blocksOf, reencodeImage } from '../../src/pipeline/reencode';
import { defaultPlugins } from '../../src/plugins';
import { errnoText, printJson } from './text';

export const REENCODE_USAGE = 'Usage: readimage reencode IMAGE -o OUT [--json]';

const OPTIONS: OptionSpec[] = [
  { name: 'output', short: 'o', value: true, arg: 'OUT', help: 'the new image (not IMAGE itself)' },
  { name: 'json', help: 'print one JSON document' },
  { name: 'help', help: 'print this help' },
];

/** The first offset at which two files differ (the shorter one's size when one is a prefix), or null. */
export function firstDifference(a: string, b: string): number | null {
  const fa = fs.openSync(a, 'r');
  const fb = fs.openSync(b, 'r');
  try {
    const ba = Buffer.alloc(1 << 20);
    const bb = Buffer.alloc(1 << 20);
    for (let pos = 0; ; ) {
      const na = fs.readSync(fa, ba, 0, ba.length, pos);
      const nb = fs.readSync(fb, bb, 0, bb.length, pos);
      const n = Math.min(na, nb);
      for (let i = 0; i < n; i++) if (ba[i] !== bb[i]) return pos + i;
      if (na !== nb) return pos + n;
      if (na === 0) return null;
      pos += n;
    }
  } finally {
    fs.closeSync(fa);
    fs.closeSync(fb);
  }
}

function sameFile(a: string, b: string): boolean {
  if (path.resolve(a) === path.resolve(b)) return true;
  try {
    const sa = fs.statSync(a);
    const sb = fs.statSync(b);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}

/** Which part of an image an offset falls in: "file header", "trailer", or "<KIND> block at offset N". */
export function partAt(reader: ImageReader, offset: number): string {
  if (offset < FILE_HEADER_SIZE) return 'the file header';
  for (const b of blocksOf(reader)) if (offset < b.at + b.header.span) return `the ${blockKindName(b.header.kind)} block at offset ${b.at}`;
  return 'the trailer';
}

export interface ReencodeReport {
  input: string;
  output: string;
  identical: boolean;
  firstDifference: number | null;
  /** The part of the input image where the first difference is. */
  where: string | null;
  inputBytes: number;
  outputBytes: number;
  blocks: number;
  chunks: number;
  recoded: number;
}

export async function reencodeMain(argv: string[]): Promise<number> {
  const p = parseArgs(argv, OPTIONS);
  if (optFlag(p, 'help')) {
    process.stdout.write(helpText(`${REENCODE_USAGE}\nDecodes every chunk of IMAGE (checking every checksum), encodes it again with the same codec, writes OUT with the\nsame blocks, and compares: an image this project wrote must come out byte for byte the same.\nExit status 0 when OUT is identical to IMAGE, 1 when it differs.`, OPTIONS));
    return 0;
  }
  if (p.operands.length !== 1) throw new UsageError(`reencode needs one image, got ${p.operands.length}; ${REENCODE_USAGE}`);
  const output = optString(p, 'output');
  if (output === undefined) throw new UsageError(`reencode needs -o OUT, the file to write; ${REENCODE_USAGE}`);
  const [input] = p.operands;
  if (sameFile(input, output)) {
    throw new UsageError(`-o ${output} is the input image itself; name another file`);
  }
  const reader = ImageReader.open(input);
  const pipeline = new Pipeline(defaultPlugins());
  let report: ReencodeReport;
  try {
    const r = await reencodeImage(pipeline, reader, output).catch((e: NodeJS.ErrnoException) => {
      if (typeof e.code === 'string' && e.syscall) throw new CliError(`cannot write ${output}: ${errnoText(e)}`);
      throw e;
    });
    ImageReader.open(output).close();   // the new image must stand on its own
    const diff = firstDifference(input, output);
    report = {
      input, output, identical: diff === null, firstDifference: diff, where: diff === null ? null : partAt(reader, diff),
      inputBytes: reader.size, outputBytes: r.bytes, blocks: r.blocks, chunks: r.chunks, recoded: r.recoded,
    };
  } finally {
    reader.close();
    await pipeline.close();
  }
  if (optFlag(p, 'json')) printJson(report);
  else if (report.identical) process.stdout.write(`${output}: identical to ${input} (${report.outputBytes} bytes, ${report.blocks} blocks, ${report.chunks} chunks decoded and encoded again)\n`);
  else process.stdout.write(`${output}: differs from ${input} at offset ${report.firstDifference}, in ${report.where} (${report.recoded} of ${report.chunks} chunks encoded differently; ${report.outputBytes} bytes written, ${report.inputBytes} read)\n`);
  return report.identical ? 0 : 1;
}
