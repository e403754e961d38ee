/* shell_wrappers.c: system(), popen() and pclose(). glibc's own versions wait for their shell with an internal wait4
 * that no wrapper sees, holding the real pid it had before a restart: after a restart that wait fails and the
 * program gets -1. These versions do what POSIX describes with the public calls, so the child is created by our fork
 * (its id virtualized), exec'd by our exec (kept under checkpoint control) and reaped by our waitpid (which retries
 * with the new real pid when a restart interrupted it). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wrappers.h"

static const char shell_path[] = "/bin/sh";

static pid_t wait_for(pid_t pid, int *status)
{
  pid_t r;
  while ((r = waitpid(pid, status, 0)) < 0 && errno == EINTR) {
  }
  return r;
}

int system(const char *command)
{
  if (!command) return access(shell_path, X_OK) == 0;
  struct sigaction ignore, old_int, old_quit;
  sigset_t chld, old_mask;
  __builtin_memset(&ignore, 0, sizeof ignore);
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  sigaction(SIGINT, &ignore, &old_int);
  sigaction(SIGQUIT, &ignore, &old_quit);
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, &old_mask);
  int status = -1;
  pid_t pid = fork();
  if (pid == 0) {
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    execl(shell_path, "sh", "-c", command, (char *)NULL);
    _exit(127);
  }
  if (pid > 0 && wait_for(pid, &status) < 0) status = -1;
  int saved = errno;
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGQUIT, &old_quit, NULL);
  sigprocmask(SIG_SETMASK, &old_mask, NULL);
  errno = saved;
  return pid < 0 ? -1 : status;
}

struct popen_entry {
  FILE *stream;
  int fd;
  pid_t pid;
  struct popen_entry *next;
};

static struct popen_entry *popen_list;
static pthread_mutex_t popen_lock = PTHREAD_MUTEX_INITIALIZER;

FILE *popen(const char *command, const char *mode)
{
  int reading = mode[0] == 'r', cloexec = 0;
  if (mode[0] != 'r' && mode[0] != 'w') {
    errno = EINVAL;
    return NULL;
  }
  for (const char *m = mode + 1; *m; m++) {
    if (*m == 'e') cloexec = 1;
  }
  int ends[2];
  if (pipe2(ends, O_CLOEXEC) < 0) return NULL;
  int mine = reading ? ends[0] : ends[1], theirs = reading ? ends[1] : ends[0];
  struct popen_entry *e = malloc(sizeof *e);
  if (!e) {
    close(ends[0]);
    close(ends[1]);
    errno = ENOMEM;
    return NULL;
  }
  pthread_mutex_lock(&popen_lock);
  pid_t pid = fork();
  if (pid == 0) {
    /* Streams of earlier popen() calls are not the new child's (POSIX); ours are close-on-exec already. */
    for (struct popen_entry *p = popen_list; p; p = p->next) close(p->fd);
    int target = reading ? 1 : 0;
    if (theirs == target) fcntl(theirs, F_SETFD, 0);
    else dup2(theirs, target);
    execl(shell_path, "sh", "-c", command, (char *)NULL);
    _exit(127);
  }
  int saved = errno;
  close(theirs);
  if (pid < 0) {
    pthread_mutex_unlock(&popen_lock);
    close(mine);
    free(e);
    errno = saved;
    return NULL;
  }
  if (!cloexec) fcntl(mine, F_SETFD, 0);
  FILE *f = fdopen(mine, reading ? "r" : "w");
  if (!f) {
    saved = errno;
    pthread_mutex_unlock(&popen_lock);
    close(mine);
    wait_for(pid, NULL);
    free(e);
    errno = saved;
    return NULL;
  }
  e->stream = f;
  e->fd = mine;
  e->pid = pid;
  e->next = popen_list;
  popen_list = e;
  pthread_mutex_unlock(&popen_lock);
  return f;
}

int pclose(FILE *stream)
{
  pthread_mutex_lock(&popen_lock);
  struct popen_entry **at = &popen_list, *e = NULL;
  for (; *at; at = &(*at)->next) {
    if ((*at)->stream == stream) {
      e = *at;
      *at = e->next;
      break;
    }
  }
  pthread_mutex_unlock(&popen_lock);
  if (!e) {
    errno = ECHILD;
    return -1;
  }
  pid_t pid = e->pid;
  free(e);
  fclose(stream);
  int status;
  return wait_for(pid, &status) < 0 ? -1 : status;
}
