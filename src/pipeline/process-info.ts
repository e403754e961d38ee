// Reading the TLV strings of a PROCESS record into named fields, and the image file name DMTCP users expect.
import * as path from 'node:path';
import { StreamTlv } from '../protocol/constants';
import type { ProcessRecord } from './wasm/image-module';
import type { ProcessStrings } from './types';

export function processStrings(p: ProcessRecord): ProcessStrings {
  const s = (tag: number): string => p.strings.get(tag)?.toString('utf8') ?? '';
  const argv = s(StreamTlv.ARGV).split('\0');
  if (argv.length && argv[argv.length - 1] === '') argv.pop();
  const origin = Number.parseInt(s(StreamTlv.ORIGIN_PID), 10);
  return {
    host: s(StreamTlv.HOST),
    program: s(StreamTlv.PROGRAM) || 'unknown',
    argv,
    cwd: s(StreamTlv.CWD),
    exe: s(StreamTlv.EXE),
    workerId: s(StreamTlv.WORKER_ID),
    computation: s(StreamTlv.COMPUTATION),
    codec: s(StreamTlv.CODEC),
    unique: s(StreamTlv.UNIQUE) === '1',
    ckptDir: s(StreamTlv.CKPT_DIR),
    originPid: Number.isFinite(origin) ? origin : p.pid,
    vpid: num(s(StreamTlv.VPID), p.pid),
    vppid: num(s(StreamTlv.VPPID), p.ppid),
    vpgid: num(s(StreamTlv.VPGID), 0),
    vsid: num(s(StreamTlv.VSID), 0),
    plugins: s(StreamTlv.TS_PLUGINS).split(':').filter(Boolean),
    incremental: num(s(StreamTlv.INCREMENTAL), 0),
    zombies: s(StreamTlv.ZOMBIES).split(',').filter(Boolean).map((z) => {
      const [vpid, code, status] = z.split(':').map(Number);
      return { vpid, code, status };
    }).filter((z) => z.vpid > 0),
  };
}

function num(text: string, fallback: number): number {
  const n = Number.parseInt(text, 10);
  return Number.isFinite(n) ? n : fallback;
}

/** ckpt_<program>_<worker id>.dmtcp, as DMTCP names images; characters unsafe in file names become '_'. */
export function imageFileName(program: string, workerId: string): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9._+-]/g, '_');
  return `ckpt_${clean(program)}_${clean(workerId)}.dmtcp`;
}

/** Whether `name` has the form imageFileName gives (a plugin may have added to it, before `.dmtcp`). */
export function isImageFileName(name: string): boolean {
  return /^ckpt_.+\.dmtcp$/.test(name);
}

export function imagePathFor(dir: string, program: string, workerId: string): string {
  return path.join(dir, imageFileName(program, workerId));
}
