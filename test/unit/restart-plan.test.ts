// The restart plan on its own: which process creates each description, how pipes pair up, what is left to
// dmtcp_restart's own descriptors, shared memory owners, zombies, and the checks on files the program reads.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AreaFlag, AreaKind, Backing, FdFlag, FdKind, TTY_NOT_PTS } from '../../src/protocol/constants';
import {
  DescKind, HoldFlag, NO_PROC, PLAN_HEADER_SIZE, PLAN_PROC_SIZE, PlanError, ProcFlag, buildPlan, encodePlan,
  lowestCommonAncestor, restoredProcs, type PlanInput,
} from '../../src/pipeline/restart-plan';
import type { ProcessStrings } from '../../src/pipeline/types';
import type { AreaRecord, FdRecord } from '../../src/pipeline/wasm/image-module';

function strings(vpid: number, vppid: number, extra: Partial<ProcessStrings> = {}): ProcessStrings {
  return {
    host: 'h', program: 'p', argv: [], cwd: '/', exe: '/p', workerId: `w${vpid}`, computation: 'c', codec: '', unique: false,
    ckptDir: '', originPid: vpid, vpid, vppid, vpgid: vppid === 1 ? vpid : vppid, vsid: 1, zombies: [], ...extra,
  };
}

function fd(fdNo: number, kind: number, owner: [number, number], more: Partial<FdRecord> = {}): FdRecord {
  return {
    fd: fdNo, kind, flags: 0, fileFlags: 0, offset: 0n, dev: 0n, inode: 0n, size: 0n, mtimeSec: 0n, mtimeNsec: 0,
    ownerVpid: owner[0], ownerFd: owner[1], mode: 0, path: '', data: Buffer.alloc(0), raw: Buffer.alloc(0), ...more,
  };
}

function area(more: Partial<AreaRecord>): AreaRecord {
  return {
    start: 0x10000n, end: 0x11000n, fileOffset: 0n, dev: 1n, inode: 7n, fileSize: 0n, mtimeSec: 0n, mtimeNsec: 0,
    prot: 3, flags: AreaFlag.SHARED, kind: AreaKind.SHARED_ANON, backing: Backing.ZERO, path: '/dev/zero (deleted)',
    raw: Buffer.alloc(0), ...more,
  };
}

function input(vpid: number, vppid: number, fds: FdRecord[] = [], areas: AreaRecord[] = [], extra: Partial<ProcessStrings> = {}): PlanInput {
  return { path: `ckpt_${vpid}.dmtcp`, strings: strings(vpid, vppid, extra), fds, areas };
}

describe('restart plan', () => {
  it('orders processes as a forest: each after its parent, roots first', () => {
    const plan = buildPlan([input(30, 20), input(20, 10), input(10, 1), input(40, 10)], { checkFiles: false });
    assert.deepEqual(plan.procs.map((p) => p.vpid), [10, 20, 30, 40]);
    assert.deepEqual(plan.procs.map((p) => p.parent), [NO_PROC, 0, 1, 0]);
  });

  it('creates a description in the lowest common ancestor of its holders', () => {
    const procs = buildPlan([input(10, 1), input(20, 10), input(30, 20), input(40, 20), input(50, 10)], { checkFiles: false }).procs;
    assert.equal(lowestCommonAncestor(procs, [2, 3]), 1);
    assert.equal(lowestCommonAncestor(procs, [2, 4]), 0);
    assert.equal(lowestCommonAncestor(procs, [3]), 3);
  });

  it('pairs the two ends of a pipe, created together by the ancestor of both holders, with the bytes in flight', () => {
    const bytes = Buffer.from('in flight');
    const plan = buildPlan([
      input(10, 1, [fd(3, FdKind.PIPE, [10, 3], { inode: 99n, fileFlags: 1, path: 'pipe:[99]' })]),
      input(20, 10, [fd(4, FdKind.PIPE, [20, 4], { inode: 99n, fileFlags: 0, path: 'pipe:[99]', flags: FdFlag.DRAINED, data: bytes })]),
    ], { checkFiles: false });
    const ends = plan.descs.filter((d) => d.kind === DescKind.PIPE_READ || d.kind === DescKind.PIPE_WRITE);
    assert.equal(ends.length, 2);
    const read = ends.find((d) => d.kind === DescKind.PIPE_READ)!;
    const write = ends.find((d) => d.kind === DescKind.PIPE_WRITE)!;
    assert.equal(read.peer, write.id);
    assert.equal(write.peer, read.id);
    assert.equal(read.creator, 0);
    assert.deepEqual(read.data, bytes);
    assert.deepEqual(plan.holds.map((h) => [h.proc, h.fd]).sort(), [[0, 3], [1, 4]]);
  });

  it('one description shared by fork is one description again, and close-on-exec is per descriptor', () => {
    const rec = { kind: FdKind.CHR, path: '/dev/null', fileFlags: 2 };
    const plan = buildPlan([
      input(10, 1, [fd(5, rec.kind, [10, 5], rec), fd(6, rec.kind, [10, 5], { ...rec, flags: FdFlag.CLOEXEC })]),
      input(20, 10, [fd(5, rec.kind, [10, 5], rec)]),
    ]);
    assert.equal(plan.descs.length, 1);
    assert.deepEqual(plan.holds.map((h) => [h.proc, h.fd, h.flags]).sort(), [[0, 5, 0], [0, 6, HoldFlag.CLOEXEC], [1, 5, 0]]);
  });

  it('leaves standard descriptors connected outside to dmtcp_restart, and a pipe with no reader inside to /dev/null', () => {
    const plan = buildPlan([input(10, 1, [
      fd(1, FdKind.PIPE, [10, 1], { inode: 5n, fileFlags: 1, flags: FdFlag.OUTSIDE, path: 'pipe:[5]' }),
      fd(7, FdKind.PIPE, [10, 7], { inode: 6n, fileFlags: 1, flags: FdFlag.OUTSIDE, path: 'pipe:[6]' }),
      fd(2, FdKind.TTY, [10, 2], { path: '/dev/pts/3', size: TTY_NOT_PTS }),
    ])], { checkFiles: false });
    assert.deepEqual(plan.inherited.map((i) => i.fd).sort(), [1, 2]);
    assert.equal(plan.descs.length, 1);
    assert.equal(plan.descs[0].kind, DescKind.NULL);
    assert.match(plan.warnings.join('\n'), /fd 7 of pid 10 .*\/dev\/null/);
  });

  it('recreates a pseudo-terminal whose master is in the computation; the session leader takes it as its terminal', () => {
    const tty = Buffer.alloc(56);
    tty.writeInt32LE(20, 48);   // foreground group: the child's
    const plan = buildPlan([
      input(10, 1, [fd(3, FdKind.PTY_MASTER, [10, 3], { path: '/dev/ptmx', size: 4n, fileFlags: 2 })]),
      input(20, 10, [fd(0, FdKind.TTY, [20, 0], { path: '/dev/pts/4', size: 4n, fileFlags: 2, flags: FdFlag.CTTY, data: tty })], [], { vsid: 20, vpgid: 20 }),
    ], { checkFiles: false });
    const master = plan.descs.find((d) => d.kind === DescKind.PTY_MASTER)!;
    const slave = plan.descs.find((d) => d.kind === DescKind.PTY_SLAVE)!;
    assert.equal(slave.peer, master.id);
    assert.equal(master.creator, 0, 'the master is created where the slave\'s opener can inherit its number');
    const child = plan.procs[1];
    assert.ok(child.flags & ProcFlag.SESSION_LEADER && child.flags & ProcFlag.FOREGROUND);
    assert.equal(plan.holds.find((h) => h.proc === 1)!.flags & HoldFlag.CTTY, HoldFlag.CTTY);
  });

  it('shares one memory object between the processes mapping it, and refuses when its owner\'s image is missing', () => {
    const owner = area({});
    const copy = area({ flags: AreaFlag.SHARED | AreaFlag.SHARED_COPY });
    const plan = buildPlan([input(10, 1, [], [owner]), input(20, 10, [], [copy])], { checkFiles: false });
    const shm = plan.descs.filter((d) => d.kind === DescKind.SHM_ANON);
    assert.equal(shm.length, 1);
    assert.equal(shm[0].creator, 0);
    assert.deepEqual(plan.shares.map((s) => s.proc).sort(), [0, 1]);
    assert.throws(() => buildPlan([input(20, 10, [], [copy])], { checkFiles: false }), (e: Error) => e instanceof PlanError && /restart all the images/.test(e.message));
  });

  it('a System V segment keeps its key, size and mode', () => {
    const seg = area({ path: '/SYSV5d001234 (deleted)', inode: 65539n, fileSize: 8192n, mtimeNsec: 0o1600 });
    const d = buildPlan([input(10, 1, [], [seg])], { checkFiles: false }).descs[0];
    assert.equal(d.kind, DescKind.SYSV);
    assert.equal(d.fileFlags, 0x5d001234);
    assert.equal(d.offset, 8192n);
    assert.equal(d.mode, 0o1600);
  });

  it('adds zombies as children of their parent, after every process that has an image', () => {
    const plan = buildPlan([input(10, 1, [], [], { zombies: [{ vpid: 11, code: 1, status: 42 }] }), input(20, 10)], { checkFiles: false });
    assert.deepEqual(plan.procs.map((p) => [p.vpid, p.parent, p.flags & ProcFlag.ZOMBIE]), [[10, NO_PROC, 0], [20, 0, 0], [11, 0, ProcFlag.ZOMBIE]]);
    assert.deepEqual(restoredProcs(plan).map((p) => p.vpid), [10, 20]);
    const bytes = encodePlan(plan, [{ stream: 3, ack: 4, ptracer: 99 }, { stream: 5, ack: 6, ptracer: 99 }]);
    const z = PLAN_HEADER_SIZE + 2 * PLAN_PROC_SIZE;
    assert.equal(bytes.readUInt32LE(z + 20), 0xffffffff, 'a zombie has no stream');
    assert.equal(bytes.readUInt32LE(z + 32), 1);
    assert.equal(bytes.readInt32LE(z + 36), 42);
  });

  describe('files the program had open', () => {
    let dir: string;
    let file: string;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmtcp-plan-'));
      file = path.join(dir, 'data');
      fs.writeFileSync(file, 'original');
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    function record(flags = 0, fileFlags = 0, data = Buffer.alloc(0)): FdRecord {
      const st = fs.statSync(file, { bigint: true });
      return fd(3, FdKind.REG, [10, 3], {
        path: file, flags, fileFlags, data, size: st.size, mtimeSec: st.mtimeNs / 1000000000n, mtimeNsec: Number(st.mtimeNs % 1000000000n),
      });
    }

    it('reopens an unchanged file', () => {
      assert.equal(buildPlan([input(10, 1, [record()])]).descs[0].kind, DescKind.OPEN);
    });

    it('stops at a changed file it reads, naming it', () => {
      const r = record();
      fs.writeFileSync(file, 'changed!!');
      assert.throws(() => buildPlan([input(10, 1, [r])]), (e: Error) => e instanceof PlanError && e.message.includes(file) && /changed since the checkpoint/.test(e.message));
    });

    it('reopens a changed file it writes', () => {
      const r = record(0, 1);
      fs.writeFileSync(file, 'more output');
      assert.equal(buildPlan([input(10, 1, [r])]).descs[0].kind, DescKind.OPEN);
    });

    it('serves a saved copy of a changed file, and recreates a missing one', () => {
      const r = record(FdFlag.CONTENTS, 0, Buffer.from('original'));
      fs.writeFileSync(file, 'changed!!');
      assert.equal(buildPlan([input(10, 1, [r])]).descs[0].kind, DescKind.TMPFILE);
      fs.rmSync(file);
      assert.equal(buildPlan([input(10, 1, [r])]).descs[0].kind, DescKind.RECREATE);
    });
  });
});
