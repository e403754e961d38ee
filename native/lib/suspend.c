/* suspend.c: stopping every user thread in the checkpoint signal's handler, and letting them go again.
 *
 * The checkpoint thread sends the checkpoint signal to each task of the process. Its handler records the thread's
 * kernel state and position (threads.c), reports itself parked and waits on a futex until the generation of
 * g_resume moves on. After a restart each thread is resumed at that same position, inside the handler, and waits
 * for the same futex; returning from the handler (rt_sigreturn) then restores every register and the signal mask
 * from the frame the kernel left on the thread's own stack. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/futex.h>

#include <ucontext.h>

#include "dmtcp_lib.h"
#include "../include/dmtcp_sys.h"

#define SUSPEND_TIMEOUT_NS (60ull * 1000 * 1000 * 1000)

static volatile int g_suspending;
static int g_resume;                   /* futex: bumped to release parked threads */
static int g_parked;                   /* futex: threads parked in the handler */

struct kernel_sigaction {
  void *handler;
  unsigned long flags;
  void *restorer;
  uint64_t mask;
};

int suspend_is_ckpt_signal(int sig)
{
  return sig == g_cfg.ckpt_signal;
}

/* Takes every pending signal but ours off the thread's queues (the process-wide queue included): a restarted process
 * starts with empty queues, so they travel in the slot and are queued again after the checkpoint or restart. */
static void take_pending(struct thread_slot *s)
{
  uint64_t set = ~0ull & ~(1ull << (g_cfg.ckpt_signal - 1)) & ~(1ull << (SIGKILL - 1)) & ~(1ull << (SIGSTOP - 1));
  struct { long s, ns; } zero = { 0, 0 };
  s->n_pending = 0;
  while (s->n_pending < DMTCP_MAX_PENDING) {
    long r = dsys4(__NR_rt_sigtimedwait, (long)&set, (long)&s->pending[s->n_pending], (long)&zero, 8);
    if (r <= 0) break;
    s->n_pending++;
  }
}

/* Queues them again to this thread, siginfo and all; they stay blocked until the handler returns. */
static void put_back_pending(struct thread_slot *s)
{
  long pid = d_getpid(), tid = d_gettid();
  for (int i = 0; i < s->n_pending; i++) {
    siginfo_t *info = &s->pending[i];
    dsys4(__NR_rt_tgsigqueueinfo, pid, tid, info->si_signo, (long)info);
  }
  s->n_pending = 0;
}

/* A signal with our number that is not a checkpoint request: give it to the handler the program installed. */
static void forward_to_program(int sig, siginfo_t *si, void *uc)
{
  struct sigaction app;
  extern void dmtcp_program_ckpt_action(struct sigaction *out) DMTCP_HIDDEN;
  dmtcp_program_ckpt_action(&app);
  if (app.sa_handler == SIG_DFL || app.sa_handler == SIG_IGN) return;   /* DMTCP swallows it too */
  if (app.sa_flags & SA_SIGINFO) app.sa_sigaction(sig, si, uc);
  else app.sa_handler(sig);
}

/* Our signal interrupts blocking calls the kernel never restarts once a handler ran (poll, select, epoll_wait,
 * pause, sigsuspend, sigtimedwait: they fail with EINTR even under SA_RESTART). A program that would not have seen a
 * signal must not see EINTR because it was checkpointed: when the interrupted instruction is glibc's
 * "mov $nr, %eax; syscall" for one of those calls, and no signal of the program's is waiting to be delivered, the
 * call is issued again on return. Anything that does not match this pattern keeps its EINTR. */
static int never_restarted(uint32_t nr)
{
  switch (nr) {
  case __NR_poll: case __NR_select: case __NR_pause: case __NR_epoll_wait: case __NR_pselect6: case __NR_ppoll:
  case __NR_epoll_pwait: case __NR_rt_sigsuspend: case __NR_rt_sigtimedwait:
#ifdef __NR_epoll_pwait2
  case __NR_epoll_pwait2:
#endif
    return 1;
  default:
    return 0;
  }
}

static void reissue_interrupted_call(ucontext_t *uc)
{
  greg_t *g = uc->uc_mcontext.gregs;
  if (g[REG_RAX] != -EINTR) return;
  const uint8_t *ip = (const uint8_t *)g[REG_RIP];
  if ((((uintptr_t)ip - 7) >> 12) != (((uintptr_t)ip - 1) >> 12)) return;   /* never read across a page edge */
  if (ip[-2] != 0x0f || ip[-1] != 0x05 || ip[-7] != 0xb8) return;
  uint32_t nr;
  __builtin_memcpy(&nr, ip - 6, 4);
  if (!never_restarted(nr)) return;
  uint64_t pending = 0, blocked;
  __builtin_memcpy(&blocked, &uc->uc_sigmask, sizeof blocked);
  if (dsys2(__NR_rt_sigpending, (long)&pending, 8) < 0) return;
  pending &= ~blocked & ~(1ull << (g_cfg.ckpt_signal - 1));
  if (pending) return;                  /* the program's own signal: it gets its EINTR */
  g[REG_RAX] = (greg_t)nr;
  g[REG_RIP] -= 2;
}

static void ckpt_signal_handler(int sig, siginfo_t *si, void *uc)
{
  /* Only our own checkpoint thread may park us; anything else with this number belongs to the program. */
  if (!g_suspending || si->si_code != SI_TKILL || si->si_pid != (pid_t)d_getpid()) {
    forward_to_program(sig, si, uc);
    return;
  }
  int saved_errno = errno;
  volatile int resume_seen = __atomic_load_n(&g_resume, __ATOMIC_SEQ_CST);
  struct thread_slot *volatile slot = threads_claim_slot();
  if (!slot) {
    /* Over DMTCP_MAX_THREADS: never park, so the checkpoint thread times out and reports it. */
    errno = saved_errno;
    return;
  }
  threads_capture(slot);
  take_pending(slot);
  slot->is_ckpt = 0;
  if (dmtcp_save_context(&slot->ctx) == 0) {
    __atomic_fetch_add(&g_parked, 1, __ATOMIC_SEQ_CST);
    d_futex(&g_parked, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, 0);
  }
  /* Reached twice: right after parking, and in a restarted process after dmtcp_restore_context. */
  while (__atomic_load_n(&g_resume, __ATOMIC_SEQ_CST) == resume_seen) {
    d_futex(&g_resume, FUTEX_WAIT | FUTEX_PRIVATE_FLAG, resume_seen, 0);
  }
  put_back_pending(slot);
  reissue_interrupted_call((ucontext_t *)uc);
  errno = saved_errno;
}

uint64_t ckpt_signals_hold(void)
{
  uint64_t all = ~0ull, old = 0;
  d_rt_sigprocmask(SIG_BLOCK, &all, &old);
  return old;
}

void ckpt_signals_release(uint64_t old_mask)
{
  d_rt_sigprocmask(SIG_SETMASK, &old_mask, 0);
}

void suspend_install_handler(void)
{
  struct sigaction sa;
  __builtin_memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = ckpt_signal_handler;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&sa.sa_mask);
  extern int dmtcp_real_sigaction(int, const struct sigaction *, struct sigaction *);
  if (dmtcp_real_sigaction(g_cfg.ckpt_signal, &sa, 0) != 0) dfatal("cannot install the checkpoint signal handler");
}

/* ---- task enumeration ---- */

struct task_set {
  int tids[DMTCP_MAX_THREADS];
  int n;
};

static int task_set_has(const struct task_set *s, int tid)
{
  for (int i = 0; i < s->n; i++) {
    if (s->tids[i] == tid) return 1;
  }
  return 0;
}

/* Lists the process's tasks into `out`; returns 0 or a negative errno. */
static int list_tasks(struct task_set *out)
{
  static char buf[32768];
  out->n = 0;
  long fd = d_open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) return (int)fd;
  for (;;) {
    long n = d_getdents64((int)fd, buf, sizeof buf);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      struct linux_dirent64 {
        uint64_t ino;
        int64_t off;
        unsigned short reclen;
        unsigned char type;
        char name[];
      } *d = (void *)(buf + off);
      off += d->reclen;
      if (d->name[0] < '0' || d->name[0] > '9') continue;
      int tid = 0;
      for (const char *p = d->name; *p; p++) tid = tid * 10 + (*p - '0');
      if (out->n < DMTCP_MAX_THREADS) out->tids[out->n++] = tid;
    }
  }
  d_close((int)fd);
  return 0;
}

static uint64_t now_ns(void)
{
  struct { long s, ns; } ts;
  dsys2(__NR_clock_gettime, 1 /* CLOCK_MONOTONIC */, (long)&ts);
  return (uint64_t)ts.s * 1000000000ull + (uint64_t)ts.ns;
}

static struct task_set signaled, current;

/* Parks every task but the calling (checkpoint) thread. Returns 0, or -1 with a message in err. */
int suspend_user_threads(char *err, size_t errcap)
{
  int self = (int)d_gettid(), pid = (int)d_getpid();
  g_n_slots = 0;
  __atomic_store_n(&g_parked, 0, __ATOMIC_SEQ_CST);
  g_suspending = 1;
  signaled.n = 0;
  uint64_t deadline = now_ns() + SUSPEND_TIMEOUT_NS;
  for (;;) {
    if (list_tasks(&current) < 0) {
      dfmt(err, errcap, "cannot list /proc/self/task");
      return -1;
    }
    int fresh = 0;
    for (int i = 0; i < current.n; i++) {
      int tid = current.tids[i];
      if (tid == self || task_set_has(&signaled, tid)) continue;
      if (d_tgkill(pid, tid, g_cfg.ckpt_signal) == 0) {
        signaled.tids[signaled.n++] = tid;
        fresh++;
      }
    }
    /* Wait until every signaled thread parked; threads that exited meanwhile drop out of the count. */
    for (;;) {
      int parked = __atomic_load_n(&g_parked, __ATOMIC_SEQ_CST);
      int alive = 0;
      if (parked >= signaled.n) break;
      if (list_tasks(&current) == 0) {
        for (int i = 0; i < signaled.n; i++) alive += task_set_has(&current, signaled.tids[i]);
      }
      if (parked >= alive) {
        /* Everyone still alive is parked; forget the ones that are gone. */
        int k = 0;
        for (int i = 0; i < signaled.n; i++) {
          if (task_set_has(&current, signaled.tids[i])) signaled.tids[k++] = signaled.tids[i];
        }
        signaled.n = k;
        if (parked >= signaled.n) break;
      }
      if (now_ns() > deadline) {
        dfmt(err, errcap, "%d of %d threads did not stop for the checkpoint signal %d within 60 s",
             signaled.n - parked, signaled.n, g_cfg.ckpt_signal);
        return -1;
      }
      struct { long s, ns; } ts = { 0, 5 * 1000 * 1000 };
      d_futex(&g_parked, FUTEX_WAIT | FUTEX_PRIVATE_FLAG, parked, &ts);
    }
    if (!fresh) break;     /* a full pass found no new thread: the set is closed */
  }
  return 0;
}

void resume_user_threads(void)
{
  g_suspending = 0;
  __atomic_fetch_add(&g_resume, 1, __ATOMIC_SEQ_CST);
  d_futex(&g_resume, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 0x7fffffff, 0);
}

/* In a fork child: whatever the parent's checkpoint thread was doing does not concern the child. */
void suspend_after_fork(void)
{
  g_suspending = 0;
  g_parked = 0;
  g_n_slots = 0;
}
