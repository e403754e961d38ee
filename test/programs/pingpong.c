/* pingpong.c: a parent and a child pass a counter back and forth over two pipes, always keeping WINDOW messages in
 * flight, so a checkpoint finds bytes inside the pipes. Every reply carries the child's getpid() and getppid(), which
 * must stay the pid fork() returned and the parent's getpid(), across restarts. After `limit` replies the parent closes
 * its pipe, reaps the child with waitpid(pid) and prints its status.
 * Usage: pingpong [interval_ms] [limit]. Lines: "count N child C sees S ppid P self M", "reaped C status X". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WINDOW 16

struct reply {
  long value;
  int pid;
  int ppid;
};

static void nap(long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static int read_full(int fd, void *buf, size_t n)
{
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r == 0) return 0;
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    got += (size_t)r;
  }
  return 1;
}

int main(int argc, char **argv)
{
  long interval = argc > 1 ? atol(argv[1]) : 20;
  long limit = argc > 2 ? atol(argv[2]) : 0;
  int down[2], up[2];
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (pipe(down) || pipe(up)) return perror("pipe"), 1;
  pid_t child = fork();
  if (child < 0) return perror("fork"), 1;
  if (child == 0) {
    close(down[1]);
    close(up[0]);
    long v;
    int r;
    while ((r = read_full(down[0], &v, sizeof v)) == 1) {
      struct reply rep = { v + 1, getpid(), getppid() };
      if (write(up[1], &rep, sizeof rep) != (ssize_t)sizeof rep) return 3;
    }
    return r == 0 ? 0 : 2;
  }
  close(down[0]);
  close(up[1]);
  long next = 0, expect = 1;
  for (int i = 0; i < WINDOW; i++, next++) {
    if (write(down[1], &next, sizeof next) != (ssize_t)sizeof next) return perror("write"), 1;
  }
  for (long n = 1; limit == 0 || n <= limit; n++) {
    struct reply rep;
    if (read_full(up[0], &rep, sizeof rep) != 1) return fprintf(stderr, "pingpong: lost the child\n"), 1;
    if (rep.value != expect) {
      printf("FAIL: expected %ld, got %ld\n", expect, rep.value);
      return 1;
    }
    expect++;
    printf("count %ld child %d sees %d ppid %d self %d\n", n, (int)child, rep.pid, rep.ppid, (int)getpid());
    if (write(down[1], &next, sizeof next) != (ssize_t)sizeof next) return perror("write"), 1;
    next++;
    nap(interval);
  }
  close(down[1]);
  int status = 0;
  pid_t got = waitpid(child, &status, 0);
  printf("reaped %d status %d\n", (int)got, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  return got == child ? 0 : 1;
}
