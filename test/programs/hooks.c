/* hooks.c: defines the application hooks (built with -rdynamic so the checkpoint library finds them); each writes
 * one line with write(2): "HOOK pre N", "HOOK post N", "HOOK restart N" with its own call count. Counts otherwise. */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static int pre, post, restart;

static void say(const char *what, int n)
{
  char line[64];
  int len = snprintf(line, sizeof line, "HOOK %s %d\n", what, n);
  write(1, line, (size_t)len);
}

void mtcpHookPreCheckpoint(void) { say("pre", ++pre); }
void mtcpHookPostCheckpoint(void) { say("post", ++post); }
void mtcpHookRestart(void) { say("restart", ++restart); }

int main(void)
{
  setvbuf(stdout, NULL, _IONBF, 0);
  for (long n = 1;; n++) {
    char line[64];
    int len = snprintf(line, sizeof line, "count %ld\n", n);
    write(1, line, (size_t)len);
    struct timespec ts = { 0, 100 * 1000 * 1000 };
    while (nanosleep(&ts, &ts) != 0) {
    }
  }
}
