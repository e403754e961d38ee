/* socket_wrappers.c: setsockopt() remembers the buffer sizes a program asks for. The kernel reports a size either way
 * (doubled, and grown by autotuning when nobody set one), so only this tells a restart which sizes to set again:
 * setting one that the program never set would switch autotuning off. */
#include <sys/socket.h>

#include "wrappers.h"
#include "../dmtcp_lib.h"

#define TRACKED_FDS 4096

static int asked_sndbuf[TRACKED_FDS], asked_rcvbuf[TRACKED_FDS];

int setsockopt(int fd, int level, int name, const void *value, socklen_t len)
{
  int r = NEXT_FN(setsockopt)(fd, level, name, value, len);
  if (r == 0 && level == SOL_SOCKET && fd >= 0 && fd < TRACKED_FDS && value && len >= sizeof(int)) {
    if (name == SO_SNDBUF) asked_sndbuf[fd] = *(const int *)value;
    if (name == SO_RCVBUF) asked_rcvbuf[fd] = *(const int *)value;
  }
  return r;
}

/* The size the program set on fd for SO_SNDBUF or SO_RCVBUF, if the socket's current size is still the one it got
 * (the kernel doubles what it is given); 0 otherwise. */
int sockets_asked_buffer(int fd, int name, int current)
{
  if (fd < 0 || fd >= TRACKED_FDS) return 0;
  int asked = name == SO_SNDBUF ? asked_sndbuf[fd] : asked_rcvbuf[fd];
  if (asked <= 0) return 0;
  long doubled = 2L * asked;
  /* The kernel clamps to its limits: accept any value at or below what was asked, doubled. */
  return current > 0 && current <= doubled ? asked : 0;
}
