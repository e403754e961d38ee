/* pagewriter.c: a 256-page buffer (its own memory area) of which a known set of pages changes on request, so that
 * readimage diff and extract can be checked against what the program itself did.
 * Usage: pagewriter. Prints "READY base=0x... pages=256 checksum=X"; on each SIGUSR1 rewrites pages 3, 17 and
 * 100..109 and prints "WROTE checksum=X 0x... 0x..." (the new checksum of the whole buffer, then the addresses of the
 * pages it wrote); in between it prints "alive N" lines. The checksum is common.h's checksum() over the buffer. */
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define PAGES 256
#define PAGE 4096

static const int written[] = { 3, 17, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109 };

int main(void)
{
  install_check_signal();
  /* Two PROT_NONE guard pages keep the buffer a memory area of its own: the kernel cannot merge it with neighbours. */
  char *map = mmap(NULL, (PAGES + 2) * (size_t)PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED) {
    printf("FAIL mmap\n");
    return 1;
  }
  if (mprotect(map, PAGE, PROT_NONE) != 0 || mprotect(map + (PAGES + 1) * (size_t)PAGE, PAGE, PROT_NONE) != 0) {
    printf("FAIL mprotect\n");
    return 1;
  }
  char *buf = map + PAGE;
  fill_random(buf, PAGES * (size_t)PAGE, 0x5eed);
  printf("READY base=%p pages=%d checksum=%016llx\n", (void *)buf, PAGES,
         (unsigned long long)checksum(buf, PAGES * (size_t)PAGE));
  uint64_t round = 0;
  for (long tick = 1;; tick++) {
    if (check_requested) {
      check_requested = 0;
      round++;
      char line[4096];
      int n = 0;
      for (size_t i = 0; i < sizeof written / sizeof written[0]; i++) {
        char *page = buf + written[i] * (size_t)PAGE;
        fill_random(page, PAGE, 0xabcdef00u + round * 1000 + (uint64_t)written[i]);
        n += snprintf(line + n, sizeof line - (size_t)n, " %p", (void *)page);
      }
      printf("WROTE checksum=%016llx%s\n", (unsigned long long)checksum(buf, PAGES * (size_t)PAGE), line);
    }
    printf("alive %ld\n", tick);
    struct timespec ts = { 0, 100 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
}
