/* signal_wrappers.c: keeps the checkpoint signal ours: the program can neither block it nor replace its handler. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>

#include "wrappers.h"

/* What the program believes is installed for the checkpoint signal's number. */
static struct sigaction app_ckpt_action;

int dmtcp_real_sigaction(int sig, const struct sigaction *act, struct sigaction *old) DMTCP_HIDDEN;
int dmtcp_real_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
  return NEXT_FN(sigaction)(sig, act, old);
}

void dmtcp_program_ckpt_action(struct sigaction *out) DMTCP_HIDDEN;
void dmtcp_program_ckpt_action(struct sigaction *out)
{
  *out = app_ckpt_action;
}

static int is_ours(int sig)
{
  return g_active && suspend_is_ckpt_signal(sig);
}

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
  if (!is_ours(sig)) return NEXT_FN(sigaction)(sig, act, old);
  if (old) *old = app_ckpt_action;
  if (act) app_ckpt_action = *act;
  return 0;
}

sighandler_t signal(int sig, sighandler_t handler)
{
  if (!is_ours(sig)) return NEXT_FN(signal)(sig, handler);
  sighandler_t prev = app_ckpt_action.sa_handler;
  app_ckpt_action.sa_handler = handler;
  app_ckpt_action.sa_flags = SA_RESTART;
  return prev;
}

static const sigset_t *without_ckpt(const sigset_t *set, sigset_t *copy)
{
  if (!set || !g_active) return set;
  *copy = *set;
  sigdelset(copy, g_cfg.ckpt_signal);
  return copy;
}

int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
  sigset_t copy;
  return NEXT_FN(sigprocmask)(how, how == SIG_UNBLOCK ? set : without_ckpt(set, &copy), old);
}

int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
  sigset_t copy;
  return NEXT_FN(pthread_sigmask)(how, how == SIG_UNBLOCK ? set : without_ckpt(set, &copy), old);
}

int sigsuspend(const sigset_t *mask)
{
  sigset_t copy;
  return NEXT_FN(sigsuspend)(without_ckpt(mask, &copy));
}
