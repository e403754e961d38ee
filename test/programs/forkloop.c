/* forkloop.c: a parent that keeps 32 children alive, each living 100 ms and exiting with a status of its own, and
 * reaps the oldest by its pid before it forks the next. A checkpoint often lands between a fork and the child's
 * registration with the coordinator: the child must be in the checkpoint all the same, or the restarted parent
 * waits for a child that does not exist. Prints "READY", then "forks N" every 100 ms; on SIGUSR1 prints PASS when
 * every child was reaped by its pid with its own status, else FAIL with what went wrong. */
#include <errno.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define OUTSTANDING 32

int main(void)
{
  install_check_signal();
  long forks = 0, reaped = 0, lost = 0, wrong = 0;
  int last_errno = 0;
  pid_t pids[OUTSTANDING];
  int codes[OUTSTANDING];
  printf("READY\n");
  struct timespec last;
  clock_gettime(CLOCK_MONOTONIC, &last);
  for (;;) {
    int slot = (int)(forks % OUTSTANDING);
    if (forks >= OUTSTANDING) {
      /* The oldest child: reaped by its pid, with the status it was given. */
      int status = 0;
      pid_t r;
      while ((r = waitpid(pids[slot], &status, 0)) < 0 && errno == EINTR) {
      }
      if (r != pids[slot]) {
        lost++;
        last_errno = errno;
      } else if (!WIFEXITED(status) || WEXITSTATUS(status) != codes[slot]) {
        wrong++;
      }
      reaped++;
    }
    codes[slot] = (int)(forks % 100) + 1;
    pid_t pid = fork();
    if (pid == 0) {
      struct timespec life = { 0, 100 * 1000 * 1000 };
      nanosleep(&life, NULL);
      _exit(codes[slot]);
    }
    if (pid < 0) {
      perror("fork");
      return 1;
    }
    pids[slot] = pid;
    forks++;
    if (check_requested) {
      check_requested = 0;
      if (!lost && !wrong) printf("PASS forks=%ld reaped=%ld\n", forks, reaped);
      else printf("FAIL forks=%ld lost=%ld (errno %d) wrong-status=%ld\n", forks, lost, last_errno, wrong);
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((now.tv_sec - last.tv_sec) * 1000 + (now.tv_nsec - last.tv_nsec) / 1000000 >= 100) {
      printf("forks %ld\n", forks);
      last = now;
    }
  }
}
