/* outsider: a client of a server that is not part of the computation.
 *   outsider PORT TICKS
 * Connects to 127.0.0.1:PORT, then every 100 ms prints "tick N"; lines from the server are printed as "got LINE";
 * end-of-file or a reset prints "closed EOF" or "closed RESET" once, and the program goes on ticking. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 3) return fprintf(stderr, "usage: outsider PORT TICKS\n"), 2;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((uint16_t)atoi(argv[1]));
  if (connect(fd, (void *)&a, sizeof a) < 0) return perror("connect"), 2;
  printf("connected\n");
  int open_ = 1;
  char line[256];
  size_t used = 0;
  for (int tick = 1; tick <= atoi(argv[2]); tick++) {
    struct pollfd p = { fd, POLLIN, 0 };
    int r = open_ ? poll(&p, 1, 100) : (usleep(100000), 0);
    if (r > 0) {
      ssize_t n = read(fd, line + used, sizeof line - 1 - used);
      if (n <= 0) {
        printf("closed %s\n", n == 0 ? "EOF" : errno == ECONNRESET ? "RESET" : strerror(errno));
        open_ = 0;
      } else {
        used += (size_t)n;
        line[used] = 0;
        char *nl;
        while ((nl = strchr(line, '\n'))) {
          *nl = 0;
          printf("got %s\n", line);
          memmove(line, nl + 1, strlen(nl + 1) + 1);
          used = strlen(line);
        }
      }
    }
    printf("tick %d\n", tick);
  }
  return 0;
}
