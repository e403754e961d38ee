// The detached decoder dmtcp_restart starts for each image: writes the image's restore stream into the pipe mtcp_restart
// reads, or an ERROR record naming what was wrong, then exits. Not a user command.
import * as fs from 'node:fs';
import { Pipeline } from '../pipeline/pipeline';
import { defaultPlugins } from '../plugins';
import { errorRecord, openForRestart, writeRestoreStream } from '../pipeline/restore-decoder';
import { parseArgs, optString } from './args';

export async function main(argv: string[]): Promise<number> {
  const p = parseArgs(argv, [
    { name: 'image', value: true, help: 'image to decode' },
    { name: 'fd', value: true, help: 'pipe to write the restore stream into' },
    { name: 'info', value: true, help: 'restart information, base64 JSON' },
    { name: 'ack-fd', value: true, help: 'pipe on which the restorer reports its areas mapped (direct writes)' },
  ]);
  const ack = optString(p, 'ack-fd');
  const ackFd = ack === undefined ? undefined : Number(ack);
  const image = optString(p, 'image') ?? '';
  const fd = Number(optString(p, 'fd'));
  const info = new Map<number, string>(JSON.parse(Buffer.from(optString(p, 'info') ?? 'W10=', 'base64').toString('utf8')) as [number, string][]);
  const pipeline = new Pipeline(defaultPlugins());
  try {
    const { reader, ctx } = openForRestart(pipeline, image, info);
    try {
      await writeRestoreStream(pipeline, reader, ctx, fd, { ackFd });
    } finally {
      reader.close();
    }
    return 0;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    try {
      fs.writeSync(fd, errorRecord(message));
    } catch {
      // the restorer is gone; nobody is left to tell
    }
    process.stderr.write(`dmtcp_restart decoder: ${message}\n`);
    return 1;
  } finally {
    fs.closeSync(fd);
    if (ackFd !== undefined) fs.closeSync(ackFd);
    await pipeline.close();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code), () => process.exit(70));
}
