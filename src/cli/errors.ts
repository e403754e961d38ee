// Errors a command reports as one line and an exit code; anything else is a bug and shows its stack.
import { UsageError } from './args';
import { ImageError } from '../pipeline/image-reader';

/** A failure the user can act on; `code` is the process exit status (1-127). */
export class CliError extends Error {
  constructor(message: string, readonly code = 1) {
    super(message);
    this.name = 'CliError';
  }
}

export const EXIT_USAGE = 2;
export const EXIT_IMAGE = 3;
export const EXIT_COORDINATOR = 4;

/** Prints an error for `command` as one line on stderr and returns the exit code. */
export function reportError(command: string, e: unknown): number {
  if (e instanceof UsageError) {
    process.stderr.write(`${command}: ${e.message}\n`);
    return EXIT_USAGE;
  }
  if (e instanceof CliError) {
    process.stderr.write(`${command}: ${e.message}\n`);
    return e.code;
  }
  if (e instanceof ImageError) {
    process.stderr.write(`${command}: ${e.message}\n`);
    return EXIT_IMAGE;
  }
  process.stderr.write(`${command}: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  return 70;
}

/** Runs a command's main() as a program: exit status from its result or its error. */
export function runMain(command: string, main: (argv: string[]) => Promise<number>): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.exitCode = reportError(command, e);
    },
  );
}
