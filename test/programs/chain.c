/* chain.c: a chain of processes, each made by fork (or vfork) and exec of this program one level shallower, each
 * waiting for the next. The last one counts. Every level checks that its parent is who it was told.
 * Usage: chain DEPTH [interval_ms] [limit] [mode] [expected_ppid]
 *   mode "fork" (default), "vfork", "clearenv" (exec with an empty environment), "system" (via system()), "popen".
 * Lines: "leaf count N pid P ppid Q", "level D pid P child C status S", "FAIL ..." */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void nap(long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

int main(int argc, char **argv)
{
  int depth = argc > 1 ? atoi(argv[1]) : 3;
  long interval = argc > 2 ? atol(argv[2]) : 50;
  long limit = argc > 3 ? atol(argv[3]) : 0;
  const char *mode = argc > 4 ? argv[4] : "fork";
  int expected_ppid = argc > 5 ? atoi(argv[5]) : 0;
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (expected_ppid && getppid() != expected_ppid) {
    printf("FAIL: depth %d ppid %d, expected %d\n", depth, (int)getppid(), expected_ppid);
    return 1;
  }
  if (depth == 0) {
    for (long n = 1; limit == 0 || n <= limit; n++) {
      printf("leaf count %ld pid %d ppid %d preload %s\n", n, (int)getpid(), (int)getppid(), getenv("LD_PRELOAD") ? "yes" : "no");
      nap(interval);
    }
    return 0;
  }
  char self[4096];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len < 0) return perror("readlink"), 1;
  self[len] = 0;
  char d[16], iv[32], lim[32], me[16];
  snprintf(d, sizeof d, "%d", depth - 1);
  snprintf(iv, sizeof iv, "%ld", interval);
  snprintf(lim, sizeof lim, "%ld", limit);
  snprintf(me, sizeof me, "%d", (int)getpid());
  char *args[] = { self, d, iv, lim, (char *)mode, me, NULL };
  if (!strcmp(mode, "system") || !strcmp(mode, "popen")) {
    char cmd[8192];
    /* The shell in between is the child; the next level is its child: no expected ppid there. */
    snprintf(cmd, sizeof cmd, "'%s' %s %s %s %s 0", self, d, iv, lim, mode);
    if (!strcmp(mode, "system")) {
      int st = system(cmd);
      printf("level %d pid %d system status %d\n", depth, (int)getpid(), WIFEXITED(st) ? WEXITSTATUS(st) : -1);
      return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
    }
    FILE *f = popen(cmd, "r");
    if (!f) return perror("popen"), 1;
    char line[512];
    while (fgets(line, sizeof line, f)) fputs(line, stdout);
    int st = pclose(f);
    printf("level %d pid %d popen status %d\n", depth, (int)getpid(), WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
  }
  pid_t child;
  if (!strcmp(mode, "vfork")) {
    child = vfork();
    if (child == 0) {
      execv(self, args);
      _exit(127);
    }
  } else {
    child = fork();
    if (child == 0) {
      if (!strcmp(mode, "clearenv")) {
        char *empty[] = { NULL };
        execve(self, args, empty);
      } else {
        execv(self, args);
      }
      _exit(127);
    }
  }
  if (child < 0) return perror("fork"), 1;
  int status = 0;
  pid_t got;
  while ((got = waitpid(child, &status, 0)) < 0 && errno == EINTR) {
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  printf("level %d pid %d child %d waited %d status %d\n", depth, (int)getpid(), (int)child, (int)got, code);
  return got == child ? code : 1;
}
