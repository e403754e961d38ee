/* workdir.c: keeps files in a work directory in step with a counter in memory, for the workdir plugin's test.
 * Each tick n appends "line n" (fixed width) to DIR/counter.log, which stays open with O_APPEND, rewrites
 * DIR/sub/state with "n" (written aside, then renamed), and prints "count n". Before every tick, and on SIGUSR1, it
 * checks that the files say what its counter says: counter.log holds exactly lines 1..n-1 and state holds n-1.
 * Usage: workdir DIR [interval_ms]. Prints "READY" after the first tick, "PASS" or "FAIL why" when asked; a failed
 * check before a tick prints "FAIL why" and exits 1. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define LINE_LEN 14   /* "line %08ld\n" */

static char log_path[4096], state_path[4096], state_tmp[4096], sub_dir[4096];

/* Empty when the files match a counter at `n`, else why not. */
static const char *verify(long n)
{
  static char why[4400];
  struct stat st;
  if (stat(log_path, &st) != 0) return snprintf(why, sizeof why, "%s: %s", log_path, strerror(errno)), why;
  if (st.st_size != (off_t)n * LINE_LEN) {
    return snprintf(why, sizeof why, "counter.log has %ld bytes, the counter %ld wants %ld", (long)st.st_size, n, n * LINE_LEN), why;
  }
  int fd = open(log_path, O_RDONLY);
  if (fd < 0) return snprintf(why, sizeof why, "%s: %s", log_path, strerror(errno)), why;
  char line[32], want[32];
  for (long i = 1; i <= n; i++) {
    if (pread(fd, line, LINE_LEN, (off_t)(i - 1) * LINE_LEN) != LINE_LEN) {
      close(fd);
      return snprintf(why, sizeof why, "counter.log: short read at line %ld", i), why;
    }
    line[LINE_LEN] = 0;
    snprintf(want, sizeof want, "line %08ld\n", i);
    if (memcmp(line, want, LINE_LEN) != 0) {
      close(fd);
      return snprintf(why, sizeof why, "counter.log line %ld is \"%.13s\"", i, line), why;
    }
  }
  close(fd);
  char buf[64] = { 0 };
  fd = open(state_path, O_RDONLY);
  if (fd < 0) {
    if (n == 0 && errno == ENOENT) return "";
    return snprintf(why, sizeof why, "%s: %s", state_path, strerror(errno)), why;
  }
  ssize_t got = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (got < 0 || atol(buf) != n) return snprintf(why, sizeof why, "sub/state says %s, the counter says %ld", got > 0 ? buf : "nothing", n), why;
  return "";
}

static void nap(long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

int main(int argc, char **argv)
{
  if (argc < 2) return fprintf(stderr, "usage: workdir DIR [interval_ms]\n"), 2;
  long interval = argc > 2 ? atol(argv[2]) : 100;
  install_check_signal();
  snprintf(log_path, sizeof log_path, "%s/counter.log", argv[1]);
  snprintf(sub_dir, sizeof sub_dir, "%s/sub", argv[1]);
  snprintf(state_path, sizeof state_path, "%s/sub/state", argv[1]);
  snprintf(state_tmp, sizeof state_tmp, "%s/sub/state.tmp", argv[1]);
  if ((mkdir(argv[1], 0755) != 0 && errno != EEXIST) || (mkdir(sub_dir, 0755) != 0 && errno != EEXIST)) return perror("mkdir"), 1;
  int log = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  if (log < 0) return perror("open"), 1;
  unlink(state_path);
  for (long n = 1;; n++) {
    const char *bad = verify(n - 1);
    if (*bad) {
      printf("FAIL before tick %ld: %s\n", n, bad);
      return 1;
    }
    char line[32];
    snprintf(line, sizeof line, "line %08ld\n", n);
    if (write(log, line, LINE_LEN) != LINE_LEN) return printf("FAIL write: %s\n", strerror(errno)), 1;
    int fd = open(state_tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char num[32];
    int len = snprintf(num, sizeof num, "%ld\n", n);
    if (fd < 0 || write(fd, num, (size_t)len) != len || close(fd) != 0 || rename(state_tmp, state_path) != 0) {
      return printf("FAIL state: %s\n", strerror(errno)), 1;
    }
    printf("count %ld\n", n);
    if (n == 1) printf("READY\n");
    nap(interval);
    if (check_requested) {
      check_requested = 0;
      bad = verify(n);
      if (*bad) printf("FAIL %s\n", bad);
      else printf("PASS counter %ld matches counter.log and sub/state\n", n);
    }
  }
}
