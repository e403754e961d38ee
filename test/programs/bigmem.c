/* bigmem.c: holds MiB of memory, half pseudo-random and half text, and proves after a restart that every byte
 * is still there. Usage: bigmem MIB. Prints "READY checksum=X", then "alive N" every 100 ms; on SIGUSR1 recomputes
 * the checksum and prints "PASS checksum=X" or "FAIL expected=X got=Y". On SIGWINCH it changes 1% of its pages (one
 * word of every 100th page), recomputes the checksum and prints "DIRTY pages=N checksum=X" (the incremental images
 * benchmark). `bigmem --dump MIB FILE` writes the same bytes to FILE and exits (the benchmark compresses them with gzip
 * for comparison). */
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static volatile sig_atomic_t dirty_requested;

static void on_dirty_signal(int sig)
{
  (void)sig;
  dirty_requested = 1;
}

int main(int argc, char **argv)
{
  int dump = argc > 3 && strcmp(argv[1], "--dump") == 0;
  if (dump) argv++, argc--;
  size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 64;
  size_t n = mib << 20;
  install_check_signal();
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_dirty_signal;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGWINCH, &sa, NULL);
  char *buf = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (buf == MAP_FAILED) {
    printf("FAIL cannot map %zu MiB\n", mib);
    return 1;
  }
  fill_random(buf, n / 2, 12345);
  fill_text(buf + n / 2, n - n / 2, 67890);
  if (dump) {
    FILE *f = fopen(argv[2], "wb");
    if (!f || fwrite(buf, 1, n, f) != n || fclose(f) != 0) {
      perror(argv[2]);
      return 1;
    }
    return 0;
  }
  uint64_t expected = checksum(buf, n);
  printf("READY checksum=%016llx\n", (unsigned long long)expected);
  for (long tick = 1, round = 1;; tick++) {
    if (dirty_requested) {
      dirty_requested = 0;
      size_t pages = 0;
      for (size_t p = 0; p < n / 4096; p += 100, pages++) {
        uint64_t *word = (uint64_t *)(buf + p * 4096 + ((size_t)round * 8) % 4096);
        *word ^= ((uint64_t)round << 32) | (p + 1);
      }
      round++;
      expected = checksum(buf, n);
      printf("DIRTY pages=%zu checksum=%016llx\n", pages, (unsigned long long)expected);
    }
    if (check_requested) {
      check_requested = 0;
      uint64_t got = checksum(buf, n);
      if (got == expected) printf("PASS checksum=%016llx\n", (unsigned long long)got);
      else printf("FAIL expected=%016llx got=%016llx\n", (unsigned long long)expected, (unsigned long long)got);
    }
    printf("alive %ld\n", tick);
    struct timespec ts = { 0, 100 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
}
