/* pid_wrappers.c: the program keeps seeing the pids it knew: getpid, getppid and every call that takes or returns a
 * pid, process group or session is translated between virtual (original) and real (current) ids. Before any restart
 * the table is empty and every call goes straight through. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "wrappers.h"
#include "../../include/dmtcp_sys.h"

/* A pid argument that may be 0, -1 or a negated process group. */
static pid_t to_real_signed(pid_t pid)
{
  if (pid > 0) return vid_to_real(pid);
  if (pid < -1) return -vid_to_real(-pid);
  return pid;
}

/* A returned pid, process group or session (negative: an error). */
static pid_t virt_of(pid_t r)
{
  return r > 0 ? vid_to_virt(r) : r;
}

pid_t getpid(void)
{
  return REREAD_AFTER_RESTART(vid_self_pid());
}

pid_t getppid(void)
{
  return REREAD_AFTER_RESTART(vid_to_virt((int)dsys0(__NR_getppid)));
}

pid_t fork(void)
{
  fork_wrapper_enter();
  pid_t r = NEXT_FN(fork)();
  if (r > 0) r = vid_new_process(r);
  fork_wrapper_leave();
  return r;
}

int kill(pid_t pid, int sig)
{
  return WITHOUT_CKPT(NEXT_FN(kill)(to_real_signed(pid), sig));
}

int killpg(pid_t pgrp, int sig)
{
  return WITHOUT_CKPT(NEXT_FN(killpg)(vid_to_real(pgrp), sig));
}

int sigqueue(pid_t pid, int sig, const union sigval value)
{
  return WITHOUT_CKPT(NEXT_FN(sigqueue)(vid_to_real(pid), sig, value));
}

/* A wait blocked at a checkpoint is re-issued by the kernel after the restart with the real pid it had then: it
 * fails with ECHILD. Waits that took a pid translate again and retry when a restart happened in between. */
static int restarted_since(uint32_t restarts)
{
  return __atomic_load_n(&g_id.restarts, __ATOMIC_ACQUIRE) != restarts;
}

pid_t waitpid(pid_t pid, int *status, int options)
{
  for (;;) {
    uint32_t restarts = __atomic_load_n(&g_id.restarts, __ATOMIC_ACQUIRE);
    pid_t r = NEXT_FN(waitpid)(to_real_signed(pid), status, options);
    if (r < 0 && errno == ECHILD && pid != -1 && restarted_since(restarts)) continue;
    return virt_of(r);
  }
}

pid_t wait(int *status)
{
  pid_t r = NEXT_FN(wait)(status);
  return virt_of(r);
}

pid_t wait3(int *status, int options, struct rusage *ru)
{
  pid_t r = NEXT_FN(wait3)(status, options, ru);
  return virt_of(r);
}

pid_t wait4(pid_t pid, int *status, int options, struct rusage *ru)
{
  for (;;) {
    uint32_t restarts = __atomic_load_n(&g_id.restarts, __ATOMIC_ACQUIRE);
    pid_t r = NEXT_FN(wait4)(to_real_signed(pid), status, options, ru);
    if (r < 0 && errno == ECHILD && pid != -1 && restarted_since(restarts)) continue;
    return virt_of(r);
  }
}

int waitid(idtype_t idtype, id_t id, siginfo_t *info, int options)
{
  for (;;) {
    uint32_t restarts = __atomic_load_n(&g_id.restarts, __ATOMIC_ACQUIRE);
    id_t real = (idtype == P_PID || idtype == P_PGID) ? (id_t)vid_to_real((int)id) : id;
    int r = NEXT_FN(waitid)(idtype, real, info, options);
    if (r < 0 && errno == ECHILD && (idtype == P_PID || idtype == P_PGID) && restarted_since(restarts)) continue;
    if (r == 0 && info && info->si_pid > 0) info->si_pid = vid_to_virt(info->si_pid);
    return r;
  }
}

int setpgid(pid_t pid, pid_t pgid)
{
  return WITHOUT_CKPT(NEXT_FN(setpgid)(vid_to_real(pid), vid_to_real(pgid)));
}

pid_t getpgid(pid_t pid)
{
  return REREAD_AFTER_RESTART(virt_of(NEXT_FN(getpgid)(vid_to_real(pid))));
}

pid_t getpgrp(void)
{
  return REREAD_AFTER_RESTART(vid_to_virt(NEXT_FN(getpgrp)()));
}

pid_t getsid(pid_t pid)
{
  return REREAD_AFTER_RESTART(virt_of(NEXT_FN(getsid)(vid_to_real(pid))));
}

pid_t setsid(void)
{
  return WITHOUT_CKPT(virt_of(NEXT_FN(setsid)()));
}

pid_t tcgetpgrp(int fd)
{
  return REREAD_AFTER_RESTART(virt_of(NEXT_FN(tcgetpgrp)(fd)));
}

int tcsetpgrp(int fd, pid_t pgrp)
{
  return WITHOUT_CKPT(NEXT_FN(tcsetpgrp)(fd, vid_to_real(pgrp)));
}

int sched_setaffinity(pid_t pid, size_t size, const cpu_set_t *set)
{
  return WITHOUT_CKPT(NEXT_FN(sched_setaffinity)(vid_to_real(pid), size, set));
}

int sched_getaffinity(pid_t pid, size_t size, cpu_set_t *set)
{
  return REREAD_AFTER_RESTART(NEXT_FN(sched_getaffinity)(vid_to_real(pid), size, set));
}

int sched_setscheduler(pid_t pid, int policy, const struct sched_param *p)
{
  return WITHOUT_CKPT(NEXT_FN(sched_setscheduler)(vid_to_real(pid), policy, p));
}

int sched_getscheduler(pid_t pid)
{
  return REREAD_AFTER_RESTART(NEXT_FN(sched_getscheduler)(vid_to_real(pid)));
}

int sched_setparam(pid_t pid, const struct sched_param *p)
{
  return WITHOUT_CKPT(NEXT_FN(sched_setparam)(vid_to_real(pid), p));
}

int sched_getparam(pid_t pid, struct sched_param *p)
{
  return REREAD_AFTER_RESTART(NEXT_FN(sched_getparam)(vid_to_real(pid), p));
}

int prlimit(pid_t pid, enum __rlimit_resource res, const struct rlimit *new_limit, struct rlimit *old)
{
  return WITHOUT_CKPT(NEXT_FN(prlimit)(vid_to_real(pid), res, new_limit, old));
}
