// Numbers shared with the native side: native/include/dmtcp_protocol.h and dmtcp_stream.h, mirrored one to one.
// test/unit/native-constants.test.ts reads the C headers and fails if any value here drifts from them.

/** Coordinator protocol (docs/ARCHITECTURE.md, "Coordinator protocol"). */
export const PROTO_MAGIC = 0x50544d44; // bytes "DMTP"
export const PROTO_VERSION = 1;
export const PROTO_MAX_PAYLOAD = 1 << 20;
export const FRAME_HEADER_SIZE = 16;

export const Msg = Object.freeze({
  HELLO_WORKER: 1,
  HELLO_CLIENT: 2,
  WELCOME: 3,
  REJECT: 4,
  BARRIER: 5,
  REACHED: 6,
  COMMAND: 7,
  RESULT: 8,
  KILL: 9,
  ERROR: 10,
  UPDATE: 11,
  NS_PUBLISH: 20,
  NS_LOOKUP: 21,
  NS_ANSWER: 22,
  PROGRESS: 30,
} as const);
export type MsgType = (typeof Msg)[keyof typeof Msg];

export const Tag = Object.freeze({
  PID: 1,
  PPID: 2,
  HOST: 3,
  PROGRAM: 4,
  ARGV: 5,
  WORKER_ID: 6,
  COMPUTATION: 7,
  GENERATION: 8,
  STATE: 9,
  REASON: 10,
  IMAGE: 11,
  IMAGE_BYTES: 12,
  RESTART: 13,
  NPROCS: 14,
  STREAM_SOCKET: 15,
  CKPT_DIR: 16,
  COMMAND: 17,
  INTERVAL: 18,
  JSON: 19,
  OK: 20,
  CLIENT: 21,
  PROTOCOL_VERSION: 22,
  VPID: 23,
  ELAPSED_US: 24,
  SERVICE_PID: 25,
  PIDS: 26,
  NONCE: 40,
  NAMES: 41,
  PROGRESS: 48,
  DONE_BYTES: 49,
  TOTAL_BYTES: 50,
} as const);
export type TagValue = (typeof Tag)[keyof typeof Tag];

/** Raw process stream (docs/ARCHITECTURE.md, "The raw process stream"). */
export const STREAM_MAGIC = 'DMTCPRAW';
export const STREAM_VERSION = 1;
export const STREAM_HEADER_SIZE = 32;
export const STREAM_F_PUSH = 1;
export const STREAM_F_NEGOTIATE = 2;
/** The writer's one-byte answer after the last AREA record of a negotiating stream. */
export const MODE_PULL = 'P'.charCodeAt(0);
export const MODE_PUSH = 'S'.charCodeAt(0);
/** Restart direction: the first int32 of each message of the restorer on the ack pipe (dmtcp_stream.h). */
export const ACK_READY = 'R'.charCodeAt(0);
export const ACK_LAZY = 'L'.charCodeAt(0);
export const PAGE_SIZE = 4096;
export const MAX_AREAS = 32768;
export const MAX_PATH = 4096;
export const AUXV_WORDS = 64;
export const ARCH_X86_64 = 62;

export const Rec = Object.freeze({
  PROCESS: 1,
  THREAD: 2,
  AREA: 3,
  DATA: 4,
  ZERO: 5,
  END: 6,
  ERROR: 7,
  RESTART: 8,
  PULL: 9,
  FD: 10,
  LAZY: 11,
} as const);

export const StreamTlv = Object.freeze({
  HOST: 1,
  PROGRAM: 2,
  ARGV: 3,
  CWD: 4,
  EXE: 5,
  WORKER_ID: 6,
  COMPUTATION: 7,
  CODEC: 8,
  UNIQUE: 9,
  ORIGIN_PID: 10,
  COORD_HOST: 16,
  COORD_PORT: 17,
  CKPT_DIR: 18,
  TMPDIR: 19,
  IMAGE_PATH: 20,
  NPROCS: 21,
  VPID: 22,
  VPPID: 23,
  VPGID: 24,
  VSID: 25,
  ZOMBIES: 26,
  INCREMENTAL: 27,
  TS_PLUGINS: 32,
} as const);

export const AreaKind = Object.freeze({
  ANON: 1,
  HEAP: 2,
  STACK: 3,
  FILE: 4,
  FILE_SHARED: 5,
  SHARED_ANON: 6,
  VDSO: 7,
  VVAR: 8,
  VVAR_VCLOCK: 9,
  VSYSCALL: 10,
  RESERVED: 11,
  DELETED_FILE: 12,
} as const);
export type AreaKindValue = (typeof AreaKind)[keyof typeof AreaKind];

export const Backing = Object.freeze({
  ZERO: 1,
  FILE: 2,
  NONE: 3,
} as const);

export const AreaFlag = Object.freeze({
  SHARED: 1,
  GROWSDOWN: 2,
  /** Shared memory whose contents the image of the lowest-pid process mapping it holds. */
  SHARED_COPY: 4,
} as const);

export const ThreadFlag = Object.freeze({
  MAIN: 1,
  CKPT: 2,
} as const);

export const FdKind = Object.freeze({
  REG: 1,
  DIR: 2,
  CHR: 3,
  FIFO: 4,
  PIPE: 5,
  SOCKET: 6,
  EPOLL: 7,
  EVENTFD: 8,
  SIGNALFD: 9,
  TIMERFD: 10,
  INOTIFY: 11,
  DELETED: 12,
  TTY: 13,
  OTHER: 14,
  PTY_MASTER: 15,
} as const);

/** A pseudo-terminal number that is not one (a TTY record for a terminal other than /dev/pts/N). */
export const TTY_NOT_PTS = 0xffffffffffffffffn;

export const FdFlag = Object.freeze({
  CLOEXEC: 1,
  OUTSIDE: 2,
  DRAINED: 4,
  CONTENTS: 8,
  CTTY: 16,
} as const);

/** Sizes of the fixed parts of records, as laid out by the C compiler on x86_64. */
export const RecSize = Object.freeze({
  header: 8,
  process: 160 + AUXV_WORDS * 8, // struct dmtcp_rec_process: 672 on x86_64
  thread: 32,
  area: 80,
  pages: 24,
  end: 32,
  fd: 80,
} as const);

/** Layout of struct dmtcp_rec_process (byte offsets). */
export const ProcessOffsets = Object.freeze({
  pid: 0,
  ppid: 4,
  generation: 8,
  nThreads: 12,
  nAreas: 16,
  ckptSignal: 20,
  ckptTimeNs: 24,
  entry: 32,
  entryArg: 40,
  restorerLo: 48,
  restorerHi: 56,
  mm: 64, // 11 x u64: start_code end_code start_data end_data start_brk brk start_stack arg_start arg_end env_start env_end
  auxv: 152,
  auxvWords: 152 + AUXV_WORDS * 8,
  vdsoHash: 156 + AUXV_WORDS * 8,
  size: 160 + AUXV_WORDS * 8,
} as const);

/** Layout of struct dmtcp_rec_area (byte offsets). */
export const AreaOffsets = Object.freeze({
  start: 0,
  end: 8,
  offset: 16,
  dev: 24,
  ino: 32,
  fileSize: 40,
  mtimeSec: 48,
  mtimeNsec: 56,
  prot: 60,
  flags: 64,
  kind: 68,
  backing: 72,
  pathLen: 76,
} as const);

export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const PROT_EXEC = 4;
