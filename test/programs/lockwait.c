/* lockwait.c: a thread that blocks every signal and then waits for a mutex the main thread holds a fifth of the
 * time. glibc does the same when a thread exits (all signals blocked, then its stack cache lock, which
 * pthread_create and pthread_join take): a checkpoint that stops the main thread while it holds the lock leaves
 * that thread unable to take the checkpoint signal until the main thread runs again. The signals are blocked with
 * the raw system call, as glibc does, since the library keeps sigprocmask from blocking the checkpoint signal.
 * Prints "READY", then "rounds N" every 100 ms; on SIGUSR1 checks that both threads still make progress and that
 * the count kept under the mutex adds up. */
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static volatile long main_rounds, blocker_rounds, under_lock;

static long now_us(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000L + t.tv_nsec / 1000;
}

static void *blocker(void *unused)
{
  (void)unused;
  uint64_t all = ~0ull, old;
  for (;;) {
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, &old, 8);
    pthread_mutex_lock(&lock);
    under_lock++;
    blocker_rounds++;
    pthread_mutex_unlock(&lock);
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, 8);
  }
  return NULL;
}

int main(void)
{
  install_check_signal();
  pthread_t b;
  pthread_create(&b, NULL, blocker, NULL);
  printf("READY\n");
  long last_print = now_us();
  for (;;) {
    pthread_mutex_lock(&lock);
    for (long until = now_us() + 200; now_us() < until;) {
    }
    under_lock++;
    main_rounds++;
    pthread_mutex_unlock(&lock);
    struct timespec rest = { 0, 800 * 1000 };
    nanosleep(&rest, NULL);
    if (check_requested) {
      check_requested = 0;
      long before = blocker_rounds;
      struct timespec settle = { 0, 100 * 1000 * 1000 };
      nanosleep(&settle, NULL);
      pthread_mutex_lock(&lock);
      long sum = main_rounds + blocker_rounds, total = under_lock, moved = blocker_rounds - before;
      pthread_mutex_unlock(&lock);
      if (sum == total && moved > 0) printf("PASS rounds=%ld blocker=%ld\n", main_rounds, blocker_rounds);
      else printf("FAIL sum=%ld total=%ld blocker moved %ld\n", sum, total, moved);
    }
    if (now_us() - last_print >= 100000) {
      printf("rounds %ld\n", main_rounds);
      last_print = now_us();
    }
  }
}
