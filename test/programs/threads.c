/* threads.c: N threads add to one counter under an error-checking mutex (unlocking checks the owner's tid, which
 * changes across a restart unless glibc's cached tid is handled). Usage: threads N [interval_ms]. Prints "READY",
 * then "total X" every interval (default 100 ms). On SIGUSR1 checks: the counter equals the sum of every thread's own
 * count, each thread still runs, still has the tid it started with (gettid), pthread_kill(t, 0) reaches it, no unlock
 * ever failed. */
#include <errno.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

struct worker {
  pthread_t th;
  pid_t tid;
  volatile long count;
  volatile int bad;
};

static pthread_mutex_t lock;
static long total;
static struct worker *workers;
static volatile int errors;

static void *work(void *p)
{
  struct worker *w = p;
  w->tid = gettid();
  for (;;) {
    if (pthread_mutex_lock(&lock) != 0) errors++;
    total++;
    w->count++;
    int r = pthread_mutex_unlock(&lock);
    if (r != 0) {
      errors++;
      w->bad = r;
    }
    if (gettid() != w->tid) w->bad = -1;
    struct timespec ts = { 0, 200 * 1000 };
    nanosleep(&ts, NULL);
  }
  return NULL;
}

int main(int argc, char **argv)
{
  int n = argc > 1 ? atoi(argv[1]) : 4;
  long interval_ms = argc > 2 ? atol(argv[2]) : 100;
  install_check_signal();
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutex_init(&lock, &a);
  workers = calloc((size_t)n, sizeof *workers);
  for (int i = 0; i < n; i++) pthread_create(&workers[i].th, NULL, work, &workers[i]);
  printf("READY threads=%d\n", n);
  for (long tick = 1;; tick++) {
    if (check_requested) {
      check_requested = 0;
      long before[n];
      for (int i = 0; i < n; i++) before[i] = workers[i].count;
      /* Every thread must move on; on two busy cores a mutex may starve one for a while, so wait up to 10 s. */
      int stalled = n;
      for (int waited = 0; stalled && waited < 200; waited++) {
        struct timespec pause = { 0, 50 * 1000 * 1000 };
        nanosleep(&pause, NULL);
        stalled = 0;
        for (int i = 0; i < n; i++) stalled += workers[i].count == before[i];
      }
      pthread_mutex_lock(&lock);
      long sum = 0;
      int unreachable = 0, bad = 0;
      for (int i = 0; i < n; i++) {
        sum += workers[i].count;
        if (pthread_kill(workers[i].th, 0) != 0) unreachable++;
        if (workers[i].bad) bad++;
      }
      long t = total;
      pthread_mutex_unlock(&lock);
      if (sum == t && !stalled && !unreachable && !bad && !errors) printf("PASS threads=%d total=%ld\n", n, t);
      else printf("FAIL sum=%ld total=%ld stalled=%d unreachable=%d bad=%d errors=%d\n", sum, t, stalled, unreachable, bad, errors);
    }
    pthread_mutex_lock(&lock);
    long t = total;
    pthread_mutex_unlock(&lock);
    printf("total %ld\n", t);
    struct timespec ts = { 0, interval_ms * 1000 * 1000 };
    nanosleep(&ts, NULL);
    (void)tick;
  }
}
