/* tidspin.c: threads that ask for their own ids without pause. After a restart every gettid(), getpid() and
 * pthread_kill() goes through the library's id translation, so a checkpoint signal almost always lands inside one:
 * the translation must be safe to interrupt. Usage: tidspin N. Prints "READY", then "spins X" every 100 ms. On
 * SIGUSR1 checks that every thread still moves, always saw the tid it started with and the process's pid, and could
 * always reach itself with pthread_kill(self, 0). */
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

struct spinner {
  pthread_t th;
  pid_t tid;
  volatile long count;
  volatile int bad;
  volatile int seen;
};

static struct spinner *spinners;
static pid_t pid;

static void *spin(void *p)
{
  struct spinner *s = p;
  s->tid = gettid();
  for (;;) {
    pid_t t = gettid(), q = getpid();
    int e = pthread_kill(s->th, 0);
    if (t != s->tid) s->bad = 1, s->seen = t;
    if (q != pid) s->bad = 2, s->seen = q;
    if (e != 0) s->bad = 3, s->seen = e;
    s->count++;
  }
  return NULL;
}

int main(int argc, char **argv)
{
  int n = argc > 1 ? atoi(argv[1]) : 4;
  install_check_signal();
  pid = getpid();
  spinners = calloc((size_t)n, sizeof *spinners);
  for (int i = 0; i < n; i++) {
    pthread_create(&spinners[i].th, NULL, spin, &spinners[i]);
  }
  printf("READY spinners=%d\n", n);
  for (;;) {
    if (check_requested) {
      check_requested = 0;
      long before[n];
      for (int i = 0; i < n; i++) before[i] = spinners[i].count;
      int stalled = n, bad = 0;
      for (int waited = 0; stalled && waited < 200; waited++) {
        struct timespec pause = { 0, 50 * 1000 * 1000 };
        nanosleep(&pause, NULL);
        stalled = 0;
        for (int i = 0; i < n; i++) stalled += spinners[i].count == before[i];
      }
      int first = -1;
      for (int i = 0; i < n; i++) {
        if (spinners[i].bad && first < 0) first = i;
        bad += spinners[i].bad != 0;
      }
      if (!stalled && !bad && getpid() == pid) {
        printf("PASS spinners=%d\n", n);
      } else {
        /* bad: 1 gettid gave `seen`, 2 getpid gave `seen`, 3 pthread_kill(self, 0) failed with error `seen` */
        printf("FAIL stalled=%d bad=%d first=%d kind=%d seen=%d\n", stalled, bad, first, first < 0 ? 0 : spinners[first].bad,
               first < 0 ? 0 : spinners[first].seen);
      }
    }
    long sum = 0;
    for (int i = 0; i < n; i++) sum += spinners[i].count;
    printf("spins %ld\n", sum);
    struct timespec ts = { 0, 100 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
}
