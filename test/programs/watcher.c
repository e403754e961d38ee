/* watcher: an inotify watch on a directory, served by an epoll loop.
 *   watcher DIR TICKS
 * Watches DIR (and, to leave a gap in the watch numbers, watches and unwatches /tmp first), prints "watching wd N",
 * then every 100 ms "tick N"; each event prints "event NAME wd N". */
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

int main(int argc, char **argv)
{
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 3) return fprintf(stderr, "usage: watcher DIR TICKS\n"), 2;
  int in = inotify_init1(IN_NONBLOCK);
  int gap = inotify_add_watch(in, "/tmp", IN_CREATE);
  inotify_rm_watch(in, gap);
  int wd = inotify_add_watch(in, argv[1], IN_CREATE | IN_MOVED_TO);
  if (wd < 0) return perror("inotify_add_watch"), 2;
  int ep = epoll_create1(0);
  struct epoll_event ev = { .events = EPOLLIN, .data.fd = in };
  epoll_ctl(ep, EPOLL_CTL_ADD, in, &ev);
  printf("watching wd %d\n", wd);
  for (int tick = 1; tick <= atoi(argv[2]); tick++) {
    struct epoll_event got;
    if (epoll_wait(ep, &got, 1, 100) > 0) {
      char buf[4096] __attribute__((aligned(8)));
      ssize_t n = read(in, buf, sizeof buf);
      for (ssize_t off = 0; off < n;) {
        struct inotify_event *e = (struct inotify_event *)(buf + off);
        printf("event %s wd %d\n", e->len ? e->name : "?", e->wd);
        off += (ssize_t)sizeof *e + e->len;
      }
    }
    printf("tick %d\n", tick);
  }
  return 0;
}
