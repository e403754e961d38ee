/* applog.c: an example native plugin: keeps a program's log descriptors pointing at the log file's path across
 * checkpoints and restarts, so a log rotated (renamed, deleted) while the program was checkpointed gets a fresh file
 * at its path instead of stopping the restart.
 *
 *   dmtcp_launch --with-plugin build/examples/native-plugin/applog.so env APPLOG=/var/log/app.log ./app
 *
 * The program opens APPLOG itself (O_APPEND) and writes to it; it knows nothing of the plugin. Without the plugin
 * the descriptor is part of the image and restart reopens the very file it recorded: gone, the restart stops
 * ("... is gone; put it back"). With it:
 *
 *   PRE_CHECKPOINT  every descriptor open on the file now at APPLOG is parked on /dev/null (same number, same
 *                   close-on-exec flag), so the image holds no reference to the log;
 *   RESUME          and
 *   RESTART         APPLOG is opened again, created if missing, in append mode, and put back on each parked number.
 *
 * The program's threads are stopped during these events (see dmtcp_plugin.h), so they never see /dev/null, and
 * only system calls are used: no malloc, no stdio. */
#define _GNU_SOURCE                    /* dup3 */
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dmtcp_plugin.h"

#define MAX_PARKED 16

static char log_path[PATH_MAX];        /* absolute; empty when APPLOG is not set */
static struct parked {
  int fd;
  int access;                          /* O_WRONLY or O_RDWR */
  int cloexec;
} parked[MAX_PARKED];
static int n_parked;                   /* in memory, so in the image: a restarted process knows what it parked */

static void say(const char *a, const char *b)
{
  /* write(2) only: stdio may be locked by a stopped thread */
  write(2, "applog: ", 8);
  write(2, a, strlen(a));
  write(2, b, strlen(b));
  write(2, "\n", 1);
}

static void remember_path(void)
{
  const char *p = getenv("APPLOG");
  if (!p || !*p) return;
  if (p[0] == '/') {
    strncpy(log_path, p, sizeof log_path - 1);
  } else if (getcwd(log_path, sizeof log_path - 2)) {
    size_t n = strlen(log_path);
    log_path[n++] = '/';
    strncpy(log_path + n, p, sizeof log_path - 1 - n);
  }
}

static void park(void)
{
  struct stat log, st;
  struct rlimit rl;
  n_parked = 0;
  if (!log_path[0] || stat(log_path, &log) != 0) return;   /* no log at the path: nothing refers to it */
  int limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (int)rl.rlim_cur : 65536;
  for (int fd = 0; fd < limit && n_parked < MAX_PARKED; fd++) {
    if (fstat(fd, &st) != 0 || st.st_dev != log.st_dev || st.st_ino != log.st_ino) continue;
    int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fl < 0 || fdfl < 0 || null < 0) continue;
    parked[n_parked].fd = fd;
    parked[n_parked].access = (fl & O_ACCMODE) == O_RDWR ? O_RDWR : O_WRONLY;
    parked[n_parked].cloexec = fdfl & FD_CLOEXEC;
    dup3(null, fd, parked[n_parked].cloexec ? O_CLOEXEC : 0);   /* the number stays taken: nobody else gets it */
    close(null);
    n_parked++;
  }
}

static void reopen(int restarted)
{
  if (!n_parked) return;
  int access = O_WRONLY;
  for (int i = 0; i < n_parked; i++) {
    if (parked[i].access == O_RDWR) access = O_RDWR;
  }
  /* One open file description for all of them, as when the program dup()ed one descriptor. */
  int fd = open(log_path, access | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    say("cannot reopen ", log_path);   /* the program writes to /dev/null from now on, but keeps running */
    n_parked = 0;
    return;
  }
  for (int i = 0; i < n_parked; i++) dup3(fd, parked[i].fd, parked[i].cloexec ? O_CLOEXEC : 0);
  close(fd);
  n_parked = 0;
  if (restarted) say("reopened ", log_path);
}

void dmtcp_event_hook(enum dmtcp_event event, struct dmtcp_event_data *data)
{
  (void)data;
  switch (event) {
  case DMTCP_EVENT_INIT:
    remember_path();                   /* libc is fully usable here */
    break;
  case DMTCP_EVENT_PRE_CHECKPOINT:
    park();
    break;
  case DMTCP_EVENT_RESUME:
    reopen(0);
    break;
  case DMTCP_EVENT_RESTART:
    reopen(1);
    break;
  case DMTCP_EVENT_EXIT:               /* the program's own exit closes its descriptors */
    break;
  }
}
