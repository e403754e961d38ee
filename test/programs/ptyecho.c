/* ptyecho.c: opens a pseudo-terminal, and forks a child that makes the slave its controlling terminal in a new
 * session and answers every line with "echo: LINE" and whether its stdin is a terminal it controls. The parent writes
 * "ping N" to the master and reads the answers. Usage: ptyecho [interval_ms] [limit].
 * Lines: "count N got echo: ping N tty yes fg yes" or "FAIL ...". */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static void nap(long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static int read_line(int fd, char *buf, size_t cap)
{
  size_t n = 0;
  while (n + 1 < cap) {
    char c;
    ssize_t r = read(fd, &c, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    if (c == '\r') continue;
    if (c == '\n') break;
    buf[n++] = c;
  }
  buf[n] = 0;
  return (int)n;
}

int main(int argc, char **argv)
{
  long interval = argc > 1 ? atol(argv[1]) : 50;
  long limit = argc > 2 ? atol(argv[2]) : 0;
  setvbuf(stdout, NULL, _IOLBF, 0);
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || grantpt(master) || unlockpt(master)) return perror("posix_openpt"), 1;
  char *slave_name = ptsname(master);
  pid_t child = fork();
  if (child < 0) return perror("fork"), 1;
  if (child == 0) {
    close(master);
    setsid();
    int s = open(slave_name, O_RDWR);
    if (s < 0) return perror("open slave"), 1;
    ioctl(s, TIOCSCTTY, 0);
    struct termios t;
    tcgetattr(s, &t);
    t.c_lflag &= ~(tcflag_t)ECHO;   /* only the answers come back */
    tcsetattr(s, TCSANOW, &t);
    dup2(s, 0);
    dup2(s, 1);
    if (s > 1) close(s);
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("ready\n");
    char line[256];
    while (read_line(0, line, sizeof line) >= 0) {
      int fg = tcgetpgrp(0) == getpgrp();
      printf("echo: %s tty %s fg %s\n", line, isatty(0) ? "yes" : "no", fg ? "yes" : "no");
    }
    return 0;
  }
  char ready[256];
  do {
    if (read_line(master, ready, sizeof ready) < 0) return printf("FAIL: the terminal closed\n"), 1;
  } while (strcmp(ready, "ready"));
  for (long n = 1; limit == 0 || n <= limit; n++) {
    char msg[64], line[256];
    int len = snprintf(msg, sizeof msg, "ping %ld\n", n);
    if (write(master, msg, (size_t)len) != len) return perror("write"), 1;
    if (read_line(master, line, sizeof line) < 0) return printf("FAIL: the terminal closed\n"), 1;
    char want[64];
    snprintf(want, sizeof want, "echo: ping %ld ", n);
    if (strncmp(line, want, strlen(want))) return printf("FAIL: sent ping %ld, got '%s'\n", n, line), 1;
    printf("count %ld got %s\n", n, line);
    nap(interval);
  }
  kill(child, SIGTERM);
  waitpid(child, NULL, 0);
  return 0;
}
