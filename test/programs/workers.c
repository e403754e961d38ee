/* workers.c: forks N workers that each count for a while and exit with their own status; the parent collects them
 * with waitpid(-1) and checks each pid against what fork() returned and each status against the worker's number.
 * SIGCHLD is counted by a handler. Usage: workers [n] [ticks] [tick_ms].
 * Lines: "started I pid P", "reaped P worker I status S", "done reaped R of N sigchld K ok|FAIL". */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t sigchld_count;

static void on_chld(int sig)
{
  (void)sig;
  sigchld_count++;
}

static void nap(long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

int main(int argc, char **argv)
{
  int n = argc > 1 ? atoi(argv[1]) : 16;
  int ticks = argc > 2 ? atoi(argv[2]) : 40;
  long tick = argc > 3 ? atol(argv[3]) : 50;
  pid_t pids[256];
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_chld;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGCHLD, &sa, NULL);
  for (int i = 0; i < n && i < 256; i++) {
    pids[i] = fork();
    if (pids[i] < 0) return perror("fork"), 1;
    if (pids[i] == 0) {
      volatile unsigned long sum = 0;
      for (int t = 0; t < ticks + i; t++) {
        sum += (unsigned long)t * (unsigned long)(i + 1);
        nap(tick);
      }
      _exit(10 + i);
    }
    printf("started %d pid %d\n", i, (int)pids[i]);
  }
  int reaped = 0, ok = 1;
  while (reaped < n) {
    int status;
    pid_t p = waitpid(-1, &status, 0);
    if (p < 0) {
      if (errno == EINTR) continue;
      printf("waitpid failed: %s\n", strerror(errno));
      ok = 0;
      break;
    }
    int who = -1;
    for (int i = 0; i < n; i++) {
      if (pids[i] == p) who = i;
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (who < 0 || code != 10 + who) ok = 0;
    printf("reaped %d worker %d status %d\n", (int)p, who, code);
    reaped++;
  }
  printf("done reaped %d of %d sigchld %d %s\n", reaped, n, (int)sigchld_count, ok && sigchld_count > 0 ? "ok" : "FAIL");
  return ok ? 0 : 1;
}
