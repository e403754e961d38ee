/* zombie.c: forks two children that end at once, one with exit status 42 and one killed by SIGTERM, and leaves them
 * unreaped (zombies) while it counts; after `reap_at` counts it reaps each by the pid fork returned and prints how it
 * ended. A checkpoint and restart in between must leave both findable, with the same pids and statuses.
 * Usage: zombie [interval_ms] [reap_at]. Lines: "count N", "reaped P exit S" / "reaped P signal S", "done". */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
  long interval = argc > 1 ? atol(argv[1]) : 50;
  long reap_at = argc > 2 ? atol(argv[2]) : 60;
  setvbuf(stdout, NULL, _IOLBF, 0);
  pid_t exits = fork();
  if (exits == 0) _exit(42);
  pid_t killed = fork();
  if (killed == 0) {
    signal(SIGTERM, SIG_DFL);
    raise(SIGTERM);
    _exit(1);
  }
  printf("children %d %d\n", (int)exits, (int)killed);
  for (long n = 1; n <= reap_at; n++) {
    printf("count %ld\n", n);
    struct timespec ts = { interval / 1000, (interval % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
  }
  pid_t order[2] = { exits, killed };
  for (int i = 0; i < 2; i++) {
    int status;
    pid_t got = waitpid(order[i], &status, WNOHANG);
    if (got != order[i]) {
      printf("FAIL: waitpid(%d) returned %d (%s)\n", (int)order[i], (int)got, got < 0 ? "error" : "not yet");
      return 1;
    }
    if (WIFEXITED(status)) printf("reaped %d exit %d\n", (int)got, WEXITSTATUS(status));
    else if (WIFSIGNALED(status)) printf("reaped %d signal %d\n", (int)got, WTERMSIG(status));
  }
  printf("done\n");
  return 0;
}
