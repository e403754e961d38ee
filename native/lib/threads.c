/* threads.c: the per-thread kernel state a thread needs back at restart, captured by the thread itself and
 * reinstated on a freshly cloned task (tid address, robust futex list, rseq, TLS base, alternate stack, name). */
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <asm/prctl.h>

#include "dmtcp_lib.h"
#include "../include/dmtcp_sys.h"

#define RSEQ_SIG_X86 0x53053053
#define RESTART_STACK_SIZE (64u * 1024u)

struct thread_slot g_slots[DMTCP_MAX_THREADS];
int g_n_slots;

static ptrdiff_t rseq_offset;          /* glibc's __rseq_offset: the rseq area's place relative to the thread pointer */
static unsigned rseq_size;             /* glibc's __rseq_size; 0 when glibc did not register rseq */

long g_tid_offset = -1;

static void *restart_stacks;
static size_t restart_stacks_len;
static int restarted_threads;          /* incremented by dmtcp_restore_context once a thread left its temporary stack */

void threads_init(void)
{
  /* glibc 2.35+ registers an rseq area for every thread and exports where; older glibc has neither symbol. */
  const ptrdiff_t *off = dlsym(RTLD_DEFAULT, "__rseq_offset");
  const unsigned *size = dlsym(RTLD_DEFAULT, "__rseq_size");
  if (off && size && *size) {
    rseq_offset = *off;
    rseq_size = *size < 32 ? 32 : *size;
  }
  /* Where glibc keeps a thread's tid inside struct pthread: the kernel's clear_child_tid address of this thread is
   * exactly that field (glibc registers it with set_tid_address / CLONE_CHILD_CLEARTID). */
  uint64_t addr = 0;
  uint64_t self = (uint64_t)pthread_self();
  if (d_prctl(PR_GET_TID_ADDRESS, (long)&addr, 0, 0, 0) == 0 && addr > self && addr - self < 4096 &&
      *(int *)addr == (int)d_gettid()) {
    g_tid_offset = (long)(addr - self);
  }
}

/* The virtual tid glibc holds for a pthread_t (a pointer to its struct pthread), or 0 when unknown. */
int threads_virtual_tid_of(uint64_t pthread_self_value)
{
  if (g_tid_offset < 0 || !pthread_self_value) return 0;
  return *(volatile int *)(pthread_self_value + (uint64_t)g_tid_offset);
}

struct thread_slot *threads_claim_slot(void)
{
  int idx = __atomic_fetch_add(&g_n_slots, 1, __ATOMIC_SEQ_CST);
  if (idx >= DMTCP_MAX_THREADS) return 0;
  return &g_slots[idx];
}

/* Runs in the thread being captured (signal handler or checkpoint thread): these calls only describe the caller. */
void threads_capture(struct thread_slot *s)
{
  int real = (int)d_gettid();
  s->real_tid = real;
  s->tid = vid_to_virt(real);
  s->is_main = real == (int)d_getpid();
  d_arch_prctl(ARCH_GET_FS, (long)&s->fs_base);
  s->tid_address = 0;
  d_prctl(PR_GET_TID_ADDRESS, (long)&s->tid_address, 0, 0, 0);
  size_t len = 0;
  s->robust_head = 0;
  dsys3(__NR_get_robust_list, 0, (long)&s->robust_head, (long)&len);
  s->robust_len = len;
  s->has_altstack = 0;
  if (dsys2(__NR_sigaltstack, 0, (long)&s->altstack) == 0 && !(s->altstack.ss_flags & SS_DISABLE)) {
    s->has_altstack = 1;
    s->altstack.ss_flags = 0;
  }
  d_prctl(PR_GET_NAME, (long)s->name, 0, 0, 0);
  s->rseq_area = rseq_size ? s->fs_base + (uint64_t)rseq_offset : 0;
  s->rseq_len = rseq_size;
}

/* Reinstates on the current (new) task what the kernel keeps per task. The TLS base is already in place. */
void threads_fixup_after_restart(struct thread_slot *s)
{
  long tid = d_gettid();
  vid_set(s->tid, (int)tid);
  if (s->tid_address) {
    dsys1(__NR_set_tid_address, (long)s->tid_address);
    /* glibc's cached pthread->tid keeps the original (virtual) tid, so mutex owner fields recorded before the
     * checkpoint still match; the wrappers translate it where it reaches the kernel. */
    *(volatile int *)s->tid_address = s->tid;
  }
  if (s->robust_head) dsys2(__NR_set_robust_list, (long)s->robust_head, (long)s->robust_len);
  if (s->rseq_area) {
    /* A stale critical-section pointer from the old task must not be followed by the kernel. */
    *(volatile uint64_t *)(s->rseq_area + 8) = 0;
    *(volatile uint32_t *)(s->rseq_area + 4) = (uint32_t)-1;   /* cpu_id: RSEQ_CPU_ID_UNINITIALIZED */
    long r = dsys4(__NR_rseq, (long)s->rseq_area, s->rseq_len, 0, RSEQ_SIG_X86);
    if (r < 0) dlog_debug("rseq registration for thread %d failed: %ld", (int)tid, r);
  }
  if (s->has_altstack) dsys2(__NR_sigaltstack, (long)&s->altstack, 0);
  if (s->name[0]) d_prctl(PR_SET_NAME, (long)s->name, 0, 0, 0);
}

struct thread_slot *threads_main_slot(void)
{
  for (int i = 0; i < g_n_slots; i++) {
    if (g_slots[i].is_main) return &g_slots[i];
  }
  for (int i = 0; i < g_n_slots; i++) {
    if (!g_slots[i].is_ckpt) return &g_slots[i];
  }
  return g_n_slots ? &g_slots[0] : 0;
}

/* First C code of a recreated thread, on its temporary stack with its own TLS base (CLONE_SETTLS). */
void dmtcp_thread_restart_entry(struct thread_slot *s) DMTCP_HIDDEN __attribute__((noreturn, used));
void dmtcp_thread_restart_entry(struct thread_slot *s)
{
  threads_fixup_after_restart(s);
  dmtcp_restore_context(&s->ctx, &restarted_threads);
}

/* Called by the restarting task (the future main thread): clone every other captured thread. */
void threads_recreate(void)
{
  struct thread_slot *main_slot = threads_main_slot();
  int others = g_n_slots - 1;
  restarted_threads = 0;
  if (others <= 0) return;
  restart_stacks_len = (size_t)others * RESTART_STACK_SIZE;
  long m = d_mmap(0, restart_stacks_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m < 0) dfatal("restart: cannot allocate %d thread stacks", others);
  restart_stacks = (void *)m;
  const unsigned long flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
                              CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;
  int k = 0;
  for (int i = 0; i < g_n_slots; i++) {
    struct thread_slot *s = &g_slots[i];
    if (s == main_slot) continue;
    char *stack_top = (char *)restart_stacks + (size_t)(k + 1) * RESTART_STACK_SIZE;
    int *tidp = s->tid_address ? (int *)s->tid_address : 0;
    unsigned long f = flags;
    if (!tidp) f &= ~(unsigned long)(CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID);
    long r = dmtcp_clone_thread(f, stack_top, tidp, tidp, s->fs_base, s);
    if (r < 0) dfatal("restart: cannot recreate thread %d (%s): clone returned %ld", s->tid, s->name, r);
    k++;
  }
}

/* The checkpoint thread calls this once all recreated threads left their temporary stacks. */
void threads_release_restart_stacks(void)
{
  if (!restart_stacks) return;
  int expected = g_n_slots - 1;
  for (;;) {
    int done = __atomic_load_n(&restarted_threads, __ATOMIC_SEQ_CST);
    if (done >= expected) break;
    struct { long s, ns; } ts = { 0, 10 * 1000 * 1000 };
    d_futex(&restarted_threads, FUTEX_WAIT | FUTEX_PRIVATE_FLAG, done, &ts);
  }
  d_munmap(restart_stacks, restart_stacks_len);
  restart_stacks = 0;
}
