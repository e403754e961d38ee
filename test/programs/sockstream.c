/* sockstream: a client and a server streaming 64 KiB sequence-numbered blocks to each other's checks.
 *
 *   sockstream MODE [ADDRFILE]
 *   MODE: tcp4, tcp6, unix (stream sockets through a listener), socketpair (SOCK_STREAM pair before fork),
 *         dgrampair (SOCK_DGRAM Unix pair before fork: 4 KiB datagrams instead of blocks)
 *
 * The parent is the server: it listens (tcp4/tcp6 on loopback port 0, unix on ./sockstream.sock), writes the address
 * to ADDRFILE, forks the client, and accepts it. The client sends blocks whose every byte derives from the block's
 * number; the server checks every byte, prints "blocks N" every 16 blocks and answers each block with its number (an
 * 8-byte ack the client checks). The server reads slowly so the socket buffers are full when a checkpoint comes.
 * Any mismatch prints "CORRUPT ..." and exits 1. After "blocks 2048" (or on SIGTERM) both exit. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BLOCK (64 * 1024)
#define DGRAM 4096

static int dgram_mode;

static void corrupt(const char *who, const char *what, unsigned long long at)
{
  printf("CORRUPT %s %s at %llu\n", who, what, at);
  fflush(stdout);
  _exit(1);
}

static void fill(uint8_t *b, size_t n, uint64_t seq)
{
  memcpy(b, &seq, 8);
  for (size_t i = 8; i < n; i++) b[i] = (uint8_t)(seq * 31 + i * 7 + (i >> 9));
}

static void full_write(int fd, const void *p, size_t n, const char *who)
{
  const uint8_t *c = p;
  while (n) {
    ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      printf("%s: write failed: %s\n", who, strerror(errno));
      fflush(stdout);
      _exit(2);
    }
    c += w;
    n -= (size_t)w;
  }
}

/* Reads exactly n bytes (stream) or one datagram of n bytes; returns 0 at end-of-file. */
static int full_read(int fd, void *p, size_t n, const char *who)
{
  uint8_t *c = p;
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, c + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      printf("%s: read failed: %s\n", who, strerror(errno));
      fflush(stdout);
      _exit(2);
    }
    if (r == 0) return 0;
    if (dgram_mode && (size_t)r != n) corrupt(who, "datagram size", (unsigned long long)r);
    got += (size_t)r;
  }
  return 1;
}

static void client(int fd)
{
  size_t size = dgram_mode ? DGRAM : BLOCK;
  static uint8_t buf[BLOCK];
  uint64_t next_ack = 0;
  for (uint64_t seq = 0;; seq++) {
    fill(buf, size, seq);
    full_write(fd, buf, size, "client");
    /* Keep at most 8 blocks unacknowledged: the acks flow back while blocks flow forward. */
    while (seq - next_ack >= 8 || (seq == 2047 && next_ack <= seq)) {
      uint64_t ack;
      if (!full_read(fd, &ack, 8, "client")) _exit(0);
      if (ack != next_ack) corrupt("client", "ack", ack);
      next_ack++;
      if (next_ack == 2048) _exit(0);
    }
  }
}

static void server(int fd)
{
  size_t size = dgram_mode ? DGRAM : BLOCK;
  static uint8_t buf[BLOCK], want[BLOCK];
  for (uint64_t seq = 0; seq < 2048; seq++) {
    if (!full_read(fd, buf, size, "server")) corrupt("server", "early end-of-file", seq);
    fill(want, size, seq);
    if (memcmp(buf, want, size) != 0) {
      uint64_t got;
      memcpy(&got, buf, 8);
      corrupt("server", "block", got);
    }
    full_write(fd, &seq, 8, "server");
    if ((seq + 1) % 16 == 0) printf("blocks %llu\n", (unsigned long long)(seq + 1));
    struct timespec ts = { 0, 4000000 };
    nanosleep(&ts, 0);
  }
  printf("done\n");
}

int main(int argc, char **argv)
{
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2) {
    fprintf(stderr, "usage: sockstream tcp4|tcp6|unix|socketpair|dgrampair [ADDRFILE]\n");
    return 2;
  }
  const char *mode = argv[1];
  const char *addrfile = argc > 2 ? argv[2] : 0;
  int pair[2] = { -1, -1 }, lfd = -1;
  dgram_mode = !strcmp(mode, "dgrampair");
  if (!strcmp(mode, "socketpair") || dgram_mode) {
    if (socketpair(AF_UNIX, dgram_mode ? SOCK_DGRAM : SOCK_STREAM, 0, pair) < 0) return perror("socketpair"), 2;
  } else if (!strcmp(mode, "tcp4") || !strcmp(mode, "tcp6")) {
    int v6 = mode[3] == '6';
    lfd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (v6) {
      struct sockaddr_in6 *a = (void *)&ss;
      a->sin6_family = AF_INET6;
      a->sin6_addr = in6addr_loopback;
      len = sizeof *a;
    } else {
      struct sockaddr_in *a = (void *)&ss;
      a->sin_family = AF_INET;
      a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      len = sizeof *a;
    }
    if (bind(lfd, (void *)&ss, len) < 0 || listen(lfd, 4) < 0) return perror("bind/listen"), 2;
    getsockname(lfd, (void *)&ss, &len);
    int port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
    if (addrfile) {
      FILE *f = fopen(addrfile, "w");
      fprintf(f, "%d\n", port);
      fclose(f);
    }
    printf("listening %d\n", port);
  } else if (!strcmp(mode, "unix")) {
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    strcpy(a.sun_path, "sockstream.sock");
    unlink(a.sun_path);
    lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (bind(lfd, (void *)&a, sizeof a) < 0 || listen(lfd, 4) < 0) return perror("bind/listen"), 2;
    printf("listening %s\n", a.sun_path);
  } else {
    fprintf(stderr, "sockstream: unknown mode %s\n", mode);
    return 2;
  }

  pid_t child = fork();
  if (child == 0) {
    int fd;
    if (pair[1] >= 0) {
      close(pair[0]);
      fd = pair[1];
    } else {
      close(lfd);
      struct sockaddr_storage ss;
      socklen_t len = sizeof ss;
      /* the parent's listener address, asked of the kernel through the inherited descriptor is gone: rebuild it */
      memset(&ss, 0, sizeof ss);
      if (!strcmp(mode, "unix")) {
        struct sockaddr_un *a = (void *)&ss;
        a->sun_family = AF_UNIX;
        strcpy(a->sun_path, "sockstream.sock");
        len = sizeof *a;
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
      } else {
        int v6 = mode[3] == '6';
        FILE *f = addrfile ? fopen(addrfile, "r") : 0;
        int port = 0;
        if (!f || fscanf(f, "%d", &port) != 1) return fprintf(stderr, "client: no port\n"), 2;
        fclose(f);
        if (v6) {
          struct sockaddr_in6 *a = (void *)&ss;
          a->sin6_family = AF_INET6;
          a->sin6_addr = in6addr_loopback;
          a->sin6_port = htons((uint16_t)port);
          len = sizeof *a;
        } else {
          struct sockaddr_in *a = (void *)&ss;
          a->sin_family = AF_INET;
          a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
          a->sin_port = htons((uint16_t)port);
          len = sizeof *a;
        }
        fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      }
      if (connect(fd, (void *)&ss, len) < 0) return perror("connect"), 2;
    }
    client(fd);
    _exit(0);
  }
  int fd;
  if (pair[0] >= 0) {
    close(pair[1]);
    fd = pair[0];
  } else {
    fd = accept(lfd, 0, 0);
    if (fd < 0) return perror("accept"), 2;
  }
  printf("connected child %d\n", (int)child);
  server(fd);
  int status = 0;
  waitpid(child, &status, 0);
  printf("client exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  return 0;
}
