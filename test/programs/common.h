/* common.h: helpers shared by the test programs: deterministic data, checksums, and the PASS/FAIL protocol
 * (a program sets up its state, prints READY, and on SIGUSR1 checks that state and prints PASS or FAIL). */
#ifndef TEST_COMMON_H
#define TEST_COMMON_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t check_requested;

static void on_check_signal(int sig)
{
  (void)sig;
  check_requested = 1;
}

static inline void install_check_signal(void)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_check_signal;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, NULL);
  setvbuf(stdout, NULL, _IOLBF, 0);
}

static inline uint64_t xorshift(uint64_t *s)
{
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

/* FNV-1a over 64-bit words: fast enough for a gigabyte, sensitive to any changed byte. */
static inline uint64_t checksum(const void *p, size_t n)
{
  const uint64_t *w = p;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n / 8; i++) h = (h ^ w[i]) * 1099511628211ull;
  return h;
}

/* Fills with pseudo-English and log lines (the same generator the codec benchmark uses). */
static inline void fill_text(char *buf, size_t n, uint64_t seed)
{
  static const char *syl[] = { "ka", "to", "re", "mi", "an", "el", "or", "st", "th", "in", "qu", "pr", "ve", "lo", "su",
                               "ne", "di", "ca", "ba", "xe", "wo", "ly", "ing", "ed", "er", "al", "ion", "ous", "ent", "ar" };
  static char words[4000][16];
  uint64_t s = seed | 1;
  for (int i = 0; i < 4000; i++) {
    int k = 1 + (int)(xorshift(&s) % 4);
    words[i][0] = 0;
    for (int j = 0; j < k; j++) strcat(words[i], syl[xorshift(&s) % 30]);
  }
  size_t p = 0;
  uint64_t line = 0;
  while (p < n) {
    char tmp[512];
    int l;
    if (xorshift(&s) % 4 == 0) {
      l = snprintf(tmp, sizeof tmp, "2026-11-21T%02d:%02d:%02d.%03d worker-%u INFO request id=%lu took %lums\n",
                   (int)(line / 3600 % 24), (int)(line / 60 % 60), (int)(line % 60), (int)(xorshift(&s) % 1000),
                   (unsigned)(xorshift(&s) % 16), (unsigned long)(xorshift(&s) % 1000000),
                   (unsigned long)(xorshift(&s) % 500));
      line++;
    } else {
      l = 0;
      int nw = 5 + (int)(xorshift(&s) % 15);
      for (int w = 0; w < nw; w++) {
        uint64_t r = xorshift(&s);
        int idx = (int)((r % 4000) * (r % 4000) / 4000);
        l += snprintf(tmp + l, sizeof tmp - (size_t)l, "%s%s", w ? " " : "", words[idx]);
      }
      l += snprintf(tmp + l, sizeof tmp - (size_t)l, ".\n");
    }
    if (p + (size_t)l > n) l = (int)(n - p);
    memcpy(buf + p, tmp, (size_t)l);
    p += (size_t)l;
  }
}

static inline void fill_random(void *buf, size_t n, uint64_t seed)
{
  uint64_t s = seed | 1, *w = buf;
  for (size_t i = 0; i < n / 8; i++) w[i] = xorshift(&s);
}

#endif
