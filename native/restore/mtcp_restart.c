/* mtcp_restart.c: the static, libc-free restorer that turns a raw process stream back into a running process.
 *
 * Algorithm:
 *   1. _start moves onto a stack inside our own image. We are linked at RESTORER_BASE, a range every process under
 *      checkpoint control keeps reserved, so nothing we must restore can overlap our code, data or stack.
 *   2. Read the stream header, the PROCESS record and every AREA record (the full address-space plan) from the
 *      stream fd that dmtcp_restart set up. The pipeline decoder writes the stream; we never see the image file.
 *   3. Clear the way: unmap the stack the kernel gave us, and move our own [vvar]/[vvar_vclock]/[vdso] block to the
 *      address the program had, so the program's cached vDSO pointers stay valid (via a scratch slot in our hole when
 *      the old and new places overlap). ASLR placed them randomly; after this only our fixed image remains.
 *   4. Map every area at its original address: anonymous areas zero-filled, file areas from the current file
 *      (MAP_FIXED_NOREPLACE, so a collision is reported instead of silently clobbering).
 *   5. Read DATA records straight into place and zero-fill ZERO ranges, then give every area its final protection.
 *      With --ack-fd the decoder may instead write decoded pages into our memory itself (process_vm_writev): we open
 *      the areas for writing, allow it in (PR_SET_PTRACER) and send it our pid, then wait for END on the stream.
 *      For a lazy restore we also offer a userfaultfd; a LAZY record names the areas to register with it, which the
 *      decoder fills after we have gone on (docs/ARCHITECTURE.md, "Lazy restore").
 *   6. Give the kernel back the program's brk, stack, argv/env and auxv bookkeeping with PR_SET_MM_MAP (allowed
 *      without privileges when the executable link is unchanged), close the stream, and jump to the restart entry
 *      of the capture library (now mapped where it was) with a struct dmtcp_restart_info. The library unmaps us,
 *      re-reserves our hole, recreates the threads and returns into the program.
 * Any failure before step 6 prints one line "mtcp_restart: ..." on stderr and exits with a code from enum exit_code.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stddef.h>
#include <linux/mman.h>
#include <asm/mman.h>
#include <linux/prctl.h>
#include <linux/fcntl.h>
#include <linux/ioctl.h>
#include <linux/userfaultfd.h>

#include "../include/dmtcp_sys.h"
#include "../include/dmtcp_stream.h"
#include "../include/dmtcp_layout.h"
#include "restorer.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif


/* ---- freestanding helpers (the compiler may emit calls to these) ---- */

void *memcpy(void *dst, const void *src, size_t n)
{
  char *d = dst;
  const char *s = src;
  while (n--) *d++ = *s++;
  return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
  char *d = dst;
  const char *s = src;
  if (d < s) {
    while (n--) *d++ = *s++;
  } else {
    while (n--) d[n] = s[n];
  }
  return dst;
}

void *memset(void *dst, int c, size_t n)
{
  char *d = dst;
  while (n--) *d++ = (char)c;
  return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
  const unsigned char *x = a, *y = b;
  for (; n; n--, x++, y++) {
    if (*x != *y) return *x - *y;
  }
  return 0;
}

int str_eq(const char *a, const char *b)
{
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

static int starts_with(const char *s, const char *prefix)
{
  while (*prefix) {
    if (*s++ != *prefix++) return 0;
  }
  return 1;
}

/* Page-sized zero fill that the compiler cannot turn back into a call to itself. */
static void zero_fill(void *dst, size_t n)
{
  uint64_t *d = dst;
  for (size_t i = 0; i < n / 8; i++) d[i] = 0;
}

/* ---- diagnostics: one line on stderr ---- */

static char msg_buf[1024];
static size_t msg_len;

void msg_str(const char *s)
{
  while (*s && msg_len < sizeof msg_buf - 2) msg_buf[msg_len++] = *s++;
}

void msg_hex(uint64_t v)
{
  char tmp[19];
  int n = 0;
  tmp[n++] = '0';
  tmp[n++] = 'x';
  int started = 0;
  for (int shift = 60; shift >= 0; shift -= 4) {
    int digit = (v >> shift) & 15;
    if (digit || started || shift == 0) {
      tmp[n++] = "0123456789abcdef"[digit];
      started = 1;
    }
  }
  tmp[n] = 0;
  msg_str(tmp);
}

void msg_dec(int64_t v)
{
  char tmp[24];
  int n = 23;
  int neg = v < 0;
  uint64_t u = neg ? (uint64_t)(-v) : (uint64_t)v;
  tmp[n] = 0;
  do {
    tmp[--n] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (neg) tmp[--n] = '-';
  msg_str(tmp + n);
}

void msg_begin(void)
{
  msg_len = 0;
  msg_str("mtcp_restart: ");
}

__attribute__((noreturn)) void msg_fail(int code)
{
  msg_buf[msg_len++] = '\n';
  d_write_all(2, msg_buf, msg_len);
  d_exit_group(code);
}

static int verbose;

static void msg_note(void)
{
  if (verbose) {
    msg_buf[msg_len++] = '\n';
    d_write_all(2, msg_buf, msg_len);
  }
}

/* ---- state, all in our own image ---- */

struct plan_area {
  struct dmtcp_rec_area rec;
  uint32_t path_off;                   /* into path_pool */
  uint32_t cur_prot;                   /* protection as currently mapped */
};

static struct plan_area areas[DMTCP_MAX_AREAS];
static uint32_t n_areas;
static char path_pool[4u << 20];
static uint32_t path_used;
static struct dmtcp_rec_process proc;
static struct dmtcp_restart_info info;
static int stream_fd = -1;
static int ack_fd = -1;                /* tells the decoder our areas are mapped and writable (direct writes) */
static int uffd = -1;                  /* lazy restore: our userfaultfd, until the decoder has taken it */
static int lazy_pipe[2] = { -1, -1 };  /* lazy restore: the library keeps [0]; the decoder takes [1], closes it when done */
static int ptracer_pid;                /* the decoder, allowed to write our memory under Yama ptrace_scope=1 */
static int plan_fd = -1;               /* the restart plan: the process tree and descriptors (plan.c) */
static uint64_t stream_pos;            /* bytes consumed, for error messages */
static char scratch[1u << 16];

/* 1 MiB stack for us, and a separate one for the jump into the library (it switches again at once). */
__attribute__((aligned(64))) char restorer_stack[1u << 20];
extern char restorer_stack_top[] __asm__("restorer_stack_top");
__asm__(".globl restorer_stack_top\n.set restorer_stack_top, restorer_stack + 1048576");
__attribute__((aligned(64))) static char jump_stack[1u << 16];

extern void restorer_jump(uint64_t entry, void *arg, void *stack_top) __attribute__((noreturn));
extern char __executable_start[], _end[];

/* ---- stream reading ---- */

static void stream_fail(const char *what)
{
  msg_begin();
  msg_str("restore stream: ");
  msg_str(what);
  msg_str(" at offset ");
  msg_dec((int64_t)stream_pos);
  msg_fail(EXIT_STREAM);
}

static void stream_read(void *buf, size_t n)
{
  long r = d_read_all(stream_fd, buf, n);
  if (r == -61) stream_fail("ended early (truncated image or decoder stopped)");
  if (r < 0) {
    msg_begin();
    msg_str("reading restore stream failed, errno ");
    msg_dec(-r);
    msg_fail(EXIT_STREAM);
  }
  stream_pos += n;
}

static void stream_skip(size_t n)
{
  while (n > 0) {
    size_t chunk = n < sizeof scratch ? n : sizeof scratch;
    stream_read(scratch, chunk);
    n -= chunk;
  }
}

/* An ERROR record from the decoder: print its message as ours and stop. */
static __attribute__((noreturn)) void stream_error_record(uint32_t len)
{
  size_t take = len < sizeof scratch - 1 ? len : sizeof scratch - 1;
  stream_read(scratch, take);
  scratch[take] = 0;
  msg_begin();
  msg_str(scratch);
  msg_fail(EXIT_STREAM);
}

static void read_header(void)
{
  struct dmtcp_stream_header h;
  stream_read(&h, sizeof h);
  if (memcmp(h.magic, DMTCP_STREAM_MAGIC, 8) != 0) stream_fail("bad magic, expected DMTCPRAW");
  if (h.version != DMTCP_STREAM_VERSION) stream_fail("unsupported stream version");
  if (h.arch != 62) stream_fail("stream is not for x86_64");
  if (h.page_size != DMTCP_PAGE_SIZE) stream_fail("page size differs from this machine's 4096");
  if (h.header_size > sizeof h) stream_skip(h.header_size - sizeof h);
}

static void read_area(uint32_t len)
{
  if (n_areas >= DMTCP_MAX_AREAS) stream_fail("too many areas");
  if (len < sizeof(struct dmtcp_rec_area)) stream_fail("short AREA record");
  struct plan_area *a = &areas[n_areas];
  stream_read(&a->rec, sizeof a->rec);
  uint32_t rest = len - sizeof a->rec;
  if (a->rec.path_len > rest || a->rec.path_len > DMTCP_MAX_PATH) stream_fail("AREA path length out of range");
  if (path_used + a->rec.path_len + 1 > sizeof path_pool) stream_fail("area paths exceed the restorer's pool");
  a->path_off = path_used;
  stream_read(path_pool + path_used, a->rec.path_len);
  path_pool[path_used + a->rec.path_len] = 0;
  path_used += a->rec.path_len + 1;
  stream_skip(rest - a->rec.path_len);
  if ((a->rec.start | a->rec.end) & (DMTCP_PAGE_SIZE - 1) || a->rec.end <= a->rec.start) {
    stream_fail("AREA with unaligned or empty range");
  }
  n_areas++;
}

/* Reads up to and including the last AREA record. */
static void read_plan(void)
{
  int have_process = 0;
  for (;;) {
    if (have_process && n_areas == proc.n_areas) return;
    struct dmtcp_rec r;
    stream_read(&r, sizeof r);
    switch (r.type) {
    case DMTCP_REC_PROCESS:
      if (r.len < sizeof proc) stream_fail("short PROCESS record");
      stream_read(&proc, sizeof proc);
      stream_skip(r.len - sizeof proc);
      if (proc.n_areas == 0 || proc.n_areas > DMTCP_MAX_AREAS) stream_fail("PROCESS record has a bad area count");
      have_process = 1;
      break;
    case DMTCP_REC_AREA:
      if (!have_process) stream_fail("AREA before PROCESS");
      read_area(r.len);
      break;
    case DMTCP_REC_RESTART:
      if (r.len > sizeof info.blob) stream_fail("RESTART record too large");
      stream_read(info.blob, r.len);
      info.blob_len = r.len;
      break;
    case DMTCP_REC_ERROR:
      stream_error_record(r.len);
    default:
      stream_skip(r.len);      /* THREAD and unknown records carry nothing the restorer needs */
      break;
    }
  }
}

/* ---- our own address space ---- */

struct own_region {
  uint64_t lo, hi;
};

static struct own_region own_stack, own_vvar, own_vclock, own_vdso;

static uint64_t parse_hex(const char **p)
{
  uint64_t v = 0;
  for (;;) {
    char c = **p;
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else break;
    v = v * 16 + (uint64_t)d;
    (*p)++;
  }
  return v;
}

static void scan_own_maps(void)
{
  static char buf[1u << 16];
  long fd = d_open("/proc/self/maps", O_RDONLY, 0);
  if (fd < 0) {
    msg_begin();
    msg_str("cannot open /proc/self/maps");
    msg_fail(EXIT_LAYOUT);
  }
  size_t used = 0;
  for (;;) {
    long r = d_read((int)fd, buf + used, sizeof buf - 1 - used);
    if (r <= 0) break;
    used += (size_t)r;
  }
  d_close((int)fd);
  buf[used] = 0;
  const char *p = buf;
  while (*p) {
    const char *line = p;
    uint64_t lo = parse_hex(&p);
    p++;
    uint64_t hi = parse_hex(&p);
    const char *name = line;
    while (*p && *p != '\n') {
      if (*p == '[') name = p;
      p++;
    }
    if (*p == '\n') p++;
    struct own_region *slot = 0;
    if (*name == '[') {
      if (starts_with(name, "[stack]")) slot = &own_stack;
      else if (starts_with(name, "[vvar_vclock]")) slot = &own_vclock;
      else if (starts_with(name, "[vvar]")) slot = &own_vvar;
      else if (starts_with(name, "[vdso]")) slot = &own_vdso;
    }
    if (slot) {
      slot->lo = lo;
      slot->hi = hi;
    }
  }
}

static const struct plan_area *find_kind(uint32_t kind)
{
  for (uint32_t i = 0; i < n_areas; i++) {
    if (areas[i].rec.kind == kind) return &areas[i];
  }
  return 0;
}

static int overlaps(uint64_t lo1, uint64_t hi1, uint64_t lo2, uint64_t hi2)
{
  return lo1 < hi2 && lo2 < hi1;
}

static void check_collisions(void)
{
  uint64_t own_lo = (uint64_t)__executable_start, own_hi = RESTORER_BASE + RESTORER_SIZE;
  for (uint32_t i = 0; i < n_areas; i++) {
    const struct dmtcp_rec_area *a = &areas[i].rec;
    if (a->backing == DMTCP_BACK_NONE) continue;
    if (overlaps(a->start, a->end, own_lo, own_hi)) {
      msg_begin();
      msg_str("area ");
      msg_hex(a->start);
      msg_str("-");
      msg_hex(a->end);
      msg_str(" overlaps the restorer's reserved range ");
      msg_hex(own_lo);
      msg_str("-");
      msg_hex(own_hi);
      msg_str("; the program mapped memory there itself and cannot be restored");
      msg_fail(EXIT_LAYOUT);
    }
  }
}

static uint32_t fnv1a(const unsigned char *p, size_t n)
{
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 16777619u;
  }
  return h;
}

static void move_region(uint64_t from, uint64_t to, uint64_t len, const char *what)
{
  if (from == to) return;
  long r = d_mremap((void *)from, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)to);
  if (r < 0) {
    msg_begin();
    msg_str("cannot move ");
    msg_str(what);
    msg_str(" to ");
    msg_hex(to);
    msg_str(", errno ");
    msg_dec(-r);
    msg_fail(EXIT_LAYOUT);
  }
}

/* Moves our [vvar], [vvar_vclock] and [vdso] so they sit where the program's were, keeping their relative layout. */
static void place_vdso_block(void)
{
  const struct plan_area *vdso = find_kind(DMTCP_AREA_VDSO);
  const struct plan_area *vvar = find_kind(DMTCP_AREA_VVAR);
  const struct plan_area *vclock = find_kind(DMTCP_AREA_VVAR_VCLOCK);
  if (!vdso) {
    /* The program had no vDSO (vdso=0 on its kernel); ours must not be left where program areas go. */
    if (own_vdso.hi) d_munmap((void *)own_vdso.lo, own_vdso.hi - own_vdso.lo);
    if (own_vvar.hi) d_munmap((void *)own_vvar.lo, own_vvar.hi - own_vvar.lo);
    if (own_vclock.hi) d_munmap((void *)own_vclock.lo, own_vclock.hi - own_vclock.lo);
    return;
  }
  if (!own_vdso.hi) {
    msg_begin();
    msg_str("this kernel maps no [vdso] but the program used one; restart on a kernel with the vDSO enabled");
    msg_fail(EXIT_LAYOUT);
  }
  uint64_t size = own_vdso.hi - own_vdso.lo;
  if (size != vdso->rec.end - vdso->rec.start ||
      (vvar && (!own_vvar.hi || own_vvar.hi - own_vvar.lo != vvar->rec.end - vvar->rec.start ||
                own_vdso.lo - own_vvar.lo != vdso->rec.start - vvar->rec.start)) ||
      (vclock && (!own_vclock.hi || own_vclock.hi - own_vclock.lo != vclock->rec.end - vclock->rec.start ||
                  own_vdso.lo - own_vclock.lo != vdso->rec.start - vclock->rec.start))) {
    msg_begin();
    msg_str("the vDSO layout of this kernel differs from the checkpointed one; restart on the same kernel version");
    msg_fail(EXIT_LAYOUT);
  }
  if (proc.vdso_hash && fnv1a((const unsigned char *)own_vdso.lo, size) != proc.vdso_hash) {
    msg_begin();
    msg_str("the vDSO of this kernel differs from the checkpointed one; restart on the same kernel version");
    msg_fail(EXIT_LAYOUT);
  }
  uint64_t block_lo = own_vvar.hi ? own_vvar.lo : own_vdso.lo;
  if (own_vclock.hi && own_vclock.lo < block_lo) block_lo = own_vclock.lo;
  uint64_t block_hi = own_vdso.hi;
  uint64_t target_lo = block_lo + (vdso->rec.start - own_vdso.lo);
  if (target_lo == block_lo) return;
  uint64_t delta_to_scratch = RESTORER_VDSO_SCRATCH - block_lo;
  int hop = overlaps(block_lo, block_hi, target_lo, target_lo + (block_hi - block_lo));
  struct own_region *parts[3] = { &own_vvar, &own_vclock, &own_vdso };
  const char *names[3] = { "[vvar]", "[vvar_vclock]", "[vdso]" };
  if (hop) {
    if (block_hi - block_lo > 0x100000) {
      msg_begin();
      msg_str("vDSO block larger than the scratch slot");
      msg_fail(EXIT_LAYOUT);
    }
    for (int i = 0; i < 3; i++) {
      if (!parts[i]->hi) continue;
      move_region(parts[i]->lo, parts[i]->lo + delta_to_scratch, parts[i]->hi - parts[i]->lo, names[i]);
      parts[i]->lo += delta_to_scratch;
      parts[i]->hi += delta_to_scratch;
    }
    block_lo += delta_to_scratch;
  }
  for (int i = 0; i < 3; i++) {
    if (!parts[i]->hi) continue;
    uint64_t to = target_lo + (parts[i]->lo - block_lo);
    move_region(parts[i]->lo, to, parts[i]->hi - parts[i]->lo, names[i]);
  }
}

/* ---- mapping the program's areas ---- */

static const char *area_path(const struct plan_area *a)
{
  return path_pool + a->path_off;
}

static __attribute__((noreturn)) void map_fail(const struct plan_area *a, const char *what, long err)
{
  msg_begin();
  msg_str(what);
  msg_str(" area ");
  msg_hex(a->rec.start);
  msg_str("-");
  msg_hex(a->rec.end);
  if (a->rec.path_len) {
    msg_str(" (");
    msg_str(area_path(a));
    msg_str(")");
  }
  msg_str(" failed, errno ");
  msg_dec(-err);
  msg_fail(EXIT_MAP);
}

static void map_area(struct plan_area *a)
{
  const struct dmtcp_rec_area *r = &a->rec;
  uint64_t len = r->end - r->start;
  int shared = (r->flags & DMTCP_AREA_F_SHARED) != 0;
  int writable = (r->prot & PROT_WRITE) != 0;
  int flags = MAP_FIXED_NOREPLACE | (shared ? MAP_SHARED : MAP_PRIVATE);
  int prot;
  int fd = -1;

  if (r->backing == DMTCP_BACK_FILE) {
    int oflags = (shared && writable) ? O_RDWR : O_RDONLY;
    long f = d_open(area_path(a), oflags | O_CLOEXEC, 0);
    if (f < 0) {
      msg_begin();
      msg_str("cannot open ");
      msg_str(area_path(a));
      msg_str(" (mapped at ");
      msg_hex(r->start);
      msg_str("), errno ");
      msg_dec(-f);
      msg_str("; the file the program mapped is gone");
      msg_fail(EXIT_FILE);
    }
    fd = (int)f;
    /* Private file areas may receive written pages, so they start writable; shared ones keep their protection. */
    prot = shared ? (int)r->prot : (int)(r->prot | PROT_READ | PROT_WRITE);
    if (!shared && !writable) flags |= MAP_NORESERVE;
  } else {
    flags |= MAP_ANONYMOUS;
    if (r->flags & DMTCP_AREA_F_GROWSDOWN) flags |= MAP_GROWSDOWN;
    if (writable) {
      prot = PROT_READ | PROT_WRITE;
      if (len >= (1ull << 30)) flags |= MAP_NORESERVE;
    } else {
      /* Read-only and PROT_NONE anonymous areas are often huge reservations; map them as they were and open them
       * for writing only if DATA arrives (MAP_NORESERVE keeps that from being charged as committed memory). */
      prot = (int)r->prot;
      flags |= MAP_NORESERVE;
    }
  }
  int sysv = 0, shared_handle = -1;
  if (r->kind == DMTCP_AREA_SHARED_ANON && (shared_handle = plan_shared_lookup(r->dev, r->ino, &sysv)) >= 0) {
    /* One object for every process that maps it (plan.c): map it again rather than a fresh anonymous area. */
    if (sysv) {
      long at = dsys3(__NR_shmat, shared_handle, (long)r->start, 0);
      if (at < 0) map_fail(a, "attaching System V shared memory for", at);
      if ((uint64_t)at != r->start) map_fail(a, "placing", -22);
      a->cur_prot = PROT_READ | PROT_WRITE;
      return;
    }
    fd = shared_handle;
    flags = MAP_FIXED_NOREPLACE | MAP_SHARED;
    prot = writable ? PROT_READ | PROT_WRITE : (int)r->prot;
  }
  long m = d_mmap((void *)r->start, len, prot, flags, fd, fd >= 0 ? (long)r->offset : 0);
  if (fd >= 0 && fd != shared_handle) d_close(fd);
  if (m < 0) {
    if (m == -17 /* EEXIST */) {
      msg_begin();
      msg_str("area ");
      msg_hex(r->start);
      msg_str("-");
      msg_hex(r->end);
      msg_str(" collides with a mapping of the restorer itself");
      msg_fail(EXIT_LAYOUT);
    }
    map_fail(a, "mapping", m);
  }
  if ((uint64_t)m != r->start) map_fail(a, "placing", -22);
  a->cur_prot = (uint32_t)prot;
}

static void ensure_writable(struct plan_area *a)
{
  if ((a->cur_prot & (PROT_READ | PROT_WRITE)) == (PROT_READ | PROT_WRITE)) return;
  long r = d_mprotect((void *)a->rec.start, a->rec.end - a->rec.start, PROT_READ | PROT_WRITE);
  if (r < 0) map_fail(a, "opening for writing", r);
  a->cur_prot = PROT_READ | PROT_WRITE;
}

static struct plan_area *pages_target(const struct dmtcp_rec_pages *pg)
{
  if (pg->area >= n_areas) stream_fail("page record names an unknown area");
  struct plan_area *a = &areas[pg->area];
  uint64_t len = a->rec.end - a->rec.start;
  if ((pg->offset | pg->length) & (DMTCP_PAGE_SIZE - 1) || pg->offset > len || pg->length > len - pg->offset) {
    stream_fail("page record outside its area");
  }
  if (a->rec.backing == DMTCP_BACK_NONE) stream_fail("page record for an area that is not restored");
  if ((a->rec.flags & DMTCP_AREA_F_SHARED) && a->rec.backing == DMTCP_BACK_FILE) {
    stream_fail("page record for a shared file area");
  }
  return a;
}

/* Lazy restore, first half: a userfaultfd (with the events that tell its reader about madvise, munmap and mremap)
 * and the pipe that will tell the library when every page is in. Without privileges for userfaultfd (vm.unprivileged_
 * userfaultfd=0 and no CAP_SYS_PTRACE) the decoder is told -1 and fills every page before we go on. */
static void open_lazy(void)
{
  long fd = dsys1(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return;
  struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_EVENT_REMOVE |
                                                         UFFD_FEATURE_EVENT_UNMAP };
  if (dsys3(__NR_ioctl, fd, (long)UFFDIO_API, (long)&api) < 0 || !(api.ioctls & (1ull << _UFFDIO_REGISTER)) ||
      dsys2(__NR_pipe2, (long)lazy_pipe, O_CLOEXEC) < 0) {
    d_close((int)fd);
    lazy_pipe[0] = lazy_pipe[1] = -1;
    return;
  }
  uffd = (int)fd;
}

/* Closes what is still ours of the lazy restore (the library's end of the pipe, once handed over, no longer is). */
static void close_lazy(void)
{
  if (uffd >= 0) d_close(uffd);
  if (lazy_pipe[0] >= 0) d_close(lazy_pipe[0]);
  if (lazy_pipe[1] >= 0) d_close(lazy_pipe[1]);
  uffd = lazy_pipe[0] = lazy_pipe[1] = -1;
}

/* Direct mode: every area that can receive pages is opened for writing, the decoder is allowed in, and told our pid;
 * it then writes decoded pages straight into place (process_vm_writev) while we wait for END (or LAZY) on the
 * stream. */
static void offer_direct_writes(void)
{
  if (ack_fd < 0) return;
  for (uint32_t i = 0; i < n_areas; i++) {
    struct plan_area *a = &areas[i];
    if (a->rec.backing == DMTCP_BACK_NONE) continue;
    if ((a->rec.flags & DMTCP_AREA_F_SHARED) && a->rec.backing == DMTCP_BACK_FILE) continue;
    ensure_writable(a);
  }
  if (ptracer_pid) d_prctl(PR_SET_PTRACER, ptracer_pid, 0, 0, 0);
  open_lazy();
  int32_t msg[4] = { DMTCP_ACK_READY, (int32_t)d_getpid(), uffd, lazy_pipe[1] };
  d_write_all(ack_fd, msg, sizeof msg);
  if (uffd < 0) {
    d_close(ack_fd);
    ack_fd = -1;
  }
}

/* What a userfaultfd in missing mode can fill: private anonymous memory. */
static int lazy_candidate(const struct plan_area *a)
{
  return a->rec.backing == DMTCP_BACK_ZERO && !(a->rec.flags & DMTCP_AREA_F_SHARED);
}

/* Lazy restore, second half: the decoder (which has taken copies of our userfaultfd and of the pipe's write end)
 * names the areas it fills after we resume; register them for missing-page faults and answer how many are. On any
 * failure none stays registered and the decoder fills them before sending END. */
static void register_lazy(uint32_t len)
{
  uint32_t n = 0;
  if (len < 4) stream_fail("short LAZY record");
  stream_read(&n, 4);
  if (n > n_areas || len < 4 + 4ull * n) stream_fail("LAZY record names more areas than the stream has");
  int32_t status = uffd >= 0 ? 0 : -9 /* EBADF */;
  for (uint32_t k = 0; k < n; k++) {
    uint32_t idx;
    stream_read(&idx, 4);
    if (idx >= n_areas) stream_fail("LAZY record names an unknown area");
    if (status < 0) continue;
    struct plan_area *a = &areas[idx];
    if (!lazy_candidate(a)) {
      stream_fail("LAZY record names an area that is not private anonymous memory");
    }
    struct uffdio_register reg = { .range = { a->rec.start, a->rec.end - a->rec.start }, .mode = UFFDIO_REGISTER_MODE_MISSING };
    long r = dsys3(__NR_ioctl, uffd, (long)UFFDIO_REGISTER, (long)&reg);
    if (r >= 0 && !(reg.ioctls & (1ull << _UFFDIO_COPY))) r = -95 /* EOPNOTSUPP */;
    if (r < 0) {
      status = (int32_t)r;
      for (uint32_t j = 0; j < n_areas; j++) {
        struct plan_area *b = &areas[j];
        if (!lazy_candidate(b)) continue;
        struct uffdio_range range = { b->rec.start, b->rec.end - b->rec.start };
        dsys3(__NR_ioctl, uffd, (long)UFFDIO_UNREGISTER, (long)&range);
      }
      continue;
    }
    status++;
  }
  stream_skip(len - 4 - 4ull * n);
  int32_t msg[4] = { DMTCP_ACK_LAZY, status, 0, 0 };
  if (ack_fd >= 0) {
    d_write_all(ack_fd, msg, sizeof msg);
    d_close(ack_fd);
    ack_fd = -1;
  }
  if (status > 0) {
    /* The program keeps a copy of the userfaultfd while pages come in: should the decoder die, a page it never
     * brought stays missing (the thread that touches it waits) instead of reading as zeros once no one holds it. */
    info.lazy_fd = lazy_pipe[0];
    info.lazy_uffd = uffd;
    lazy_pipe[0] = uffd = -1;
  }
  close_lazy();
}

static void read_pages(void)
{
  for (;;) {
    struct dmtcp_rec r;
    stream_read(&r, sizeof r);
    if (r.type == DMTCP_REC_END) {
      stream_skip(r.len);
      return;
    }
    if (r.type == DMTCP_REC_ERROR) stream_error_record(r.len);
    if (r.type == DMTCP_REC_LAZY) {
      register_lazy(r.len);
      continue;
    }
    if (r.type != DMTCP_REC_DATA && r.type != DMTCP_REC_ZERO) {
      stream_skip(r.len);
      continue;
    }
    struct dmtcp_rec_pages pg;
    if (r.len < sizeof pg) stream_fail("short page record");
    stream_read(&pg, sizeof pg);
    stream_skip(r.len - sizeof pg);
    struct plan_area *a = pages_target(&pg);
    ensure_writable(a);
    void *dst = (void *)(a->rec.start + pg.offset);
    if (r.type == DMTCP_REC_DATA) {
      stream_read(dst, pg.length);
    } else {
      zero_fill(dst, pg.length);
    }
  }
}

static void final_protection(void)
{
  for (uint32_t i = 0; i < n_areas; i++) {
    struct plan_area *a = &areas[i];
    if (a->rec.backing == DMTCP_BACK_NONE || a->cur_prot == a->rec.prot) continue;
    long r = d_mprotect((void *)a->rec.start, a->rec.end - a->rec.start, (int)a->rec.prot);
    if (r < 0) map_fail(a, "protecting", r);
  }
}

/* Gives the kernel the program's brk, stack and argument bookkeeping; without it brk stays where ours was. */
static int restore_mm_map(void)
{
  struct prctl_mm_map m;
  memset(&m, 0, sizeof m);
  m.start_code = proc.mm.start_code;
  m.end_code = proc.mm.end_code;
  m.start_data = proc.mm.start_data;
  m.end_data = proc.mm.end_data;
  m.start_brk = proc.mm.start_brk;
  m.brk = proc.mm.brk;
  m.start_stack = proc.mm.start_stack;
  m.arg_start = proc.mm.arg_start;
  m.arg_end = proc.mm.arg_end;
  m.env_start = proc.mm.env_start;
  m.env_end = proc.mm.env_end;
  if (proc.auxv_words) {
    m.auxv = (__u64 *)proc.auxv;
    m.auxv_size = proc.auxv_words * 8;
  }
  m.exe_fd = (uint32_t)-1;
  long r = d_prctl(PR_SET_MM, PR_SET_MM_MAP, (long)&m, sizeof m, 0);
  if (r < 0) {
    msg_begin();
    msg_str("PR_SET_MM_MAP failed (errno ");
    msg_dec(-r);
    msg_str("); brk stays where the restorer had it, malloc will fall back to mmap");
    msg_note();
    return 0;
  }
  return 1;
}

static void parse_args(long *sp)
{
  int argc = (int)sp[0];
  char **argv = (char **)(sp + 1);
  for (int i = 1; i < argc; i++) {
    int *target = 0;
    if (str_eq(argv[i], "--stream-fd")) target = &stream_fd;
    else if (str_eq(argv[i], "--ack-fd")) target = &ack_fd;
    else if (str_eq(argv[i], "--ptracer")) target = &ptracer_pid;
    else if (str_eq(argv[i], "--plan-fd")) target = &plan_fd;
    if (target && i + 1 < argc) {
      const char *s = argv[++i];
      int v = 0;
      while (*s >= '0' && *s <= '9') v = v * 10 + (*s++ - '0');
      *target = v;
    } else if (str_eq(argv[i], "--verbose")) {
      verbose = 1;
    } else {
      msg_begin();
      msg_str("unknown argument ");
      msg_str(argv[i]);
      msg_str("; this program is started by dmtcp_restart, not by hand");
      msg_fail(EXIT_USAGE);
    }
  }
  if (stream_fd < 0 && plan_fd < 0) {
    msg_begin();
    msg_str("missing --stream-fd or --plan-fd; this program is started by dmtcp_restart, not by hand");
    msg_fail(EXIT_USAGE);
  }
}

void restorer_main(long *sp) __attribute__((noreturn, used));
void restorer_main(long *sp)
{
  uint64_t all = ~0ull;
  d_rt_sigprocmask(0 /* SIG_BLOCK */, &all, 0);
  parse_args(sp);

  if ((uint64_t)_end > RESTORER_VDSO_SCRATCH) {
    msg_begin();
    msg_str("restorer image too large for its reserved range");
    msg_fail(EXIT_LAYOUT);
  }

  if (plan_fd >= 0) {
    /* Fork the process tree and put every descriptor in place; from here on this is one process of the plan. */
    struct plan_result me;
    plan_execute(plan_fd, &me);
    stream_fd = me.stream_fd;
    ack_fd = me.ack_fd;
    ptracer_pid = me.ptracer;
    info.n_zombies = (uint32_t)me.n_zombies;
    for (int i = 0; i < me.n_zombies && i < DMTCP_MAX_ZOMBIES; i++) {
      info.zombies[i][0] = me.zombies[i][0];
      info.zombies[i][1] = me.zombies[i][1];
    }
  }
  read_header();
  read_plan();
  check_collisions();
  scan_own_maps();
  /* Point of no return for our own layout: argv/envp lived on this stack and are not used after here. */
  if (own_stack.hi) d_munmap((void *)own_stack.lo, own_stack.hi - own_stack.lo);
  place_vdso_block();

  for (uint32_t i = 0; i < n_areas; i++) {
    if (areas[i].rec.backing != DMTCP_BACK_NONE) map_area(&areas[i]);
  }
  plan_close_shared();
  info.n_shmids = (uint32_t)plan_shared_sysv_ids(&info.shmids[0][0], DMTCP_MAX_SHMIDS);
  info.lazy_fd = info.lazy_uffd = -1;
  offer_direct_writes();
  read_pages();
  close_lazy();
  if (ack_fd >= 0) d_close(ack_fd);
  if (ptracer_pid) d_prctl(PR_SET_PTRACER, 0, 0, 0, 0);
  final_protection();
  info.brk_restored = restore_mm_map();
  d_close(stream_fd);

  info.magic = DMTCP_RESTART_INFO_MAGIC;
  info.version = DMTCP_RESTART_INFO_VERSION;
  info.restorer_lo = RESTORER_BASE;
  info.restorer_hi = RESTORER_BASE + RESTORER_SIZE;
  info.entry_arg = proc.entry_arg;
  restorer_jump(proc.entry, &info, jump_stack + sizeof jump_stack);
}
