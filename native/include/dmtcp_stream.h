/* dmtcp_stream.h: the raw process stream, written by the capture library at checkpoint and read by the restorer at restart.
 *
 * The same record sequence travels both ways (docs/ARCHITECTURE.md, "The raw process stream"):
 *   checkpoint: libdmtcp.so (in the application) -> image service (TypeScript pipeline) -> .dmtcp image
 *   restart:    .dmtcp image -> pipeline decoder -> mtcp_restart (static restorer)
 * All integers are little-endian x86_64 native; every record starts with struct dmtcp_rec and its body is padded to 8 bytes.
 * src/protocol/stream.ts mirrors these constants and layouts; test/unit/native-constants.test.ts pins that they agree. */
#ifndef DMTCP_STREAM_H
#define DMTCP_STREAM_H

#include <stdint.h>

#define DMTCP_STREAM_MAGIC "DMTCPRAW"   /* 8 bytes, no NUL */
#define DMTCP_STREAM_VERSION 1
#define DMTCP_PAGE_SIZE 4096
#define DMTCP_MAX_AREAS 32768
#define DMTCP_MAX_PATH 4096
#define DMTCP_AUXV_WORDS 64            /* room for the kernel's saved auxv (AT_VECTOR_SIZE on x86_64 is 52 words) */

struct dmtcp_stream_header {
  char magic[8];
  uint32_t version;
  uint32_t header_size;                /* sizeof(struct dmtcp_stream_header) */
  uint32_t page_size;
  uint32_t arch;                       /* ELF e_machine: 62 = x86_64 */
  uint32_t flags;                      /* DMTCP_STREAM_F_* */
  uint32_t reserved;
};

#define DMTCP_STREAM_F_PUSH 1          /* page contents follow DATA records inline */
#define DMTCP_STREAM_F_NEGOTIATE 2     /* the writer answers DMTCP_MODE_* after the last AREA record */

enum dmtcp_rec_type {
  DMTCP_REC_PROCESS = 1,               /* struct dmtcp_rec_process, then TLV strings */
  DMTCP_REC_THREAD = 2,                /* struct dmtcp_rec_thread */
  DMTCP_REC_AREA = 3,                  /* struct dmtcp_rec_area, then path bytes (path_len, NUL included) */
  DMTCP_REC_DATA = 4,                  /* struct dmtcp_rec_pages, then `length` bytes of page contents */
  DMTCP_REC_ZERO = 5,                  /* struct dmtcp_rec_pages: pages that must be zero-filled */
  DMTCP_REC_END = 6,                   /* struct dmtcp_rec_end */
  DMTCP_REC_ERROR = 7,                 /* UTF-8 message: the producer failed; the reader reports it and stops */
  DMTCP_REC_RESTART = 8,               /* restart direction only: opaque TLV blob handed to the library's restart entry */
  DMTCP_REC_PULL = 9,                  /* struct dmtcp_rec_pages: the reader copies these pages itself (process_vm_readv) */
  DMTCP_REC_FD = 10,                   /* struct dmtcp_rec_fd, then path bytes, then data bytes */
  DMTCP_REC_LAZY = 11,                 /* restart direction only: u32 count, then u32 area indices the decoder fills
                                          after the program resumes (userfaultfd); see "Lazy restore" */
};

/* Restart direction, direct mode: what the restorer tells the decoder on the ack pipe (four int32 each).
 *   { 'R', pid, uffd, done }  areas mapped and writable; uffd and done (the write end of a pipe whose read end the
 *                             library keeps) are descriptor numbers in the restorer the decoder may take with
 *                             pidfd_getfd, or -1 when userfaultfd is not available
 *   { 'L', n, 0, 0 }          answer to a LAZY record: n areas registered, or -errno (none are) */
#define DMTCP_ACK_READY 'R'
#define DMTCP_ACK_LAZY 'L'

/* Transfer negotiation (checkpoint direction): after the last AREA record the writer answers one byte on the same
 * socket. DMTCP_MODE_PULL: it can read this process's memory, so page runs are sent as PULL records and the process
 * stays frozen until the writer's verdict; DMTCP_MODE_PUSH: page contents follow DATA records inline. */
#define DMTCP_MODE_PULL 'P'
#define DMTCP_MODE_PUSH 'S'

struct dmtcp_rec {
  uint32_t type;
  uint32_t len;                        /* bytes of body after this header, including padding; DATA bytes not counted */
};

/* TLV string tags inside the PROCESS record and the RESTART blob. Each TLV: u16 tag, u16 0, u32 len, bytes, pad to 8. */
enum dmtcp_tlv_tag {
  DMTCP_TLV_HOST = 1,
  DMTCP_TLV_PROGRAM = 2,               /* basename shown in file names */
  DMTCP_TLV_ARGV = 3,                  /* NUL-separated */
  DMTCP_TLV_CWD = 4,
  DMTCP_TLV_EXE = 5,                   /* /proc/self/exe at checkpoint */
  DMTCP_TLV_WORKER_ID = 6,             /* stable id: <hostid>-<pid>-<start time>, survives restarts */
  DMTCP_TLV_COMPUTATION = 7,           /* computation id from the coordinator */
  DMTCP_TLV_CODEC = 8,                 /* codec the process asked for ("" = writer's default, "none" = stored) */
  DMTCP_TLV_UNIQUE = 9,                /* "1" when every generation gets its own image name */
  DMTCP_TLV_ORIGIN_PID = 10,           /* decimal pid when first launched (part of the worker id) */
  DMTCP_TLV_COORD_HOST = 16,           /* RESTART blob: where the restarted process connects */
  DMTCP_TLV_COORD_PORT = 17,
  DMTCP_TLV_CKPT_DIR = 18,
  DMTCP_TLV_TMPDIR = 19,
  DMTCP_TLV_IMAGE_PATH = 20,           /* RESTART blob: the image this process was restored from */
  DMTCP_TLV_NPROCS = 21,              /* RESTART blob: decimal count of processes restarted together */
  DMTCP_TLV_VPID = 22,                 /* PROCESS: decimal ids as the program knows them: pid, parent, group, session */
  DMTCP_TLV_VPPID = 23,
  DMTCP_TLV_VPGID = 24,
  DMTCP_TLV_VSID = 25,
  DMTCP_TLV_ZOMBIES = 26,              /* PROCESS: children dead but not reaped: "vpid:code:status," (waitid's CLD_* and
                                        * si_status) for each */
  DMTCP_TLV_INCREMENTAL = 27,          /* PROCESS: decimal N when images are incremental (a full one every N generations);
                                        * absent when they are not */
  DMTCP_TLV_TS_PLUGINS = 32,           /* PROCESS, RESTART: the TypeScript plugins the image service runs for this process
                                        * (DMTCP_TS_PLUGINS: "PATH[,KEY=VALUE...]" entries separated by ':'; docs/PLUGINS.md) */
};

struct dmtcp_mm_map {                  /* the fields of struct prctl_mm_map the restorer gives back to the kernel */
  uint64_t start_code, end_code, start_data, end_data;
  uint64_t start_brk, brk, start_stack;
  uint64_t arg_start, arg_end, env_start, env_end;
};

struct dmtcp_rec_process {
  uint32_t pid, ppid;
  uint32_t generation;
  uint32_t n_threads;
  uint32_t n_areas;                    /* AREA records that follow, before any DATA */
  uint32_t ckpt_signal;
  uint64_t ckpt_time_ns;               /* CLOCK_REALTIME at checkpoint */
  uint64_t entry;                      /* address of the library's restart entry */
  uint64_t entry_arg;                  /* opaque value passed back to it */
  uint64_t restorer_lo, restorer_hi;   /* the hole reserved in this process for mtcp_restart */
  struct dmtcp_mm_map mm;
  uint64_t auxv[DMTCP_AUXV_WORDS];
  uint32_t auxv_words;
  uint32_t vdso_hash;                  /* FNV-1a of the [vdso] bytes, to detect a different kernel at restart */
};

struct dmtcp_rec_thread {
  uint32_t tid;
  uint32_t flags;                      /* DMTCP_THREAD_F_* */
  uint64_t fs_base;
  char name[16];
};
#define DMTCP_THREAD_F_MAIN 1
#define DMTCP_THREAD_F_CKPT 2

enum dmtcp_area_kind {
  DMTCP_AREA_ANON = 1,                 /* private anonymous */
  DMTCP_AREA_HEAP = 2,
  DMTCP_AREA_STACK = 3,                /* the main thread's [stack], grows down */
  DMTCP_AREA_FILE = 4,                 /* private file mapping */
  DMTCP_AREA_FILE_SHARED = 5,          /* shared file mapping: the file holds the contents */
  DMTCP_AREA_SHARED_ANON = 6,          /* shared anonymous or deleted shared file: contents saved */
  DMTCP_AREA_VDSO = 7,
  DMTCP_AREA_VVAR = 8,
  DMTCP_AREA_VVAR_VCLOCK = 9,
  DMTCP_AREA_VSYSCALL = 10,
  DMTCP_AREA_RESERVED = 11,            /* the restorer hole: not restored, re-reserved by the library */
  DMTCP_AREA_DELETED_FILE = 12,        /* private mapping of a deleted file: contents saved, restored anonymous */
};

enum dmtcp_backing {
  DMTCP_BACK_ZERO = 1,                 /* pages without DATA are zero */
  DMTCP_BACK_FILE = 2,                 /* pages without DATA come from the file */
  DMTCP_BACK_NONE = 3,                 /* not restored from the image (vdso, vvar, vsyscall, reserved) */
};

#define DMTCP_AREA_F_SHARED 1
#define DMTCP_AREA_F_GROWSDOWN 2
#define DMTCP_AREA_F_SHARED_COPY 4     /* shared memory whose contents another process's image holds (the lowest pid
                                        * among the processes mapping it); restored only by mapping the same object */

struct dmtcp_rec_area {
  uint64_t start, end;
  uint64_t offset;                     /* file offset */
  uint64_t dev, ino;
  uint64_t file_size;
  int64_t mtime_sec;
  uint32_t mtime_nsec;
  uint32_t prot;                       /* PROT_READ | PROT_WRITE | PROT_EXEC */
  uint32_t flags;                      /* DMTCP_AREA_F_* */
  uint32_t kind;                       /* enum dmtcp_area_kind */
  uint32_t backing;                    /* enum dmtcp_backing */
  uint32_t path_len;                   /* bytes of path that follow, NUL included; 0 for anonymous */
};

struct dmtcp_rec_pages {
  uint32_t area;                       /* index of the AREA record */
  uint32_t flags;
  uint64_t offset;                     /* from the area start, page aligned */
  uint64_t length;                     /* page aligned */
};

struct dmtcp_rec_end {
  uint64_t data_bytes;                 /* page bytes sent in DATA records */
  uint64_t zero_pages;                 /* pages skipped because they were zero */
  uint64_t file_pages;                 /* pages left to their file */
  uint32_t status;                     /* 0 = complete */
  uint32_t reserved;
};

/* One open descriptor of the process (checkpoint direction; the restore plan carries the same record). */
enum dmtcp_fd_kind {
  DMTCP_FD_REG = 1,                    /* regular file: reopened by path at its offset */
  DMTCP_FD_DIR = 2,
  DMTCP_FD_CHR = 3,                    /* character device: reopened by path (/dev/null, /dev/urandom, ...) */
  DMTCP_FD_FIFO = 4,                   /* named pipe */
  DMTCP_FD_PIPE = 5,                   /* anonymous pipe end; `ino` names the pipe, the access mode which end */
  DMTCP_FD_SOCKET = 6,
  DMTCP_FD_EPOLL = 7,
  DMTCP_FD_EVENTFD = 8,
  DMTCP_FD_SIGNALFD = 9,
  DMTCP_FD_TIMERFD = 10,
  DMTCP_FD_INOTIFY = 11,
  DMTCP_FD_DELETED = 12,               /* regular file deleted while open: its contents travel as data */
  DMTCP_FD_TTY = 13,                   /* a terminal: at restart, the terminal dmtcp_restart runs on */
  DMTCP_FD_OTHER = 14,                 /* anything else: restored as /dev/null with a warning */
  DMTCP_FD_PTY_MASTER = 15,            /* /dev/ptmx: `size` holds its pty number (TIOCGPTN) */
};

/* The data of a DMTCP_FD_TTY record: how the terminal was set. For a pseudo-terminal slave `size` holds its number
 * (the N of /dev/pts/N), otherwise all ones. */
struct dmtcp_tty_state {
  uint8_t termios[40];                 /* struct termios as TCGETS fills it (36 bytes), padded */
  uint16_t rows, cols, xpixel, ypixel; /* TIOCGWINSZ */
  int32_t fg_vpgid;                    /* its foreground process group (virtual), when it is our controlling tty */
  int32_t reserved;
};
#define DMTCP_TTY_NOT_PTS 0xffffffffffffffffull

/* The data of event descriptors, which the library itself recreates at restart (fds.c). */
struct dmtcp_eventfd_state {
  uint64_t count;
  uint32_t semaphore;
  uint32_t reserved;
};

struct dmtcp_timerfd_state {
  int32_t clockid;
  uint32_t reserved;
  uint64_t ticks;                      /* expirations not read yet */
  int64_t interval_sec, interval_nsec; /* timerfd_gettime(): relative */
  int64_t value_sec, value_nsec;
};

/* An epoll instance's data is an array of these: what was registered, under the target's descriptor number. */
struct dmtcp_epoll_item {
  int32_t fd;
  uint32_t events;
  uint64_t data;
};

/* The data of a socket record: what it is and how it was connected, then the bytes drained from it (stream sockets:
 * the bytes themselves; datagram socket pairs: u32 length + bytes per datagram). The library rebuilds sockets itself
 * at restart (sockets.c); the restorer only creates an unconnected socket of this family, type and protocol. */
struct dmtcp_sock_state {
  uint16_t family;                     /* AF_UNIX, AF_INET, AF_INET6, ... */
  uint16_t role;                       /* DMTCP_SOCK_ROLE_*: how an inside connection is rebuilt */
  uint32_t type;                       /* SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET */
  uint32_t protocol;
  uint32_t flags;                      /* DMTCP_SOCK_* */
  int32_t sndbuf, rcvbuf;              /* SO_SNDBUF, SO_RCVBUF when set by the program (else 0) */
  int32_t backlog;                     /* listening sockets */
  uint32_t drained;                    /* bytes of drained data after this struct */
  uint64_t ino;                        /* the socket's inode at checkpoint */
  uint64_t peer_ino;                   /* its peer's inode on this host, 0 when unknown */
  uint32_t local_len, peer_len;        /* socklen of the addresses below */
  uint8_t local[128];                  /* getsockname() */
  uint8_t peer[128];                   /* getpeername() */
};

_Static_assert(sizeof(struct dmtcp_sock_state) == 312, "src/pipeline/socket-state.ts decodes 312 bytes");

#define DMTCP_SOCK_LISTENING 1
#define DMTCP_SOCK_CONNECTED 2         /* getpeername() succeeded */
#define DMTCP_SOCK_BOUND 4             /* it has an address of its own worth binding again (not an autobind) */
#define DMTCP_SOCK_INSIDE 8            /* the peer is held by a process of the computation */
#define DMTCP_SOCK_NODELAY 16
#define DMTCP_SOCK_REUSEADDR 32
#define DMTCP_SOCK_KEEPALIVE 64
#define DMTCP_SOCK_PEER_CLOSED 128     /* draining met end-of-file: the peer had shut down its writing side */
#define DMTCP_SOCK_REUSEPORT 256

#define DMTCP_SOCK_ROLE_NONE 0
#define DMTCP_SOCK_ROLE_ACCEPT 1       /* at restart: listens on a fresh address, published in the name service */
#define DMTCP_SOCK_ROLE_CONNECT 2      /* at restart: looks the peer's fresh address up and connects */
#define DMTCP_SOCK_ROLE_PAIR 3         /* datagram pair: binds a fresh address, publishes it, connects to the peer's */

#define DMTCP_FD_F_CLOEXEC 1           /* close-on-exec was set */
#define DMTCP_FD_F_OUTSIDE 2           /* the other end (pipe, socket) belongs to no process of the computation */
#define DMTCP_FD_F_DRAINED 4           /* data holds bytes drained from the pipe, to be written back */
#define DMTCP_FD_F_CONTENTS 8          /* data holds the file's whole contents (deleted file, --ckpt-open-files) */
#define DMTCP_FD_F_CTTY 16             /* a terminal that is this process's controlling terminal */

struct dmtcp_rec_fd {
  int32_t fd;
  uint32_t kind;                       /* enum dmtcp_fd_kind */
  uint32_t flags;                      /* DMTCP_FD_F_* */
  uint32_t file_flags;                 /* fcntl(F_GETFL): O_ACCMODE, O_APPEND, O_NONBLOCK, ... */
  int64_t offset;
  uint64_t dev, ino;
  uint64_t size;
  int64_t mtime_sec;
  uint32_t mtime_nsec;
  uint32_t owner_vpid;                 /* canonical holder of the open file description: the lowest (vpid, fd) */
  int32_t owner_fd;                    /* among all processes of the computation that share it */
  uint32_t mode;                       /* st_mode */
  uint32_t path_len;                   /* bytes of path that follow, NUL included */
  uint32_t data_len;                   /* bytes of data after the path (padded to 8 with it) */
};

#define DMTCP_REC_ALIGN(n) (((n) + 7u) & ~7u)

#endif
