/* deleted.c: creates a file, fills it with a known pattern, unlinks it while keeping it open, and from then on reads
 * it back and appends to it: its contents must survive a checkpoint and restart although no name leads to it.
 * Usage: deleted PATH [interval_ms] [limit]. Lines: "count N size S ok" or "FAIL ...". */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void nap(long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static uint8_t byte_at(long i)
{
  return (uint8_t)((i * 2654435761u) >> 13);
}

int main(int argc, char **argv)
{
  if (argc < 2) return fprintf(stderr, "usage: deleted PATH [interval_ms] [limit]\n"), 2;
  long interval = argc > 2 ? atol(argv[2]) : 50;
  long limit = argc > 3 ? atol(argv[3]) : 0;
  setvbuf(stdout, NULL, _IOLBF, 0);
  int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return perror("open"), 1;
  static uint8_t buf[1 << 16];
  long size = 1 << 16;
  for (long i = 0; i < size; i++) buf[i] = byte_at(i);
  if (write(fd, buf, (size_t)size) != size) return perror("write"), 1;
  if (unlink(argv[1])) return perror("unlink"), 1;
  for (long n = 1; limit == 0 || n <= limit; n++) {
    /* Append 64 more bytes of the pattern through the descriptor's own offset, then read everything back. */
    uint8_t more[64];
    for (int i = 0; i < 64; i++) more[i] = byte_at(size + i);
    if (write(fd, more, sizeof more) != (ssize_t)sizeof more) return perror("write"), 1;
    size += 64;
    static uint8_t all[1 << 20];
    ssize_t got = pread(fd, all, sizeof all, 0);
    if (got != size) {
      printf("FAIL: read %ld bytes, expected %ld\n", (long)got, size);
      return 1;
    }
    for (long i = 0; i < size; i++) {
      if (all[i] != byte_at(i)) {
        printf("FAIL: byte %ld differs\n", i);
        return 1;
      }
    }
    printf("count %ld size %ld ok\n", n, size);
    nap(interval);
  }
  return 0;
}
