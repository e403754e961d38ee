/* execloop.c: a process that becomes itself again every 50 ms. "execloop N" prints "image N", waits 50 ms and
 * execs its own path with N+1, so a checkpoint often arrives while it is between two images, known to no one. It
 * must be in every checkpoint all the same, and after a restart the chain goes on from the image it was in.
 * argv[0] must be a path (exec does not search PATH here). */
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv)
{
  long n = argc > 1 ? atol(argv[1]) : 0;
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("image %ld\n", n);
  struct timespec left = { 0, 50 * 1000 * 1000 };
  while (nanosleep(&left, &left) < 0 && errno == EINTR) {
  }
  char next[32];
  snprintf(next, sizeof next, "%ld", n + 1);
  execl(argv[0], argv[0], next, (char *)NULL);
  perror("execloop: exec");
  return 1;
}
