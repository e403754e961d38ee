/* procstate.c: process-wide kernel state that does not live in memory (signal dispositions, umask, working
 * directory, the kernel's mm bookkeeping and auxv), captured at checkpoint and given back at restart. */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "dmtcp_lib.h"
#include "../include/dmtcp_sys.h"

struct kernel_sigaction {
  void *handler;
  unsigned long flags;
  void *restorer;
  uint64_t mask;
};

static struct kernel_sigaction saved_actions[65];
static int saved_action_ok[65];
static unsigned saved_umask;
static char saved_cwd[DMTCP_MAX_PATH];

static void capture_zombies(void);

void procstate_capture(void)
{
  for (int sig = 1; sig <= 64; sig++) {
    saved_action_ok[sig] = 0;
    if (sig == 9 || sig == 19) continue;            /* SIGKILL, SIGSTOP cannot be changed */
    if (d_rt_sigaction(sig, 0, &saved_actions[sig]) == 0) saved_action_ok[sig] = 1;
  }
  saved_umask = (unsigned)dsys1(__NR_umask, 0);
  dsys1(__NR_umask, saved_umask);
  if (dsys2(__NR_getcwd, (long)saved_cwd, sizeof saved_cwd) < 0) saved_cwd[0] = 0;
  capture_zombies();
}

/* Children that exited and wait to be reaped (zombies): they run no code and cannot be checkpointed, so the parent
 * records how each ended (waitid with WNOWAIT leaves it a zombie) and the restart plan recreates one that ends the
 * same way. Reads /proc/self/task/<tid>/children: children of every thread. */
static char zombies_text[2048];

static void capture_zombies(void)
{
  static char names[8192], list[4096];
  zombies_text[0] = 0;
  size_t used = 0;
  long dfd = d_open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (dfd < 0) return;
  long got = d_getdents64((int)dfd, names, sizeof names);
  d_close((int)dfd);
  for (long off = 0; off < got;) {
    struct { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; } *e = (void *)(names + off);
    off += e->reclen;
    if (e->name[0] < '0' || e->name[0] > '9') continue;
    char path[64];
    dfmt(path, sizeof path, "/proc/self/task/%s/children", e->name);
    long fd = d_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) continue;
    long n = d_read((int)fd, list, sizeof list - 1);
    d_close((int)fd);
    list[n > 0 ? n : 0] = 0;
    for (const char *p = list; *p;) {
      int pid = 0;
      while (*p >= '0' && *p <= '9') pid = pid * 10 + (*p++ - '0');
      while (*p == ' ' || *p == '\n') p++;
      if (pid <= 0) break;
      siginfo_t info;
      __builtin_memset(&info, 0, sizeof info);
      if (dsys5(__NR_waitid, P_PID, pid, (long)&info, WEXITED | WNOHANG | WNOWAIT, 0) < 0 || info.si_pid != pid) continue;
      if (used + 40 >= sizeof zombies_text) break;
      used += (size_t)dfmt(zombies_text + used, sizeof zombies_text - used, "%d:%d:%d,", vid_to_virt(pid), info.si_code,
                           info.si_status);
    }
  }
}

const char *procstate_zombies(void)
{
  return zombies_text;
}

const char *procstate_cwd(void)
{
  return saved_cwd;
}

void procstate_restore(void)
{
  for (int sig = 1; sig <= 64; sig++) {
    if (saved_action_ok[sig]) d_rt_sigaction(sig, &saved_actions[sig], 0);
  }
  dsys1(__NR_umask, saved_umask);
  if (saved_cwd[0] && dsys1(__NR_chdir, (long)saved_cwd) < 0) {
    dlog("warning: working directory %s is gone after restart; staying in the restart directory", saved_cwd);
  }
}

/* Reads a whole small /proc file into buf (NUL-terminated); returns its length or -1. */
static long read_proc_file(const char *path, char *buf, size_t cap)
{
  long fd = d_open(path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return -1;
  size_t used = 0;
  for (;;) {
    long r = d_read((int)fd, buf + used, cap - 1 - used);
    if (r <= 0) break;
    used += (size_t)r;
    if (used >= cap - 1) break;
  }
  d_close((int)fd);
  buf[used] = 0;
  return (long)used;
}

static uint64_t parse_u64(const char **p)
{
  uint64_t v = 0;
  while (**p == ' ') (*p)++;
  while (**p >= '0' && **p <= '9') v = v * 10 + (uint64_t)(*(*p)++ - '0');
  return v;
}

static void skip_field(const char **p)
{
  while (**p == ' ') (*p)++;
  while (**p && **p != ' ') (*p)++;
}

/* Fields of /proc/self/stat (man 5 proc): 26 startcode, 27 endcode, 28 startstack, 45..51 data, brk, args, env. */
static void read_mm_fields(struct dmtcp_mm_map *mm)
{
  static char buf[4096];
  if (read_proc_file("/proc/self/stat", buf, sizeof buf) <= 0) return;
  const char *p = buf;
  const char *close_paren = 0;
  for (const char *q = buf; *q; q++) {
    if (*q == ')') close_paren = q;
  }
  if (!close_paren) return;
  p = close_paren + 1;
  /* p now precedes field 3 (state). */
  uint64_t fields[53] = { 0 };
  for (int f = 3; f <= 52; f++) {
    while (*p == ' ') p++;
    if (!*p) break;
    if (f == 3) {
      skip_field(&p);
      continue;
    }
    const char *before = p;
    if (*p == '-') {
      skip_field(&p);
      continue;
    }
    fields[f] = parse_u64(&p);
    if (p == before) skip_field(&p);
  }
  mm->start_code = fields[26];
  mm->end_code = fields[27];
  mm->start_stack = fields[28];
  mm->start_data = fields[45];
  mm->end_data = fields[46];
  mm->start_brk = fields[47];
  mm->arg_start = fields[48];
  mm->arg_end = fields[49];
  mm->env_start = fields[50];
  mm->env_end = fields[51];
  mm->brk = (uint64_t)d_brk(0);
}

void procstate_fill_process_record(struct dmtcp_rec_process *p)
{
  static char auxv_buf[2048];
  p->pid = (uint32_t)d_getpid();
  p->ppid = (uint32_t)dsys0(__NR_getppid);
  p->generation = g_id.generation;
  p->ckpt_signal = (uint32_t)g_cfg.ckpt_signal;
  struct timespec ts;
  dsys2(__NR_clock_gettime, CLOCK_REALTIME, (long)&ts);
  p->ckpt_time_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
  p->entry = (uint64_t)(uintptr_t)&dmtcp_restart_entry;
  p->entry_arg = 0;
  p->restorer_lo = g_hole_reserved ? RESTORER_BASE : 0;
  p->restorer_hi = g_hole_reserved ? RESTORER_BASE + RESTORER_SIZE : 0;
  read_mm_fields(&p->mm);
  long n = read_proc_file("/proc/self/auxv", auxv_buf, sizeof auxv_buf);
  p->auxv_words = 0;
  if (n > 0) {
    uint32_t words = (uint32_t)n / 8;
    if (words > DMTCP_AUXV_WORDS) words = DMTCP_AUXV_WORDS;
    __builtin_memcpy(p->auxv, auxv_buf, words * 8);
    p->auxv_words = words;
  }
  p->vdso_hash = 0;                  /* memory.c fills it from the [vdso] area it walks */
}
