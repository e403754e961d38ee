/* dmtcp_sys.h: raw x86_64 Linux system calls for code that must not touch libc (the restorer, signal and restart paths). */
#ifndef DMTCP_SYS_H
#define DMTCP_SYS_H

#include <stddef.h>
#include <stdint.h>
#include <asm/unistd.h>

/* Every call returns the kernel's raw result: a negative errno on failure, never touching `errno`. */
static inline long dsys0(long n)
{
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n) : "rcx", "r11", "memory");
  return r;
}
static inline long dsys1(long n, long a)
{
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a) : "rcx", "r11", "memory");
  return r;
}
static inline long dsys2(long n, long a, long b)
{
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b) : "rcx", "r11", "memory");
  return r;
}
static inline long dsys3(long n, long a, long b, long c)
{
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return r;
}
static inline long dsys4(long n, long a, long b, long c, long d)
{
  long r;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
  return r;
}
static inline long dsys5(long n, long a, long b, long c, long d, long e)
{
  long r;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8) : "rcx", "r11", "memory");
  return r;
}
static inline long dsys6(long n, long a, long b, long c, long d, long e, long f)
{
  long r;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return r;
}

#define D_IS_ERR(r) ((unsigned long)(r) > (unsigned long)-4096L)

static inline long d_read(int fd, void *buf, size_t n) { return dsys3(__NR_read, fd, (long)buf, (long)n); }
static inline long d_write(int fd, const void *buf, size_t n) { return dsys3(__NR_write, fd, (long)buf, (long)n); }
static inline long d_open(const char *path, int flags, int mode) { return dsys4(__NR_openat, -100, (long)path, flags, mode); }
static inline long d_close(int fd) { return dsys1(__NR_close, fd); }
static inline long d_lseek(int fd, long off, int whence) { return dsys3(__NR_lseek, fd, off, whence); }
static inline long d_pread(int fd, void *buf, size_t n, long off) { return dsys4(__NR_pread64, fd, (long)buf, (long)n, off); }
static inline long d_mmap(void *addr, size_t len, int prot, int flags, int fd, long off)
{
  return dsys6(__NR_mmap, (long)addr, (long)len, prot, flags, fd, off);
}
static inline long d_munmap(void *addr, size_t len) { return dsys2(__NR_munmap, (long)addr, (long)len); }
static inline long d_mprotect(void *addr, size_t len, int prot) { return dsys3(__NR_mprotect, (long)addr, (long)len, prot); }
static inline long d_mremap(void *old, size_t oldlen, size_t newlen, int flags, void *newaddr)
{
  return dsys5(__NR_mremap, (long)old, (long)oldlen, (long)newlen, flags, (long)newaddr);
}
static inline long d_getpid(void) { return dsys0(__NR_getpid); }
static inline long d_gettid(void) { return dsys0(__NR_gettid); }
static inline long d_tgkill(int tgid, int tid, int sig) { return dsys3(__NR_tgkill, tgid, tid, sig); }
static inline long d_prctl(int op, long a, long b, long c, long d) { return dsys5(__NR_prctl, op, a, b, c, d); }
static inline long d_arch_prctl(int code, long addr) { return dsys2(__NR_arch_prctl, code, addr); }
static inline long d_brk(void *addr) { return dsys1(__NR_brk, (long)addr); }
static inline long d_futex(int *uaddr, int op, int val, const void *timeout)
{
  return dsys6(__NR_futex, (long)uaddr, op, val, (long)timeout, 0, 0);
}
static inline long d_rt_sigprocmask(int how, const void *set, void *old)
{
  return dsys4(__NR_rt_sigprocmask, how, (long)set, (long)old, 8);
}
static inline long d_rt_sigaction(int sig, const void *act, void *old)
{
  return dsys4(__NR_rt_sigaction, sig, (long)act, (long)old, 8);
}
static inline long d_getdents64(int fd, void *buf, size_t n) { return dsys3(__NR_getdents64, fd, (long)buf, (long)n); }
static inline long d_nanosleep_ns(long ns)
{
  struct { long s, ns; } ts = { ns / 1000000000L, ns % 1000000000L };
  return dsys2(__NR_nanosleep, (long)&ts, 0);
}
static inline __attribute__((noreturn)) void d_exit_group(int code)
{
  for (;;) dsys1(__NR_exit_group, code);
}

/* Write the whole buffer, retrying short writes and EINTR; returns 0 or a negative errno. */
static inline long d_write_all(int fd, const void *buf, size_t n)
{
  const char *p = (const char *)buf;
  while (n > 0) {
    long r = d_write(fd, p, n);
    if (r == -4 /* EINTR */) continue;
    if (r < 0) return r;
    if (r == 0) return -5 /* EIO */;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

/* Read exactly n bytes; returns 0, -ENODATA (61) at a clean or short end of stream, or a negative errno. */
static inline long d_read_all(int fd, void *buf, size_t n)
{
  char *p = (char *)buf;
  while (n > 0) {
    long r = d_read(fd, p, n);
    if (r == -4 /* EINTR */) continue;
    if (r < 0) return r;
    if (r == 0) return -61 /* ENODATA */;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

#endif
