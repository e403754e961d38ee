// readimage's default view: what an image holds (header, memory areas, threads, plugin sections) as a summary
// that prints as text or serializes as JSON.
import { Backing, FdFlag, FdKind, PAGE_SIZE, ThreadFlag } from '../../src/protocol/constants';
import type { FdRecord } from '../../src/pipeline/wasm/image-module';
import { BlockFlag } from '../../src/pipeline/image-format';
import { incrementalMeta } from '../../src/pipeline/image-chain';
import { decodeSocketState, describeSocket, type SocketState } from '../../src/pipeline/socket-state';
import type { ImageReader } from '../../src/pipeline/image-reader';
import { backingName, hexAddr, kindName, perms } from './areas';
import { bytes, table } from './text';

export interface AreaSummary {
  start: string;
  end: string;
  size: number;
  perms: string;
  kind: string;
  backing: string;
  path: string;
  storedBytes: number;
  savedPages: number;
  zeroPages: number;
  filePages: number;
  /** Pages an incremental image leaves to its parent (PARENT blocks). */
  parentPages: number;
  chunks: number;
}

export interface FdSummary {
  fd: number;
  kind: string;
  /** r, w or rw, then a (append), n (non-blocking), e (close-on-exec) */
  mode: string;
  offset: number;
  path: string;
  /** The process and descriptor that own the open file description, when another one does ("pid:fd"). */
  sharedWith?: string;
  /** Sockets: family, type, addresses, whether the peer is inside the computation, bytes drained. */
  socket?: SocketState;
  notes: string[];
}

export interface ImageSummary {
  file: string;
  format: number;
  arch: string;
  fileBytes: number;
  program: string;
  argv: string[];
  exe: string;
  cwd: string;
  pid: number;
  ppid: number;
  /** The pid and parent pid the program knows (they differ from pid/ppid after a restart). */
  vpid: number;
  vppid: number;
  /** Children that had exited unreaped, and how: "exit N" or "signal N". */
  zombies: { pid: number; ended: string }[];
  host: string;
  time: string;
  generation: number;
  computation: string;
  workerId: string;
  codec: string;
  writer: string;
  rawBytes: number;
  storedBytes: number;
  zeroPages: number;
  filePages: number;
  /** Present for images written with incremental images on (META.incremental). */
  incremental?: {
    imageId: string;
    /** Images before this one in its chain (0: a full image). */
    depth: number;
    fullEvery: number;
    /** The parent's file name (looked up beside this image), or null for a full image. */
    parent: string | null;
    parentGeneration?: number;
    parentPages: number;
    storedPages: number;
    /** Why a full image is full. */
    full?: string;
  };
  areas: AreaSummary[];
  threads: { tid: number; main: boolean; ckpt: boolean; fsBase: string; name: string }[];
  fds: FdSummary[];
  plugins: string[];
}

const fdKindNames: Record<number, string> = Object.fromEntries(Object.entries(FdKind).map(([k, v]) => [v, k.toLowerCase().replace('_', '-')]));

export function fdSummary(f: FdRecord, vpid: number): FdSummary {
  const access = ['r', 'w', 'rw'][f.fileFlags & 3] ?? '?';
  const mode = access + (f.fileFlags & 0o2000 ? 'a' : '') + (f.fileFlags & 0o4000 ? 'n' : '') + (f.flags & FdFlag.CLOEXEC ? 'e' : '');
  const notes: string[] = [];
  const sock = f.kind === FdKind.SOCKET ? decodeSocketState(f.data) : undefined;
  if (sock) notes.push(describeSocket(sock));
  else if (f.flags & FdFlag.OUTSIDE) notes.push('other end outside');
  if (f.flags & FdFlag.DRAINED) notes.push(`${f.data.length} bytes in flight`);
  if (f.flags & FdFlag.CONTENTS) notes.push(`contents saved (${f.data.length} bytes)`);
  if (f.flags & FdFlag.CTTY) notes.push('controlling terminal');
  const own = f.ownerVpid === vpid && f.ownerFd === f.fd;
  return {
    fd: f.fd,
    kind: fdKindNames[f.kind] ?? `kind ${f.kind}`,
    mode,
    offset: Number(f.offset),
    path: f.path,
    ...(own ? {} : { sharedWith: `${f.ownerVpid}:${f.ownerFd}` }),
    ...(sock ? { socket: sock } : {}),
    notes,
  };
}

export function summarize(r: ImageReader): ImageSummary {
  const perArea = r.areas.map(() => ({ stored: 0, covered: 0, zero: 0, parent: 0, chunks: 0 }));
  for (const c of r.chunks) {
    const a = perArea[c.header.area];
    a.chunks++;
    a.stored += c.header.storedLength;
    const pages = c.header.rawLength / PAGE_SIZE;
    if (c.header.flags & BlockFlag.ZERO) a.zero += pages;
    else if (c.header.flags & BlockFlag.PARENT) a.parent += pages;
    else a.covered += pages;
  }
  const inc = incrementalMeta(r);
  const areas = r.areas.map((a, i): AreaSummary => {
    const pages = Number((a.end - a.start) / BigInt(PAGE_SIZE));
    const s = perArea[i];
    const rest = a.backing === Backing.NONE ? 0 : pages - s.covered - s.zero - s.parent;
    return {
      start: hexAddr(a.start),
      end: hexAddr(a.end),
      size: Number(a.end - a.start),
      perms: perms(a.prot, a.flags),
      kind: kindName(a),
      backing: backingName(a),
      path: a.path,
      storedBytes: s.stored,
      savedPages: s.covered,
      zeroPages: s.zero + (a.backing === Backing.ZERO ? rest : 0),
      filePages: a.backing === Backing.FILE ? rest : 0,
      parentPages: s.parent,
      chunks: s.chunks,
    };
  });
  const m = r.meta as { codec?: string; writer?: string; stats?: { rawBytes?: number; storedBytes?: number } };
  return {
    file: r.path,
    format: r.header.version,
    arch: 'x86_64',
    fileBytes: r.size,
    program: r.strings.program,
    argv: r.strings.argv,
    exe: r.strings.exe,
    cwd: r.strings.cwd,
    pid: r.process.pid,
    ppid: r.process.ppid,
    vpid: r.strings.vpid,
    vppid: r.strings.vppid,
    zombies: r.strings.zombies.map((z) => ({ pid: z.vpid, ended: z.code === 1 ? `exit ${z.status}` : `signal ${z.status}` })),
    host: r.strings.host,
    time: new Date(Number(r.process.ckptTimeNs / 1_000_000n)).toISOString(),
    generation: r.process.generation,
    computation: r.strings.computation,
    workerId: r.strings.workerId,
    codec: m.codec ?? 'unknown',
    writer: m.writer ?? 'unknown',
    rawBytes: r.chunks.reduce((s, c) => s + (c.header.flags & (BlockFlag.ZERO | BlockFlag.PARENT) ? 0 : c.header.rawLength), 0),
    storedBytes: r.chunks.reduce((s, c) => s + c.header.storedLength, 0),
    zeroPages: areas.reduce((s, a) => s + a.zeroPages, 0),
    filePages: areas.reduce((s, a) => s + a.filePages, 0),
    ...(inc ? {
      incremental: {
        imageId: inc.imageId, depth: inc.depth, fullEvery: inc.fullEvery, parent: inc.parent?.file ?? null,
        ...(inc.parent ? { parentGeneration: inc.parent.generation } : {}),
        parentPages: areas.reduce((s, a) => s + a.parentPages, 0), storedPages: inc.storedPages, ...(inc.full ? { full: inc.full } : {}),
      },
    } : {}),
    areas,
    threads: r.threads.map((t) => ({
      tid: t.tid,
      main: (t.flags & ThreadFlag.MAIN) !== 0,
      ckpt: (t.flags & ThreadFlag.CKPT) !== 0,
      fsBase: '0x' + t.fsBase.toString(16),
      name: t.name,
    })),
    fds: r.fds.map((f) => fdSummary(f, r.strings.vpid)),
    plugins: [...r.plugins.keys()],
  };
}

export function summaryText(s: ImageSummary): string {
  const ratio = s.storedBytes ? (s.rawBytes / s.storedBytes).toFixed(2) : '-';
  const out = [
    `${s.file}: dmtcp image format ${s.format}, ${s.arch}, ${bytes(s.fileBytes)}`,
    `  program:     ${s.program}`,
    `  argv:        ${s.argv.join(' ')}`,
    s.vpid === s.pid && s.vppid === s.ppid
      ? `  pid:         ${s.pid} (parent ${s.ppid})`
      : `  pid:         ${s.vpid} (parent ${s.vppid}); the kernel's: ${s.pid} (parent ${s.ppid})`,
    ...(s.zombies.length ? [`  zombies:     ${s.zombies.map((z) => `${z.pid} (${z.ended})`).join(', ')}`] : []),
    `  host:        ${s.host}`,
    `  time:        ${s.time}`,
    `  generation:  ${s.generation}`,
    ...(s.incremental ? [`  incremental: ${incrementalText(s.incremental)}`] : []),
    `  computation: ${s.computation}`,
    `  worker id:   ${s.workerId}`,
    `  codec:       ${s.codec}`,
    `  sizes:       ${bytes(s.storedBytes)} stored for ${bytes(s.rawBytes)} of saved pages (${ratio}x); ${s.zeroPages} zero pages, ${s.filePages} pages left to their files`,
    `  written by:  ${s.writer}`,
    `Memory areas (${s.areas.length}):`,
  ];
  if (s.incremental?.parent) {
    const rows = s.areas.map((a) => [`${a.start}-${a.end}`, a.perms, a.kind, a.backing, bytes(a.storedBytes), String(a.savedPages), String(a.parentPages), String(a.zeroPages), String(a.filePages), a.path]);
    out.push(...table(['RANGE', 'PERM', 'KIND', 'BACKING', 'STORED', 'SAVED', 'PARENT', 'ZERO', 'FILE', 'PATH'], rows));
  } else {
    const rows = s.areas.map((a) => [`${a.start}-${a.end}`, a.perms, a.kind, a.backing, bytes(a.storedBytes), String(a.savedPages), String(a.zeroPages), String(a.filePages), a.path]);
    out.push(...table(['RANGE', 'PERM', 'KIND', 'BACKING', 'STORED', 'SAVED', 'ZERO', 'FILE', 'PATH'], rows));
  }
  out.push(`Threads (${s.threads.length}):`);
  out.push(...table(['TID', 'ROLE', 'FS BASE', 'NAME'], s.threads.map((t) => [String(t.tid), t.main ? 'main' : t.ckpt ? 'checkpoint' : 'user', t.fsBase, t.name])));
  if (s.fds.length) {
    out.push(`Descriptors (${s.fds.length}):`);
    const fdRows = s.fds.map((f) => [String(f.fd), f.kind, f.mode, String(f.offset), f.sharedWith ?? '', f.notes.join(', '), f.path]);
    out.push(...table(['FD', 'KIND', 'MODE', 'OFFSET', 'SHARED WITH', 'NOTES', 'PATH'], fdRows));
  }
  if (s.plugins.length) out.push(`Plugin sections: ${s.plugins.join(', ')}`);
  return out.join('\n') + '\n';
}

function incrementalText(i: NonNullable<ImageSummary['incremental']>): string {
  const every = `a full image every ${i.fullEvery} generations`;
  if (!i.parent) return `full image (${i.full ?? 'starts a chain'}); ${every}`;
  return `parent ${i.parent} (generation ${i.parentGeneration}), ${i.parentPages} pages left to it, ${i.storedPages} stored; chain depth ${i.depth}, ${every}`;
}
