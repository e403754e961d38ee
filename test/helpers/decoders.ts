// Restart decoders are detached processes (dmtcp_restart replaces itself with the restorer): tests find theirs by
// the images named in the decoder's arguments.
import * as fs from 'node:fs';

/** Pids of restart decoders still working on images whose path contains `where` (an image, or a directory). */
export function decodersIn(where: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;   // gone meanwhile
    }
    const jobs = argv.indexOf('--jobs');
    if (!argv.some((a) => a.endsWith('restore-decoder.js')) || jobs < 0) continue;
    if (Buffer.from(argv[jobs + 1], 'base64').toString('utf8').includes(where)) pids.push(Number(entry));
  }
  return pids;
}
