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
};

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

#define DMTCP_REC_ALIGN(n) (((n) + 7u) & ~7u)

#endif
