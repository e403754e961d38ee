/* dmtcp_plan.h: the restart plan dmtcp_restart hands mtcp_restart (--plan-fd): which processes to create in which
 * tree, with which sessions and process groups, and which descriptors each one holds. Written by
 * src/pipeline/restart-plan.ts; test/unit/native-constants.test.ts checks both sides agree. Little-endian. */
#ifndef DMTCP_PLAN_H
#define DMTCP_PLAN_H

#include <stdint.h>

#define DMTCP_PLAN_MAGIC "DMTCPPLN"
#define DMTCP_PLAN_VERSION 1
#define DMTCP_PLAN_NO_PROC (-1)
#define DMTCP_PLAN_NO_DESC 0xffffffffu

struct dmtcp_plan_header {
  char magic[8];
  uint32_t version;
  uint32_t n_procs;                    /* index 0 is this process; the others are created by fork or clone */
  uint32_t n_descs;
  uint32_t n_holds;
  uint32_t blob_len;                   /* paths and data, after the shares */
  uint32_t n_shares;                   /* after the holds */
};

#define DMTCP_PLAN_SESSION_LEADER 1
#define DMTCP_PLAN_GROUP_LEADER 2
#define DMTCP_PLAN_FOREGROUND 4                /* its group is the foreground group of its controlling terminal */
#define DMTCP_PLAN_ZOMBIE 8                    /* a child that had exited unreaped: created only to end as it did */

struct dmtcp_plan_proc {
  uint32_t index;
  int32_t parent;                      /* index, or DMTCP_PLAN_NO_PROC: a root (a sibling of process 0) */
  uint32_t vpid;
  uint32_t flags;                      /* DMTCP_PLAN_* */
  int32_t group_leader;                /* index of its process group's leader, or DMTCP_PLAN_NO_PROC */
  uint32_t stream_fd;                  /* in process 0: this process's restore stream */
  uint32_t ack_fd;                     /* and the pipe that tells its decoder the areas are mapped */
  uint32_t ptracer;                    /* its decoder's pid, allowed to write its memory (PR_SET_PTRACER), or 0 */
  uint32_t exit_code;                  /* zombies: waitid's si_code (CLD_EXITED, CLD_KILLED, CLD_DUMPED) */
  int32_t exit_status;                 /* and si_status: the exit status or the signal */
};

#define DMTCP_PLAN_NO_FD 0xffffffffu

enum dmtcp_plan_desc_kind {
  DMTCP_DESC_OPEN = 1,                 /* open(path, flags), lseek(offset) */
  DMTCP_DESC_PIPE_READ = 2,            /* pipe2(): this end and `peer` are created together; data is written in */
  DMTCP_DESC_PIPE_WRITE = 3,
  DMTCP_DESC_TMPFILE = 4,              /* an unlinked file in path's directory holding data */
  DMTCP_DESC_RECREATE = 5,             /* open(path); created with data first when missing */
  DMTCP_DESC_TERMINAL = 6,             /* the terminal this restart runs on, else /dev/null */
  DMTCP_DESC_NULL = 7,                 /* /dev/null */
  DMTCP_DESC_SHM_ANON = 8,             /* shared memory without a name: memfd_create(path), offset = its size */
  DMTCP_DESC_SHM_FILE = 9,             /* a file in /dev/shm (shm_open): opened or created, at least offset bytes */
  DMTCP_DESC_SYSV = 10,                /* System V segment: shmget(file_flags as key, offset as size, mode);
                                        * mode & 01000 (SHM_DEST): it had been removed, the library removes it again */
  DMTCP_DESC_PTY_MASTER = 11,          /* a new pseudo-terminal: open /dev/ptmx, unlock */
  DMTCP_DESC_PTY_SLAVE = 12,           /* the slave of `peer` (a PTY_MASTER); data: struct dmtcp_tty_state */
  DMTCP_DESC_SOCKET = 13,              /* socket(family, type, protocol) from data (u16 family, u16, u32 type, u32
                                        * protocol: the head of struct dmtcp_sock_state), unconnected: the library
                                        * binds, listens and connects it during the restart round */
};

struct dmtcp_plan_desc {
  uint32_t id;
  uint32_t kind;
  int32_t creator;                     /* process index, or DMTCP_PLAN_NO_PROC: process 0 before the other roots */
  uint32_t file_flags;
  int64_t offset;
  uint32_t path_off, path_len;         /* into the blob; path_len includes the NUL */
  uint32_t data_off, data_len;
  uint32_t peer;                       /* the other end of a pipe, or DMTCP_PLAN_NO_DESC */
  uint32_t mode;
  uint64_t reserved;
};

#define DMTCP_HOLD_CLOEXEC 1
#define DMTCP_HOLD_CTTY 2                      /* becomes the process's controlling terminal (a session leader) */

struct dmtcp_plan_hold {
  uint32_t proc;
  int32_t fd;
  uint32_t desc;
  uint32_t flags;                      /* DMTCP_HOLD_* */
};

/* Process `proc` maps the shared memory object it knew as (dev, ino) from description `desc`. */
struct dmtcp_plan_share {
  uint32_t proc;
  uint32_t desc;
  uint64_t dev, ino;
};

#endif
