/* plan.c: carries out the restart plan (native/include/dmtcp_plan.h) before any memory is restored: the same process
 * tree (fork; extra roots with CLONE_PARENT, so they are siblings of the first process), the same sessions and process
 * groups, and every descriptor at its number. Descriptions shared by several processes are created by their lowest
 * common ancestor and reach the others through fork, as they did the first time. */
#include <stdint.h>
#include <linux/fcntl.h>
#include <linux/sched.h>
#include <linux/mman.h>
#include <asm/mman.h>
#include <asm/termbits.h>
#include <asm/ioctls.h>
#include <asm/stat.h>
#include <linux/ipc.h>

#include "../include/dmtcp_sys.h"
#include "../include/dmtcp_plan.h"
#include "restorer.h"

#ifndef O_TMPFILE
#define O_TMPFILE (020000000 | 0200000)
#endif
#define SIGCHLD 17
#define MAX_PLAN_DESCS 16384
#define MAX_PLAN_PROCS 4096

static struct dmtcp_plan_header *hdr;
static struct dmtcp_plan_proc *procs;
static struct dmtcp_plan_desc *descs;
static struct dmtcp_plan_hold *holds;
static struct dmtcp_plan_share *shares;
static const char *blob;
static uint64_t plan_size;
static int temp_fd[MAX_PLAN_DESCS];     /* where each description created so far sits (above the program's fds) */
static int real_pid[MAX_PLAN_PROCS];
static int high_fd;                     /* first number above every descriptor the program uses */

static __attribute__((noreturn)) void plan_fail(const char *what, const char *detail, long err)
{
  msg_begin();
  msg_str(what);
  if (detail) {
    msg_str(" ");
    msg_str(detail);
  }
  if (err) {
    msg_str(" (errno ");
    msg_dec(-err);
    msg_str(")");
  }
  msg_fail(EXIT_PLAN);
}

static int move_high(int fd)
{
  long n = dsys3(__NR_fcntl, fd, F_DUPFD, high_fd);
  if (n < 0) plan_fail("cannot move a descriptor above the program's", 0, n);
  d_close(fd);
  return (int)n;
}

static void read_plan(int fd)
{
  struct stat st;   /* the kernel's layout (asm/stat.h) */
  if (dsys2(__NR_fstat, fd, (long)&st) < 0 || st.st_size < (long)sizeof *hdr) plan_fail("the restart plan is unreadable", 0, 0);
  plan_size = (uint64_t)st.st_size;
  long m = d_mmap(0, plan_size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (m < 0) plan_fail("cannot map the restart plan", 0, m);
  hdr = (struct dmtcp_plan_header *)m;
  for (int i = 0; i < 8; i++) {
    if (hdr->magic[i] != DMTCP_PLAN_MAGIC[i]) plan_fail("the restart plan has a bad magic", 0, 0);
  }
  if (hdr->version != DMTCP_PLAN_VERSION) plan_fail("the restart plan has another version", 0, 0);
  if (hdr->n_procs == 0 || hdr->n_procs > MAX_PLAN_PROCS || hdr->n_descs > MAX_PLAN_DESCS) plan_fail("the restart plan is too large", 0, 0);
  uint64_t need = sizeof *hdr + (uint64_t)hdr->n_procs * sizeof *procs + (uint64_t)hdr->n_descs * sizeof *descs +
                  (uint64_t)hdr->n_holds * sizeof *holds + (uint64_t)hdr->n_shares * sizeof *shares + hdr->blob_len;
  if (need > plan_size) plan_fail("the restart plan is truncated", 0, 0);
  procs = (struct dmtcp_plan_proc *)(hdr + 1);
  descs = (struct dmtcp_plan_desc *)(procs + hdr->n_procs);
  holds = (struct dmtcp_plan_hold *)(descs + hdr->n_descs);
  shares = (struct dmtcp_plan_share *)(holds + hdr->n_holds);
  blob = (const char *)(shares + hdr->n_shares);
  for (uint32_t i = 0; i < hdr->n_shares; i++) {
    if (shares[i].desc >= hdr->n_descs || shares[i].proc >= hdr->n_procs) plan_fail("the restart plan has a bad share", 0, 0);
  }
  for (uint32_t i = 0; i < hdr->n_descs; i++) {
    const struct dmtcp_plan_desc *d = &descs[i];
    if ((uint64_t)d->path_off + d->path_len > hdr->blob_len || (uint64_t)d->data_off + d->data_len > hdr->blob_len ||
        (d->peer != DMTCP_PLAN_NO_DESC && d->peer >= hdr->n_descs) || d->path_len == 0 ||
        blob[d->path_off + d->path_len - 1] != 0) {
      plan_fail("the restart plan has a bad description", 0, 0);
    }
  }
}

static const char *desc_path(const struct dmtcp_plan_desc *d)
{
  return blob + d->path_off;
}

static void write_all_or_fail(int fd, const char *data, uint32_t len, const struct dmtcp_plan_desc *d)
{
  long r = d_write_all(fd, data, len);
  if (r < 0) plan_fail("cannot write the saved contents of", desc_path(d), r);
}

static int is_tty(int fd)
{
  struct termios t;
  return dsys3(__NR_ioctl, fd, TCGETS, (long)&t) == 0;
}

static int open_desc(const struct dmtcp_plan_desc *d)
{
  int flags = (int)(d->file_flags & ~(uint32_t)(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC));
  const char *path = desc_path(d);
  long fd;
  switch (d->kind) {
  case DMTCP_DESC_RECREATE:
    fd = d_open(path, flags, 0);
    if (fd == -2 /* ENOENT */) {
      long w = d_open(path, O_WRONLY | O_CREAT | O_EXCL, (int)(d->mode & 07777));
      if (w < 0) plan_fail("cannot recreate", path, w);
      write_all_or_fail((int)w, blob + d->data_off, d->data_len, d);
      d_close((int)w);
      fd = d_open(path, flags, 0);
    }
    break;
  case DMTCP_DESC_TMPFILE: {
    /* The directory of the deleted file (or /tmp): an unnamed file with its contents, opened as it was. */
    char dir[4096];
    uint32_t n = d->path_len - 1, slash = 0;
    for (uint32_t i = 0; i < n && i < sizeof dir - 1; i++) {
      dir[i] = path[i];
      if (path[i] == '/') slash = i;
    }
    dir[slash ? slash : 1] = 0;
    if (!slash) dir[0] = '/';
    long t = d_open(dir, O_TMPFILE | O_RDWR, (int)(d->mode & 07777));
    if (t < 0) t = d_open("/tmp", O_TMPFILE | O_RDWR, (int)(d->mode & 07777));
    if (t < 0) plan_fail("cannot create a file for the deleted", path, t);
    write_all_or_fail((int)t, blob + d->data_off, d->data_len, d);
    char proc[64] = "/proc/self/fd/";
    int k = 14, v = (int)t;
    char digits[12];
    int nd = 0;
    do digits[nd++] = (char)('0' + v % 10), v /= 10; while (v);
    while (nd) proc[k++] = digits[--nd];
    proc[k] = 0;
    fd = d_open(proc, flags, 0);
    d_close((int)t);
    break;
  }
  case DMTCP_DESC_TERMINAL:
    fd = is_tty(0) ? dsys1(__NR_dup, 0) : is_tty(1) ? dsys1(__NR_dup, 1) : is_tty(2) ? dsys1(__NR_dup, 2)
                                                                          : d_open("/dev/null", O_RDWR, 0);
    return (int)fd < 0 ? (int)fd : move_high((int)fd);
  case DMTCP_DESC_NULL:
    fd = d_open("/dev/null", flags & O_ACCMODE ? flags & O_ACCMODE : O_RDWR, 0);
    break;
  case DMTCP_DESC_SOCKET: {
    uint16_t family = 0;
    uint32_t type = 0, protocol = 0;
    if (d->data_len >= 12) {
      __builtin_memcpy(&family, blob + d->data_off, 2);
      __builtin_memcpy(&type, blob + d->data_off + 4, 4);
      __builtin_memcpy(&protocol, blob + d->data_off + 8, 4);
    }
    fd = dsys3(__NR_socket, family, (long)type, protocol);
    /* A kind this user may not create (raw, packet): the library warns when it finds /dev/null in its place. */
    if (fd < 0) fd = d_open("/dev/null", O_RDWR, 0);
    if (fd < 0) plan_fail("cannot create a socket or open", "/dev/null", fd);
    return move_high((int)fd);
  }
  default:
    fd = d_open(path, flags, 0);
    break;
  }
  if (fd < 0) {
    msg_begin();
    msg_str("cannot reopen ");
    msg_str(path);
    msg_str(", errno ");
    msg_dec(-fd);
    msg_str("; the file the program had open is gone or not accessible");
    msg_fail(EXIT_FILE);
  }
  if (d->offset > 0) d_lseek((int)fd, d->offset, 0);
  return move_high((int)fd);
}

static void create_pipe(struct dmtcp_plan_desc *d)
{
  int ends[2];
  long r = dsys2(__NR_pipe2, (long)ends, 0);
  if (r < 0) plan_fail("cannot create a pipe for", desc_path(d), r);
  const struct dmtcp_plan_desc *rd = d->kind == DMTCP_DESC_PIPE_READ ? d : (d->peer != DMTCP_PLAN_NO_DESC ? &descs[d->peer] : 0);
  if (rd && rd->data_len) {
    uint32_t want = rd->data_len < 65536 ? 65536 : rd->data_len;
    dsys3(__NR_fcntl, ends[1], 1031 /* F_SETPIPE_SZ */, want);
    write_all_or_fail(ends[1], blob + rd->data_off, rd->data_len, rd);
  }
  struct dmtcp_plan_desc *rdesc = d->kind == DMTCP_DESC_PIPE_READ ? d : (d->peer != DMTCP_PLAN_NO_DESC ? &descs[d->peer] : 0);
  struct dmtcp_plan_desc *wdesc = d->kind == DMTCP_DESC_PIPE_WRITE ? d : (d->peer != DMTCP_PLAN_NO_DESC ? &descs[d->peer] : 0);
  if (rdesc) {
    temp_fd[rdesc->id] = move_high(ends[0]);
    if (rdesc->file_flags & O_NONBLOCK) dsys3(__NR_fcntl, temp_fd[rdesc->id], F_SETFL, O_NONBLOCK);
  } else {
    d_close(ends[0]);
  }
  if (wdesc) {
    temp_fd[wdesc->id] = move_high(ends[1]);
    if (wdesc->file_flags & O_NONBLOCK) dsys3(__NR_fcntl, temp_fd[wdesc->id], F_SETFL, O_NONBLOCK);
  } else {
    d_close(ends[1]);   /* the writer was outside: the reader gets the bytes in flight, then end of file */
  }
}

/* Pseudo-terminals: the new number of each master, by description, for the slaves opened after it. */
static int pty_number[MAX_PLAN_DESCS];

static int create_pty_master(const struct dmtcp_plan_desc *d)
{
  int flags = (int)(d->file_flags & ~(uint32_t)(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC)) | O_NOCTTY;
  long fd = d_open("/dev/ptmx", flags, 0);
  if (fd < 0) plan_fail("cannot create a pseudo-terminal: /dev/ptmx", 0, fd);
  int unlock = 0;
  unsigned int n = 0;
  dsys3(__NR_ioctl, fd, TIOCSPTLCK, (long)&unlock);
  long r = dsys3(__NR_ioctl, fd, TIOCGPTN, (long)&n);
  if (r < 0) plan_fail("cannot read the number of a new pseudo-terminal", 0, r);
  pty_number[d->id] = (int)n;
  return move_high((int)fd);
}

static int create_pty_slave(const struct dmtcp_plan_desc *d)
{
  if (d->peer == DMTCP_PLAN_NO_DESC || pty_number[d->peer] < 0) plan_fail("a terminal's master was not created before it", desc_path(d), 0);
  char path[32] = "/dev/pts/";
  int k = 9, v = pty_number[d->peer];
  char digits[12];
  int nd = 0;
  do digits[nd++] = (char)('0' + v % 10), v /= 10; while (v);
  while (nd) path[k++] = digits[--nd];
  path[k] = 0;
  int flags = (int)(d->file_flags & ~(uint32_t)(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC)) | O_NOCTTY;
  long fd = d_open(path, flags, 0);
  if (fd < 0) plan_fail("cannot open the new pseudo-terminal", path, fd);
  if (d->data_len >= 48) {
    const uint8_t *t = (const uint8_t *)blob + d->data_off;
    dsys3(__NR_ioctl, fd, TCSETS, (long)t);
    uint16_t ws[4];
    __builtin_memcpy(ws, t + 40, sizeof ws);
    if (ws[0] || ws[1]) dsys3(__NR_ioctl, fd, TIOCSWINSZ, (long)ws);
  }
  return move_high((int)fd);
}

/* Shared memory objects: a descriptor (memfd or /dev/shm file) each process maps, or a System V segment id. */
static int create_shared(const struct dmtcp_plan_desc *d)
{
  const char *path = desc_path(d);
  long fd;
  if (d->kind == DMTCP_DESC_SYSV) {
    long id = dsys3(__NR_shmget, (int)d->file_flags, (long)d->offset, IPC_CREAT | (int)(d->mode & 0777));
    if (id < 0) plan_fail("cannot create the System V shared memory segment", path, id);
    return (int)id;
  }
  if (d->kind == DMTCP_DESC_SHM_FILE) {
    fd = d_open(path, O_RDWR | O_CREAT, (int)(d->mode & 07777));
  } else {
    fd = dsys2(__NR_memfd_create, (long)path, 0);
  }
  if (fd < 0) plan_fail("cannot create shared memory", path, fd);
  struct stat st;
  if (dsys2(__NR_fstat, fd, (long)&st) < 0 || st.st_size < d->offset) {
    long r = dsys2(__NR_ftruncate, fd, d->offset);
    if (r < 0) plan_fail("cannot size shared memory", path, r);
  }
  return move_high((int)fd);
}

static int is_shared_kind(uint32_t kind)
{
  return kind == DMTCP_DESC_SHM_ANON || kind == DMTCP_DESC_SHM_FILE || kind == DMTCP_DESC_SYSV;
}

static void create_descs(int creator)
{
  for (uint32_t i = 0; i < hdr->n_descs; i++) {
    struct dmtcp_plan_desc *d = &descs[i];
    if (d->creator != creator || temp_fd[i] >= 0) continue;
    if (d->kind == DMTCP_DESC_PIPE_READ || d->kind == DMTCP_DESC_PIPE_WRITE) create_pipe(d);
    else if (is_shared_kind(d->kind)) temp_fd[i] = create_shared(d);
    else if (d->kind == DMTCP_DESC_PTY_MASTER) temp_fd[i] = create_pty_master(d);
    else if (d->kind == DMTCP_DESC_PTY_SLAVE) temp_fd[i] = create_pty_slave(d);
    else temp_fd[i] = open_desc(d);
  }
}

/* What this process maps again, kept after the plan is unmapped: see plan_shared_lookup. */
#define MAX_MY_SHARES 1024
static struct { uint64_t dev, ino; int handle; int sysv; int removed; } my_shares[MAX_MY_SHARES];
static int n_my_shares;

static void keep_shares(int me)
{
  n_my_shares = 0;
  for (uint32_t i = 0; i < hdr->n_shares && n_my_shares < MAX_MY_SHARES; i++) {
    const struct dmtcp_plan_share *h = &shares[i];
    if ((int)h->proc != me) continue;
    int handle = temp_fd[h->desc];
    if (handle < 0) plan_fail("shared memory was not created before a process mapping it", desc_path(&descs[h->desc]), 0);
    my_shares[n_my_shares].dev = h->dev;
    my_shares[n_my_shares].ino = h->ino;
    my_shares[n_my_shares].handle = handle;
    my_shares[n_my_shares].sysv = descs[h->desc].kind == DMTCP_DESC_SYSV;
    my_shares[n_my_shares].removed = (descs[h->desc].mode & 01000) != 0;
    n_my_shares++;
  }
}

static int is_my_share_fd(int fd)
{
  for (int i = 0; i < n_my_shares; i++) {
    if (!my_shares[i].sysv && my_shares[i].handle == fd) return 1;
  }
  return 0;
}

int plan_shared_lookup(uint64_t dev, uint64_t ino, int *sysv)
{
  for (int i = 0; i < n_my_shares; i++) {
    if (my_shares[i].dev == dev && my_shares[i].ino == ino) {
      *sysv = my_shares[i].sysv;
      return my_shares[i].handle;
    }
  }
  return -1;
}

int plan_shared_sysv_ids(int32_t *pairs, int max_pairs)
{
  int n = 0;
  for (int i = 0; i < n_my_shares && n < max_pairs; i++) {
    if (!my_shares[i].sysv) continue;
    pairs[3 * n] = (int32_t)my_shares[i].ino;      /* the old shmid: /proc/<pid>/maps shows it as the inode */
    pairs[3 * n + 1] = my_shares[i].handle;
    pairs[3 * n + 2] = my_shares[i].removed;
    n++;
  }
  return n;
}

void plan_close_shared(void)
{
  for (int i = 0; i < n_my_shares; i++) {
    if (!my_shares[i].sysv) d_close(my_shares[i].handle);
  }
}

/* The descriptors this process holds go to their numbers; everything else that is not the restorer's is closed. */
static void place_descriptors(int me)
{
  for (uint32_t i = 0; i < hdr->n_holds; i++) {
    const struct dmtcp_plan_hold *h = &holds[i];
    if ((int)h->proc != me) continue;
    int src = temp_fd[h->desc];
    if (src < 0) plan_fail("a description was not created before its holder", desc_path(&descs[h->desc]), 0);
    long r = dsys3(__NR_dup3, src, h->fd, h->flags & DMTCP_HOLD_CLOEXEC ? O_CLOEXEC : 0);
    if (r < 0) plan_fail("cannot place descriptor", desc_path(&descs[h->desc]), r);
  }
}

static int held_by(int me, int fd)
{
  for (uint32_t i = 0; i < hdr->n_holds; i++) {
    if ((int)holds[i].proc == me && holds[i].fd == fd) return 1;
  }
  return 0;
}

static void close_the_rest(int me, int keep1, int keep2)
{
  static char buf[16384];
  long dfd = d_open("/proc/self/fd", O_RDONLY | O_DIRECTORY, 0);
  if (dfd < 0) return;
  int list[4096], n = 0;
  for (;;) {
    long got = d_getdents64((int)dfd, buf, sizeof buf);
    if (got <= 0) break;
    for (long off = 0; off < got;) {
      struct { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; } *e = (void *)(buf + off);
      off += e->reclen;
      if (e->name[0] < '0' || e->name[0] > '9') continue;
      int fd = 0;
      for (const char *p = e->name; *p; p++) fd = fd * 10 + (*p - '0');
      if (n < 4096) list[n++] = fd;
    }
  }
  d_close((int)dfd);
  for (int i = 0; i < n; i++) {
    int fd = list[i];
    if (fd == dfd || fd <= 2 || fd == keep1 || fd == keep2 || held_by(me, fd) || is_my_share_fd(fd)) continue;
    d_close(fd);
  }
}

/* A session leader takes its controlling terminal back before it forks: children inherit it then. */
static void take_terminal(int me)
{
  for (uint32_t i = 0; i < hdr->n_holds; i++) {
    const struct dmtcp_plan_hold *h = &holds[i];
    if ((int)h->proc != me || !(h->flags & DMTCP_HOLD_CTTY) || temp_fd[h->desc] < 0) continue;
    long r = dsys3(__NR_ioctl, temp_fd[h->desc], TIOCSCTTY, 0);
    if (r < 0) plan_fail("cannot make the new pseudo-terminal the controlling terminal of", desc_path(&descs[h->desc]), r);
    return;
  }
}

/* The process group that was in the foreground of its terminal is again (signals are blocked: no SIGTTOU). */
static void take_foreground(int me)
{
  (void)me;
  long fd = d_open("/dev/tty", O_RDWR | O_NOCTTY, 0);
  if (fd < 0) return;
  int pgrp = (int)dsys1(__NR_getpgid, 0);
  dsys3(__NR_ioctl, fd, TIOCSPGRP, (long)&pgrp);
  d_close((int)fd);
}

static void join_group(int me, int child_pid)
{
  const struct dmtcp_plan_proc *p = &procs[me];
  /* A session leader's setsid() makes its group; a setpgid() before it would make setsid() fail. */
  if (p->flags & DMTCP_PLAN_SESSION_LEADER) return;
  int leader = p->flags & DMTCP_PLAN_GROUP_LEADER ? me : p->group_leader;
  if (leader < 0 || real_pid[leader] <= 0) return;
  dsys2(__NR_setpgid, child_pid, real_pid[leader]);   /* best effort, from both sides, as shells do */
}

/* A zombie again: the child ends the way the old one had (its exit status, or killed by its signal, without a core
 * file), so the parent's waitpid finds what it would have found. */
static __attribute__((noreturn)) void end_as_before(const struct dmtcp_plan_proc *p)
{
  if (p->exit_code != 1 /* CLD_EXITED */ && p->exit_status > 0 && p->exit_status < 65) {
    struct { uint64_t cur, max; } no_core = { 0, 0 };
    dsys2(__NR_setrlimit, 4 /* RLIMIT_CORE */, (long)&no_core);
    struct { long handler; unsigned long flags; long restorer; uint64_t mask; } dfl = { 0, 0, 0, 0 };
    dsys4(__NR_rt_sigaction, p->exit_status, (long)&dfl, 0, 8);
    uint64_t only = 1ull << (p->exit_status - 1);
    dsys4(__NR_rt_sigprocmask, 1 /* SIG_UNBLOCK */, (long)&only, 0, 8);
    dsys2(__NR_kill, d_getpid(), p->exit_status);
  }
  d_exit_group(p->exit_status & 0xff);
}

/* Waits until that child is a zombie (without reaping it) and takes back the SIGCHLD it raised: the program was
 * told about it before the checkpoint. Every signal is blocked here, so it waits pending. */
static void settle_zombie(int pid)
{
  char info[128];
  dsys5(__NR_waitid, 1 /* P_PID */, pid, (long)info, 4 /* WEXITED */ | 0x01000000 /* WNOWAIT */, 0);
  uint64_t chld = 1ull << (17 - 1);
  struct { long s, ns; } zero = { 0, 0 };
  dsys4(__NR_rt_sigtimedwait, (long)&chld, (long)info, (long)&zero, 8);
}

void plan_execute(int plan_fd, struct plan_result *out)
{
  static int stream_of[MAX_PLAN_PROCS], ack_of[MAX_PLAN_PROCS];
  read_plan(plan_fd);
  for (uint32_t i = 0; i < hdr->n_descs; i++) temp_fd[i] = pty_number[i] = -1;
  high_fd = 3;
  for (uint32_t i = 0; i < hdr->n_holds; i++) {
    if (holds[i].fd >= high_fd) high_fd = holds[i].fd + 1;
  }
  /* Our own descriptors go above the program's before anything is placed (the plan itself is mapped read-only). */
  d_close(plan_fd);
  for (uint32_t i = 0; i < hdr->n_procs; i++) {
    stream_of[i] = procs[i].stream_fd == DMTCP_PLAN_NO_FD ? -1 : move_high((int)procs[i].stream_fd);
    ack_of[i] = procs[i].ack_fd == DMTCP_PLAN_NO_FD ? -1 : move_high((int)procs[i].ack_fd);
  }
  out->n_zombies = 0;
  int me = 0;
  real_pid[0] = (int)d_getpid();
  create_descs(DMTCP_PLAN_NO_PROC);
  for (uint32_t i = 1; i < hdr->n_procs; i++) {
    if (procs[i].parent != DMTCP_PLAN_NO_PROC) continue;
    long pid = dsys5(__NR_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
    if (pid < 0) plan_fail("cannot create a process", 0, pid);
    if (pid == 0) {
      me = (int)i;
      real_pid[me] = (int)d_getpid();
      break;
    }
    real_pid[i] = (int)pid;
  }
again:;
  const struct dmtcp_plan_proc *p = &procs[me];
  if (p->flags & DMTCP_PLAN_SESSION_LEADER) dsys0(__NR_setsid);
  join_group(me, 0);
  create_descs(me);
  take_terminal(me);
  for (uint32_t c = 0; c < hdr->n_procs; c++) {
    if (procs[c].parent != me) continue;
    long pid = dsys0(__NR_fork);
    if (pid < 0) plan_fail("cannot create a process", 0, pid);
    if (pid == 0 && (procs[c].flags & DMTCP_PLAN_ZOMBIE)) end_as_before(&procs[c]);
    if (pid == 0) {
      me = (int)c;
      real_pid[me] = (int)d_getpid();
      goto again;
    }
    real_pid[c] = (int)pid;
    if (procs[c].flags & DMTCP_PLAN_ZOMBIE) {
      settle_zombie((int)pid);
      if (out->n_zombies < 64) {
        out->zombies[out->n_zombies][0] = (int)procs[c].vpid;
        out->zombies[out->n_zombies][1] = (int)pid;
        out->n_zombies++;
      }
      continue;
    }
    join_group((int)c, (int)pid);
  }
  place_descriptors(me);
  keep_shares(me);
  if (p->flags & DMTCP_PLAN_FOREGROUND) take_foreground(me);
  out->stream_fd = stream_of[me];
  out->ack_fd = ack_of[me];
  out->ptracer = (int)procs[me].ptracer;
  out->index = me;
  close_the_rest(me, out->stream_fd, out->ack_fd);
  d_munmap(hdr, plan_size);
}
