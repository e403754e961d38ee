/* churn.c: threads are created and exit all the time, some joined, some detached, while checkpoints happen.
 * Prints "READY", then "made N" every 100 ms; on SIGUSR1 prints "PASS made=N joined=J detached=D" when every
 * joinable thread was joined exactly once and every detached one finished, else "FAIL ...". */
#include <pthread.h>
#include <time.h>

#include "common.h"

static volatile long finished_detached, made_detached;

static void *short_life(void *p)
{
  volatile long x = 0;
  for (int i = 0; i < 20000; i++) x += i;
  if (p) __atomic_fetch_add(&finished_detached, 1, __ATOMIC_SEQ_CST);
  return (void *)(long)7;
}

int main(void)
{
  install_check_signal();
  long made = 0, joined = 0, badjoin = 0;
  printf("READY\n");
  struct timespec last;
  clock_gettime(CLOCK_MONOTONIC, &last);
  for (;;) {
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, short_life, NULL);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t d;
    if (pthread_create(&d, &attr, short_life, (void *)1) == 0) made_detached++;
    pthread_attr_destroy(&attr);
    made += 4;
    for (int i = 0; i < 4; i++) {
      void *ret;
      if (pthread_join(t[i], &ret) == 0 && ret == (void *)7) joined++;
      else badjoin++;
    }
    if (check_requested) {
      check_requested = 0;
      struct timespec settle = { 0, 100 * 1000 * 1000 };
      nanosleep(&settle, NULL);
      if (joined == made && !badjoin && finished_detached == made_detached) printf("PASS made=%ld joined=%ld detached=%ld\n", made, joined, made_detached);
      else printf("FAIL made=%ld joined=%ld bad=%ld detached=%ld/%ld\n", made, joined, badjoin, finished_detached, made_detached);
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((now.tv_sec - last.tv_sec) * 1000 + (now.tv_nsec - last.tv_nsec) / 1000000 >= 100) {
      printf("made %ld\n", made);
      last = now;
    }
  }
}
