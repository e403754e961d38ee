/* epollecho: an epoll echo server and a client holding many connections to it.
 *   epollecho CLIENTS ROUNDS PORTFILE
 * The parent listens on 127.0.0.1 (port 0, written to PORTFILE), forks the client, and serves every connection from
 * one epoll loop (nonblocking, level-triggered), echoing whatever arrives. The client opens CLIENTS connections, then
 * each round sends "c<i> r<round>\n" on every connection and checks every echo, printing "round N". Every 10 rounds
 * it also opens one more connection (reading the port from PORTFILE: the listener's port after a restart), checks an
 * echo through it and closes it, printing "new client ok round N". Mismatches print "BAD ..." and exit 1. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int connect_to(const char *portfile)
{
  FILE *f = fopen(portfile, "r");
  int port = 0;
  if (!f || fscanf(f, "%d", &port) != 1) return fprintf(stderr, "no port in %s\n", portfile), -1;
  fclose(f);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((uint16_t)port);
  if (connect(fd, (void *)&a, sizeof a) < 0) {
    perror("connect");
    close(fd);
    return -1;
  }
  return fd;
}

static int read_line(int fd, char *buf, size_t cap)
{
  size_t n = 0;
  while (n < cap - 1) {
    ssize_t r = read(fd, buf + n, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    if (buf[n++] == '\n') break;
  }
  buf[n] = 0;
  return (int)n;
}

static void client(int clients, int rounds, const char *portfile)
{
  int *fds = calloc((size_t)clients, sizeof *fds);
  for (int i = 0; i < clients; i++) {
    fds[i] = connect_to(portfile);
    if (fds[i] < 0) _exit(2);
  }
  char msg[64], got[64];
  for (int r = 1; r <= rounds; r++) {
    for (int i = 0; i < clients; i++) {
      int n = snprintf(msg, sizeof msg, "c%d r%d\n", i, r);
      if (write(fds[i], msg, (size_t)n) != n) _exit(3);
    }
    for (int i = 0; i < clients; i++) {
      snprintf(msg, sizeof msg, "c%d r%d\n", i, r);
      if (read_line(fds[i], got, sizeof got) < 0 || strcmp(got, msg) != 0) {
        printf("BAD echo on c%d round %d: %s\n", i, r, got);
        _exit(1);
      }
    }
    printf("round %d\n", r);
    if (r % 10 == 0) {
      int fd = connect_to(portfile);
      int n = snprintf(msg, sizeof msg, "new r%d\n", r);
      if (fd < 0 || write(fd, msg, (size_t)n) != n || read_line(fd, got, sizeof got) < 0 || strcmp(got, msg) != 0) {
        printf("BAD new client round %d\n", r);
        _exit(1);
      }
      close(fd);
      printf("new client ok round %d\n", r);
    }
    struct timespec ts = { 0, 50000000 };
    nanosleep(&ts, 0);
  }
  _exit(0);
}

int main(int argc, char **argv)
{
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 4) return fprintf(stderr, "usage: epollecho CLIENTS ROUNDS PORTFILE\n"), 2;
  int clients = atoi(argv[1]), rounds = atoi(argv[2]);
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(lfd, (void *)&a, sizeof a) < 0 || listen(lfd, 64) < 0) return perror("listen"), 2;
  getsockname(lfd, (void *)&a, &len);
  FILE *f = fopen(argv[3], "w");
  fprintf(f, "%d\n", ntohs(a.sin_port));
  fclose(f);
  fcntl(lfd, F_SETFL, O_NONBLOCK);
  pid_t child = fork();
  if (child == 0) {
    close(lfd);
    client(clients, rounds, argv[3]);
  }
  int ep = epoll_create1(0);
  struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd };
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  long echoed = 0;
  int open_conns = 0;
  for (;;) {
    struct epoll_event evs[64];
    int n = epoll_wait(ep, evs, 64, 200);
    if (n < 0 && errno == EINTR) continue;
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == lfd) {
        int c;
        while ((c = accept(lfd, 0, 0)) >= 0) {
          fcntl(c, F_SETFL, O_NONBLOCK);
          struct epoll_event cev = { .events = EPOLLIN, .data.fd = c };
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
          open_conns++;
        }
        continue;
      }
      char buf[4096];
      ssize_t r = read(fd, buf, sizeof buf);
      if (r > 0) {
        ssize_t off = 0;
        while (off < r) {
          ssize_t w = write(fd, buf + off, (size_t)(r - off));
          if (w > 0) off += w;
          else if (w < 0 && errno != EAGAIN && errno != EINTR) break;
        }
        echoed += r;
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, 0);
        close(fd);
        open_conns--;
      }
    }
    int status;
    if (waitpid(child, &status, WNOHANG) == child) {
      printf("client exit %d echoed %ld\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), echoed);
      return 0;
    }
  }
}
