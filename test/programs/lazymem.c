/* lazymem.c: changes its address space the ways a lazy restore must follow while pages are still coming in, and
 * checks after each change that it sees exactly what it should. Usage: lazymem BALLAST_MIB.
 *
 * Three 16 MiB regions of known content are mapped first (high addresses, so a restore that fills in address order
 * reaches them last), then BALLAST_MIB of text below them. It prints "tick N" every 20 ms. On SIGUSR2 it runs
 * one round, which first changes everything, then checks:
 *   - drops the second half of region `drop` with madvise(MADV_DONTNEED): it must read as zeros, the first half must
 *     keep its content; then writes that half again;
 *   - moves region `grow` to a new place growing it to 24 MiB (mremap) and shrinks it back: the 16 MiB must keep
 *     their content, the 8 MiB added must be zeros;
 *   - unmaps the last 4 MiB of region `hole` and maps fresh memory there: zeros; then writes it again;
 *   - forks a child that checks every region and the ballast and exits 0 (or 1), and reaps it;
 * and prints "round N ok" or "FAIL round N: what". "READY" after setup. */
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define REGION (16ul << 20)
#define GROWN (24ul << 20)
#define HOLE (4ul << 20)

static char *drop, *grow, *hole, *ballast;
static volatile sig_atomic_t round_requested;

static void on_round_signal(int sig)
{
  (void)sig;
  round_requested = 1;
}
static size_t ballast_len;
static uint64_t ballast_sum;

static void pattern(char *p, size_t n, uint64_t seed)
{
  uint64_t s = seed | 1;
  for (size_t i = 0; i < n; i += 8) *(uint64_t *)(p + i) = xorshift(&s);
}

/* Whether [p, p+n) holds the pattern that starts `skip` bytes into the sequence of `seed`. */
static int has_pattern(const char *p, size_t n, uint64_t seed, size_t skip)
{
  uint64_t s = seed | 1;
  for (size_t i = 0; i < skip; i += 8) xorshift(&s);
  for (size_t i = 0; i < n; i += 8) {
    if (*(const uint64_t *)(p + i) != xorshift(&s)) return 0;
  }
  return 1;
}

static int all_zero(const char *p, size_t n)
{
  for (size_t i = 0; i < n; i += 8) {
    if (*(const uint64_t *)(p + i)) return 0;
  }
  return 1;
}

static char *map(size_t n)
{
  char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    printf("FAIL cannot map %zu bytes\n", n);
    exit(1);
  }
  return p;
}

static const char *check_all(void)
{
  if (!has_pattern(drop, REGION, 11, 0)) return "drop region lost its content";
  if (!has_pattern(grow, REGION, 22, 0)) return "grow region lost its content";
  if (!has_pattern(hole, REGION, 33, 0)) return "hole region lost its content";
  if (checksum(ballast, ballast_len) != ballast_sum) return "ballast checksum changed";
  return NULL;
}

static const char *round_once(void)
{
  /* First every change (while pages may still be missing), then the checks. */
  if (madvise(drop + REGION / 2, REGION / 2, MADV_DONTNEED) != 0) return "madvise failed";
  char *spare = mmap(NULL, GROWN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (spare == MAP_FAILED) return "mmap of a place to move to failed";
  char *g = mremap(grow, REGION, GROWN, MREMAP_MAYMOVE | MREMAP_FIXED, spare);
  if (g == MAP_FAILED) return "mremap (move and grow) failed";
  grow = g;
  if (munmap(hole + REGION - HOLE, HOLE) != 0) return "munmap failed";
  if (mmap(hole + REGION - HOLE, HOLE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) {
    return "mmap over the hole failed";
  }

  /* madvise: the dropped half reads as zeros, the rest is intact */
  if (!all_zero(drop + REGION / 2, REGION / 2)) return "dropped half of drop is not zero";
  if (!has_pattern(drop, REGION / 2, 11, 0)) return "kept half of drop lost its content";
  pattern(drop, REGION, 11);

  /* mremap: moved and grown, it keeps its content and the new part is zero; shrunk back in place, it keeps it too */
  if (!has_pattern(grow, REGION, 22, 0)) return "grow region lost its content when it moved";
  if (!all_zero(grow + REGION, GROWN - REGION)) return "memory added by mremap is not zero";
  g = mremap(grow, GROWN, REGION, 0);
  if (g == MAP_FAILED) return "mremap (shrink) failed";
  if (!has_pattern(grow, REGION, 22, 0)) return "grow region lost its content when it shrank";

  /* munmap and map again: fresh memory is zero, the rest is intact */
  if (!all_zero(hole + REGION - HOLE, HOLE)) return "memory mapped again is not zero";
  if (!has_pattern(hole, REGION - HOLE, 33, 0)) return "hole region lost the part it kept";
  pattern(hole, REGION, 33);

  /* fork: the child sees everything */
  pid_t child = fork();
  if (child < 0) return "fork failed";
  if (child == 0) _exit(check_all() ? 1 : 0);
  int status = 0;
  if (waitpid(child, &status, 0) != child) return "waitpid failed";
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "the child saw wrong memory";
  return check_all();
}

int main(int argc, char **argv)
{
  size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 128;
  install_check_signal();
  drop = map(REGION);
  grow = map(REGION);
  hole = map(REGION);
  ballast_len = mib << 20;
  ballast = map(ballast_len);
  pattern(drop, REGION, 11);
  pattern(grow, REGION, 22);
  pattern(hole, REGION, 33);
  /* Text (compressible: decoded more slowly than raw pages, so a longer lazy window): 2 MiB generated, repeated. */
  size_t block = ballast_len < (2ul << 20) ? ballast_len : (2ul << 20);
  fill_text(ballast, block, 44);
  for (size_t at = block; at < ballast_len; at += block) memcpy(ballast + at, ballast, ballast_len - at < block ? ballast_len - at : block);
  ballast_sum = checksum(ballast, ballast_len);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_round_signal;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR2, &sa, NULL);
  printf("READY\n");
  long rounds = 0;
  for (long n = 1;; n++) {
    if (round_requested) {
      round_requested = 0;
      const char *bad = round_once();
      rounds++;
      if (bad) {
        printf("FAIL round %ld: %s\n", rounds, bad);
        return 1;
      }
      printf("round %ld ok\n", rounds);
    }
    printf("tick %ld\n", n);
    struct timespec ts = { 0, 20 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
}
