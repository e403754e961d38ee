/* timers.c: interval timers (alarm, setitimer) and POSIX timers (timer_create): read at checkpoint from the kernel
 * (getitimer, /proc/self/timers, timer_gettime) and created again at restart with the same ids, the same
 * notification (thread targets mapped to their new tids) and the time that was left. */
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <sys/time.h>

#include "dmtcp_lib.h"
#include "../include/dmtcp_sys.h"

#define MAX_TIMERS 256
#define PR_TIMER_CREATE_RESTORE_IDS 77     /* Linux 6.17+: timer_create takes the id it is given */

struct saved_timer {
  int id;
  int clock;
  int notify;                              /* SIGEV_SIGNAL, SIGEV_NONE or SIGEV_THREAD_ID */
  int signo;
  int target;                              /* virtual tid for SIGEV_THREAD_ID */
  uint64_t value;                          /* sigev_value as the kernel shows it */
  struct itimerspec spec;
};

struct kernel_sigevent {                   /* the kernel's struct sigevent layout on x86_64 */
  uint64_t value;
  int signo;
  int notify;
  int tid;
  int pad[11];
};

static struct itimerval itimers[3];
static struct saved_timer timers[MAX_TIMERS];
static int n_timers;

static const char *skip_to(const char *p, const char *label)
{
  for (; *p; p++) {
    const char *a = p, *b = label;
    while (*b && *a == *b) a++, b++;
    if (!*b) return a;
  }
  return 0;
}

static long parse_num(const char **p, int base)
{
  long v = 0;
  while (**p == ' ') (*p)++;
  for (;;) {
    char c = **p;
    int d = c >= '0' && c <= '9' ? c - '0' : base == 16 && c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) break;
    v = v * base + d;
    (*p)++;
  }
  return v;
}

void timers_capture(void)
{
  static char buf[65536];
  for (int which = 0; which < 3; which++) dsys2(__NR_getitimer, which, (long)&itimers[which]);
  n_timers = 0;
  long fd = d_open("/proc/self/timers", O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return;
  size_t used = 0;
  for (long r; (r = d_read((int)fd, buf + used, sizeof buf - 1 - used)) > 0;) used += (size_t)r;
  d_close((int)fd);
  buf[used] = 0;
  const char *p = buf;
  while ((p = skip_to(p, "ID: ")) && n_timers < MAX_TIMERS) {
    struct saved_timer *t = &timers[n_timers];
    t->id = (int)parse_num(&p, 10);
    if (!(p = skip_to(p, "signal: "))) break;
    t->signo = (int)parse_num(&p, 10);
    if (*p == '/') p++;
    t->value = (uint64_t)parse_num(&p, 16);
    if (!(p = skip_to(p, "notify: "))) break;
    t->notify = *p == 'n' ? SIGEV_NONE : SIGEV_SIGNAL;
    const char *dot = skip_to(p, "/");
    if (dot && dot[0] == 't') t->notify = SIGEV_THREAD_ID;
    if (dot && (dot = skip_to(dot, "."))) t->target = vid_to_virt((int)parse_num(&dot, 10));
    if (!(p = skip_to(p, "ClockID: "))) break;
    t->clock = (int)parse_num(&p, 10);
    if (dsys2(__NR_timer_gettime, t->id, (long)&t->spec) == 0) n_timers++;
  }
}

static long create_with_id(const struct saved_timer *t, int restore_ids)
{
  struct kernel_sigevent ev;
  __builtin_memset(&ev, 0, sizeof ev);
  ev.value = t->value;
  ev.signo = t->signo;
  ev.notify = t->notify;
  if (t->notify == SIGEV_THREAD_ID) ev.tid = vid_to_real(t->target);
  int id = t->id;
  if (restore_ids) return dsys3(__NR_timer_create, t->clock, (long)&ev, (long)&id) < 0 ? -1 : id;
  /* Without the kernel's help: ids are handed out in increasing order, so burn the ones in between. */
  for (int tries = 0; tries < 4096; tries++) {
    int got;
    if (dsys3(__NR_timer_create, t->clock, (long)&ev, (long)&got) < 0) return -1;
    if (got == t->id) return got;
    if (got > t->id) {
      dsys1(__NR_timer_delete, got);
      return -1;
    }
    dsys1(__NR_timer_delete, got);
  }
  return -1;
}

void timers_restore(void)
{
  for (int which = 0; which < 3; which++) {
    if (itimers[which].it_value.tv_sec || itimers[which].it_value.tv_usec) {
      dsys3(__NR_setitimer, which, (long)&itimers[which], 0);
    }
  }
  if (!n_timers) return;
  /* /proc lists the newest first; create in increasing id order (the fallback below depends on it). */
  for (int i = 1; i < n_timers; i++) {
    struct saved_timer t = timers[i];
    int j = i - 1;
    while (j >= 0 && timers[j].id > t.id) timers[j + 1] = timers[j], j--;
    timers[j + 1] = t;
  }
  int restore_ids = d_prctl(PR_TIMER_CREATE_RESTORE_IDS, 1, 0, 0, 0) == 0;
  for (int i = 0; i < n_timers; i++) {
    struct saved_timer *t = &timers[i];
    long id = create_with_id(t, restore_ids);
    if (id < 0) {
      dlog("restart: cannot recreate POSIX timer %d (clock %d); the program will not get its signals", t->id, t->clock);
      continue;
    }
    if (t->spec.it_value.tv_sec || t->spec.it_value.tv_nsec) dsys4(__NR_timer_settime, id, 0, (long)&t->spec, 0);
  }
  if (restore_ids) d_prctl(PR_TIMER_CREATE_RESTORE_IDS, 0, 0, 0, 0);
}
