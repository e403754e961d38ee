/* pluginapp.c: a program that appends numbered lines to the log file $APPLOG through one descriptor it opened
 * itself (the resource the example plugin applog.so reopens after a restart). Prints "count N" per line. On SIGUSR1
 * it checks that its descriptor is open, in append mode, on the file now at $APPLOG and that a write lands at its end,
 * prints "PASS ..." or "FAIL ...", and exits through exit() (so plugins see EXIT).
 * Usage: pluginapp [exec]: with "exec" it first replaces itself (same pid) by "pluginapp execd" with an environment
 * holding only APPLOG and PLUGIN_TRACE, none of the DMTCP_* variables. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static int log_fd = -1;
static const char *log_path;

static int check(char *why, size_t cap)
{
  struct stat fd_st, path_st;
  if (fstat(log_fd, &fd_st) != 0) return snprintf(why, cap, "fstat of fd %d: %s", log_fd, strerror(errno)), -1;
  if (stat(log_path, &path_st) != 0) return snprintf(why, cap, "%s: %s", log_path, strerror(errno)), -1;
  if (fd_st.st_dev != path_st.st_dev || fd_st.st_ino != path_st.st_ino) {
    return snprintf(why, cap, "fd %d is not on the file now at %s", log_fd, log_path), -1;
  }
  int fl = fcntl(log_fd, F_GETFL);
  if (fl < 0 || !(fl & O_APPEND) || (fl & O_ACCMODE) != O_WRONLY) {
    return snprintf(why, cap, "fd %d flags 0%o: not write-only append", log_fd, fl), -1;
  }
  if (write(log_fd, "check\n", 6) != 6) return snprintf(why, cap, "write: %s", strerror(errno)), -1;
  off_t at = lseek(log_fd, 0, SEEK_CUR);
  if (fstat(log_fd, &fd_st) != 0 || at != fd_st.st_size) {
    return snprintf(why, cap, "write landed at %ld, the file has %ld bytes", (long)at, (long)fd_st.st_size), -1;
  }
  return 0;
}

int main(int argc, char **argv)
{
  install_check_signal();
  log_path = getenv("APPLOG");
  if (!log_path) return fprintf(stderr, "pluginapp: APPLOG is not set\n"), 2;
  if (argc > 1 && !strcmp(argv[1], "exec")) {
    static char a[4200], t[4200];
    snprintf(a, sizeof a, "APPLOG=%s", log_path);
    snprintf(t, sizeof t, "PLUGIN_TRACE=%s", getenv("PLUGIN_TRACE") ? getenv("PLUGIN_TRACE") : "");
    char *env[] = { a, t, NULL };
    char *args[] = { argv[0], "execd", NULL };
    execve("/proc/self/exe", args, env);
    return perror("execve"), 1;
  }
  if (argc > 1 && !strcmp(argv[1], "execd")) printf("after exec ld_preload=%s\n", getenv("LD_PRELOAD") ? "set" : "unset");
  log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (log_fd < 0) return perror(log_path), 1;
  for (long n = 1;; n++) {
    if (check_requested) {
      char why[512];
      int ok = check(why, sizeof why) == 0;
      if (ok) printf("PASS fd %d appends to %s\n", log_fd, log_path);
      else printf("FAIL %s\n", why);
      exit(ok ? 0 : 1);
    }
    char line[32];
    int len = snprintf(line, sizeof line, "line %08ld\n", n);
    if (write(log_fd, line, (size_t)len) != len) {
      printf("FAIL write of line %ld: %s\n", n, strerror(errno));
      exit(1);
    }
    printf("count %ld\n", n);
    struct timespec ts = { 0, 50 * 1000 * 1000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !check_requested) {
    }
  }
}
