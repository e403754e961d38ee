/* timers.c: every kind of timer keeps firing after a restart: setitimer(ITIMER_REAL) every 50 ms (SIGALRM), a POSIX
 * timer on CLOCK_MONOTONIC every 50 ms (SIGRTMIN+2, value 42), a SIGEV_THREAD timer every 50 ms, and a CPU-time
 * ITIMER_PROF, while the main loop sleeps (usleep, sleep). CLOCK_MONOTONIC is watched for going backward. Prints
 * "READY", then "ticks A P T L" every 100 ms; on SIGUSR1 "PASS" when all four advanced since the last check, else FAIL. */
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static volatile long itimer_ticks, posix_ticks, thread_ticks, prof_ticks, bad_value;

static void on_alrm(int sig)
{
  (void)sig;
  itimer_ticks++;
}

static void on_rt(int sig, siginfo_t *si, void *uc)
{
  (void)sig;
  (void)uc;
  if (si->si_value.sival_int != 42) bad_value++;
  posix_ticks++;
}

static void on_thread_timer(union sigval v)
{
  if (v.sival_int != 7) bad_value++;
  __atomic_fetch_add(&thread_ticks, 1, __ATOMIC_SEQ_CST);
}

static void on_prof(int sig)
{
  (void)sig;
  prof_ticks++;
}

int main(void)
{
  install_check_signal();
  signal(SIGALRM, on_alrm);
  struct itimerval it = { { 0, 50000 }, { 0, 50000 } };
  setitimer(ITIMER_REAL, &it, NULL);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_rt;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigaction(SIGRTMIN + 2, &sa, NULL);
  struct sigevent ev;
  memset(&ev, 0, sizeof ev);
  ev.sigev_notify = SIGEV_SIGNAL;
  ev.sigev_signo = SIGRTMIN + 2;
  ev.sigev_value.sival_int = 42;
  timer_t t1, t2;
  timer_create(CLOCK_MONOTONIC, &ev, &t1);
  struct itimerspec every = { { 0, 50000000 }, { 0, 50000000 } };
  timer_settime(t1, 0, &every, NULL);
  memset(&ev, 0, sizeof ev);
  ev.sigev_notify = SIGEV_THREAD;
  ev.sigev_notify_function = on_thread_timer;
  ev.sigev_value.sival_int = 7;
  timer_create(CLOCK_MONOTONIC, &ev, &t2);
  timer_settime(t2, 0, &every, NULL);
  /* A virtual-time profile timer on another signal, to exercise ITIMER_PROF too. */
  signal(SIGPROF, on_prof);
  struct itimerval prof = { { 0, 10000 }, { 0, 10000 } };
  setitimer(ITIMER_PROF, &prof, NULL);
  printf("READY\n");
  long last[4] = { 0, 0, 0, 0 };
  struct timespec prev;
  clock_gettime(CLOCK_MONOTONIC, &prev);
  long backwards = 0;
  for (long tick = 1;; tick++) {
    volatile double burn = 0;
    for (int i = 0; i < 3000000; i++) burn += i;   /* some CPU time for ITIMER_PROF */
    usleep(50000);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec < prev.tv_sec || (now.tv_sec == prev.tv_sec && now.tv_nsec < prev.tv_nsec)) backwards++;
    prev = now;
    if (check_requested) {
      check_requested = 0;
      sleep(1);
      long cur[4] = { itimer_ticks, posix_ticks, thread_ticks, prof_ticks };
      int stuck = -1;
      for (int i = 0; i < 4; i++) if (cur[i] <= last[i]) stuck = i;
      if (stuck < 0 && !backwards && !bad_value) printf("PASS ticks=%ld,%ld,%ld,%ld\n", cur[0], cur[1], cur[2], cur[3]);
      else printf("FAIL stuck=%d backwards=%ld bad_value=%ld ticks=%ld,%ld,%ld,%ld\n", stuck, backwards, bad_value, cur[0], cur[1], cur[2], cur[3]);
      for (int i = 0; i < 4; i++) last[i] = cur[i];
    }
    if (tick % 2 == 0) printf("ticks %ld %ld %ld %ld\n", itimer_ticks, posix_ticks, thread_ticks, prof_ticks);
  }
}
