/* suspend.c: stopping every user thread in the checkpoint signal's handler, and letting them go again.
 *
 * The checkpoint thread sends the checkpoint signal to each task of the process. Its handler records the thread's
 * kernel state and position (threads.c), reports itself parked and waits on a futex until the generation of
 * g_resume moves on. After a restart each thread is resumed at that same position, inside the handler, and waits
 * for the same futex; returning from the handler (rt_sigreturn) then restores every register and the signal mask
 * from the frame the kernel left on the thread's own stack.
 *
 * A thread may be unable to stop: one that blocked every signal (glibc does at thread exit) and then waits for a
 * lock a parked thread holds (glibc's stack cache lock, taken by pthread_create and pthread_join) would wait for
 * ever, and the checkpoint with it. So an attempt that does not close within its window lets every parked thread
 * go and starts again, with a window twice as long, until SUSPEND_TIMEOUT_NS. The next attempt stops the threads
 * that did not stop first, while the others still run and can release what they wait for. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/futex.h>

#include <ucontext.h>

#include "dmtcp_lib.h"
#include "../include/dmtcp_sys.h"

#define SUSPEND_TIMEOUT_NS (60ull * 1000 * 1000 * 1000)
#define FIRST_WINDOW_NS (500ull * 1000 * 1000)
#define REQUEST_MAGIC 0x444d5443        /* "DMTC": the si_value of a checkpoint request from our own thread */

static int g_suspending;
static int g_resume;                   /* futex: bumped to release parked threads */
static int g_parked;                   /* futex: threads inside the handler's wait, parked or just released */

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
  if (si->si_code != SI_QUEUE || si->si_pid != (pid_t)d_getpid() || si->si_value.sival_int != REQUEST_MAGIC) {
    forward_to_program(sig, si, uc);
    return;
  }
  /* Read before g_suspending: an attempt given up clears g_suspending before it bumps g_resume, so a thread that
   * still finds g_suspending set is let go by that same bump. */
  volatile int resume_seen = __atomic_load_n(&g_resume, __ATOMIC_SEQ_CST);
  if (!__atomic_load_n(&g_suspending, __ATOMIC_SEQ_CST)) return;   /* a request from an attempt given up */
  int saved_errno = errno;
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
  if (__atomic_sub_fetch(&g_parked, 1, __ATOMIC_SEQ_CST) == 0) {
    d_futex(&g_parked, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, 0);
  }
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

static long send_request(int pid, int tid)
{
  siginfo_t si;
  __builtin_memset(&si, 0, sizeof si);
  si.si_signo = g_cfg.ckpt_signal;
  si.si_code = SI_QUEUE;
  si.si_pid = pid;
  si.si_uid = (uid_t)dsys0(__NR_getuid);
  si.si_value.sival_int = REQUEST_MAGIC;
  return dsys4(__NR_rt_tgsigqueueinfo, pid, tid, g_cfg.ckpt_signal, (long)&si);
}

static void wait_on_parked(int seen)
{
  struct { long s, ns; } ts = { 0, 5 * 1000 * 1000 };
  d_futex(&g_parked, FUTEX_WAIT | FUTEX_PRIVATE_FLAG, seen, &ts);
}

/* One attempt: signals every task but the caller until a full pass finds no new one and every signaled task is
 * parked or gone; the tasks in `first` (if any) alone in the first pass. Returns 0, 1 when `give_up` came first
 * (*missing of *of still running), or -1 with err set. */
static int stop_all(const struct task_set *first, uint64_t give_up, int *missing, int *of, char *err, size_t errcap)
{
  int self = (int)d_gettid(), pid = (int)d_getpid();
  signaled.n = 0;
  for (;;) {
    if (list_tasks(&current) < 0) {
      dfmt(err, errcap, "cannot list /proc/self/task");
      return -1;
    }
    int fresh = 0;
    for (int i = 0; i < current.n; i++) {
      int tid = current.tids[i];
      if (tid == self || task_set_has(&signaled, tid)) continue;
      if (first && !task_set_has(first, tid)) {
        fresh++;                         /* its turn comes in the next pass */
        continue;
      }
      if (send_request(pid, tid) == 0) {
        signaled.tids[signaled.n++] = tid;
        fresh++;
      }
    }
    /* Wait until every signaled thread parked; threads that exited meanwhile drop out of the count. */
    for (;;) {
      int parked = __atomic_load_n(&g_parked, __ATOMIC_SEQ_CST);
      if (parked >= signaled.n) break;
      if (list_tasks(&current) == 0) {
        int k = 0;
        for (int i = 0; i < signaled.n; i++) {
          if (task_set_has(&current, signaled.tids[i])) signaled.tids[k++] = signaled.tids[i];
        }
        signaled.n = k;
        if (parked >= signaled.n) break;
      }
      if (now_ns() > give_up) {
        *missing = signaled.n - parked;
        *of = signaled.n;
        return 1;
      }
      wait_on_parked(parked);
    }
    first = 0;
    if (!fresh) return 0;    /* a full pass found no new thread: the set is closed */
  }
}

static struct task_set laggards;

/* The signaled tasks that have not been captured in a slot. */
static void find_laggards(void)
{
  int claimed = __atomic_load_n(&g_n_slots, __ATOMIC_SEQ_CST);
  if (claimed > DMTCP_MAX_THREADS) claimed = DMTCP_MAX_THREADS;
  laggards.n = 0;
  for (int i = 0; i < signaled.n; i++) {
    int tid = signaled.tids[i], found = 0;
    for (int j = 0; j < claimed && !found; j++) found = g_slots[j].real_tid == tid;
    if (!found) laggards.tids[laggards.n++] = tid;
  }
}

/* Parks every task but the calling (checkpoint) thread. Returns 0, or -1 with a message in err. */
int suspend_user_threads(char *err, size_t errcap)
{
  uint64_t deadline = now_ns() + SUSPEND_TIMEOUT_NS, window = FIRST_WINDOW_NS;
  laggards.n = 0;
  for (;;) {
    /* Threads let go by the last attempt (or checkpoint) leave the handler before slots are handed out again. */
    for (int left; (left = __atomic_load_n(&g_parked, __ATOMIC_SEQ_CST)) > 0 && now_ns() < deadline;) {
      wait_on_parked(left);
    }
    g_n_slots = 0;
    __atomic_store_n(&g_suspending, 1, __ATOMIC_SEQ_CST);
    uint64_t now = now_ns();
    int missing = 0, of = 0;
    int r = stop_all(laggards.n ? &laggards : 0, now + window < deadline ? now + window : deadline, &missing, &of,
                     err, errcap);
    if (r <= 0) return r;
    if (now_ns() >= deadline) {
      dfmt(err, errcap, "%d of %d threads did not stop for the checkpoint signal %d within 60 s", missing, of,
           g_cfg.ckpt_signal);
      return -1;
    }
    dlog_debug("%d of %d threads did not stop within %llu ms; letting every thread go and trying again", missing,
               of, (unsigned long long)(window / 1000000));
    find_laggards();
    resume_user_threads();
    window *= 2;
  }
}

void resume_user_threads(void)
{
  __atomic_store_n(&g_suspending, 0, __ATOMIC_SEQ_CST);
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
