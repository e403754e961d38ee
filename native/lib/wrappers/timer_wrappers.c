/* timer_wrappers.c: SIGEV_THREAD timers delivered by a helper thread of ours. glibc's own helper blocks every signal
 * with an internal call, so it could never be stopped for a checkpoint; ours waits for one signal (SIGRTMAX), is
 * parked like any other thread, and starts a thread running the program's function for each expiration, as POSIX
 * asks. The kernel timer is an ordinary SIGEV_THREAD_ID timer, so the timer id the program gets is the kernel's and
 * glibc's timer_settime, timer_gettime, timer_getoverrun and timer_delete work on it unchanged. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "wrappers.h"
#include "../../include/dmtcp_sys.h"

#define TIMER_SIGNAL (SIGRTMAX)
#define MAX_THREAD_TIMERS 256

struct thread_timer {
  int used;
  int kernel_id;
  void (*fn)(union sigval);
  union sigval value;
  pthread_attr_t attr;
  int has_attr;
};

static struct thread_timer table[MAX_THREAD_TIMERS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t helper_once = PTHREAD_ONCE_INIT;
static volatile int helper_tid;

struct run {
  void (*fn)(union sigval);
  union sigval value;
};

static void *run_notify(void *p)
{
  struct run r = *(struct run *)p;
  free(p);
  r.fn(r.value);
  return NULL;
}

static void *helper(void *unused)
{
  (void)unused;
  sigset_t wait;
  sigemptyset(&wait);
  sigaddset(&wait, TIMER_SIGNAL);
  helper_tid = gettid();
  for (;;) {
    siginfo_t si;
    if (sigwaitinfo(&wait, &si) != TIMER_SIGNAL) continue;
    int slot = si.si_value.sival_int;
    if (slot < 0 || slot >= MAX_THREAD_TIMERS) continue;
    NEXT_FN(pthread_mutex_lock)(&table_lock);
    struct thread_timer t = table[slot];
    NEXT_FN(pthread_mutex_unlock)(&table_lock);
    if (!t.used) continue;
    struct run *r = malloc(sizeof *r);
    if (!r) continue;
    r->fn = t.fn;
    r->value = t.value;
    pthread_t th;
    pthread_attr_t detached;
    pthread_attr_t *attr = &detached;
    if (t.has_attr) {
      detached = t.attr;
    } else {
      pthread_attr_init(&detached);
    }
    pthread_attr_setdetachstate(attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, attr, run_notify, r) != 0) free(r);
    if (!t.has_attr) pthread_attr_destroy(&detached);
  }
  return NULL;
}

static void start_helper(void)
{
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, TIMER_SIGNAL);
  /* Every thread created from here on inherits the block; the helper alone collects the signal. */
  NEXT_FN(pthread_sigmask)(SIG_BLOCK, &block, &old);
  pthread_t th;
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&th, &a, helper, NULL) == 0) {
    while (!helper_tid) sched_yield();
  }
  pthread_attr_destroy(&a);
  NEXT_FN(pthread_sigmask)(SIG_SETMASK, &old, NULL);
}

int timer_create(clockid_t clock, struct sigevent *ev, timer_t *id)
{
  if (!g_active || !ev || ev->sigev_notify != SIGEV_THREAD) return NEXT_FN(timer_create)(clock, ev, id);
  pthread_once(&helper_once, start_helper);
  if (!helper_tid) return NEXT_FN(timer_create)(clock, ev, id);
  NEXT_FN(pthread_mutex_lock)(&table_lock);
  int slot = -1;
  for (int i = 0; i < MAX_THREAD_TIMERS; i++) {
    if (!table[i].used) {
      slot = i;
      break;
    }
  }
  if (slot < 0) {
    NEXT_FN(pthread_mutex_unlock)(&table_lock);
    errno = EAGAIN;
    return -1;
  }
  struct sigevent kev;
  memset(&kev, 0, sizeof kev);
  kev.sigev_notify = SIGEV_THREAD_ID;
  kev.sigev_signo = TIMER_SIGNAL;
  kev.sigev_value.sival_int = slot;
  kev._sigev_un._tid = vid_to_real(helper_tid);
  int kid;
  long r = dsys3(__NR_timer_create, clock, (long)&kev, (long)&kid);
  if (r < 0) {
    NEXT_FN(pthread_mutex_unlock)(&table_lock);
    errno = (int)-r;
    return -1;
  }
  memset(&table[slot], 0, sizeof table[slot]);
  table[slot].used = 1;
  table[slot].kernel_id = kid;
  table[slot].fn = ev->sigev_notify_function;
  table[slot].value = ev->sigev_value;
  if (ev->sigev_notify_attributes) {
    table[slot].attr = *ev->sigev_notify_attributes;
    table[slot].has_attr = 1;
  }
  NEXT_FN(pthread_mutex_unlock)(&table_lock);
  *id = (timer_t)(long)kid;
  return 0;
}

int timer_delete(timer_t id)
{
  if (g_active) {
    NEXT_FN(pthread_mutex_lock)(&table_lock);
    for (int i = 0; i < MAX_THREAD_TIMERS; i++) {
      if (table[i].used && (timer_t)(long)table[i].kernel_id == id) table[i].used = 0;
    }
    NEXT_FN(pthread_mutex_unlock)(&table_lock);
  }
  return NEXT_FN(timer_delete)(id);
}
