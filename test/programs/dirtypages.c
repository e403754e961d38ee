/* dirtypages.c: incremental images' test program. Holds MIB mebibytes of pseudo-random bytes and rewrites a known set
 * of them every tick: its "hot" pages, every STRIDE-th page of the buffer, so between two checkpoints exactly those
 * pages of the buffer change. It keeps a checksum of the whole buffer, updated each tick.
 * Usage: dirtypages MIB STRIDE [TICK_MS]. Prints "READY buffer=0xADDR pages=N hot=K checksum=X", then "count N"
 * every tick; on SIGUSR1 recomputes the checksum and prints "PASS checksum=X count=N" or "FAIL expected=X got=Y". */
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define PAGE 4096

int main(int argc, char **argv)
{
  size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 16;
  size_t stride = argc > 2 ? (size_t)atol(argv[2]) : 64;
  long tick_ms = argc > 3 ? atol(argv[3]) : 50;
  if (mib == 0 || stride == 0 || tick_ms <= 0) {
    printf("FAIL usage: dirtypages MIB STRIDE [TICK_MS]\n");
    return 2;
  }
  size_t n = mib << 20, pages = n / PAGE;
  install_check_signal();
  unsigned char *buf = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (buf == MAP_FAILED) {
    printf("FAIL cannot map %zu MiB\n", mib);
    return 1;
  }
  fill_random(buf, n, 4242);
  uint64_t expected = checksum(buf, n);
  printf("READY buffer=%p pages=%zu hot=%zu checksum=%016llx\n", (void *)buf, pages, (pages + stride - 1) / stride,
         (unsigned long long)expected);
  for (long count = 1;; count++) {
    if (check_requested) {
      check_requested = 0;
      uint64_t got = checksum(buf, n);
      if (got == expected) printf("PASS checksum=%016llx count=%ld\n", (unsigned long long)got, count);
      else printf("FAIL expected=%016llx got=%016llx\n", (unsigned long long)expected, (unsigned long long)got);
    }
    /* Every hot page changes: one word, at a place and with a value that depend on the tick. */
    for (size_t p = 0; p < pages; p += stride) {
      uint64_t *word = (uint64_t *)(buf + p * PAGE + ((size_t)count * 8) % PAGE);
      *word ^= ((uint64_t)count << 32) | (p + 1);
    }
    expected = checksum(buf, n);
    printf("count %ld\n", count);
    struct timespec ts = { tick_ms / 1000, (tick_ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
  }
}
