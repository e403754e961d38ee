/* filelog.c: writes numbered fixed-width lines to DATA at its own offset (plain write, so the offset is the
 * descriptor's), and with a child appends to LOG through O_APPEND: one description shared across fork and one opened
 * by the child itself. Each append checks O_APPEND is still set and that the write landed at the end of the file.
 * Usage: filelog DATA LOG [interval_ms] [limit]. Lines: "count N", "append FAIL ...". */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void nap(long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static int append(int fd, const char *who, long n)
{
  char line[64];
  int len = snprintf(line, sizeof line, "%s %08ld\n", who, n);
  if (!(fcntl(fd, F_GETFL) & O_APPEND)) {
    printf("append FAIL: %s lost O_APPEND\n", who);
    return -1;
  }
  if (write(fd, line, (size_t)len) != len) {
    printf("append FAIL: %s write: %s\n", who, strerror(errno));
    return -1;
  }
  struct stat st;
  off_t at = lseek(fd, 0, SEEK_CUR);
  if (fstat(fd, &st) == 0 && at < st.st_size - 4096) {
    printf("append FAIL: %s offset %ld far behind the end %ld\n", who, (long)at, (long)st.st_size);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv)
{
  if (argc < 3) return fprintf(stderr, "usage: filelog DATA LOG [interval_ms] [limit]\n"), 2;
  long interval = argc > 3 ? atol(argv[3]) : 50;
  long limit = argc > 4 ? atol(argv[4]) : 0;
  setvbuf(stdout, NULL, _IOLBF, 0);
  int data = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int shared_log = open(argv[2], O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (data < 0 || shared_log < 0) return perror("open"), 1;
  pid_t child = fork();
  if (child < 0) return perror("fork"), 1;
  if (child == 0) {
    int own = open(argv[2], O_WRONLY | O_APPEND);
    if (own < 0) return perror("open"), 1;
    for (long n = 1; limit == 0 || n <= limit; n++) {
      if (append(n % 2 ? own : shared_log, "child", n) < 0) return 1;
      nap(interval);
    }
    return 0;
  }
  for (long n = 1; limit == 0 || n <= limit; n++) {
    char line[32];
    int len = snprintf(line, sizeof line, "line %08ld\n", n);
    if (write(data, line, (size_t)len) != len) return perror("write"), 1;
    if (append(shared_log, "parent", n) < 0) return 1;
    printf("count %ld\n", n);
    nap(interval);
  }
  int status;
  waitpid(child, &status, 0);
  printf("child status %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  return 0;
}
