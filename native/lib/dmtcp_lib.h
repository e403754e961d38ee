/* dmtcp_lib.h: internal interfaces between the parts of libdmtcp.so, the library preloaded into every process. */
#ifndef DMTCP_LIB_H
#define DMTCP_LIB_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <sys/types.h>

#include "../include/dmtcp_stream.h"
#include "../include/dmtcp_protocol.h"
#include "../include/dmtcp_layout.h"

#define DMTCP_HIDDEN __attribute__((visibility("hidden")))
#define DMTCP_MAX_THREADS 4096

/* ---- configuration, read once from the environment dmtcp_launch prepared ---- */

struct dmtcp_config {
  char coord_host[256];
  char coord_addr[64];                 /* numeric address, resolved at start so no lookup happens while suspended */
  int coord_port;
  char ckpt_dir[DMTCP_MAX_PATH];        /* explicit --ckptdir / DMTCP_CHECKPOINT_DIR, or settled at checkpoint */
  char launch_dir[DMTCP_MAX_PATH];      /* working directory at launch: the default image directory */
  char tmpdir[DMTCP_MAX_PATH];
  char codec[32];                      /* "" = coordinator default, "none", or a codec name */
  int ckpt_signal;
  int debug;
  int unique_ckpt;
  int incremental;                     /* DMTCP_INCREMENTAL: a full image every this many generations; 0 = off */
  int explicit_ckpt_dir;
  int ckpt_open_files;                 /* DMTCP_CKPT_OPEN_FILES: keep copies of open regular files in the image */               /* the launch named a checkpoint directory (it is passed on across exec) */
  char lib_path[DMTCP_MAX_PATH];       /* this library, for LD_PRELOAD of exec'd programs */
  char ts_plugins[DMTCP_MAX_PATH];     /* DMTCP_TS_PLUGINS: TypeScript plugins for the image service (docs/PLUGINS.md) */
};

struct dmtcp_identity {
  char worker_id[80];                  /* stable across restarts */
  char computation[80];
  char host[256];
  char program[256];
  uint32_t generation;
  uint32_t checkpoints;                /* checkpoints this process took part in */
  uint32_t restarts;
  int origin_pid;                      /* pid when first launched */
};

extern struct dmtcp_config g_cfg DMTCP_HIDDEN;
extern struct dmtcp_identity g_id DMTCP_HIDDEN;
extern int g_active DMTCP_HIDDEN;       /* 1 when this process is under checkpoint control */
extern int g_coord_fd DMTCP_HIDDEN;
extern int g_coord_pid DMTCP_HIDDEN;          /* the real pid that registered on g_coord_fd (not a vfork child) */
extern int g_protected_fd_base DMTCP_HIDDEN;
/* Our descriptors, at g_protected_fd_base + slot: out of the program's way and out of every checkpoint's list. */
enum protected_slot { PROTECTED_COORD = 0, PROTECTED_REQUEST = 1, PROTECTED_LAZY = 2, PROTECTED_LAZY_UFFD = 3 };
int fd_protect(int fd, enum protected_slot slot) DMTCP_HIDDEN;
void lazy_adopt(int fd, int uffd) DMTCP_HIDDEN;
void lazy_wait(void) DMTCP_HIDDEN;
void lazy_watch(int coord_fd) DMTCP_HIDDEN;

/* ---- log.c: async-signal-safe diagnostics on stderr ---- */

void dlog(const char *fmt, ...) DMTCP_HIDDEN __attribute__((format(printf, 1, 2)));
void dlog_debug(const char *fmt, ...) DMTCP_HIDDEN __attribute__((format(printf, 1, 2)));
int dfmt(char *buf, size_t cap, const char *fmt, ...) DMTCP_HIDDEN __attribute__((format(printf, 3, 4)));
int dvfmt(char *buf, size_t cap, const char *fmt, __builtin_va_list ap) DMTCP_HIDDEN;
__attribute__((noreturn)) void dfatal(const char *fmt, ...) DMTCP_HIDDEN __attribute__((format(printf, 1, 2)));
size_t dstrlcpy(char *dst, const char *src, size_t cap) DMTCP_HIDDEN;

/* ---- context.S ---- */

struct dmtcp_context {
  uint64_t rbx, rbp, r12, r13, r14, r15, rsp, rip;
  uint32_t mxcsr;
  uint16_t fpu_cw;
  uint16_t pad;
};

int dmtcp_save_context(struct dmtcp_context *ctx) DMTCP_HIDDEN __attribute__((returns_twice));
__attribute__((noreturn)) void dmtcp_restore_context(const struct dmtcp_context *ctx, int *counter) DMTCP_HIDDEN;
long dmtcp_clone_thread(unsigned long flags, void *stack, int *ptid, int *ctid, unsigned long tls,
                        void *slot) DMTCP_HIDDEN;
void dmtcp_restart_entry(struct dmtcp_restart_info *info);   /* exported: the restorer jumps here */

/* ---- virtual_ids.c: the ids the program knows and the ids the kernel uses now ---- */

int vid_any(void) DMTCP_HIDDEN;
int vid_to_real(int virt) DMTCP_HIDDEN;
int vid_to_virt(int real) DMTCP_HIDDEN;
void vid_set(int virt, int real) DMTCP_HIDDEN;
void vid_reset(void) DMTCP_HIDDEN;
int vid_adopt_new_thread(int real) DMTCP_HIDDEN;
int vid_new_process(int real) DMTCP_HIDDEN;
int vid_self_pid(void) DMTCP_HIDDEN;
void vid_after_fork(void) DMTCP_HIDDEN;
void vid_format(char *buf, size_t cap) DMTCP_HIDDEN;
void vid_parse(const char *s) DMTCP_HIDDEN;

/* ---- threads.c: what each thread needs back at restart ---- */

#define DMTCP_MAX_PENDING 8

struct thread_slot {
  struct dmtcp_context ctx;
  int tid;                             /* the virtual tid: what glibc and the program know */
  int real_tid;                        /* the kernel's tid when captured */
  int is_main;
  int is_ckpt;
  int has_altstack;
  uint64_t fs_base;
  uint64_t tid_address;                /* glibc's &pthread->tid, the kernel's clear_child_tid */
  uint64_t robust_head;
  uint64_t robust_len;
  uint64_t rseq_area;                  /* 0 when the thread had no rseq registration */
  uint32_t rseq_len;
  stack_t altstack;
  char name[16];
  int n_pending;                       /* signals taken off the thread's queues at checkpoint, queued again after */
  siginfo_t pending[DMTCP_MAX_PENDING];
};

extern struct thread_slot g_slots[DMTCP_MAX_THREADS] DMTCP_HIDDEN;
extern int g_n_slots DMTCP_HIDDEN;

void threads_init(void) DMTCP_HIDDEN;
struct thread_slot *threads_claim_slot(void) DMTCP_HIDDEN;
void threads_capture(struct thread_slot *slot) DMTCP_HIDDEN;
void threads_fixup_after_restart(struct thread_slot *slot) DMTCP_HIDDEN;
void threads_recreate(void) DMTCP_HIDDEN;
void threads_release_restart_stacks(void) DMTCP_HIDDEN;
struct thread_slot *threads_main_slot(void) DMTCP_HIDDEN;
extern long g_tid_offset DMTCP_HIDDEN;           /* offset of glibc's cached tid in struct pthread, or -1 */
int threads_virtual_tid_of(uint64_t pthread_self_value) DMTCP_HIDDEN;

/* ---- suspend.c: stopping and releasing user threads ---- */

void suspend_install_handler(void) DMTCP_HIDDEN;
int suspend_user_threads(char *err, size_t errcap) DMTCP_HIDDEN;
void resume_user_threads(void) DMTCP_HIDDEN;
int suspend_is_ckpt_signal(int sig) DMTCP_HIDDEN;
void suspend_after_fork(void) DMTCP_HIDDEN;
/* Around glibc's fork in our wrapper: checkpoints stay out until the wrapper has the child's virtual pid. */
void fork_wrapper_enter(void) DMTCP_HIDDEN;
void fork_wrapper_leave(void) DMTCP_HIDDEN;
/* A spinlock for our own short sections. Its holder must never be stopped by a checkpoint while holding it (block
 * signals first, or keep checkpoints out), or whoever waits for it next waits for ever. */
static inline void dspin_lock(int *lock)
{
  while (__atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE)) {
    while (__atomic_load_n(lock, __ATOMIC_RELAXED)) __builtin_ia32_pause();
  }
}

static inline void dspin_unlock(int *lock)
{
  __atomic_store_n(lock, 0, __ATOMIC_RELEASE);
}

/* Wrappers that translate ids must not be cut in two by a checkpoint and a restart: an id read before would reach
 * the kernel after, where it names another task or none.
 * - WITHOUT_CKPT(expr), for calls that act on another task (kill, tgkill, setpgid, ...): every signal is blocked
 *   while expr runs, so the checkpoint signal (and any other) arrives just after, as if the call had been quicker.
 * - REREAD_AFTER_RESTART(expr), for calls that only read (gettid, getppid, ...): expr runs again when a restart
 *   happened while it ran. Costs no system call.
 * Neither may wrap a call that blocks. */
uint64_t ckpt_signals_hold(void) DMTCP_HIDDEN;
void ckpt_signals_release(uint64_t old_mask) DMTCP_HIDDEN;
#define WITHOUT_CKPT(expr)                                                                                           \
  ({                                                                                                                 \
    uint64_t held_mask_ = ckpt_signals_hold();                                                                       \
    __typeof__(expr) held_result_ = (expr);                                                                          \
    ckpt_signals_release(held_mask_);                                                                                \
    held_result_;                                                                                                    \
  })
#define REREAD_AFTER_RESTART(expr)                                                                                   \
  ({                                                                                                                 \
    uint32_t reread_gen_;                                                                                            \
    __typeof__(expr) reread_result_;                                                                                 \
    do {                                                                                                             \
      reread_gen_ = __atomic_load_n(&g_id.restarts, __ATOMIC_ACQUIRE);                                               \
      reread_result_ = (expr);                                                                                       \
    } while (__atomic_load_n(&g_id.restarts, __ATOMIC_ACQUIRE) != reread_gen_);                                      \
    reread_result_;                                                                                                  \
  })

/* ---- procstate.c: process-wide kernel state that is not in memory ---- */

void procstate_capture(void) DMTCP_HIDDEN;
void procstate_restore(void) DMTCP_HIDDEN;
void procstate_fill_process_record(struct dmtcp_rec_process *p) DMTCP_HIDDEN;
const char *procstate_cwd(void) DMTCP_HIDDEN;
const char *procstate_zombies(void) DMTCP_HIDDEN;

/* ---- fds.c ---- */

struct stream_out;

struct fd_entry {
  struct dmtcp_rec_fd rec;
  char path[DMTCP_MAX_PATH];
  uint64_t data_off;                   /* into the data arena */
};

int fds_capture(const uint32_t *pairs, int n_pairs) DMTCP_HIDDEN;
void fds_drain(void) DMTCP_HIDDEN;
void fds_refill(void) DMTCP_HIDDEN;
void fds_release(void) DMTCP_HIDDEN;
int fds_shared_elsewhere(uint64_t dev, uint64_t ino) DMTCP_HIDDEN;
void fds_restore_events(void) DMTCP_HIDDEN;
void fds_write_records(struct stream_out *o) DMTCP_HIDDEN;
int fds_count(void) DMTCP_HIDDEN;
struct fd_entry *fds_entries(int *n) DMTCP_HIDDEN;
int fds_owns(const struct fd_entry *e) DMTCP_HIDDEN;   /* this descriptor is its description's owner (lowest vpid, fd) */
uint8_t *fds_data(const struct fd_entry *e) DMTCP_HIDDEN;
void fds_set_data(struct fd_entry *e, const void *head, uint64_t head_len, const void *tail, uint64_t tail_len) DMTCP_HIDDEN;
int fds_link_held(const char *link, int *self_holds) DMTCP_HIDDEN;
const char *inotify_recorded(int fd, int wd, uint32_t *mask) DMTCP_HIDDEN;   /* wrappers/inotify_wrappers.c */   /* other processes holding that link */

/* ---- sockets.c: the socket-drain plugin's native half ---- */

void sockets_begin_capture(void) DMTCP_HIDDEN;
void sockets_capture(struct fd_entry *e, int fd) DMTCP_HIDDEN;
void sockets_drain(uint64_t nonce) DMTCP_HIDDEN;
void sockets_refill(void) DMTCP_HIDDEN;
void sockets_restart_bind(void) DMTCP_HIDDEN;      /* REBOUND: listening and bound sockets at their addresses */
void sockets_restart_publish(void) DMTCP_HIDDEN;   /* PUBLISHED: fresh addresses for connections, in the name service */
void sockets_restart_connect(void) DMTCP_HIDDEN;   /* RECONNECTED: peers looked up, connections rebuilt */
void fds_restore_epoll_again(void) DMTCP_HIDDEN;     /* epoll sets watch the rebuilt sockets */

/* ---- timers.c ---- */

void timers_capture(void) DMTCP_HIDDEN;
void timers_restore(void) DMTCP_HIDDEN;
void ipc_after_restart(const struct dmtcp_restart_info *info) DMTCP_HIDDEN;
void ipc_remove_again(void) DMTCP_HIDDEN;

/* ---- stream_out.c: the raw process stream writer ---- */

struct stream_out {
  int fd;
  int err;                             /* first negative errno, sticky */
  uint64_t pos;
  size_t used;
  uint8_t buf[1u << 16];
};

void out_init(struct stream_out *o, int fd) DMTCP_HIDDEN;
void out_bytes(struct stream_out *o, const void *p, size_t n) DMTCP_HIDDEN;
void out_flush(struct stream_out *o) DMTCP_HIDDEN;
void out_record(struct stream_out *o, uint32_t type, const void *body, uint32_t len) DMTCP_HIDDEN;
void out_tlv(uint8_t *buf, size_t cap, size_t *used, uint16_t tag, const void *val, uint32_t len) DMTCP_HIDDEN;
void out_tlv_str(uint8_t *buf, size_t cap, size_t *used, uint16_t tag, const char *s) DMTCP_HIDDEN;

/* ---- memory.c: the address space, area by area ---- */

int memory_write_stream(struct stream_out *o, int negotiable, char *err, size_t errcap) DMTCP_HIDDEN;
void memory_reserve_restorer_hole(void) DMTCP_HIDDEN;
extern int g_hole_reserved DMTCP_HIDDEN;

/* ---- coordinator.c: the protocol client ---- */

struct tlv_reader {
  const uint8_t *p;
  size_t len;
};

struct msg_out {
  uint8_t buf[16384];
  size_t used;
};

int coord_connect(char *err, size_t errcap) DMTCP_HIDDEN;
int coord_send(uint16_t type, const struct msg_out *m) DMTCP_HIDDEN;
int coord_recv(uint16_t *type, uint8_t *buf, size_t cap, size_t *len) DMTCP_HIDDEN;
int coord_send_fd(int fd, uint16_t type, const struct msg_out *m) DMTCP_HIDDEN;
int coord_recv_fd(int fd, uint16_t *type, uint8_t *buf, size_t cap, size_t *len) DMTCP_HIDDEN;
void msg_u32(struct msg_out *m, uint16_t tag, uint32_t v) DMTCP_HIDDEN;
void msg_u64(struct msg_out *m, uint16_t tag, uint64_t v) DMTCP_HIDDEN;
void msg_str(struct msg_out *m, uint16_t tag, const char *s) DMTCP_HIDDEN;
void msg_bytes(struct msg_out *m, uint16_t tag, const void *p, uint32_t n) DMTCP_HIDDEN;
int tlv_find(const uint8_t *buf, size_t len, uint16_t tag, const uint8_t **val, uint32_t *vlen) DMTCP_HIDDEN;
int tlv_get_str(const uint8_t *buf, size_t len, uint16_t tag, char *out, size_t cap) DMTCP_HIDDEN;
int tlv_get_u32(const uint8_t *buf, size_t len, uint16_t tag, uint32_t *out) DMTCP_HIDDEN;

/* ---- ckpt_thread.c ---- */

void ckpt_thread_start(void) DMTCP_HIDDEN;
int ckpt_register(int restarting, char *err, size_t errcap) DMTCP_HIDDEN;
extern volatile int g_restarted DMTCP_HIDDEN;
extern int g_ckpt_tid DMTCP_HIDDEN;

/* ---- api.c ---- */

void api_init(void) DMTCP_HIDDEN;
void api_hook_pre_checkpoint(void) DMTCP_HIDDEN;
void api_hook_post_checkpoint(void) DMTCP_HIDDEN;
void api_hook_restart(void) DMTCP_HIDDEN;
void api_begin_checkpoint(void) DMTCP_HIDDEN;
void api_end_checkpoint(void) DMTCP_HIDDEN;
void api_after_fork(void) DMTCP_HIDDEN;
int dmtcp_disable_ckpt(void);
int dmtcp_enable_ckpt(void);

/* ---- plugins.c: native plugins (api/dmtcp_plugin.h) ---- */

void plugins_load(void) DMTCP_HIDDEN;
void plugins_init(void) DMTCP_HIDDEN;
void plugins_pre_checkpoint(const uint8_t *barrier, size_t len) DMTCP_HIDDEN;
void plugins_resume(void) DMTCP_HIDDEN;
const char *plugins_list(void) DMTCP_HIDDEN;

/* ---- restart.c ---- */

extern struct dmtcp_restart_info g_restart_info DMTCP_HIDDEN;
void restart_apply_blob(void) DMTCP_HIDDEN;

/* ---- small raw helpers ---- */

static inline int d_memeq(const void *a, const void *b, size_t n)
{
  const unsigned char *x = a, *y = b;
  for (size_t i = 0; i < n; i++) {
    if (x[i] != y[i]) return 0;
  }
  return 1;
}

#endif
