/* fds.c: the process's open descriptors at checkpoint: what each one is, which open file description it shares with
 * which other descriptors of the computation (kcmp), and the bytes in flight in its pipes, drained before the image is
 * written and put back after. The restart plan (dmtcp_restart) and the restorer rebuild them from these records. */
#include <fcntl.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "dmtcp_lib.h"
#include "../include/dmtcp_sys.h"

#define MAX_FDS 4096
#define MAX_PEERS 1024
#define MAX_PEER_FDS 65536
#define KCMP_FILE 0
#define MAX_SAVED_CONTENTS (256ull << 20)

struct peer_fd {
  int pid;                             /* real */
  int vpid;
  int fd;
  uint32_t link_hash;
  int write_end;                       /* pipes: opened for writing */
};

static struct fd_entry fds[MAX_FDS];
static int n_fds;
static struct peer_fd peer_fds[MAX_PEER_FDS];
static int n_peer_fds;
static int peers_real[MAX_PEERS], peers_virt[MAX_PEERS];
static int n_peers;
struct shared_object {
  uint64_t dev, ino;
};
#define MAX_SHARED_OBJECTS 4096
static struct shared_object held_below[MAX_SHARED_OBJECTS];   /* shared mappings of processes with a lower pid */
static int n_held_below;
static uint32_t own_link_hash[MAX_FDS];    /* fds_link_held(): this process's links, once per checkpoint */
static int n_own_links = -1;
static uint8_t *arena;                 /* drained pipe bytes and saved file contents */
static uint64_t arena_len, arena_cap;

static uint32_t hash_str(const char *s)
{
  uint32_t h = 2166136261u;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
  return h;
}

static int is_protected(int fd)
{
  return fd >= g_protected_fd_base && fd < g_protected_fd_base + 4;
}

/* Moves `fd` to its protected slot (close-on-exec). Returns the new descriptor, or -errno with `fd` left open. */
int fd_protect(int fd, enum protected_slot slot)
{
  int target = g_protected_fd_base + (int)slot;
  if (fd == target) return fd;
  long r = dsys3(__NR_dup3, fd, target, O_CLOEXEC);
  if (r < 0) return (int)r;
  d_close(fd);
  return target;
}

static int starts(const char *s, const char *p)
{
  while (*p) {
    if (*s++ != *p++) return 0;
  }
  return 1;
}

static uint64_t bracket_number(const char *s)
{
  uint64_t v = 0;
  while (*s && *s != '[') s++;
  if (*s == '[') s++;
  while (*s >= '0' && *s <= '9') v = v * 10 + (uint64_t)(*s++ - '0');
  return v;
}

/* ---- the data arena ---- */

uint8_t *arena_reserve(uint64_t n)
{
  if (arena_len + n > arena_cap) {
    uint64_t cap = arena_cap ? arena_cap : (1u << 20);
    while (cap < arena_len + n) cap *= 2;
    long m = arena ? d_mremap(arena, arena_cap, cap, 1 /* MREMAP_MAYMOVE */, 0)
                   : d_mmap(0, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m < 0) return 0;
    arena = (uint8_t *)m;
    arena_cap = cap;
  }
  return arena + arena_len;
}

void fds_release(void)
{
  if (arena) d_munmap(arena, arena_cap);
  arena = 0;
  arena_len = arena_cap = 0;
}

/* ---- listing ---- */

static long list_fds(const char *dir, int *out, int max, int *dirfd_out)
{
  static char buf[32768];
  long dfd = d_open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (dfd < 0) return dfd;
  if (dirfd_out) *dirfd_out = (int)dfd;
  int n = 0;
  for (;;) {
    long got = d_getdents64((int)dfd, buf, sizeof buf);
    if (got <= 0) break;
    for (long off = 0; off < got;) {
      struct { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; } *d = (void *)(buf + off);
      off += d->reclen;
      if (d->name[0] < '0' || d->name[0] > '9') continue;
      int fd = 0;
      for (const char *p = d->name; *p; p++) fd = fd * 10 + (*p - '0');
      if (n < max) out[n++] = fd;
    }
  }
  d_close((int)dfd);
  return n;
}

static long link_of(int pid, int fd, char *out, size_t cap)
{
  char path[64];
  if (pid) dfmt(path, sizeof path, "/proc/%d/fd/%d", pid, fd);
  else dfmt(path, sizeof path, "/proc/self/fd/%d", fd);
  long n = dsys3(__NR_readlink, (long)path, (long)out, (long)cap - 1);
  out[n > 0 ? n : 0] = 0;
  return n;
}

static uint64_t parse_hex(const char **p)
{
  uint64_t v = 0;
  for (;; (*p)++) {
    char c = **p;
    if (c >= '0' && c <= '9') v = v * 16 + (uint64_t)(c - '0');
    else if (c >= 'a' && c <= 'f') v = v * 16 + (uint64_t)(c - 'a' + 10);
    else return v;
  }
}

/* Shared mappings of process `real`: "start-end perms offset maj:min inode path"; perms[3] == 's'. */
static void collect_shared_maps(int real)
{
  static char text[1 << 17];
  char path[64];
  dfmt(path, sizeof path, "/proc/%d/maps", real);
  long fd = d_open(path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return;
  long used = 0;
  for (;;) {
    long r = d_read((int)fd, text + used, sizeof text - 1 - used);
    if (r <= 0) break;
    used += r;
    if (used >= (long)sizeof text - 1) break;
  }
  d_close((int)fd);
  text[used] = 0;
  for (const char *line = text; *line && n_held_below < MAX_SHARED_OBJECTS;) {
    const char *q = line;
    int field = 0;
    char perms_shared = 0;
    uint64_t major = 0, minor = 0, ino = 0;
    while (*q && *q != '\n') {
      while (*q == ' ') q++;
      if (field == 1) perms_shared = q[3];
      if (field == 3) {
        major = parse_hex(&q);
        if (*q == ':') q++;
        minor = parse_hex(&q);
      } else if (field == 4) {
        while (*q >= '0' && *q <= '9') ino = ino * 10 + (uint64_t)(*q++ - '0');
      }
      while (*q && *q != ' ' && *q != '\n') q++;
      if (++field > 4) break;
    }
    if (perms_shared == 's' && ino) {
      /* The kernel's dev_t encoding, as stat() reports it in st_dev. */
      uint64_t dev = ((major & 0xfffff000ull) << 32) | ((major & 0xfffull) << 8) | ((minor & 0xffffff00ull) << 12) | (minor & 0xffull);
      held_below[n_held_below++] = (struct shared_object){ dev, ino };
    }
    while (*q && *q != '\n') q++;
    line = *q ? q + 1 : q;
  }
}

/* Whether a process of the computation with a lower pid maps the shared object (dev, ino): its image holds the
 * contents, ours only says where to map it. */
int fds_shared_elsewhere(uint64_t dev, uint64_t ino)
{
  for (int i = 0; i < n_held_below; i++) {
    if (held_below[i].dev == dev && held_below[i].ino == ino) return 1;
  }
  return 0;
}

/* The other processes of the computation and their descriptors, read from /proc (all of them are frozen). */
static void scan_peers(const uint32_t *pairs, int n_pairs)
{
  static int list[MAX_FDS];
  static char link[DMTCP_MAX_PATH];
  int self = (int)d_getpid(), vself = vid_self_pid();
  n_peers = 0;
  n_peer_fds = 0;
  n_held_below = 0;
  for (int i = 0; i < n_pairs && n_peers < MAX_PEERS; i++) {
    int real = (int)pairs[2 * i], virt = (int)pairs[2 * i + 1];
    if (real == self) continue;
    if (virt < vself) collect_shared_maps(real);
    peers_real[n_peers] = real;
    peers_virt[n_peers] = virt;
    n_peers++;
    char dir[64];
    dfmt(dir, sizeof dir, "/proc/%d/fd", real);
    long n = list_fds(dir, list, MAX_FDS, 0);
    for (long k = 0; k < n && n_peer_fds < MAX_PEER_FDS; k++) {
      if (is_protected(list[k]) || link_of(real, list[k], link, sizeof link) <= 0) continue;
      struct peer_fd *p = &peer_fds[n_peer_fds++];
      p->pid = real;
      p->vpid = virt;
      p->fd = list[k];
      p->link_hash = hash_str(link);
      p->write_end = 0;
      if (starts(link, "pipe:")) {
        char info[64];
        dfmt(info, sizeof info, "/proc/%d/fdinfo/%d", real, list[k]);
        char text[512];
        long fdi = d_open(info, O_RDONLY | O_CLOEXEC, 0);
        if (fdi >= 0) {
          long m = d_read((int)fdi, text, sizeof text - 1);
          d_close((int)fdi);
          text[m > 0 ? m : 0] = 0;
          /* "flags:\t0100001": the last octal digit holds the access mode */
          for (char *q = text; *q; q++) {
            if (starts(q, "flags:")) {
              char *e = q + 6;
              while (*e == '\t' || *e == ' ') e++;
              char *last = e;
              while (*e >= '0' && *e <= '7') last = e++;
              p->write_end = (*last - '0') & 1;
              break;
            }
          }
        }
      }
    }
  }
}

static int kcmp_same(int pid1, int pid2, int fd1, int fd2)
{
  return dsys5(__NR_kcmp, pid1, pid2, KCMP_FILE, fd1, fd2) == 0;
}

/* ---- classification ---- */

static uint32_t classify(const char *link, const struct stat *st)
{
  if (starts(link, "pipe:")) return DMTCP_FD_PIPE;
  if (starts(link, "socket:")) return DMTCP_FD_SOCKET;
  if (starts(link, "anon_inode:[eventpoll]")) return DMTCP_FD_EPOLL;
  if (starts(link, "anon_inode:[eventfd]")) return DMTCP_FD_EVENTFD;
  if (starts(link, "anon_inode:[signalfd]")) return DMTCP_FD_SIGNALFD;
  if (starts(link, "anon_inode:[timerfd]")) return DMTCP_FD_TIMERFD;
  if (starts(link, "anon_inode:inotify")) return DMTCP_FD_INOTIFY;
  if (S_ISCHR(st->st_mode)) {
    unsigned major = (unsigned)((st->st_rdev >> 8) & 0xfff);
    if (major == 5 && (st->st_rdev & 0xff) == 2) return DMTCP_FD_PTY_MASTER;
    if (major == 136 || major == 4 || (major == 5 && ((st->st_rdev & 0xff) <= 1))) return DMTCP_FD_TTY;
    return DMTCP_FD_CHR;
  }
  if (S_ISREG(st->st_mode)) {
    size_t n = 0;
    while (link[n]) n++;
    if (starts(link, "/memfd:") || (n > 10 && d_memeq(link + n - 10, " (deleted)", 10))) return DMTCP_FD_DELETED;
    return DMTCP_FD_REG;
  }
  if (S_ISDIR(st->st_mode)) return DMTCP_FD_DIR;
  if (S_ISFIFO(st->st_mode)) return DMTCP_FD_FIFO;
  return DMTCP_FD_OTHER;
}

/* A terminal: its settings, its pty number, and whether it is our controlling terminal (and its foreground group). */
static void save_tty(struct fd_entry *e, int fd, const struct stat *st)
{
  unsigned major = (unsigned)(((st->st_rdev >> 8) & 0xfff) | ((st->st_rdev >> 32) & ~0xfffu));
  unsigned minor = (unsigned)((st->st_rdev & 0xff) | ((st->st_rdev >> 12) & ~0xffu));
  e->rec.size = (major >= 136 && major <= 143) ? (uint64_t)(major - 136) * 256 + minor : DMTCP_TTY_NOT_PTS;
  struct dmtcp_tty_state *t = (struct dmtcp_tty_state *)arena_reserve(sizeof *t);
  if (!t) return;
  __builtin_memset(t, 0, sizeof *t);
  dsys3(__NR_ioctl, fd, TCGETS, (long)t->termios);
  struct winsize ws;
  if (dsys3(__NR_ioctl, fd, TIOCGWINSZ, (long)&ws) == 0) {
    t->rows = ws.ws_row;
    t->cols = ws.ws_col;
    t->xpixel = ws.ws_xpixel;
    t->ypixel = ws.ws_ypixel;
  }
  int sid = 0, pgrp = 0;
  if (dsys3(__NR_ioctl, fd, TIOCGSID, (long)&sid) == 0 && sid == (int)dsys1(__NR_getsid, 0)) {
    e->rec.flags |= DMTCP_FD_F_CTTY;
    if (dsys3(__NR_ioctl, fd, TIOCGPGRP, (long)&pgrp) == 0) t->fg_vpgid = vid_to_virt(pgrp);
  }
  e->data_off = arena_len;
  e->rec.data_len = (uint32_t)sizeof *t;
  arena_len += sizeof *t;
}

/* /proc/self/fdinfo/<fd>, NUL-terminated in buf; returns its length (0 when unreadable). */
static long read_fdinfo(int fd, char *buf, size_t cap)
{
  char path[64];
  dfmt(path, sizeof path, "/proc/self/fdinfo/%d", fd);
  long f = d_open(path, O_RDONLY | O_CLOEXEC, 0);
  if (f < 0) return 0;
  long used = 0, got;
  while (used < (long)cap - 1 && (got = d_read((int)f, buf + used, cap - 1 - used)) > 0) used += got;
  d_close((int)f);
  buf[used] = 0;
  return used;
}

/* The number after `key` in fdinfo text, in `base` (skipping blanks), or `fallback`. */
static uint64_t fdinfo_num(const char *text, const char *key, int base, uint64_t fallback)
{
  for (const char *q = text; *q; q++) {
    if (!starts(q, key) || (q != text && q[-1] != '\n')) continue;
    q += __builtin_strlen(key);
    while (*q == ' ' || *q == '\t') q++;
    uint64_t v = 0;
    for (;; q++) {
      int d = *q >= '0' && *q <= '9' ? *q - '0' : base == 16 && *q >= 'a' && *q <= 'f' ? *q - 'a' + 10 : -1;
      if (d < 0) break;
      v = v * (uint64_t)base + (uint64_t)d;
    }
    return v;
  }
  return fallback;
}

static void *reserve_data(struct fd_entry *e, uint64_t n)
{
  void *p = arena_reserve(n);
  if (!p) return 0;
  __builtin_memset(p, 0, n);
  e->data_off = arena_len;
  e->rec.data_len = (uint32_t)n;
  arena_len += n;
  return p;
}

/* eventfd, signalfd, timerfd and epoll keep their state in the kernel: read it from fdinfo (and timerfd_gettime). */
static void save_event_state(struct fd_entry *e, int fd)
{
  static char text[65536];
  if (!read_fdinfo(fd, text, sizeof text)) return;
  switch (e->rec.kind) {
  case DMTCP_FD_EVENTFD: {
    struct dmtcp_eventfd_state *st = reserve_data(e, sizeof *st);
    if (!st) return;
    st->count = fdinfo_num(text, "eventfd-count:", 16, 0);
    st->semaphore = (uint32_t)fdinfo_num(text, "eventfd-semaphore:", 10, 0);
    break;
  }
  case DMTCP_FD_SIGNALFD: {
    uint64_t *mask = reserve_data(e, sizeof *mask);
    if (mask) *mask = fdinfo_num(text, "sigmask:", 16, 0);
    break;
  }
  case DMTCP_FD_TIMERFD: {
    struct dmtcp_timerfd_state *st = reserve_data(e, sizeof *st);
    if (!st) return;
    st->clockid = (int32_t)fdinfo_num(text, "clockid:", 10, 1);
    st->ticks = fdinfo_num(text, "ticks:", 10, 0);
    int64_t its[4];
    if (dsys2(__NR_timerfd_gettime, fd, (long)its) == 0) {
      st->interval_sec = its[0];
      st->interval_nsec = its[1];
      st->value_sec = its[2];
      st->value_nsec = its[3];
    }
    break;
  }
  case DMTCP_FD_INOTIFY: {
    /* "inotify wd:1 ino:... mask:..." per watch; the paths come from the inotify_add_watch wrapper. Each entry:
     * i32 wd, u32 mask, u32 path length (NUL included), path, padded to 4. */
    uint64_t need = 0;
    for (const char *q = text; (q = __builtin_strstr(q, "inotify wd:")); q++) {
      uint32_t mask;
      const char *path = inotify_recorded(fd, (int)fdinfo_num(q, "inotify wd:", 10, 0), &mask);
      if (path) need += 12 + ((__builtin_strlen(path) + 1 + 3) & ~3ull);
    }
    uint8_t *out = need ? reserve_data(e, need) : 0;
    if (!out) return;
    uint64_t at = 0;
    for (const char *q = text; (q = __builtin_strstr(q, "inotify wd:")); q++) {
      uint32_t mask;
      int32_t wd = (int32_t)fdinfo_num(q, "inotify wd:", 10, 0);
      const char *path = inotify_recorded(fd, wd, &mask);
      if (!path) {
        dlog("warning: inotify fd %d: watch %d was added before this library could see it; not restored", fd, wd);
        continue;
      }
      uint32_t len = (uint32_t)__builtin_strlen(path) + 1;
      __builtin_memcpy(out + at, &wd, 4);
      __builtin_memcpy(out + at + 4, &mask, 4);
      __builtin_memcpy(out + at + 8, &len, 4);
      __builtin_memcpy(out + at + 12, path, len);
      at += 12 + ((len + 3) & ~3u);
    }
    e->rec.data_len = (uint32_t)at;
    break;
  }
  case DMTCP_FD_EPOLL: {
    /* "tfd:        5 events:       19 data:                5  pos:0 ino:..." per registered descriptor */
    uint32_t n = 0;
    for (const char *q = text; (q = __builtin_strstr(q, "tfd:")); q++) n++;
    struct dmtcp_epoll_item *items = n ? reserve_data(e, n * sizeof *items) : 0;
    if (!items) return;
    uint32_t k = 0;
    for (const char *q = text; k < n && (q = __builtin_strstr(q, "tfd:")); q++) {
      const char *line = q;
      items[k].fd = (int32_t)fdinfo_num(line, "tfd:", 10, 0);
      const char *ev = __builtin_strstr(line, "events:"), *da = __builtin_strstr(line, "data:");
      if (!ev || !da) break;
      items[k].events = (uint32_t)fdinfo_num(ev, "events:", 16, 0);
      items[k].data = fdinfo_num(da, "data:", 16, 0);
      k++;
    }
    e->rec.data_len = k * (uint32_t)sizeof *items;
    break;
  }
  default:
    break;
  }
}

/* Whole contents of a regular file, read through the descriptor (works for deleted files). */
static void save_contents(struct fd_entry *e, int fd)
{
  if (e->rec.size > MAX_SAVED_CONTENTS) {
    dlog("warning: %s is %lu bytes; not saving its contents (limit %lu)", e->path, (unsigned long)e->rec.size,
         (unsigned long)MAX_SAVED_CONTENTS);
    return;
  }
  uint8_t *dst = arena_reserve(e->rec.size);
  if (!dst) return;
  uint64_t got = 0;
  while (got < e->rec.size) {
    long r = d_pread(fd, dst + got, e->rec.size - got, (long)got);
    if (r <= 0) break;
    got += (uint64_t)r;
  }
  e->data_off = arena_len;
  e->rec.data_len = (uint32_t)got;
  e->rec.flags |= DMTCP_FD_F_CONTENTS;
  arena_len += got;
}

/* Reads the descriptors of this process. `pairs` (real pid, virtual pid) name every process of the computation. */
int fds_capture(const uint32_t *pairs, int n_pairs)
{
  static int list[MAX_FDS];
  int dirfd = -1;
  fds_release();
  scan_peers(pairs, n_pairs);
  n_own_links = -1;
  sockets_begin_capture();
  long n = list_fds("/proc/self/fd", list, MAX_FDS, &dirfd);
  if (n < 0) return -1;
  int self = (int)d_getpid(), vself = vid_self_pid();
  int save_open_files = g_cfg.ckpt_open_files;
  n_fds = 0;
  for (long i = 0; i < n && n_fds < MAX_FDS; i++) {
    int fd = list[i];
    if (fd == dirfd || is_protected(fd)) continue;
    struct fd_entry *e = &fds[n_fds];
    __builtin_memset(&e->rec, 0, sizeof e->rec);
    if (link_of(0, fd, e->path, sizeof e->path) <= 0) continue;
    struct stat st;
    if (dsys2(__NR_fstat, fd, (long)&st) < 0) continue;
    e->rec.fd = fd;
    e->rec.kind = classify(e->path, &st);
    e->rec.mode = st.st_mode;
    e->rec.dev = st.st_dev;
    e->rec.ino = st.st_ino;
    e->rec.size = (uint64_t)st.st_size;
    e->rec.mtime_sec = st.st_mtim.tv_sec;
    e->rec.mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
    long fdfl = dsys2(__NR_fcntl, fd, F_GETFD);
    if (fdfl > 0 && (fdfl & FD_CLOEXEC)) e->rec.flags |= DMTCP_FD_F_CLOEXEC;
    e->rec.file_flags = (uint32_t)dsys2(__NR_fcntl, fd, F_GETFL);
    long off = d_lseek(fd, 0, 1 /* SEEK_CUR */);
    e->rec.offset = off < 0 ? 0 : off;
    if (e->rec.kind == DMTCP_FD_PIPE) e->rec.ino = bracket_number(e->path);
    /* The open file description: the first descriptor (lowest virtual pid, then fd) that shares it. */
    e->rec.owner_vpid = (uint32_t)vself;
    e->rec.owner_fd = fd;
    for (int k = 0; k < n_fds; k++) {
      if (kcmp_same(self, self, fd, fds[k].rec.fd)) {
        e->rec.owner_vpid = fds[k].rec.owner_vpid;
        e->rec.owner_fd = fds[k].rec.owner_fd;
        break;
      }
    }
    uint32_t h = hash_str(e->path);
    int is_write = (e->rec.file_flags & O_ACCMODE) != O_RDONLY;
    int other_end_inside = 0;
    for (int k = 0; k < n_peer_fds; k++) {
      struct peer_fd *p = &peer_fds[k];
      if (p->link_hash != h) continue;
      if (e->rec.kind == DMTCP_FD_PIPE && p->write_end != is_write) other_end_inside = 1;
      if ((uint32_t)p->vpid < e->rec.owner_vpid || ((uint32_t)p->vpid == e->rec.owner_vpid && p->fd < e->rec.owner_fd)) {
        if (kcmp_same(self, p->pid, fd, p->fd)) {
          e->rec.owner_vpid = (uint32_t)p->vpid;
          e->rec.owner_fd = p->fd;
        }
      }
    }
    if (e->rec.kind == DMTCP_FD_PIPE && !other_end_inside) {
      /* The other end may be one of our own descriptors. */
      for (int k = 0; k < n_fds; k++) {
        if (fds[k].rec.kind == DMTCP_FD_PIPE && fds[k].rec.ino == e->rec.ino &&
            ((fds[k].rec.file_flags & O_ACCMODE) != O_RDONLY) != is_write) {
          other_end_inside = 1;
        }
      }
      for (long j = i + 1; j < n && !other_end_inside; j++) {
        char link[64];
        if (link_of(0, list[j], link, sizeof link) > 0 && hash_str(link) == h) {
          long fl = dsys2(__NR_fcntl, list[j], F_GETFL);
          if (fl >= 0 && (((fl & O_ACCMODE) != O_RDONLY) != is_write)) other_end_inside = 1;
        }
      }
      if (!other_end_inside) e->rec.flags |= DMTCP_FD_F_OUTSIDE;
    }
    if (e->rec.kind == DMTCP_FD_DELETED || (save_open_files && e->rec.kind == DMTCP_FD_REG)) save_contents(e, fd);
    if (e->rec.kind == DMTCP_FD_TTY) save_tty(e, fd, &st);
    if (e->rec.kind >= DMTCP_FD_EPOLL && e->rec.kind <= DMTCP_FD_INOTIFY) save_event_state(e, fd);
    if (e->rec.kind == DMTCP_FD_SOCKET) sockets_capture(e, fd);
    if (e->rec.kind == DMTCP_FD_PTY_MASTER) {
      unsigned int ptn = 0;
      e->rec.size = dsys3(__NR_ioctl, fd, TIOCGPTN, (long)&ptn) == 0 ? ptn : DMTCP_TTY_NOT_PTS;
    }
    n_fds++;
  }
  return 0;
}

/* Takes the bytes in flight out of every pipe whose read end's description this process owns, keeping them with the
 * record; the pipe is refilled after the checkpoint and recreated full at restart. */
int fds_owns(const struct fd_entry *e)
{
  return (int)e->rec.owner_vpid == vid_self_pid() && e->rec.owner_fd == e->rec.fd;
}

void fds_drain(void)
{
  for (int i = 0; i < n_fds; i++) {
    struct fd_entry *e = &fds[i];
    if (e->rec.kind != DMTCP_FD_PIPE || (e->rec.file_flags & O_ACCMODE) != O_RDONLY) continue;
    if (!fds_owns(e)) continue;
    int avail = 0;
    if (dsys3(__NR_ioctl, e->rec.fd, FIONREAD, (long)&avail) < 0 || avail <= 0) continue;
    uint8_t *dst = arena_reserve((uint64_t)avail);
    if (!dst) continue;
    long got = d_read(e->rec.fd, dst, (size_t)avail);   /* `avail` bytes are there: this does not block */
    if (got <= 0) continue;
    e->data_off = arena_len;
    e->rec.data_len = (uint32_t)got;
    e->rec.flags |= DMTCP_FD_F_DRAINED;
    arena_len += (uint64_t)got;
  }
}

/* Puts drained bytes back (after a checkpoint, in the same process): through a second description of the pipe opened
 * for writing via /proc, since this process may hold only the read end. */
void fds_refill(void)
{
  for (int i = 0; i < n_fds; i++) {
    struct fd_entry *e = &fds[i];
    if (!(e->rec.flags & DMTCP_FD_F_DRAINED) || !e->rec.data_len) continue;
    char path[64];
    dfmt(path, sizeof path, "/proc/self/fd/%d", e->rec.fd);
    long w = d_open(path, O_WRONLY | O_CLOEXEC, 0);
    if (w < 0) {
      dlog("warning: cannot refill pipe on fd %d (%ld); %u bytes lost", e->rec.fd, w, e->rec.data_len);
      continue;
    }
    d_write_all((int)w, arena + e->data_off, e->rec.data_len);
    d_close((int)w);
    e->rec.flags &= ~DMTCP_FD_F_DRAINED;
  }
  sockets_refill();
  fds_release();
}

void fds_write_records(struct stream_out *o)
{
  static uint8_t body[sizeof(struct dmtcp_rec_fd) + DMTCP_MAX_PATH + 8];
  static const uint8_t zeros[8];
  for (int i = 0; i < n_fds; i++) {
    struct fd_entry *e = &fds[i];
    uint32_t plen = 0;
    while (e->path[plen]) plen++;
    e->rec.path_len = plen + 1;
    uint32_t head = (uint32_t)sizeof e->rec + e->rec.path_len;
    uint32_t total = head + e->rec.data_len;
    __builtin_memcpy(body, &e->rec, sizeof e->rec);
    __builtin_memcpy(body + sizeof e->rec, e->path, e->rec.path_len);
    struct dmtcp_rec r = { DMTCP_REC_FD, DMTCP_REC_ALIGN(total) };
    out_bytes(o, &r, sizeof r);
    out_bytes(o, body, head);
    if (e->rec.data_len) out_bytes(o, arena + e->data_off, e->rec.data_len);
    if (r.len != total) out_bytes(o, zeros, r.len - total);
  }
}

/* ---- restart: what the restorer leaves to us ---- */

/* Watches again in the order of their numbers; numbers the program had removed are used up by a watch added and
 * removed at once, so every watch gets its old number back. */
static void restore_watches(int fd, const struct fd_entry *e)
{
  const uint8_t *data = arena + e->data_off;
  for (uint64_t at = 0; at + 12 <= e->rec.data_len;) {
    int32_t wd;
    uint32_t mask, len;
    __builtin_memcpy(&wd, data + at, 4);
    __builtin_memcpy(&mask, data + at + 4, 4);
    __builtin_memcpy(&len, data + at + 8, 4);
    const char *path = (const char *)data + at + 12;
    at += 12 + ((len + 3) & ~3u);
    for (int tries = 0; tries < 4096; tries++) {
      long got = dsys3(__NR_inotify_add_watch, fd, (long)path, mask);
      if (got < 0) {
        dlog("warning: inotify fd %d: cannot watch %s again (errno %ld)", e->rec.fd, path, -got);
        break;
      }
      if (got >= wd) {
        if (got != wd) dlog("warning: inotify fd %d: %s is watch %ld now, was %d", e->rec.fd, path, got, wd);
        break;
      }
      dsys2(__NR_inotify_rm_watch, fd, got);
    }
  }
}

static int recreate_event(const struct fd_entry *e)
{
  const uint8_t *data = arena + e->data_off;
  int nonblock = (e->rec.file_flags & O_NONBLOCK) ? O_NONBLOCK : 0;
  long fd = -1;
  switch (e->rec.kind) {
  case DMTCP_FD_EVENTFD: {
    struct dmtcp_eventfd_state st = { 0, 0, 0 };
    if (e->rec.data_len >= sizeof st) __builtin_memcpy(&st, data, sizeof st);
    fd = dsys2(__NR_eventfd2, 0, O_CLOEXEC | nonblock | (st.semaphore ? 1 /* EFD_SEMAPHORE */ : 0));
    if (fd >= 0 && st.count) d_write((int)fd, &st.count, sizeof st.count);
    break;
  }
  case DMTCP_FD_SIGNALFD: {
    uint64_t mask = 0;
    if (e->rec.data_len >= sizeof mask) __builtin_memcpy(&mask, data, sizeof mask);
    fd = dsys4(__NR_signalfd4, -1, (long)&mask, 8, O_CLOEXEC | nonblock);
    break;
  }
  case DMTCP_FD_TIMERFD: {
    struct dmtcp_timerfd_state st;
    __builtin_memset(&st, 0, sizeof st);
    st.clockid = 1;
    if (e->rec.data_len >= sizeof st) __builtin_memcpy(&st, data, sizeof st);
    fd = dsys2(__NR_timerfd_create, st.clockid, O_CLOEXEC | nonblock);
    if (fd < 0) break;
    int64_t its[4] = { st.interval_sec, st.interval_nsec, st.value_sec, st.value_nsec };
    /* Expirations the program had not read yet arrive again as one expiry right away. */
    if (st.ticks && !its[2] && !its[3]) its[3] = 1;
    dsys4(__NR_timerfd_settime, fd, 0, (long)its, 0);
    break;
  }
  case DMTCP_FD_EPOLL:
    fd = dsys1(__NR_epoll_create1, O_CLOEXEC);
    break;
  case DMTCP_FD_INOTIFY:
    fd = dsys1(__NR_inotify_init1, O_CLOEXEC | nonblock);
    if (fd >= 0) restore_watches((int)fd, e);
    break;
  default:
    return -1;
  }
  return (int)fd;
}

/* Watches again what epoll instance e watched. `again`: after sockets were rebuilt, a watch still in place is fine. */
static void register_epoll_items(int epfd, const struct fd_entry *e, int again)
{
  const struct dmtcp_epoll_item *items = (const struct dmtcp_epoll_item *)(arena + e->data_off);
  for (uint32_t i = 0; i < e->rec.data_len / sizeof *items; i++) {
    struct { uint32_t events; uint64_t data; } __attribute__((packed)) ev = { items[i].events, items[i].data };
    long r = dsys4(__NR_epoll_ctl, epfd, 1 /* EPOLL_CTL_ADD */, items[i].fd, (long)&ev);
    if (r < 0 && !(again && r == -17 /* EEXIST */)) dlog("warning: epoll fd %d: cannot watch fd %d again (%ld)", e->rec.fd, items[i].fd, r);
  }
}

/* Event descriptors (eventfd, signalfd, timerfd, inotify, epoll) back at their numbers, from the records of the checkpoint:
 * the restorer rebuilt every other kind. Descriptors that shared one description share one again; epoll instances
 * come last, once what they watch exists. Sharing with another process is not rebuilt: each gets its own. */
void fds_restore_events(void)
{
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; i < n_fds; i++) {
      struct fd_entry *e = &fds[i];
      if (e->rec.kind < DMTCP_FD_EPOLL || e->rec.kind > DMTCP_FD_INOTIFY) continue;
      if ((e->rec.kind == DMTCP_FD_EPOLL) != (pass == 1)) continue;
      int fd;
      int first = -1;
      for (int k = 0; k < i; k++) {
        if (fds[k].rec.owner_vpid == e->rec.owner_vpid && fds[k].rec.owner_fd == e->rec.owner_fd &&
            fds[k].rec.kind == e->rec.kind) {
          first = fds[k].rec.fd;
          break;
        }
      }
      if (first >= 0) fd = (int)dsys1(__NR_dup, first);
      else fd = recreate_event(e);
      if (fd < 0) {
        dlog("warning: cannot recreate descriptor %d (%s): %d", e->rec.fd, e->path, fd);
        continue;
      }
      if (fd != e->rec.fd) {
        dsys3(__NR_dup3, fd, e->rec.fd, (e->rec.flags & DMTCP_FD_F_CLOEXEC) ? O_CLOEXEC : 0);
        d_close(fd);
      } else if (!(e->rec.flags & DMTCP_FD_F_CLOEXEC)) {
        dsys3(__NR_fcntl, fd, F_SETFD, 0);
      }
      if (e->rec.kind == DMTCP_FD_EPOLL && first < 0) register_epoll_items(e->rec.fd, e, 0);
    }
  }
}

int fds_count(void)
{
  return n_fds;
}

struct fd_entry *fds_entries(int *n)
{
  *n = n_fds;
  return fds;
}

uint8_t *fds_data(const struct fd_entry *e)
{
  return arena + e->data_off;
}

/* Replaces the record's data with head + tail, copied to the end of the arena (the old bytes stay, unused). */
void fds_set_data(struct fd_entry *e, const void *head, uint64_t head_len, const void *tail, uint64_t tail_len)
{
  uint8_t *p = arena_reserve(head_len + tail_len);
  if (!p) {
    dlog("warning: no memory to keep %llu bytes of descriptor %d's data", (unsigned long long)(head_len + tail_len), e->rec.fd);
    return;
  }
  __builtin_memcpy(p, head, head_len);
  if (tail_len) __builtin_memcpy(p + head_len, tail, tail_len);
  e->data_off = arena_len;
  e->rec.data_len = (uint32_t)(head_len + tail_len);
  arena_len += head_len + tail_len;
}

/* How many other processes of the computation hold a descriptor whose /proc link reads `link`. */
int fds_link_held(const char *link, int *self_holds)
{
  uint32_t h = hash_str(link);
  int count = 0, last_pid = -1;
  for (int k = 0; k < n_peer_fds; k++) {
    if (peer_fds[k].link_hash != h || peer_fds[k].pid == last_pid) continue;
    last_pid = peer_fds[k].pid;
    count++;
  }
  if (self_holds) {
    /* Our own links, read once per checkpoint: every socket asks. */
    static int list[MAX_FDS];
    static char mine[64];
    if (n_own_links < 0) {
      long n = list_fds("/proc/self/fd", list, MAX_FDS, 0);
      n_own_links = 0;
      for (long i = 0; i < n; i++) {
        if (link_of(0, list[i], mine, sizeof mine) > 0) own_link_hash[n_own_links++] = hash_str(mine);
      }
    }
    *self_holds = 0;
    for (int i = 0; i < n_own_links && !*self_holds; i++) *self_holds = own_link_hash[i] == h;
  }
  return count;
}

/* After sockets were rebuilt (some replaced by new ones): every epoll instance watches its descriptors again. */
void fds_restore_epoll_again(void)
{
  for (int i = 0; i < n_fds; i++) {
    if (fds[i].rec.kind == DMTCP_FD_EPOLL) register_epoll_items(fds[i].rec.fd, &fds[i], 1);
  }
}
