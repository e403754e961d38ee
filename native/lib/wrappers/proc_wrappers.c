/* proc_wrappers.c: /proc/<pid> and /proc/<pid>/task/<tid> paths name virtual ids in the program's eyes; after a
 * restart they are translated to the real ones before the path reaches the kernel. The calls covered are the ones
 * programs use to look at a process (open, fopen, opendir, stat, access, readlink); each goes straight through until
 * the first restart fills the id table. */
#define _LARGEFILE64_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wrappers.h"

#define PROC_PATH_MAX 4096

static int parse_id(const char **p)
{
  int v = 0;
  if (**p < '1' || **p > '9') return 0;
  while (**p >= '0' && **p <= '9') {
    v = v * 10 + (**p - '0');
    (*p)++;
  }
  return (**p == '/' || **p == 0) ? v : 0;
}

/* `path` itself, or the translated path written into buf. */
static const char *real_proc_path(const char *path, char *buf)
{
  if (!path || path[0] != '/' || !vid_any() || __builtin_strncmp(path, "/proc/", 6) != 0) return path;
  const char *p = path + 6;
  int pid = parse_id(&p);
  if (!pid) return path;
  int tid = 0;
  const char *rest = p;
  if (__builtin_strncmp(p, "/task/", 6) == 0) {
    const char *q = p + 6;
    tid = parse_id(&q);
    if (tid) rest = q;
  }
  int rpid = vid_to_real(pid), rtid = tid ? vid_to_real(tid) : 0;
  if (rpid == pid && rtid == tid) return path;
  size_t n;
  if (tid) n = (size_t)dfmt(buf, PROC_PATH_MAX, "/proc/%d/task/%d", rpid, rtid);
  else n = (size_t)dfmt(buf, PROC_PATH_MAX, "/proc/%d", rpid);
  if (n + __builtin_strlen(rest) + 1 > PROC_PATH_MAX) return path;
  __builtin_memcpy(buf + n, rest, __builtin_strlen(rest) + 1);
  return buf;
}

/* A call on a /proc/<id> path runs with signals held from the translation to the wrapper's return (WITHOUT_CKPT's
 * way; such calls never block), so a checkpoint cannot fall between them and send an old id to the kernel. */
struct held {
  int on;
  uint64_t mask;
};

static struct held hold_for(const char *path)
{
  struct held h = { 0, 0 };
  if (path && __builtin_strncmp(path, "/proc/", 6) == 0 && path[6] >= '1' && path[6] <= '9') {
    h.on = 1;
    h.mask = ckpt_signals_hold();
  }
  return h;
}

static void release_held(struct held *h)
{
  if (h->on) ckpt_signals_release(h->mask);
}

#define WITH_PATH(path) \
  char buf_[PROC_PATH_MAX]; \
  __attribute__((cleanup(release_held))) struct held held_ = hold_for(path); \
  const char *rp_ = real_proc_path(path, buf_)

static mode_t mode_arg(int flags, va_list ap)
{
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  WITH_PATH(path);
  return NEXT_FN(open)(rp_, flags, mode);
}

int open64(const char *path, int flags, ...)
{
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  WITH_PATH(path);
  return NEXT_FN(open64)(rp_, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  WITH_PATH(path);
  return NEXT_FN(openat)(dirfd, rp_, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  WITH_PATH(path);
  return NEXT_FN(openat64)(dirfd, rp_, flags, mode);
}

/* _FORTIFY_SOURCE builds call these. */
int __open_2(const char *path, int flags);
int __open_2(const char *path, int flags)
{
  WITH_PATH(path);
  return NEXT_FN(__open_2)(rp_, flags);
}

int __open64_2(const char *path, int flags);
int __open64_2(const char *path, int flags)
{
  WITH_PATH(path);
  return NEXT_FN(__open64_2)(rp_, flags);
}

FILE *fopen(const char *path, const char *mode)
{
  WITH_PATH(path);
  return NEXT_FN(fopen)(rp_, mode);
}

FILE *fopen64(const char *path, const char *mode)
{
  WITH_PATH(path);
  return NEXT_FN(fopen64)(rp_, mode);
}

DIR *opendir(const char *path)
{
  WITH_PATH(path);
  return NEXT_FN(opendir)(rp_);
}

ssize_t readlink(const char *path, char *out, size_t cap)
{
  WITH_PATH(path);
  return NEXT_FN(readlink)(rp_, out, cap);
}

int access(const char *path, int mode)
{
  WITH_PATH(path);
  return NEXT_FN(access)(rp_, mode);
}

int stat(const char *path, struct stat *st)
{
  WITH_PATH(path);
  return NEXT_FN(stat)(rp_, st);
}

int lstat(const char *path, struct stat *st)
{
  WITH_PATH(path);
  return NEXT_FN(lstat)(rp_, st);
}

int stat64(const char *path, struct stat64 *st)
{
  WITH_PATH(path);
  return NEXT_FN(stat64)(rp_, st);
}

int lstat64(const char *path, struct stat64 *st)
{
  WITH_PATH(path);
  return NEXT_FN(lstat64)(rp_, st);
}
