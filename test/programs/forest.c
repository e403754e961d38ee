/* forest.c: a tree of N processes (process i forks 2i+1 and 2i+2), each holding MIB MiB of its own memory, half
 * pseudo-random and half text. The root prints "READY n=N" once every process has filled its memory, then
 * "alive K" every interval. On SIGUSR1 the root asks every process (its process group) to verify its checksum; each
 * answers one byte on a shared pipe and the root prints "PASS n=N" or "FAIL bad=B of N".
 * Usage: forest N MIB [interval_ms]. */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static volatile sig_atomic_t verify;

static void on_usr1(int sig)
{
  (void)sig;
  verify = 1;
}

static void nap(long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
  int n = argc > 1 ? atoi(argv[1]) : 32;
  size_t bytes = (size_t)(argc > 2 ? atol(argv[2]) : 16) << 20;
  long interval = argc > 3 ? atol(argv[3]) : 100;
  setvbuf(stdout, NULL, _IOLBF, 0);
  int ready[2], report[2];
  if (pipe(ready) || pipe(report)) return perror("pipe"), 1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, NULL);
  setpgid(0, 0);   /* the tree is its own process group: kill(0, ...) reaches it and nothing else */
  int me = 0;
  for (;;) {
    int forked = 0;
    for (int c = 2 * me + 1; c <= 2 * me + 2 && c < n; c++) {
      pid_t pid = fork();
      if (pid < 0) return perror("fork"), 1;
      if (pid == 0) {
        me = c;
        forked = -1;
        break;
      }
    }
    if (forked == 0) break;   /* this process made its children: it is where it belongs */
  }
  char *mem = malloc(bytes);
  if (!mem) return perror("malloc"), 1;
  fill_random(mem, bytes / 2, 1000 + (uint64_t)me);
  fill_text(mem + bytes / 2, bytes - bytes / 2, 2000 + (uint64_t)me);
  uint64_t sum = checksum(mem, bytes);
  if (me != 0) {
    char one = 'r';
    if (write(ready[1], &one, 1) != 1) return 1;
    for (;;) {
      if (verify) {
        verify = 0;
        char verdict = checksum(mem, bytes) == sum ? 'P' : 'F';
        if (write(report[1], &verdict, 1) != 1) return 1;
      }
      nap(interval);
    }
  }
  for (int got = 1; got < n;) {
    char buf[64];
    ssize_t r = read(ready[0], buf, sizeof buf < (size_t)(n - got) ? sizeof buf : (size_t)(n - got));
    if (r > 0) got += (int)r;
    else if (r < 0 && errno != EINTR) return perror("read"), 1;
  }
  printf("READY n=%d\n", n);
  for (long k = 1;; k++) {
    if (verify) {
      verify = 0;
      /* Everyone else in the tree shares our process group: ask them all, then count the answers. */
      signal(SIGUSR1, SIG_IGN);
      kill(0, SIGUSR1);
      sigaction(SIGUSR1, &sa, NULL);
      int bad = checksum(mem, bytes) != sum;
      for (int got = 1; got < n;) {
        char v;
        ssize_t r = read(report[0], &v, 1);
        if (r == 1) {
          got++;
          if (v != 'P') bad++;
        } else if (r < 0 && errno != EINTR) {
          return perror("read"), 1;
        }
      }
      if (bad) printf("FAIL bad=%d of %d\n", bad, n);
      else printf("PASS n=%d\n", n);
    }
    printf("alive %ld\n", k);
    nap(interval);
  }
}
