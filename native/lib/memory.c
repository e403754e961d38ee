/* memory.c: walks /proc/self/maps, decides how each area is kept (stored, left to its file, re-created by the
 * kernel) and streams the raw process stream: PROCESS, THREADs, every AREA, then page contents.
 *
 * Which pages are sent, decided per area with /proc/self/pagemap (bit 63 present, 62 swapped, 61 file page):
 *   private anonymous, heap, stack   present or swapped pages that are not all zero (DATA); the rest is zero
 *   private file mapping             pages the program wrote (anonymous copies: present without the file bit, or
 *                                    swapped), as DATA or explicit ZERO; untouched pages are left to the file
 *   deleted or replaced file         every page, since the file cannot be found again
 *   shared anonymous                 every non-zero page (another process's writes are not in our page table)
 *   shared file                      nothing: the kernel keeps the file itself up to date
 *   vdso, vvar, vsyscall, our hole   nothing: recorded so the restorer knows the layout
 * Runs only raw system calls and static buffers: every other thread is frozen and may hold libc locks. */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "dmtcp_lib.h"
#include "../include/dmtcp_sys.h"

#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)
#define PM_FILE (1ull << 61)
#define PAGEMAP_BATCH 8192                      /* entries per pagemap read: 32 MiB of address space */
#define MAX_RUN (8ull << 20)                    /* longest DATA record */

int g_hole_reserved;

struct area {
  struct dmtcp_rec_area rec;
  const char *path;                             /* into maps_text, NUL-terminated */
  int scan;                                     /* 0 none, 1 present pages, 2 dirty file pages, 3 every page */
};

static char maps_text[4u << 20];
static struct area areas[DMTCP_MAX_AREAS];
static int n_areas;
static uint64_t pagemap_buf[PAGEMAP_BATCH];
static struct dmtcp_rec_end totals;

void memory_reserve_restorer_hole(void)
{
  long r = d_mmap((void *)RESTORER_BASE, RESTORER_SIZE, PROT_NONE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
  g_hole_reserved = r == (long)RESTORER_BASE;
  if (!g_hole_reserved) {
    if (r >= 0) d_munmap((void *)r, RESTORER_SIZE);   /* an old kernel took the address as a mere hint */
    dlog("warning: cannot reserve %p for the restorer (%ld); restart fails if the program maps memory there",
         (void *)RESTORER_BASE, r);
  }
}

/* ---- parsing /proc/self/maps ---- */

static uint64_t hex_field(char **p)
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

static uint64_t dec_field(char **p)
{
  uint64_t v = 0;
  while (**p >= '0' && **p <= '9') v = v * 10 + (uint64_t)(*(*p)++ - '0');
  return v;
}

static int ends_with(const char *s, const char *suffix)
{
  size_t n = 0, m = 0;
  while (s[n]) n++;
  while (suffix[m]) m++;
  return n >= m && d_memeq(s + n - m, suffix, m);
}

static int begins_with(const char *s, const char *prefix)
{
  while (*prefix) {
    if (*s++ != *prefix++) return 0;
  }
  return 1;
}

static uint64_t encode_dev(uint64_t major, uint64_t minor)
{
  return ((major & 0xfffull) << 8) | ((major & ~0xfffull) << 32) | (minor & 0xffull) | ((minor & ~0xffull) << 12);
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

static int read_maps(char *err, size_t errcap)
{
  long fd = d_open("/proc/self/maps", O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) {
    dfmt(err, errcap, "cannot open /proc/self/maps (%ld)", fd);
    return -1;
  }
  size_t used = 0;
  for (;;) {
    long r = d_read((int)fd, maps_text + used, sizeof maps_text - 1 - used);
    if (r <= 0) break;
    used += (size_t)r;
    if (used >= sizeof maps_text - 1) {
      d_close((int)fd);
      dfmt(err, errcap, "/proc/self/maps is larger than %zu bytes", sizeof maps_text);
      return -1;
    }
  }
  d_close((int)fd);
  maps_text[used] = 0;
  return 0;
}

/* Fills in kind, backing and scan for one area from its name and flags. */
static void classify_kind(struct area *a, uint64_t inode);

/* A System V segment (maps name it /SYSV<key>, its inode is the shmid): its size and mode (SHM_DEST, 01000, once it
 * is removed) from /proc/sysvipc/shm, kept in file_size and mtime_nsec since a segment has no file. */
static void sysv_details(struct dmtcp_rec_area *r)
{
  static char text[1 << 16];
  long fd = d_open("/proc/sysvipc/shm", O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return;
  long used = 0, got;
  while (used < (long)sizeof text - 1 && (got = d_read((int)fd, text + used, sizeof text - 1 - used)) > 0) used += got;
  d_close((int)fd);
  text[used] = 0;
  const char *p = text;
  while (*p && *p != '\n') p++;          /* header */
  while (*p == '\n') {
    p++;
    uint64_t v[4] = { 0, 0, 0, 0 };       /* key, shmid, perms (octal), size */
    for (int f = 0; f < 4; f++) {
      while (*p == ' ') p++;
      int neg = *p == '-';
      if (neg) p++;
      while (*p >= '0' && *p <= '9') v[f] = v[f] * (f == 2 ? 8 : 10) + (uint64_t)(*p++ - '0');
      if (neg) v[f] = (uint64_t)-(int64_t)v[f];
    }
    if (v[1] == r->ino) {
      r->file_size = v[3];
      r->mtime_nsec = (uint32_t)v[2];
      return;
    }
    while (*p && *p != '\n') p++;
  }
}

static void classify(struct area *a, uint64_t inode)
{
  classify_kind(a, inode);
  struct dmtcp_rec_area *r = &a->rec;
  if (r->kind == DMTCP_AREA_SHARED_ANON && begins_with(a->path, "/SYSV")) sysv_details(r);
  if (r->kind == DMTCP_AREA_SHARED_ANON && fds_shared_elsewhere(r->dev, r->ino)) {
    r->flags |= DMTCP_AREA_F_SHARED_COPY;
    a->scan = 0;
  }
}

static void classify_kind(struct area *a, uint64_t inode)
{
  struct dmtcp_rec_area *r = &a->rec;
  const char *path = a->path;
  int shared = (r->flags & DMTCP_AREA_F_SHARED) != 0;
  r->backing = DMTCP_BACK_ZERO;
  a->scan = 1;
  if (path[0] == '[') {
    a->scan = 0;
    r->backing = DMTCP_BACK_NONE;
    if (begins_with(path, "[vdso]")) r->kind = DMTCP_AREA_VDSO;
    else if (begins_with(path, "[vvar_vclock]")) r->kind = DMTCP_AREA_VVAR_VCLOCK;
    else if (begins_with(path, "[vvar]")) r->kind = DMTCP_AREA_VVAR;
    else if (begins_with(path, "[vsyscall]")) r->kind = DMTCP_AREA_VSYSCALL;
    else {
      /* [heap], [stack], and named anonymous memory ([anon:name]) are ordinary anonymous areas. */
      r->backing = DMTCP_BACK_ZERO;
      a->scan = shared ? 3 : 1;
      if (begins_with(path, "[heap]")) r->kind = DMTCP_AREA_HEAP;
      else if (begins_with(path, "[stack]")) {
        r->kind = DMTCP_AREA_STACK;
        r->flags |= DMTCP_AREA_F_GROWSDOWN;
      } else r->kind = shared ? DMTCP_AREA_SHARED_ANON : DMTCP_AREA_ANON;
    }
    return;
  }
  if (g_hole_reserved && r->start == RESTORER_BASE && !path[0]) {
    r->kind = DMTCP_AREA_RESERVED;
    r->backing = DMTCP_BACK_NONE;
    a->scan = 0;
    return;
  }
  if (!path[0] || inode == 0) {
    r->kind = shared ? DMTCP_AREA_SHARED_ANON : DMTCP_AREA_ANON;
    a->scan = shared ? 3 : 1;
    return;
  }
  /* A file: is the one at `path` still the one mapped? Deleted, replaced, memfd and SysV files are kept whole. */
  struct stat st;
  int same = !ends_with(path, " (deleted)") && !begins_with(path, "/memfd:") &&
             dsys2(__NR_stat, (long)path, (long)&st) == 0 && st.st_ino == r->ino && st.st_dev == r->dev;
  if (!same || begins_with(path, "/dev/")) {
    r->kind = shared ? DMTCP_AREA_SHARED_ANON : DMTCP_AREA_DELETED_FILE;
    r->backing = DMTCP_BACK_ZERO;
    a->scan = 3;
    return;
  }
  r->file_size = (uint64_t)st.st_size;
  r->mtime_sec = st.st_mtim.tv_sec;
  r->mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
  r->backing = DMTCP_BACK_FILE;
  if (shared) {
    r->kind = DMTCP_AREA_FILE_SHARED;
    a->scan = 0;
  } else {
    r->kind = DMTCP_AREA_FILE;
    a->scan = 2;
  }
}

static int parse_maps(char *err, size_t errcap, uint32_t *vdso_hash)
{
  n_areas = 0;
  *vdso_hash = 0;
  char *p = maps_text;
  while (*p) {
    if (n_areas >= DMTCP_MAX_AREAS) {
      dfmt(err, errcap, "more than %d memory areas", DMTCP_MAX_AREAS);
      return -1;
    }
    struct area *a = &areas[n_areas];
    __builtin_memset(a, 0, sizeof *a);
    struct dmtcp_rec_area *r = &a->rec;
    r->start = hex_field(&p);
    p++;                                                  /* '-' */
    r->end = hex_field(&p);
    p++;
    r->prot = (p[0] == 'r' ? PROT_READ : 0) | (p[1] == 'w' ? PROT_WRITE : 0) | (p[2] == 'x' ? PROT_EXEC : 0);
    if (p[3] == 's') r->flags |= DMTCP_AREA_F_SHARED;
    p += 5;
    r->offset = hex_field(&p);
    p++;
    uint64_t major = hex_field(&p);
    p++;                                                  /* ':' */
    uint64_t minor = hex_field(&p);
    p++;
    uint64_t inode = dec_field(&p);
    r->dev = encode_dev(major, minor);
    r->ino = inode;
    while (*p == ' ') p++;
    a->path = p;
    while (*p && *p != '\n') p++;
    if (*p == '\n') *p++ = 0;
    size_t plen = 0;
    while (a->path[plen]) plen++;
    r->path_len = plen ? (uint32_t)plen + 1 : 0;
    classify(a, inode);
    if (r->kind == DMTCP_AREA_VDSO && (r->prot & PROT_READ)) {
      *vdso_hash = fnv1a((const unsigned char *)r->start, r->end - r->start);
    }
    n_areas++;
  }
  return 0;
}

/* ---- page selection and streaming ---- */

/* Most pages of a running program hold data in their first bytes, so a page is ruled out on its first cache line
 * without reading the rest (the walk over 1 GiB of data then costs a line per page, not the whole gigabyte). */
static int page_is_zero(const void *page)
{
  const uint64_t *w = page;
  uint64_t acc = 0;
  for (int i = 0; i < 8; i++) acc |= w[i];
  if (acc) return 0;
  for (int i = 8; i < DMTCP_PAGE_SIZE / 8; i++) acc |= w[i];
  return acc == 0;
}

static int pull_mode;                          /* the writer reads page runs itself (DMTCP_MODE_PULL) */
/* PULL runs are sent as soon as they add up to a chunk the writer's workers can start on (its chunk size), so they
 * pull and compress while the walk goes on, without a write for every small run. */
#define PULL_SEND_BYTES (1ull << 20)
static uint64_t pull_unsent;                   /* bytes of PULL runs still in the stream buffer */

static void emit_pages(struct stream_out *o, uint32_t type, uint32_t idx, uint64_t off, uint64_t len)
{
  struct dmtcp_rec_pages pg = { idx, 0, off, len };
  /* Areas we had to open for reading stay unreadable to another process: their pages travel inline. */
  if (type == DMTCP_REC_DATA && pull_mode && (areas[idx].rec.prot & PROT_READ)) type = DMTCP_REC_PULL;
  out_record(o, type, &pg, sizeof pg);
  if (type == DMTCP_REC_DATA) out_bytes(o, (const void *)(areas[idx].rec.start + off), len);
  if (type == DMTCP_REC_PULL && (pull_unsent += len) >= PULL_SEND_BYTES) {
    out_flush(o);
    pull_unsent = 0;
  }
  if (type != DMTCP_REC_ZERO) totals.data_bytes += len;
}

/* Streams the chosen pages of one area, coalescing consecutive non-zero pages into DATA records. */
static int stream_area(struct stream_out *o, uint32_t idx, long pagemap_fd)
{
  struct area *a = &areas[idx];
  struct dmtcp_rec_area *r = &a->rec;
  uint64_t npages = (r->end - r->start) / DMTCP_PAGE_SIZE;
  int made_readable = 0;
  if (!(r->prot & PROT_READ)) {
    if (d_mprotect((void *)r->start, r->end - r->start, (int)(r->prot | PROT_READ)) < 0) return 0;
    made_readable = 1;
  }
  uint64_t run_start = 0, run_len = 0;          /* pending DATA run, in bytes from the area start */
  for (uint64_t base = 0; base < npages && !o->err; base += PAGEMAP_BATCH) {
    uint64_t count = npages - base < PAGEMAP_BATCH ? npages - base : PAGEMAP_BATCH;
    int have_map = 0;
    if (a->scan != 3) {
      long off = (long)((r->start / DMTCP_PAGE_SIZE + base) * 8);
      have_map = d_pread((int)pagemap_fd, pagemap_buf, count * 8, off) == (long)(count * 8);
      if (!have_map) {
        dlog("cannot read pagemap for %p; storing every page of it", (void *)r->start);
      }
    }
    for (uint64_t i = 0; i < count; i++) {
      uint64_t off = (base + i) * DMTCP_PAGE_SIZE;
      int wanted = 1;
      if (have_map) {
        uint64_t e = pagemap_buf[i];
        if (a->scan == 1) wanted = (e & (PM_PRESENT | PM_SWAPPED)) != 0;
        else wanted = ((e & PM_PRESENT) && !(e & PM_FILE)) || (e & PM_SWAPPED);
      }
      int zero = wanted && page_is_zero((const void *)(r->start + off));
      if (wanted && !zero) {
        if (run_len && run_start + run_len == off && run_len < MAX_RUN) {
          run_len += DMTCP_PAGE_SIZE;
          continue;
        }
        if (run_len) emit_pages(o, DMTCP_REC_DATA, idx, run_start, run_len);
        run_start = off;
        run_len = DMTCP_PAGE_SIZE;
        continue;
      }
      if (!wanted) {
        if (r->backing == DMTCP_BACK_FILE) totals.file_pages++;
        else totals.zero_pages++;
      } else if (r->backing == DMTCP_BACK_FILE) {
        emit_pages(o, DMTCP_REC_ZERO, idx, off, DMTCP_PAGE_SIZE);   /* written back to zeros: must not come from the file */
      } else {
        totals.zero_pages++;
      }
    }
  }
  if (run_len) emit_pages(o, DMTCP_REC_DATA, idx, run_start, run_len);
  if (made_readable) d_mprotect((void *)r->start, r->end - r->start, (int)r->prot);
  return 0;
}

static void read_small_file(const char *path, char *buf, size_t cap, size_t *len)
{
  *len = 0;
  long fd = d_open(path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return;
  for (;;) {
    long r = d_read((int)fd, buf + *len, cap - *len);
    if (r <= 0) break;
    *len += (size_t)r;
    if (*len == cap) break;
  }
  d_close((int)fd);
}

static void write_process_record(struct stream_out *o, uint32_t vdso_hash)
{
  static uint8_t body[sizeof(struct dmtcp_rec_process) + 3 * 8192 + 3 * DMTCP_MAX_PATH + 1024];
  static char cmdline[8192], exe[DMTCP_MAX_PATH];
  struct dmtcp_rec_process *p = (struct dmtcp_rec_process *)body;
  __builtin_memset(p, 0, sizeof *p);
  procstate_fill_process_record(p);
  p->n_threads = (uint32_t)g_n_slots;
  p->n_areas = (uint32_t)n_areas;
  p->vdso_hash = vdso_hash;
  size_t used = sizeof *p, cmdlen = 0;
  read_small_file("/proc/self/cmdline", cmdline, sizeof cmdline, &cmdlen);
  long n = dsys3(__NR_readlink, (long)"/proc/self/exe", (long)exe, sizeof exe - 1);
  exe[n > 0 ? n : 0] = 0;
  char pidbuf[16];
  dfmt(pidbuf, sizeof pidbuf, "%d", g_id.origin_pid);
  out_tlv_str(body, sizeof body, &used, DMTCP_TLV_HOST, g_id.host);
  out_tlv_str(body, sizeof body, &used, DMTCP_TLV_PROGRAM, g_id.program);
  out_tlv(body, sizeof body, &used, DMTCP_TLV_ARGV, cmdline, (uint32_t)cmdlen);
  out_tlv_str(body, sizeof body, &used, DMTCP_TLV_CWD, procstate_cwd());
  out_tlv_str(body, sizeof body, &used, DMTCP_TLV_EXE, exe);
  out_tlv_str(body, sizeof body, &used, DMTCP_TLV_WORKER_ID, g_id.worker_id);
  out_tlv_str(body, sizeof body, &used, DMTCP_TLV_COMPUTATION, g_id.computation);
  out_tlv_str(body, sizeof body, &used, DMTCP_TLV_CKPT_DIR, g_cfg.ckpt_dir);
  out_tlv_str(body, sizeof body, &used, DMTCP_TLV_CODEC, g_cfg.codec);
  out_tlv_str(body, sizeof body, &used, DMTCP_TLV_UNIQUE, g_cfg.unique_ckpt ? "1" : "0");
  out_tlv_str(body, sizeof body, &used, DMTCP_TLV_ORIGIN_PID, pidbuf);
  if (g_cfg.incremental) {
    dfmt(pidbuf, sizeof pidbuf, "%d", g_cfg.incremental);
    out_tlv_str(body, sizeof body, &used, DMTCP_TLV_INCREMENTAL, pidbuf);
  }
  if (g_cfg.ts_plugins[0]) out_tlv_str(body, sizeof body, &used, DMTCP_TLV_TS_PLUGINS, g_cfg.ts_plugins);
  if (procstate_zombies()[0]) out_tlv_str(body, sizeof body, &used, DMTCP_TLV_ZOMBIES, procstate_zombies());
  int ids[4] = { vid_self_pid(), vid_to_virt((int)dsys0(__NR_getppid)), vid_to_virt((int)dsys1(__NR_getpgid, 0)),
                 vid_to_virt((int)dsys1(__NR_getsid, 0)) };
  static const uint16_t tags[4] = { DMTCP_TLV_VPID, DMTCP_TLV_VPPID, DMTCP_TLV_VPGID, DMTCP_TLV_VSID };
  for (int i = 0; i < 4; i++) {
    dfmt(pidbuf, sizeof pidbuf, "%d", ids[i]);
    out_tlv_str(body, sizeof body, &used, tags[i], pidbuf);
  }
  out_record(o, DMTCP_REC_PROCESS, body, (uint32_t)used);
}

static void write_thread_records(struct stream_out *o)
{
  for (int i = 0; i < g_n_slots; i++) {
    struct thread_slot *s = &g_slots[i];
    struct dmtcp_rec_thread t;
    __builtin_memset(&t, 0, sizeof t);
    t.tid = (uint32_t)s->tid;
    t.flags = (s->is_main ? DMTCP_THREAD_F_MAIN : 0) | (s->is_ckpt ? DMTCP_THREAD_F_CKPT : 0);
    t.fs_base = s->fs_base;
    __builtin_memcpy(t.name, s->name, sizeof t.name);
    out_record(o, DMTCP_REC_THREAD, &t, sizeof t);
  }
}

static void write_area_records(struct stream_out *o)
{
  static uint8_t body[sizeof(struct dmtcp_rec_area) + DMTCP_MAX_PATH + 8];
  for (int i = 0; i < n_areas; i++) {
    struct area *a = &areas[i];
    uint32_t plen = a->rec.path_len > DMTCP_MAX_PATH ? DMTCP_MAX_PATH : a->rec.path_len;
    a->rec.path_len = plen;
    __builtin_memcpy(body, &a->rec, sizeof a->rec);
    if (plen) {
      __builtin_memcpy(body + sizeof a->rec, a->path, plen - 1);
      body[sizeof a->rec + plen - 1] = 0;
    }
    out_record(o, DMTCP_REC_AREA, body, (uint32_t)(sizeof a->rec + plen));
  }
}

/* Sends what is written so far and reads the writer's one-byte transfer mode. */
static int negotiate(struct stream_out *o)
{
  out_flush(o);
  if (o->err) return 0;
  char mode = 0;
  if (d_read_all(o->fd, &mode, 1) < 0) return 0;
  return mode == DMTCP_MODE_PULL;
}

int memory_write_stream(struct stream_out *o, int negotiable, char *err, size_t errcap)
{
  uint32_t vdso_hash;
  if (read_maps(err, errcap) < 0 || parse_maps(err, errcap, &vdso_hash) < 0) return -1;
  __builtin_memset(&totals, 0, sizeof totals);
  pull_unsent = 0;
  struct dmtcp_stream_header h;
  __builtin_memset(&h, 0, sizeof h);
  __builtin_memcpy(h.magic, DMTCP_STREAM_MAGIC, 8);
  h.version = DMTCP_STREAM_VERSION;
  h.header_size = sizeof h;
  h.page_size = DMTCP_PAGE_SIZE;
  h.arch = 62;
  h.flags = DMTCP_STREAM_F_PUSH | (negotiable ? DMTCP_STREAM_F_NEGOTIATE : 0);
  out_bytes(o, &h, sizeof h);
  write_process_record(o, vdso_hash);
  write_thread_records(o);
  fds_write_records(o);
  write_area_records(o);
  pull_mode = negotiable ? negotiate(o) : 0;

  long pagemap_fd = d_open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC, 0);
  if (pagemap_fd < 0) dlog("cannot open /proc/self/pagemap (%ld); storing every page", pagemap_fd);
  for (int i = 0; i < n_areas && !o->err; i++) {
    if (areas[i].scan) {
      int saved_scan = areas[i].scan;
      if (pagemap_fd < 0) areas[i].scan = 3;
      stream_area(o, (uint32_t)i, pagemap_fd);
      areas[i].scan = saved_scan;
    }
  }
  if (pagemap_fd >= 0) d_close((int)pagemap_fd);
  out_record(o, DMTCP_REC_END, &totals, sizeof totals);
  out_flush(o);
  if (o->err) {
    dfmt(err, errcap, "writing the process stream failed (errno %d)", -o->err);
    return -1;
  }
  return 0;
}
