/* inotify_wrappers.c: inotify_add_watch() remembers what each watch watches. The kernel shows a watch's inode but
 * not its path (/proc/self/fdinfo), and reopening an inode by handle needs privileges, so a restart re-adds watches
 * by the paths recorded here (fds.c), in the order of their watch descriptors so the program's numbers still hold. */
#include <sys/inotify.h>
#include <unistd.h>

#include "wrappers.h"

#define MAX_WATCHES 512
#define WATCH_PATH 1024

struct watch {
  int fd, wd;
  uint32_t mask;
  char path[WATCH_PATH];
};

static struct watch watches[MAX_WATCHES];
static int n_watches;

static void remember(int fd, int wd, const char *path, uint32_t mask)
{
  struct watch *w = 0;
  for (int i = 0; i < n_watches && !w; i++) {
    if (watches[i].fd == fd && watches[i].wd == wd) w = &watches[i];
  }
  if (!w) {
    for (int i = 0; i < n_watches && !w; i++) {
      if (watches[i].wd < 0) w = &watches[i];
    }
  }
  if (!w) {
    if (n_watches >= MAX_WATCHES) return;
    w = &watches[n_watches++];
  }
  size_t used = 0;
  if (path[0] != '/') {
    if (!getcwd(w->path, sizeof w->path - 2)) return;
    while (w->path[used]) used++;
    w->path[used++] = '/';
  }
  size_t n = dstrlcpy(w->path + used, path, sizeof w->path - used);
  if (used + n >= sizeof w->path - 1) {
    w->wd = -1;                          /* too long to keep: the watch is not re-added after a restart */
    return;
  }
  w->fd = fd;
  w->mask = mask & ~(uint32_t)IN_MASK_ADD;
  w->wd = wd;
}

int inotify_add_watch(int fd, const char *path, uint32_t mask)
{
  int wd = NEXT_FN(inotify_add_watch)(fd, path, mask);
  if (wd >= 0 && path) remember(fd, wd, path, mask);
  return wd;
}

int inotify_rm_watch(int fd, int wd)
{
  int r = NEXT_FN(inotify_rm_watch)(fd, wd);
  if (r == 0) {
    for (int i = 0; i < n_watches; i++) {
      if (watches[i].fd == fd && watches[i].wd == wd) watches[i].wd = -1;
    }
  }
  return r;
}

/* The recorded watch on descriptor fd with watch descriptor wd: its path and mask, or 0. */
const char *inotify_recorded(int fd, int wd, uint32_t *mask)
{
  for (int i = 0; i < n_watches; i++) {
    if (watches[i].fd == fd && watches[i].wd == wd) {
      *mask = watches[i].mask;
      return watches[i].path;
    }
  }
  return 0;
}
