/* signals.c: signal state across a checkpoint: handlers installed with SA_SIGINFO, an alternate signal stack, and
 * signals left pending while blocked: three queued SIGRTMIN+1 with values 1, 2, 3 and one SIGHUP. Prints "READY";
 * on SIGUSR1 unblocks them and prints "PASS" when the handler saw 1, 2, 3 in order and the SIGHUP, on the alternate
 * stack where asked, else "FAIL ...". */
#include <time.h>

#include "common.h"

static volatile int seen[8], n_seen, hup, on_altstack;
static char altstack[1 << 16];

static void on_rt(int sig, siginfo_t *si, void *uc)
{
  (void)sig;
  (void)uc;
  if (n_seen < 8) seen[n_seen++] = si->si_value.sival_int;
}

static void on_hup(int sig)
{
  (void)sig;
  int local;
  hup++;
  on_altstack = (char *)&local >= altstack && (char *)&local < altstack + sizeof altstack;
}

int main(void)
{
  install_check_signal();
  stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 };
  sigaltstack(&ss, NULL);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_rt;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGRTMIN + 1, &sa, NULL);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_hup;
  sa.sa_flags = SA_ONSTACK;
  sigaction(SIGHUP, &sa, NULL);
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGRTMIN + 1);
  sigaddset(&block, SIGHUP);
  sigprocmask(SIG_BLOCK, &block, NULL);
  for (int v = 1; v <= 3; v++) sigqueue(getpid(), SIGRTMIN + 1, (union sigval){ .sival_int = v });
  raise(SIGHUP);
  printf("READY\n");
  for (long tick = 1;; tick++) {
    if (check_requested) {
      check_requested = 0;
      sigprocmask(SIG_UNBLOCK, &block, NULL);
      if (n_seen == 3 && seen[0] == 1 && seen[1] == 2 && seen[2] == 3 && hup == 1 && on_altstack) printf("PASS\n");
      else printf("FAIL rt=%d (%d %d %d) hup=%d altstack=%d\n", n_seen, seen[0], seen[1], seen[2], hup, on_altstack);
      sigprocmask(SIG_BLOCK, &block, NULL);
    }
    printf("alive %ld\n", tick);
    struct timespec ts = { 0, 100 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
}
