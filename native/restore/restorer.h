/* restorer.h: what the parts of mtcp_restart share: exit codes and the one-line diagnostics. */
#ifndef RESTORER_H
#define RESTORER_H

#include <stdint.h>

enum exit_code {
  EXIT_USAGE = 2,
  EXIT_STREAM = 3,      /* bad, truncated or failed stream */
  EXIT_LAYOUT = 4,      /* address collision or unsupported layout */
  EXIT_MAP = 5,         /* mmap/mprotect failure */
  EXIT_FILE = 6,        /* a file the program had open or mapped is missing */
  EXIT_PLAN = 7,        /* the restart plan could not be carried out */
};

void msg_begin(void);
void msg_str(const char *s);
void msg_hex(uint64_t v);
void msg_dec(int64_t v);
__attribute__((noreturn)) void msg_fail(int code);
int str_eq(const char *a, const char *b);

/* plan.c: creates the process tree and the descriptors; says which process this one became and what it reads. */
struct plan_result {
  int index;
  int stream_fd;
  int ack_fd;       /* -1: no direct writes */
  int ptracer;      /* 0: none */
  int n_zombies;    /* children made to end as they had ended: virtual pid, real pid */
  int zombies[64][2];
};
void plan_execute(int plan_fd, struct plan_result *out);
/* The shared memory object this process knew as (dev, ino): a descriptor to map, or (*sysv set) a segment id. */
int plan_shared_lookup(uint64_t dev, uint64_t ino, int *sysv);
/* (old shmid, new shmid, removed) triples of the System V segments this process attaches again; returns the count. */
int plan_shared_sysv_ids(int32_t *pairs, int max_pairs);
void plan_close_shared(void);

#endif
