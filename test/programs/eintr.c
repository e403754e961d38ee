/* eintr.c: blocking calls a checkpoint may interrupt, written the way programs that expect EINTR are: nanosleep with
 * the time left, poll, a timed condition wait and a futex-backed sem_timedwait, each retried on EINTR. Counts how
 * many times each was interrupted. Prints "READY", then "round N" after each round; on SIGUSR1 prints "PASS ..." when
 * no call failed with anything but EINTR/ETIMEDOUT and CLOCK_MONOTONIC never went backward, else "FAIL ...". */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <time.h>

#include "common.h"

static long eintr_count, failures, backwards;
static struct timespec last_mono;

static void watch_clock(void)
{
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  if (now.tv_sec < last_mono.tv_sec || (now.tv_sec == last_mono.tv_sec && now.tv_nsec < last_mono.tv_nsec)) backwards++;
  last_mono = now;
}

int main(void)
{
  install_check_signal();
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cv;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&cv, &ca);
  sem_t sem;
  sem_init(&sem, 0, 0);
  printf("READY\n");
  for (long round = 1;; round++) {
    struct timespec left = { 0, 30 * 1000 * 1000 };
    while (nanosleep(&left, &left) != 0) {
      if (errno == EINTR) eintr_count++;
      else { failures++; break; }
    }
    watch_clock();
    for (;;) {
      int r = poll(NULL, 0, 30);
      if (r == 0) break;
      if (r < 0 && errno == EINTR) { eintr_count++; continue; }
      failures++;
      break;
    }
    watch_clock();
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += 30 * 1000 * 1000;
    if (until.tv_nsec >= 1000000000) until.tv_sec++, until.tv_nsec -= 1000000000;
    pthread_mutex_lock(&m);
    for (;;) {
      int r = pthread_cond_timedwait(&cv, &m, &until);
      if (r == ETIMEDOUT) break;
      if (r != 0 && r != EINTR) { failures++; break; }
    }
    pthread_mutex_unlock(&m);
    watch_clock();
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    rt.tv_nsec += 30 * 1000 * 1000;
    if (rt.tv_nsec >= 1000000000) rt.tv_sec++, rt.tv_nsec -= 1000000000;
    while (sem_timedwait(&sem, &rt) != 0) {
      if (errno == ETIMEDOUT) break;
      if (errno == EINTR) { eintr_count++; continue; }
      failures++;
      break;
    }
    watch_clock();
    if (check_requested) {
      check_requested = 0;
      if (!failures && !backwards) printf("PASS rounds=%ld eintr=%ld\n", round, eintr_count);
      else printf("FAIL failures=%ld backwards=%ld\n", failures, backwards);
    }
    printf("round %ld\n", round);
  }
}
