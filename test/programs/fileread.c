/* fileread.c: keeps a data file open read-only and reads it from the start every round, printing its checksum:
 * after a restart the checksum must be the one it had (the file as it was, or the copy --ckpt-open-files saved).
 * Usage: fileread PATH [interval_ms]. Lines: "count N size S sum X". */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
  if (argc < 2) return fprintf(stderr, "usage: fileread PATH [interval_ms]\n"), 2;
  long interval = argc > 2 ? atol(argv[2]) : 50;
  setvbuf(stdout, NULL, _IOLBF, 0);
  int fd = open(argv[1], O_RDONLY);
  if (fd < 0) return perror(argv[1]), 1;
  static unsigned char buf[1 << 20];
  for (long n = 1;; n++) {
    ssize_t got = pread(fd, buf, sizeof buf, 0);
    if (got < 0) return perror("pread"), 1;
    uint64_t h = 1469598103934665603ull;
    for (ssize_t i = 0; i < got; i++) h = (h ^ buf[i]) * 1099511628211ull;
    printf("count %ld size %ld sum %016llx\n", n, (long)got, (unsigned long long)h);
    struct timespec ts = { interval / 1000, (interval % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
  }
}
