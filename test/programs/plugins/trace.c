/* trace.c: a test native plugin that appends one line per event to $PLUGIN_TRACE:
 *   "<name> <EVENT> gen=<generation> restarts=<n> log=<open|closed>"
 * where <name> is TRACE_NAME (the Makefile builds it as libtrace_a.so and libtrace_b.so, so a test sees the order in
 * which several plugins are called) and log= says whether some descriptor of the process is open on the file at
 * $APPLOG (what the example plugin applog.so parks and reopens, so the order relative to it shows too).
 * System calls only: most events run while the program's threads are stopped. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dmtcp_plugin.h"

#ifndef TRACE_NAME
#define TRACE_NAME "trace"
#endif

static char trace_path[4096], log_path[4096];

static int log_is_open(void)
{
  struct stat log, st;
  if (!log_path[0] || stat(log_path, &log) != 0) return 0;
  for (int fd = 0; fd < 1024; fd++) {
    if (fstat(fd, &st) == 0 && st.st_dev == log.st_dev && st.st_ino == log.st_ino) return 1;
  }
  return 0;
}

void dmtcp_event_hook(enum dmtcp_event event, struct dmtcp_event_data *data)
{
  if (event == DMTCP_EVENT_INIT) {
    const char *t = getenv("PLUGIN_TRACE"), *l = getenv("APPLOG");
    if (t) strncpy(trace_path, t, sizeof trace_path - 1);
    if (l) strncpy(log_path, l, sizeof log_path - 1);
  }
  if (!trace_path[0]) return;
  char line[256];
  /* snprintf with these conversions takes no lock and allocates nothing */
  int n = snprintf(line, sizeof line, "%s %s gen=%u restarts=%u log=%s\n", TRACE_NAME, dmtcp_event_name(event),
                   data->generation, data->restarts, log_is_open() ? "open" : "closed");
  int fd = open(trace_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  if (write(fd, line, (size_t)n) != n) write(2, "trace: short write\n", 19);
  close(fd);
}
