// The socket-drain plugin's record, as the image keeps it (struct dmtcp_sock_state in native/include/dmtcp_stream.h,
// the data of a socket descriptor record): decoded for readimage and the restart plan.

export const SOCK_STATE_SIZE = 312;

export const SockFlag = Object.freeze({
  LISTENING: 1,
  CONNECTED: 2,
  BOUND: 4,
  INSIDE: 8,
  NODELAY: 16,
  REUSEADDR: 32,
  KEEPALIVE: 64,
  PEER_CLOSED: 128,
  REUSEPORT: 256,
} as const);

export const SockRole = Object.freeze({ NONE: 0, ACCEPT: 1, CONNECT: 2, PAIR: 3 } as const);

const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;

export interface SocketState {
  family: number;
  type: number;
  protocol: number;
  role: number;
  flags: number;
  sndbuf: number;
  rcvbuf: number;
  ino: number;
  peerIno: number;
  local: string;
  peer: string;
  /** Bytes drained from it at checkpoint (what was in flight towards this end). */
  drained: number;
}

/** "127.0.0.1:8080", "[::1]:8080", "/path/sock", "@abstract", or "" for an unnamed socket. */
export function describeSockaddr(b: Buffer): string {
  if (b.length < 2) return '';
  const family = b.readUInt16LE(0);
  if (family === AF_INET && b.length >= 8) return `${[...b.subarray(4, 8)].join('.')}:${b.readUInt16BE(2)}`;
  if (family === AF_INET6 && b.length >= 24) {
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(b.readUInt16BE(8 + i * 2).toString(16));
    const text = groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::').replace(/:::+/, '::');
    return `[${text}]:${b.readUInt16BE(2)}`;
  }
  if (family === AF_UNIX && b.length > 2) {
    const p = b.subarray(2);
    if (p[0] === 0) return `@${p.subarray(1).toString('latin1').replace(/\0+$/, '')}`;
    const end = p.indexOf(0);
    return p.subarray(0, end < 0 ? p.length : end).toString('utf8');
  }
  return '';
}

export function decodeSocketState(data: Buffer): SocketState | undefined {
  if (data.length < SOCK_STATE_SIZE) return undefined;
  const localLen = data.readUInt32LE(48);
  const peerLen = data.readUInt32LE(52);
  return {
    family: data.readUInt16LE(0),
    role: data.readUInt16LE(2),
    type: data.readUInt32LE(4),
    protocol: data.readUInt32LE(8),
    flags: data.readUInt32LE(12),
    sndbuf: data.readInt32LE(16),
    rcvbuf: data.readInt32LE(20),
    drained: data.readUInt32LE(28),
    ino: Number(data.readBigUInt64LE(32)),
    peerIno: Number(data.readBigUInt64LE(40)),
    local: describeSockaddr(data.subarray(56, 56 + Math.min(localLen, 128))),
    peer: describeSockaddr(data.subarray(184, 184 + Math.min(peerLen, 128))),
  };
}

/** One line about a socket for people: "tcp 127.0.0.1:40000 -> 127.0.0.1:5000, inside, 4096 bytes drained". */
export function describeSocket(s: SocketState): string {
  const fam = s.family === AF_INET ? 'tcp' : s.family === AF_INET6 ? 'tcp6' : s.family === AF_UNIX ? 'unix' : `family ${s.family}`;
  const kind = s.family === AF_UNIX ? `${fam}-${s.type === 1 ? 'stream' : s.type === 2 ? 'dgram' : 'seqpacket'}`
    : s.type === 2 ? fam.replace('tcp', 'udp') : fam;
  const parts = [kind];
  if (s.flags & SockFlag.LISTENING) parts.push(`listening on ${s.local || '?'}`);
  else if (s.flags & SockFlag.CONNECTED) parts.push(`${s.local || 'unnamed'} -> ${s.peer || 'unnamed'}`);
  else if (s.local) parts.push(`bound to ${s.local}`);
  if (s.flags & SockFlag.CONNECTED) parts.push(s.flags & SockFlag.INSIDE ? 'inside' : 'outside: closed at restart');
  if (s.drained) parts.push(`${s.drained} bytes drained`);
  if (s.flags & SockFlag.PEER_CLOSED) parts.push('peer had closed');
  return parts.join(', ');
}
