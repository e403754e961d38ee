// The restart plan: how the processes of a computation are recreated as the same tree, with the same sessions and
// process groups, and every descriptor back at its number sharing what it shared. Built from the images by
// dmtcp_restart, serialized for mtcp_restart (native/include/dmtcp_plan.h), which executes it before restoring memory.
//
// Sharing rule: an open file description held by several processes is created once, by the lowest common ancestor of
// its holders in the new tree (or by the first process before it creates the other trees), and reaches them by fork,
// exactly as it did the first time. Pipes are created whole; bytes that were in flight are written back into them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AreaFlag, AreaKind, FdFlag, FdKind, TTY_NOT_PTS } from '../protocol/constants';
import type { ProcessStrings } from './types';
import type { AreaRecord, FdRecord } from './wasm/image-module';

/** What the plan needs of an image (an ImageReader has it). */
export interface PlanInput {
  path: string;
  strings: ProcessStrings;
  fds: FdRecord[];
  areas: AreaRecord[];
}

export const PLAN_MAGIC = 'DMTCPPLN';
export const PLAN_VERSION = 1;
export const PLAN_HEADER_SIZE = 32;
export const PLAN_PROC_SIZE = 40;
export const PLAN_DESC_SIZE = 56;
export const PLAN_HOLD_SIZE = 16;
export const PLAN_SHARE_SIZE = 24;

export const ProcFlag = Object.freeze({
  SESSION_LEADER: 1,
  GROUP_LEADER: 2,
  /** its process group is the foreground group of its controlling terminal */
  FOREGROUND: 4,
  /** a child that had exited unreaped: created again only to end the same way */
  ZOMBIE: 8,
} as const);

export const HoldFlag = Object.freeze({
  CLOEXEC: 1,
  /** the process makes this terminal its controlling terminal (it leads its session) */
  CTTY: 2,
} as const);

/** How the restorer creates a description. */
export const DescKind = Object.freeze({
  OPEN: 1,        // open(path, flags) then lseek(offset)
  PIPE_READ: 2,   // pipe2(); this is the read end, `peer` the write end
  PIPE_WRITE: 3,
  TMPFILE: 4,     // an unlinked file in `path`'s directory holding `data` (a file deleted while open)
  RECREATE: 5,    // open(path); when missing, created with `data` first (--ckpt-open-files)
  TERMINAL: 6,    // the terminal dmtcp_restart runs on, else /dev/null
  NULL: 7,        // /dev/null (a descriptor that cannot be rebuilt here)
  SHM_ANON: 8,    // shared memory without a name (MAP_SHARED|MAP_ANONYMOUS, memfd, deleted file): memfd, `offset` bytes
  SHM_FILE: 9,    // a POSIX shared memory file in /dev/shm: opened or created, grown to `offset` bytes
  SYSV: 10,       // a System V segment: shmget(key = fileFlags, size = offset, mode); mode & SHM_DEST: removed
  PTY_MASTER: 11, // a new pseudo-terminal (/dev/ptmx), unlocked
  PTY_SLAVE: 12,
  SOCKET: 13,     // an unconnected socket of the family, type and protocol in `data` (12 bytes); the library rebuilds it  // the slave of `peer` (a PTY_MASTER), with `data` a struct dmtcp_tty_state to apply
} as const);

export const SHM_DEST = 0o1000;

export const NO_PROC = -1;
export const NO_DESC = 0xffffffff;

export interface PlanProc {
  index: number;
  image: string;
  vpid: number;
  vppid: number;
  parent: number;            // index, or NO_PROC for a root
  flags: number;
  groupLeader: number;       // index of the process group's leader, or NO_PROC to keep the inherited group
  /** Zombies: how the child ended (waitid's si_code and si_status). */
  exit?: { code: number; status: number };
}

export interface PlanDesc {
  id: number;
  kind: number;
  creator: number;           // process index, or NO_PROC: the first process before it creates the other roots
  fileFlags: number;
  offset: bigint;
  path: string;
  data: Buffer;
  peer: number;              // the other end of a pipe, or NO_DESC
  mode: number;
  /** What it was, for messages. */
  label: string;
}

export interface PlanHold {
  proc: number;
  fd: number;
  desc: number;
  flags: number;   // HoldFlag
}

/** Process `proc` maps the shared memory object it knew as (dev, ino) from description `desc`. */
export interface PlanShare {
  proc: number;
  desc: number;
  dev: bigint;
  ino: bigint;
}

export interface RestartPlan {
  procs: PlanProc[];
  descs: PlanDesc[];
  holds: PlanHold[];
  shares: PlanShare[];
  /** Descriptors the restart leaves to what dmtcp_restart itself has (stdin/stdout/stderr connected outside). */
  inherited: { proc: number; fd: number; reason: string }[];
  warnings: string[];
}

/** A problem that stops the restart, naming the file or descriptor. */
export class PlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlanError';
  }
}

function ancestors(procs: PlanProc[], i: number): number[] {
  const chain: number[] = [];
  for (let p = i; p !== NO_PROC; p = procs[p].parent) chain.push(p);
  return chain;
}

/** The deepest process that is an ancestor (or self) of every holder; NO_PROC when they live in different trees. */
export function lowestCommonAncestor(procs: PlanProc[], holders: number[]): number {
  let common = ancestors(procs, holders[0]);
  for (const h of holders.slice(1)) {
    const mine = new Set(ancestors(procs, h));
    common = common.filter((p) => mine.has(p));
  }
  return common.length ? common[0] : NO_PROC;
}

const deletedSuffix = / \(deleted\)$/;
const procPidPath = /^\/proc\/\d+\//;

export function buildPlan(readers: PlanInput[], opts: { checkFiles?: boolean } = {}): RestartPlan {
  const procs: PlanProc[] = readers.map((r, index) => ({
    index, image: r.path, vpid: r.strings.vpid, vppid: r.strings.vppid, parent: NO_PROC, flags: 0, groupLeader: NO_PROC,
  }));
  const byVpid = new Map(procs.map((p) => [p.vpid, p.index]));
  if (byVpid.size !== procs.length) throw new PlanError('two images are the same process (same pid); give each process\'s image once');
  for (const p of procs) p.parent = byVpid.get(p.vppid) ?? NO_PROC;
  // Roots first, then each process after its parent: the restorer creates them in this order.
  const order: number[] = [];
  const visit = (i: number) => {
    order.push(i);
    for (const c of procs.filter((q) => q.parent === i)) visit(c.index);
  };
  for (const root of procs.filter((p) => p.parent === NO_PROC)) visit(root.index);
  const remap = new Map(order.map((old, i) => [old, i]));
  const sorted = order.map((old) => ({ ...procs[old], index: remap.get(old)! }));
  for (const p of sorted) p.parent = p.parent === NO_PROC ? NO_PROC : remap.get(p.parent)!;
  const ordered = order.map((old) => readers[old]);
  const vpidIndex = new Map(sorted.map((p) => [p.vpid, p.index]));
  for (const p of sorted) {
    const s = ordered[p.index].strings;
    if (s.vsid === s.vpid && p.parent !== NO_PROC) p.flags |= ProcFlag.SESSION_LEADER;
    if (s.vpgid === s.vpid) p.flags |= ProcFlag.GROUP_LEADER;
    p.groupLeader = vpidIndex.get(s.vpgid) ?? NO_PROC;
  }

  const plan: RestartPlan = { procs: sorted, descs: [], holds: [], shares: [], inherited: [], warnings: [] };
  // Group descriptors by their open file description.
  const groups = new Map<string, { rec: FdRecord; holders: { proc: number; rec: FdRecord }[] }>();
  sorted.forEach((p) => {
    for (const rec of ordered[p.index].fds) {
      const key = `${rec.ownerVpid}:${rec.ownerFd}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { rec, holders: [] }));
      if (rec.ownerVpid === p.vpid && rec.ownerFd === rec.fd) g.rec = rec;   // the owner's record describes it best
      g.holders.push({ proc: p.index, rec });
    }
  });
  // Pipes are created whole: pair the descriptions of each pipe's two ends.
  const pipes = new Map<string, { read?: string; write?: string }>();
  for (const [key, g] of groups) {
    if (g.rec.kind !== FdKind.PIPE) continue;
    const pk = `${g.rec.inode}`;
    const e = pipes.get(pk) ?? {};
    if ((g.rec.fileFlags & 3) === 0) e.read ??= key;
    else e.write ??= key;
    pipes.set(pk, e);
  }
  // Pseudo-terminals whose master is in the computation are created anew; their slaves open the new one.
  const masters = new Map<bigint, string>();
  for (const [key, g] of groups) if (g.rec.kind === FdKind.PTY_MASTER && g.rec.size !== TTY_NOT_PTS) masters.set(g.rec.size, key);
  const insidePty = (r: FdRecord) => r.kind === FdKind.TTY && r.size !== TTY_NOT_PTS && masters.has(r.size);
  const descIds = new Map<string, number>();
  const ptyOf = new Map<number, bigint>();
  const newDesc = (d: Omit<PlanDesc, 'id'>): number => {
    const id = plan.descs.length;
    plan.descs.push({ ...d, id });
    return id;
  };
  for (const [key, g] of groups) {
    const r = g.rec;
    const holders = [...new Set(g.holders.map((h) => h.proc))];
    const stdio = g.holders.every((h) => h.rec.fd <= 2);
    const where = `fd ${r.fd} of pid ${r.ownerVpid} (${r.path})`;
    if (stdio && outsideStdio(r) && !insidePty(r)) {
      for (const h of g.holders) plan.inherited.push({ proc: h.proc, fd: h.rec.fd, reason: describeOutside(r) });
      continue;
    }
    let kind: number;
    let descPath = r.path;
    let data: Buffer = Buffer.alloc(0);
    switch (r.kind) {
      case FdKind.REG:
        if (procPidPath.test(r.path)) {
          // A file of some process's /proc directory: that process is gone; the new one has another pid.
          kind = DescKind.NULL;
          descPath = '/dev/null';
          plan.warnings.push(`${where}: a /proc file of a process that no longer exists; now /dev/null`);
          break;
        }
        ({ kind, data } = regularFile(r, where, opts.checkFiles !== false, plan.warnings));
        break;
      case FdKind.DIR:
      case FdKind.CHR:
      case FdKind.FIFO:
        kind = DescKind.OPEN;
        if (opts.checkFiles !== false && !fs.existsSync(r.path)) throw new PlanError(`${r.path} (open as ${where}) is gone; it must exist to restart`);
        break;
      case FdKind.DELETED:
        kind = DescKind.TMPFILE;
        descPath = r.path.replace(deletedSuffix, '');
        if (descPath.startsWith('/memfd:') || !fs.existsSync(path.dirname(descPath))) descPath = '/tmp/deleted';
        data = r.data;
        if (!(r.flags & FdFlag.CONTENTS)) plan.warnings.push(`${r.path}: contents were not saved; restored empty`);
        break;
      case FdKind.PIPE: {
        const pair = pipes.get(`${r.inode}`)!;
        const isRead = (r.fileFlags & 3) === 0;
        if (!isRead && !pair.read) {
          // Nobody of the computation reads it: writing would raise SIGPIPE. Keep the program running.
          kind = DescKind.NULL;
          descPath = '/dev/null';
          plan.warnings.push(`${where}: the reading end was outside the computation; now writes to /dev/null`);
          break;
        }
        kind = isRead ? DescKind.PIPE_READ : DescKind.PIPE_WRITE;
        data = isRead && r.flags & FdFlag.DRAINED ? r.data : Buffer.alloc(0);
        break;
      }
      case FdKind.TTY:
        kind = insidePty(r) ? DescKind.PTY_SLAVE : DescKind.TERMINAL;
        data = r.data;
        break;
      case FdKind.PTY_MASTER:
        kind = DescKind.PTY_MASTER;
        descPath = '/dev/ptmx';
        break;
      case FdKind.SOCKET:
        // Created unconnected here so that processes sharing it share it again; the library binds, listens and
        // connects it during the restart round (native/lib/sockets.c).
        kind = DescKind.SOCKET;
        descPath = '';
        data = r.data.subarray(0, Math.min(12, r.data.length));
        if (data.length < 12) continue;
        break;
      default:
        // Event descriptors are rebuilt inside the process by the library (later in the restart).
        continue;
    }
    const id = newDesc({
      kind, creator: lowestCommonAncestor(sorted, holders), fileFlags: r.fileFlags, offset: r.offset, path: descPath,
      data, peer: NO_DESC, mode: r.mode, label: where,
    });
    descIds.set(key, id);
    if (kind === DescKind.PTY_SLAVE) ptyOf.set(id, r.size);
    for (const h of g.holders) {
      let flags = h.rec.flags & FdFlag.CLOEXEC ? HoldFlag.CLOEXEC : 0;
      if (kind === DescKind.PTY_SLAVE && h.rec.flags & FdFlag.CTTY && sorted[h.proc].flags & ProcFlag.SESSION_LEADER) flags |= HoldFlag.CTTY;
      plan.holds.push({ proc: h.proc, fd: h.rec.fd, desc: id, flags });
    }
  }
  // Pipe ends of one pipe: created together by the ancestor common to both ends' holders.
  for (const pair of pipes.values()) {
    const r = pair.read !== undefined ? descIds.get(pair.read) : undefined;
    const w = pair.write !== undefined ? descIds.get(pair.write) : undefined;
    if (r === undefined || w === undefined) continue;
    const holders = plan.holds.filter((h) => h.desc === r || h.desc === w).map((h) => h.proc);
    const creator = lowestCommonAncestor(sorted, [...new Set(holders)]);
    plan.descs[r].peer = w;
    plan.descs[w].peer = r;
    plan.descs[r].creator = creator;
    plan.descs[w].creator = creator;
  }
  // A slave opens its master's new pty: the master is created by a process that is an ancestor of the slave's creator.
  for (const [num, key] of masters) {
    const m = descIds.get(key);
    if (m === undefined) continue;
    const slaves = plan.descs.filter((d) => d.kind === DescKind.PTY_SLAVE && ptyOf.get(d.id) === num);
    const holders = plan.holds.filter((h) => h.desc === m || slaves.some((s) => s.id === h.desc)).map((h) => h.proc);
    plan.descs[m].creator = lowestCommonAncestor(sorted, [...new Set(holders)]);
    for (const s of slaves) s.peer = m;
  }
  // The foreground process group of each controlling terminal in the computation.
  for (const p of sorted) {
    for (const rec of ordered[p.index].fds) {
      if (rec.kind !== FdKind.TTY || !(rec.flags & FdFlag.CTTY) || !insidePty(rec) || rec.data.length < 48) continue;
      const fg = rec.data.readInt32LE(48);
      const leader = vpidIndex.get(fg);
      if (leader !== undefined) sorted[leader].flags |= ProcFlag.FOREGROUND;
    }
  }
  planSharedMemory(plan, ordered);
  // Children that had exited unreaped come last: each parent forks one that ends the same way, and waitpid finds it.
  for (const p of [...sorted]) {
    for (const z of ordered[p.index].strings.zombies) {
      plan.procs.push({
        index: plan.procs.length, image: '', vpid: z.vpid, vppid: p.vpid, parent: p.index, flags: ProcFlag.ZOMBIE,
        groupLeader: NO_PROC, exit: { code: z.code, status: z.status },
      });
    }
  }
  return plan;
}

/** The processes of the plan that have an image to restore (zombies have none). */
export function restoredProcs(plan: RestartPlan): PlanProc[] {
  return plan.procs.filter((p) => !(p.flags & ProcFlag.ZOMBIE));
}

const sysvName = /^\/SYSV([0-9a-f]{8})/;

/** Every shared memory object is created once, by the lowest common ancestor of the processes mapping it, and each of
 *  them maps that one object again: what one process writes the others see, as before. */
function planSharedMemory(plan: RestartPlan, ordered: PlanInput[]): void {
  const objects = new Map<string, { area: AreaRecord; size: bigint; holders: Set<number>; owner?: number }>();
  plan.procs.forEach((p) => {
    for (const a of ordered[p.index].areas) {
      if (a.kind !== AreaKind.SHARED_ANON) continue;
      const key = `${a.dev}:${a.inode}`;
      let o = objects.get(key);
      if (!o) objects.set(key, (o = { area: a, size: 0n, holders: new Set() }));
      const end = a.fileOffset + (a.end - a.start);
      if (end > o.size) o.size = end;
      o.holders.add(p.index);
      if (!(a.flags & AreaFlag.SHARED_COPY)) o.owner ??= p.index;
    }
  });
  for (const o of objects.values()) {
    const a = o.area;
    const name = a.path.replace(deletedSuffix, '');
    if (o.owner === undefined) {
      const who = plan.procs[[...o.holders][0]];
      throw new PlanError(`${who.image} shares memory ${name || '(anonymous)'} with a process whose image is not given; restart all the images of the checkpoint together`);
    }
    let kind: number = DescKind.SHM_ANON;
    let fileFlags = 0;
    let mode = 0o600;
    const sysv = sysvName.exec(name);
    if (sysv) {
      kind = DescKind.SYSV;
      fileFlags = Number.parseInt(sysv[1], 16) >>> 0;
      // The library recorded the segment's size and mode (with SHM_DEST once removed) from /proc/sysvipc/shm.
      if (a.fileSize > o.size) o.size = a.fileSize;
      mode = a.mtimeNsec || 0o600;
    } else if (name.startsWith('/dev/shm/') && !deletedSuffix.test(a.path)) {
      kind = DescKind.SHM_FILE;
    }
    const holders = [...o.holders];
    const desc = plan.descs.length;
    plan.descs.push({
      id: desc, kind, creator: lowestCommonAncestor(plan.procs, holders), fileFlags, offset: o.size,
      path: kind === DescKind.SHM_ANON ? `dmtcp:${path.basename(name) || 'shared'}` : name, data: Buffer.alloc(0),
      peer: NO_DESC, mode, label: `shared memory ${name || '(anonymous)'}`,
    });
    for (const h of holders) plan.shares.push({ proc: h, desc, dev: a.dev, ino: a.inode });
  }
}

/** How an open regular file comes back. Files the program only reads must be as they were: a missing or changed one
 *  stops the restart, unless --ckpt-open-files saved a copy, which then serves the program (recreated under its
 *  name when missing; a private copy when the file changed, leaving the new version alone). Files it writes are its
 *  output: they are reopened as they are now and the program writes on at its offset. */
function regularFile(r: FdRecord, where: string, check: boolean, warnings: string[]): { kind: number; data: Buffer } {
  const saved = (r.flags & FdFlag.CONTENTS) !== 0;
  const writes = (r.fileFlags & 3) !== 0;
  let st: fs.BigIntStats | undefined;
  try {
    st = fs.statSync(r.path, { bigint: true });
  } catch {
    st = undefined;
  }
  if (!st) {
    if (saved) return { kind: DescKind.RECREATE, data: r.data };
    if (!check) return { kind: DescKind.OPEN, data: Buffer.alloc(0) };
    throw new PlanError(`${r.path} (open as ${where}) is gone; put it back, or checkpoint with --ckpt-open-files to keep a copy`);
  }
  const changed = st.size !== r.size || st.mtimeNs !== r.mtimeSec * 1000000000n + BigInt(r.mtimeNsec);
  if (!changed || !check) return { kind: DescKind.OPEN, data: Buffer.alloc(0) };
  if (writes) {
    if (st.size < r.offset) warnings.push(`${r.path} (${where}) is now shorter than the offset the program writes at`);
    return { kind: DescKind.OPEN, data: Buffer.alloc(0) };
  }
  if (saved) {
    warnings.push(`${r.path} changed since the checkpoint; the program reads the copy saved in its image`);
    return { kind: DescKind.TMPFILE, data: r.data };
  }
  throw new PlanError(`${r.path} (open as ${where}) changed since the checkpoint (size ${r.size} -> ${st.size}); put the old version back, or checkpoint with --ckpt-open-files to keep a copy`);
}

/** A standard descriptor connected to something outside the computation is left to dmtcp_restart's own. */
function outsideStdio(r: FdRecord): boolean {
  if (r.kind === FdKind.TTY) return true;
  if ((r.kind === FdKind.PIPE || r.kind === FdKind.SOCKET) && r.flags & FdFlag.OUTSIDE) return true;
  return r.kind === FdKind.OTHER;
}

function describeOutside(r: FdRecord): string {
  return r.kind === FdKind.TTY ? 'a terminal' : `${r.path}, connected outside the computation`;
}

// ---- serialization (native/include/dmtcp_plan.h) ----

export const NO_FD = 0xffffffff;

/** What process i of the plan reads its image from: descriptors open in dmtcp_restart, and its decoder's pid. */
export interface RestorerFds {
  stream: number;
  ack?: number;
  ptracer?: number;
}

/** A table of fixed-size records: `write` fills record i of `items` at offset o of the buffer. */
function table<T>(items: readonly T[], size: number, write: (b: Buffer, item: T, o: number, i: number) => void): Buffer {
  const b = Buffer.alloc(items.length * size);
  items.forEach((item, i) => write(b, item, i * size, i));
  return b;
}

export function encodePlan(plan: RestartPlan, fds: RestorerFds[]): Buffer {
  const strings: Buffer[] = [];
  let blobLen = 0;
  const put = (b: Buffer): number => {
    const at = blobLen;
    strings.push(b);
    blobLen += b.length;
    return at;
  };
  const descs = table(plan.descs, PLAN_DESC_SIZE, (b, d, o) => {
    const p = Buffer.from(d.path + '\0', 'utf8');
    b.writeUInt32LE(d.id, o);
    b.writeUInt32LE(d.kind, o + 4);
    b.writeInt32LE(d.creator, o + 8);
    b.writeUInt32LE(d.fileFlags, o + 12);
    b.writeBigInt64LE(d.offset, o + 16);
    b.writeUInt32LE(put(p), o + 24);
    b.writeUInt32LE(p.length, o + 28);
    b.writeUInt32LE(put(d.data), o + 32);
    b.writeUInt32LE(d.data.length, o + 36);
    b.writeUInt32LE(d.peer >>> 0, o + 40);
    b.writeUInt32LE(d.mode, o + 44);
  });
  const procs = table(plan.procs, PLAN_PROC_SIZE, (b, p, o, i) => {
    b.writeUInt32LE(p.index, o);
    b.writeInt32LE(p.parent, o + 4);
    b.writeUInt32LE(p.vpid, o + 8);
    b.writeUInt32LE(p.flags, o + 12);
    b.writeInt32LE(p.groupLeader, o + 16);
    const f = fds[i];
    b.writeUInt32LE(f?.stream ?? NO_FD, o + 20);
    b.writeUInt32LE(f?.ack ?? NO_FD, o + 24);
    b.writeUInt32LE(f?.ptracer ?? 0, o + 28);
    b.writeUInt32LE(p.exit?.code ?? 0, o + 32);
    b.writeInt32LE(p.exit?.status ?? 0, o + 36);
  });
  const holds = table(plan.holds, PLAN_HOLD_SIZE, (b, h, o) => {
    b.writeUInt32LE(h.proc, o);
    b.writeInt32LE(h.fd, o + 4);
    b.writeUInt32LE(h.desc, o + 8);
    b.writeUInt32LE(h.flags, o + 12);
  });
  const shares = table(plan.shares, PLAN_SHARE_SIZE, (b, h, o) => {
    b.writeUInt32LE(h.proc, o);
    b.writeUInt32LE(h.desc, o + 4);
    b.writeBigUInt64LE(h.dev, o + 8);
    b.writeBigUInt64LE(h.ino, o + 16);
  });
  const head = Buffer.alloc(PLAN_HEADER_SIZE);
  head.write(PLAN_MAGIC, 0, 'latin1');
  head.writeUInt32LE(PLAN_VERSION, 8);
  head.writeUInt32LE(plan.procs.length, 12);
  head.writeUInt32LE(plan.descs.length, 16);
  head.writeUInt32LE(plan.holds.length, 20);
  head.writeUInt32LE(blobLen, 24);
  head.writeUInt32LE(plan.shares.length, 28);
  return Buffer.concat([head, procs, descs, holds, shares, ...strings]);
}
