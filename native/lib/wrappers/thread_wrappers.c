/* thread_wrappers.c: after a restart glibc's descriptors hold each restored thread's original (virtual) tid; these
 * wrappers translate it where a tid reaches the kernel, and give threads created later a tid that cannot be mistaken
 * for a restored one. Before any restart every id is its own real id and each call goes straight through. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "wrappers.h"
#include "../../include/dmtcp_sys.h"

/* The real tid behind a pthread_t whose glibc tid is virtual, or 0 when no translation is needed. */
static int translated_tid(pthread_t t)
{
  int virt = threads_virtual_tid_of((uint64_t)t);
  if (virt <= 0) return 0;
  int real = vid_to_real(virt);
  return real == virt ? 0 : real;
}

pid_t gettid(void)
{
  return REREAD_AFTER_RESTART(vid_to_virt((int)d_gettid()));
}

int tgkill(pid_t tgid, pid_t tid, int sig)
{
  long r = WITHOUT_CKPT(d_tgkill(vid_to_real(tgid), vid_to_real(tid), sig));
  if (r < 0) {
    errno = (int)-r;
    return -1;
  }
  return 0;
}

static long signal_by_syscall(long n, long a[6])
{
  if (n == SYS_kill) {
    long pid = a[0];
    a[0] = pid > 0 ? vid_to_real((int)pid) : pid < -1 ? -vid_to_real((int)-pid) : pid;
  } else if (n == SYS_tgkill) {
    a[0] = vid_to_real((int)a[0]);
    a[1] = vid_to_real((int)a[1]);
  } else {
    a[0] = vid_to_real((int)a[0]);
  }
  return dsys6(n, a[0], a[1], a[2], a[3], a[4], a[5]);
}

long syscall(long n, ...)
{
  va_list ap;
  va_start(ap, n);
  long a[6];
  for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
  va_end(ap);
  if (n == SYS_gettid) return gettid();
  if (n == SYS_getpid) return getpid();
  if (n == SYS_getppid) return getppid();
  long r;
  if (n == SYS_kill || n == SYS_tgkill || n == SYS_tkill) r = WITHOUT_CKPT(signal_by_syscall(n, a));
  else r = dsys6(n, a[0], a[1], a[2], a[3], a[4], a[5]);
  if (D_IS_ERR(r)) {
    errno = (int)-r;
    return -1;
  }
  return r;
}

static int thread_kill(pthread_t t, int sig)
{
  int real = translated_tid(t);
  if (!real) return NEXT_FN(pthread_kill)(t, sig);
  long r = d_tgkill((int)d_getpid(), real, sig);
  return r < 0 ? (int)-r : 0;
}

int pthread_kill(pthread_t t, int sig)
{
  return WITHOUT_CKPT(thread_kill(t, sig));
}

static int thread_sigqueue(pthread_t t, int sig, const union sigval value)
{
  int real = translated_tid(t);
  if (!real) return NEXT_FN(pthread_sigqueue)(t, sig, value);
  siginfo_t info;
  memset(&info, 0, sizeof info);
  info.si_signo = sig;
  info.si_code = SI_QUEUE;
  info.si_pid = getpid();
  info.si_uid = getuid();
  info.si_value = value;
  long r = dsys4(__NR_rt_tgsigqueueinfo, d_getpid(), real, sig, (long)&info);
  return r < 0 ? (int)-r : 0;
}

int pthread_sigqueue(pthread_t t, int sig, const union sigval value)
{
  return WITHOUT_CKPT(thread_sigqueue(t, sig, value));
}

static int thread_cpuclockid(pthread_t t, clockid_t *clock)
{
  int real = translated_tid(t);
  if (!real) return NEXT_FN(pthread_getcpuclockid)(t, clock);
  *clock = (clockid_t)((~(unsigned)real << 3) | 6);   /* the kernel's per-thread scheduler clock id */
  return 0;
}

int pthread_getcpuclockid(pthread_t t, clockid_t *clock)
{
  return REREAD_AFTER_RESTART(thread_cpuclockid(t, clock));
}

static int thread_setaffinity(pthread_t t, size_t size, const cpu_set_t *set)
{
  int real = translated_tid(t);
  if (!real) return NEXT_FN(pthread_setaffinity_np)(t, size, set);
  long r = dsys3(__NR_sched_setaffinity, real, (long)size, (long)set);
  return r < 0 ? (int)-r : 0;
}

int pthread_setaffinity_np(pthread_t t, size_t size, const cpu_set_t *set)
{
  return WITHOUT_CKPT(thread_setaffinity(t, size, set));
}

static int thread_getaffinity(pthread_t t, size_t size, cpu_set_t *set)
{
  int real = translated_tid(t);
  if (!real) return NEXT_FN(pthread_getaffinity_np)(t, size, set);
  long r = dsys3(__NR_sched_getaffinity, real, (long)size, (long)set);
  if (r < 0) return (int)-r;
  memset((char *)set + r, 0, size - (size_t)r);
  return 0;
}

int pthread_getaffinity_np(pthread_t t, size_t size, cpu_set_t *set)
{
  return REREAD_AFTER_RESTART(thread_getaffinity(t, size, set));
}

static int task_comm(int real, char *name, size_t len, int write_it)
{
  char path[64];
  dfmt(path, sizeof path, "/proc/self/task/%d/comm", real);
  long fd = d_open(path, write_it ? 01 : 0, 0);
  if (fd < 0) return (int)-fd;
  long r = write_it ? d_write((int)fd, name, strlen(name)) : d_read((int)fd, name, len - 1);
  d_close((int)fd);
  if (r < 0) return (int)-r;
  if (!write_it) {
    name[r] = 0;
    if (r > 0 && name[r - 1] == '\n') name[r - 1] = 0;
  }
  return 0;
}

static int thread_setname(pthread_t t, const char *name)
{
  int real = translated_tid(t);
  if (!real) return NEXT_FN(pthread_setname_np)(t, name);
  if (strlen(name) > 15) return ERANGE;
  return task_comm(real, (char *)name, 0, 1);
}

int pthread_setname_np(pthread_t t, const char *name)
{
  return WITHOUT_CKPT(thread_setname(t, name));
}

static int thread_getname(pthread_t t, char *name, size_t len)
{
  int real = translated_tid(t);
  if (!real) return NEXT_FN(pthread_getname_np)(t, name, len);
  if (len < 16) return ERANGE;
  return task_comm(real, name, len, 0);
}

int pthread_getname_np(pthread_t t, char *name, size_t len)
{
  return REREAD_AFTER_RESTART(thread_getname(t, name, len));
}

/* glibc's cancellation signals the thread by the tid in its descriptor: hand it the real one for the call. */
static pthread_mutex_t swap_lock = PTHREAD_MUTEX_INITIALIZER;

static int thread_cancel(pthread_t t)
{
  int real = translated_tid(t);
  if (!real) return NEXT_FN(pthread_cancel)(t);
  volatile int *field = (volatile int *)((char *)t + g_tid_offset);
  NEXT_FN(pthread_mutex_lock)(&swap_lock);
  int virt = *field;
  *field = real;
  int r = NEXT_FN(pthread_cancel)(t);
  if (*field == real) *field = virt;
  NEXT_FN(pthread_mutex_unlock)(&swap_lock);
  return r;
}

int pthread_cancel(pthread_t t)
{
  return WITHOUT_CKPT(thread_cancel(t));
}

/* Threads created after a restart: a real tid that is some restored thread's virtual one gets a fresh virtual id. */
struct start {
  void *(*fn)(void *);
  void *arg;
};

/* Returns the virtual tid it gave the calling (new) thread. */
static int adopt_own_tid(void)
{
  int real = (int)d_gettid();
  int virt = vid_adopt_new_thread(real);
  if (virt != real && g_tid_offset >= 0) *(volatile int *)((char *)pthread_self() + g_tid_offset) = virt;
  return virt;
}

static void *start_thread_trampoline(void *p)
{
  struct start s = *(struct start *)p;
  free(p);
  WITHOUT_CKPT(adopt_own_tid());
  return s.fn(s.arg);
}

int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
  if (!g_restarted || g_tid_offset < 0) return NEXT_FN(pthread_create)(t, attr, fn, arg);
  struct start *s = malloc(sizeof *s);
  if (!s) return EAGAIN;
  s->fn = fn;
  s->arg = arg;
  int r = NEXT_FN(pthread_create)(t, attr, start_thread_trampoline, s);
  if (r) free(s);
  return r;
}
