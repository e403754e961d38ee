/* sigusr2.c: uses SIGUSR2 for its own purpose: a handler counts the SIGUSR2 it sends itself every 20 ms. Run with
 * --ckpt-signal set to something else. Prints "usr2 N"; on SIGUSR1 "PASS" when every signal sent was handled. */
#include <time.h>

#include "common.h"

static volatile sig_atomic_t got;

static void on_usr2(int sig)
{
  (void)sig;
  got++;
}

int main(void)
{
  install_check_signal();
  signal(SIGUSR2, on_usr2);
  long sent = 0;
  printf("READY\n");
  for (;;) {
    raise(SIGUSR2);
    sent++;
    if (check_requested) {
      check_requested = 0;
      if (got == sent) printf("PASS usr2=%ld\n", sent);
      else printf("FAIL sent=%ld got=%ld\n", sent, (long)got);
    }
    if (sent % 5 == 0) printf("usr2 %ld\n", (long)got);
    struct timespec ts = { 0, 20 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
}
