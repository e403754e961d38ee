// The detached decoder dmtcp_restart starts for a restart: one process for every image of it, sharing one worker
// pool. For each image it writes the restore stream into the pipe that image's mtcp_restart reads (or an ERROR record
// naming what was wrong), then exits. When one image fails, every stream not yet complete gets the error too: the
// computation cannot come back without that process. Not a user command.
import * as fs from 'node:fs';
import * as tty from 'node:tty';
import { Pipeline } from '../pipeline/pipeline';
import { defaultPlugins } from '../plugins';
import { errorRecord, lazyModeOf, openForRestart, writeRestoreStream } from '../pipeline/restore-decoder';
import { parseArgs, optString } from './args';
import { ProgressPlugin } from '../plugins/progress';
import { ProgressBar } from './progress-bar';

/** One image to decode: its stream pipe (write end) and its ack pipe (read end). */
export interface DecoderJob {
  image: string;
  fd: number;
  ack: number;
}

export async function main(argv: string[]): Promise<number> {
  const p = parseArgs(argv, [
    { name: 'jobs', value: true, help: 'the images and their pipes, base64 JSON [{image, fd, ack}]' },
    { name: 'info', value: true, help: 'restart information, base64 JSON' },
    { name: 'progress', value: true, help: 'FD:BYTES: draw a progress bar on terminal FD for BYTES of chunks' },
    { name: 'lazy', value: true, help: 'auto, on or off: which areas may be filled after the program resumes' },
    { name: 'report', value: true, help: 'FD: where to say why a process was killed after it resumed' },
  ]);
  const lazy = lazyModeOf(optString(p, 'lazy'));
  const reportFd = optString(p, 'report') !== undefined ? Number(optString(p, 'report')) : undefined;
  const jobs = JSON.parse(Buffer.from(optString(p, 'jobs') ?? 'W10=', 'base64').toString('utf8')) as DecoderJob[];
  const info = new Map<number, string>(JSON.parse(Buffer.from(optString(p, 'info') ?? 'W10=', 'base64').toString('utf8')) as [number, string][]);
  const pipeline = new Pipeline(defaultPlugins());
  const bar = progressBar(pipeline, optString(p, 'progress'));
  const done = new Set<DecoderJob>();
  let failure: string | undefined;
  // Called only between writes of the job's own stream, so the ERROR record never lands inside another record.
  const fail = (job: DecoderJob, message: string) => {
    if (done.has(job)) return;
    done.add(job);
    try {
      fs.writeSync(job.fd, errorRecord(message));
    } catch {
      // that restorer is gone; nobody is left to tell
    }
  };
  const run = async (job: DecoderJob) => {
    let resumed = false;
    try {
      const { reader, ctx } = openForRestart(pipeline, job.image, info);
      try {
        await writeRestoreStream(pipeline, reader, ctx, job.fd, {
          ackFd: job.ack,
          cancelled: () => failure !== undefined,
          lazy,
          onResumed: () => {
            resumed = true;
            bar?.finish();   // the program writes to this terminal now
          },
          // Seen with dmtcp_restart --debug (otherwise our stderr is /dev/null).
          onLazyDone: (s) => process.stderr.write(
            `dmtcp_restart: lazy restore of ${job.image}: ${(s.copied / 1048576).toFixed(1)} MiB filled while the program ran, in ${s.ms} ms; ` +
            `faults on missing pages ${s.faults}, zero pages ${s.zeroFaults}, dropped pages ${s.droppedPages}, moves ${s.remaps}\n`),
          onLazyRefused: (why) => process.stderr.write(
            `dmtcp_restart: no lazy restore of ${job.image}: ${why}; every page was put back before the program resumed\n`),
        });
      } finally {
        reader.close();
      }
      done.add(job);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (!resumed && failure !== undefined) {
        // Stopped because another image failed (the others notice between two of their writes).
        fail(job, `another process of the restart failed: ${failure}`);
        return;
      }
      if (failure === undefined) failure = message;
      process.stderr.write(`dmtcp_restart decoder: ${message}\n`);
      if (!resumed) {
        fail(job, message);
        return;
      }
      // Its stream is over and the restorer gone: only our report reaches the user.
      done.add(job);
      if (reportFd === undefined) return;
      try {
        fs.writeSync(reportFd, `dmtcp_restart: ${message.split('\n')[0]}\n`);
      } catch (err) {
        process.stderr.write(`cannot report on fd ${reportFd}: ${(err as Error).message}\n`);
      }
    }
  };
  try {
    await Promise.all(jobs.map(run));
    return failure === undefined ? 0 : 1;
  } finally {
    for (const job of jobs) {
      fs.closeSync(job.fd);
      fs.closeSync(job.ack);
    }
    bar?.finish();
    await pipeline.close();
  }
}

/** The bar dmtcp_restart asked for, fed by the pipeline's progress interceptors; erased once every chunk is in. */
function progressBar(pipeline: Pipeline, arg: string | undefined): ProgressBar | undefined {
  const [fd, total] = (arg ?? '').split(':').map(Number);
  if (!Number.isInteger(fd) || !(total > 0) || !tty.isatty(fd)) return undefined;
  const bar = new ProgressBar(new tty.WriteStream(fd), { label: 'restart' });
  const progress = new ProgressPlugin();
  pipeline.use(progress);
  progress.onChange(({ decoded }) => {
    bar.update(decoded, total);
    if (decoded >= total) bar.finish();
  });
  return bar;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code), () => process.exit(70));
}
