// Where readimage writes bytes that are not text: a file given with -o, or stdout when it is not a terminal,
// honouring back-pressure so a pipe to a slow reader never buffers a whole memory area.
import * as fs from 'node:fs';
import { UsageError } from '../../src/cli/args';
import { CliError } from '../../src/cli/errors';
import { errnoText } from './text';

export interface BinarySink {
  write(bytes: Uint8Array): Promise<void>;
  /** Finishes the output (a file is closed and kept); `ok` false removes a partial file. */
  close(ok: boolean): Promise<void>;
}

function cannot(file: string, e: unknown): CliError {
  return new CliError(`cannot write ${file}: ${errnoText(e)}`);
}

/** Throws when the output would be binary on a terminal (no -o, stdout a terminal). */
export function refuseTerminal(file: string | undefined, what: string): void {
  if (file === undefined && process.stdout.isTTY) {
    throw new UsageError(`${what} writes binary data; refusing to write it to a terminal: use -o FILE or redirect stdout`);
  }
}

/** A sink for `file`, or for stdout when `file` is undefined (refused on a terminal). */
export function openBinarySink(file: string | undefined, what: string): BinarySink {
  refuseTerminal(file, what);
  if (file === undefined) return streamSink(process.stdout, 'stdout', false);
  let fd: number;
  try {
    fd = fs.openSync(file, 'w', 0o644);
  } catch (e) {
    throw cannot(file, e);
  }
  return streamSink(fs.createWriteStream('', { fd }), file, true);
}

function streamSink(stream: NodeJS.WritableStream, name: string, own: boolean): BinarySink {
  let failed: NodeJS.ErrnoException | undefined;
  stream.on('error', (e: Error) => (failed ??= e));
  // A reader that stops early (`| head -c`) is not an error: the rest of the bytes are simply not wanted.
  const gone = () => !own && failed?.code === 'EPIPE';
  return {
    write(bytes: Uint8Array): Promise<void> {
      if (gone()) return Promise.resolve();
      if (failed) return Promise.reject(cannot(name, failed));
      // The stream keeps a reference to what it is given: hand it a copy, callers pass lent buffers.
      if (stream.write(Buffer.from(bytes))) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const settle = () => {
          stream.off('drain', settle);
          stream.off('error', settle);
          if (failed && !gone()) reject(cannot(name, failed));
          else resolve();
        };
        stream.once('drain', settle);
        stream.once('error', settle);
      });
    },
    async close(ok: boolean): Promise<void> {
      if (own) {
        // 'close' comes after the last write is done or after a failure, never neither.
        await new Promise<void>((resolve) => {
          stream.once('close', () => resolve());
          stream.end();
        });
      }
      if (own && !ok) fs.rmSync(name, { force: true });
      if (ok && failed && !gone()) throw cannot(name, failed);
    },
  };
}
