/* virtual_ids.c: the ids the program knows (virtual) and the ids the kernel uses now (real). Before any restart they
 * are the same and the table is empty; after a restart every restored thread keeps its original tid as its virtual
 * id, glibc's cached tid (and so mutex owner fields) keeps holding it, and the wrappers translate at the kernel
 * boundary.
 *
 * Lookups run anywhere, the checkpoint signal's handler included, so they take no lock: a reader scans under a
 * sequence count and scans again if a writer moved it meanwhile. A lock there would deadlock the checkpoint: a
 * thread stopped inside its own lookup (a wrapped gettid, say) would wait in the handler for the lock it holds, and
 * every other thread behind it. Writers (thread creation, restart) are rare; they take a spinlock among themselves
 * with every signal blocked, so no handler ever runs in a thread that is halfway through a write. */
#include "dmtcp_lib.h"
#include "../include/dmtcp_sys.h"

#define MAX_IDS (DMTCP_MAX_THREADS + 64)
#define FRESH_VIRTUAL_BASE 0x3ff00000      /* ids handed to new threads whose real tid is taken as a virtual one */
#define PROCESS_VIRTUAL_BASE 0x40000000    /* new processes whose real pid is taken: this plus the real pid */

struct id_pair {
  int virt;
  int real;
};

static struct id_pair ids[MAX_IDS];
static int n_ids;
static int seq;                        /* odd while a writer changes the table */
static int write_lock;
static int next_fresh = FRESH_VIRTUAL_BASE;

/* Returns the signal mask to give back to write_end. */
static uint64_t write_begin(void)
{
  uint64_t old_mask = ckpt_signals_hold();
  dspin_lock(&write_lock);
  __atomic_store_n(&seq, seq + 1, __ATOMIC_RELAXED);
  __atomic_thread_fence(__ATOMIC_RELEASE);
  return old_mask;
}

static void write_end(uint64_t old_mask)
{
  __atomic_store_n(&seq, seq + 1, __ATOMIC_RELEASE);
  dspin_unlock(&write_lock);
  ckpt_signals_release(old_mask);
}

/* A reader's starting point: waits out a writer in progress (never this thread: writers block signals). */
static int read_begin(void)
{
  for (;;) {
    int s = __atomic_load_n(&seq, __ATOMIC_ACQUIRE);
    if (!(s & 1)) return s;
    __builtin_ia32_pause();
  }
}

/* Whether what was read since read_begin returned `s` is consistent. */
static int read_retry(int s)
{
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
  return __atomic_load_n(&seq, __ATOMIC_RELAXED) != s;
}

static int entry_virt(int i)
{
  return __atomic_load_n(&ids[i].virt, __ATOMIC_RELAXED);
}

static int entry_real(int i)
{
  return __atomic_load_n(&ids[i].real, __ATOMIC_RELAXED);
}

static int table_size(void)
{
  int n = __atomic_load_n(&n_ids, __ATOMIC_RELAXED);
  return n < 0 ? 0 : n > MAX_IDS ? MAX_IDS : n;
}

/* The real id recorded for `virt` (by_virt) or the virtual one for `real`; `id` itself when there is none. */
static int lookup(int id, int by_virt)
{
  int found, s;
  do {
    s = read_begin();
    found = id;
    for (int i = 0, n = table_size(); i < n; i++) {
      if ((by_virt ? entry_virt(i) : entry_real(i)) == id) {
        found = by_virt ? entry_real(i) : entry_virt(i);
        break;
      }
    }
  } while (read_retry(s));
  return found;
}

/* Whether `id` is some entry's virtual id while its real one differs. */
static int taken_as_virtual(int id)
{
  int taken, s;
  do {
    s = read_begin();
    taken = 0;
    for (int i = 0, n = table_size(); i < n; i++) {
      if (entry_virt(i) == id && entry_real(i) != id) taken = 1;
    }
  } while (read_retry(s));
  return taken;
}

/* Whether any id differs from its real one (a restart happened): callers skip translation work until then. */
int vid_any(void)
{
  return __atomic_load_n(&n_ids, __ATOMIC_ACQUIRE) != 0;
}

int vid_to_real(int virt)
{
  if (__atomic_load_n(&n_ids, __ATOMIC_ACQUIRE) == 0 || virt <= 0) return virt;
  return lookup(virt, 1);
}

int vid_to_virt(int real)
{
  if (__atomic_load_n(&n_ids, __ATOMIC_ACQUIRE) == 0 || real <= 0) return real;
  return lookup(real, 0);
}

/* Writes entry i; readers may be scanning it (they scan again, since the writer moved seq). */
static void put_entry(int i, int virt, int real)
{
  __atomic_store_n(&ids[i].virt, virt, __ATOMIC_RELAXED);
  __atomic_store_n(&ids[i].real, real, __ATOMIC_RELAXED);
}

/* Records virt -> real, replacing an older entry for either id. */
void vid_set(int virt, int real)
{
  uint64_t old_mask = write_begin();
  int k = 0;
  for (int i = 0; i < n_ids; i++) {
    if (ids[i].virt != virt && ids[i].real != real) put_entry(k++, ids[i].virt, ids[i].real);
  }
  if (virt != real && k < MAX_IDS) put_entry(k++, virt, real);
  __atomic_store_n(&n_ids, k, __ATOMIC_RELAXED);
  write_end(old_mask);
}

/* Forgets every entry: used before the restarted threads register their new real ids. */
void vid_reset(void)
{
  uint64_t old_mask = write_begin();
  __atomic_store_n(&n_ids, 0, __ATOMIC_RELAXED);
  write_end(old_mask);
}

/* A thread created after a restart got real tid `real`; if that number is some restored thread's virtual id, give
 * the new thread a fresh virtual id instead. Returns the virtual id to store in glibc's descriptor. */
int vid_adopt_new_thread(int real)
{
  if (__atomic_load_n(&n_ids, __ATOMIC_ACQUIRE) == 0) return real;
  if (!taken_as_virtual(real)) {
    vid_set(real, real);   /* drop a stale entry of a dead thread that had this real tid */
    return real;
  }
  int virt = __atomic_fetch_add(&next_fresh, 1, __ATOMIC_RELAXED);
  vid_set(virt, real);
  return virt;
}

/* A process created after a restart (fork, posix_spawn): its virtual pid is its real one unless that number is a
 * restored process's virtual pid. Parent and child compute the same answer from the same table. */
int vid_new_process(int real)
{
  if (__atomic_load_n(&n_ids, __ATOMIC_ACQUIRE) == 0 || real <= 0) return real;
  int virt = taken_as_virtual(real) ? PROCESS_VIRTUAL_BASE + real : real;
  vid_set(virt, real);
  return virt;
}

int vid_self_pid(void)
{
  return vid_to_virt((int)d_getpid());
}

/* After fork the child runs alone: a write another thread of the parent had under way never ends here. */
void vid_after_fork(void)
{
  write_lock = 0;
  if (seq & 1) seq++;
  vid_new_process((int)d_getpid());
}

/* "virt:real,virt:real" for the environment of an exec'd image (at most `cap` bytes). */
void vid_format(char *buf, size_t cap)
{
  int s;
  do {
    s = read_begin();
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0, n = table_size(); i < n && used + 24 < cap; i++) {
      used += (size_t)dfmt(buf + used, cap - used, "%s%d:%d", used ? "," : "", entry_virt(i), entry_real(i));
    }
  } while (read_retry(s));
}

/* Reads a table written by vid_format. */
void vid_parse(const char *s)
{
  while (s && *s) {
    int v = 0, r = 0;
    while (*s >= '0' && *s <= '9') v = v * 10 + (*s++ - '0');
    if (*s++ != ':') return;
    while (*s >= '0' && *s <= '9') r = r * 10 + (*s++ - '0');
    if (v > 0 && r > 0) vid_set(v, r);
    if (*s == ',') s++;
    else return;
  }
}
