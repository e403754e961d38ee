/* counter.c: prints an increasing count at a steady pace; after a restart the count must continue without a gap.
 * Usage: counter [interval_ms] [limit]. Prints "count N" lines; exits 0 after `limit` counts (0 = forever). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
  long interval_ms = argc > 1 ? atol(argv[1]) : 100;
  long limit = argc > 2 ? atol(argv[2]) : 0;
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (long n = 1; limit == 0 || n <= limit; n++) {
    printf("count %ld\n", n);
    struct timespec ts = { interval_ms / 1000, (interval_ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0) {
    }
  }
  return 0;
}
