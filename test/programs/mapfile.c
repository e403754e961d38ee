/* mapfile.c: maps a file read-only (private) and proves after a restart that it still sees the same bytes.
 * Usage: mapfile FILE. Prints "READY checksum=X"; on SIGUSR1 prints "PASS ..." or "FAIL ...". */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv)
{
  if (argc < 2) return 2;
  install_check_signal();
  int fd = open(argv[1], O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) {
    printf("FAIL cannot open %s\n", argv[1]);
    return 1;
  }
  size_t n = (size_t)st.st_size & ~(size_t)7;
  const char *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return 1;
  uint64_t expected = checksum(p, n);
  printf("READY checksum=%016llx\n", (unsigned long long)expected);
  for (long tick = 1;; tick++) {
    if (check_requested) {
      check_requested = 0;
      uint64_t got = checksum(p, n);
      if (got == expected) printf("PASS checksum=%016llx\n", (unsigned long long)got);
      else printf("FAIL expected=%016llx got=%016llx\n", (unsigned long long)expected, (unsigned long long)got);
    }
    printf("alive %ld\n", tick);
    struct timespec ts = { 0, 100 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
}
