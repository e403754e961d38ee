// The socket-drain plugin's TypeScript half on its own: the socket record as the image keeps it, the coordinator's
// name service encoding, and the restart plan's unconnected sockets shared like files.
import * as assert from 'node:assert/strict';
import { decodeNames, encodeNames } from '../../src/coordinator/coordinator';
import { ProtocolError } from '../../src/protocol/frame';
import { FdKind } from '../../src/protocol/constants';
import { DescKind, buildPlan, type PlanInput } from '../../src/pipeline/restart-plan';
import { SOCK_STATE_SIZE, SockFlag, SockRole, decodeSocketState, describeSocket, describeSockaddr } from '../../src/pipeline/socket-state';
import type { FdRecord } from '../../src/pipeline/wasm/image-module';

function sockaddrIn(ip: number[], port: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(2, 0);
  b.writeUInt16BE(port, 2);
  Buffer.from(ip).copy(b, 4);
  return b;
}

/** struct dmtcp_sock_state as the library writes it (native/include/dmtcp_stream.h), then `drained` bytes. */
function sockState(o: { family: number; type: number; flags: number; role?: number; local?: Buffer; peer?: Buffer; drained?: Buffer; ino?: number; peerIno?: number }): Buffer {
  const b = Buffer.alloc(SOCK_STATE_SIZE);
  b.writeUInt16LE(o.family, 0);
  b.writeUInt16LE(o.role ?? 0, 2);
  b.writeUInt32LE(o.type, 4);
  b.writeUInt32LE(o.family === 1 ? 0 : 6, 8);
  b.writeUInt32LE(o.flags, 12);
  b.writeUInt32LE(o.drained?.length ?? 0, 28);
  b.writeBigUInt64LE(BigInt(o.ino ?? 0), 32);
  b.writeBigUInt64LE(BigInt(o.peerIno ?? 0), 40);
  b.writeUInt32LE(o.local?.length ?? 0, 48);
  b.writeUInt32LE(o.peer?.length ?? 0, 52);
  o.local?.copy(b, 56);
  o.peer?.copy(b, 184);
  return Buffer.concat([b, o.drained ?? Buffer.alloc(0)]);
}

function fd(fdNo: number, owner: [number, number], data: Buffer): FdRecord {
  return {
    fd: fdNo, kind: FdKind.SOCKET, flags: 0, fileFlags: 2, offset: 0n, dev: 0n, inode: 0n, size: 0n, mtimeSec: 0n, mtimeNsec: 0,
    ownerVpid: owner[0], ownerFd: owner[1], mode: 0o140777, path: `socket:[${fdNo}]`, data, raw: Buffer.alloc(0),
  };
}

function input(vpid: number, vppid: number, fds: FdRecord[]): PlanInput {
  return {
    path: `ckpt_${vpid}.dmtcp`, fds, areas: [],
    strings: {
      host: 'h', program: 'p', argv: [], cwd: '/', exe: '/p', workerId: `w${vpid}`, computation: 'c', codec: '', unique: false,
      ckptDir: '', originPid: vpid, vpid, vppid, vpgid: vpid, vsid: 1, zombies: [],
    },
  };
}

describe('sockets: records, name service, restart plan', () => {
  it('decodes a connected TCP socket with its addresses and drained bytes', () => {
    const data = sockState({
      family: 2, type: 1, flags: SockFlag.CONNECTED | SockFlag.INSIDE | SockFlag.NODELAY, role: SockRole.ACCEPT,
      local: sockaddrIn([127, 0, 0, 1], 5000), peer: sockaddrIn([127, 0, 0, 1], 41234), drained: Buffer.alloc(100, 7), ino: 11, peerIno: 12,
    });
    const s = decodeSocketState(data)!;
    assert.equal(s.local, '127.0.0.1:5000');
    assert.equal(s.peer, '127.0.0.1:41234');
    assert.equal(s.drained, 100);
    assert.equal(s.role, SockRole.ACCEPT);
    assert.equal(s.peerIno, 12);
    assert.equal(describeSocket(s), 'tcp, 127.0.0.1:5000 -> 127.0.0.1:41234, inside, 100 bytes drained');
  });

  it('names IPv6, Unix path and abstract addresses, and refuses a short record', () => {
    const in6 = Buffer.alloc(28);
    in6.writeUInt16LE(10, 0);
    in6.writeUInt16BE(8080, 2);
    in6[23] = 1;
    assert.equal(describeSockaddr(in6), '[::1]:8080');
    const un = Buffer.concat([Buffer.from([1, 0]), Buffer.from('/run/x.sock\0')]);
    assert.equal(describeSockaddr(un), '/run/x.sock');
    const abs = Buffer.concat([Buffer.from([1, 0, 0]), Buffer.from('0001f')]);
    assert.equal(describeSockaddr(abs), '@0001f');
    assert.equal(decodeSocketState(Buffer.alloc(SOCK_STATE_SIZE - 1)), undefined);
  });

  it('name service entries round-trip, and a malformed one is a protocol error', () => {
    const entries: [string, Buffer][] = [['sock:1-2/0', Buffer.from([1, 2, 3])], ['sock:3-4/1', Buffer.alloc(0)]];
    assert.deepEqual(decodeNames(encodeNames(entries)), entries);
    const bad = encodeNames([['k', Buffer.from('value')]]).subarray(0, 7);
    assert.throws(() => decodeNames(bad), ProtocolError);
  });

  it('a socket shared by parent and child becomes one unconnected socket, created by the parent for both', () => {
    const state = sockState({ family: 2, type: 1, flags: SockFlag.LISTENING, local: sockaddrIn([0, 0, 0, 0], 8080) });
    const plan = buildPlan([input(10, 1, [fd(3, [10, 3], state)]), input(20, 10, [fd(3, [10, 3], state)])], { checkFiles: false });
    const socks = plan.descs.filter((d) => d.kind === DescKind.SOCKET);
    assert.equal(socks.length, 1, 'one description');
    assert.equal(socks[0].creator, 0, 'created by the parent, before the fork');
    assert.equal(socks[0].data.length, 12, 'family, type and protocol');
    assert.equal(socks[0].data.readUInt16LE(0), 2);
    assert.equal(plan.holds.filter((h) => h.desc === socks[0].id).length, 2, 'held by both');
  });
});
