/* virtual_ids.c: the ids the program knows (virtual) and the ids the kernel uses now (real). Before any restart they
 * are the same and the table is empty; after a restart every restored thread keeps its original tid as its virtual
 * id, glibc's cached tid (and so mutex owner fields) keeps holding it, and the wrappers translate at the kernel
 * boundary. Lookups take a spinlock and scan: the table holds one entry per restored thread. */
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
static int lock;
static int next_fresh = FRESH_VIRTUAL_BASE;

static void take(void)
{
  while (__atomic_exchange_n(&lock, 1, __ATOMIC_ACQUIRE)) {
    while (__atomic_load_n(&lock, __ATOMIC_RELAXED)) __builtin_ia32_pause();
  }
}

static void give(void)
{
  __atomic_store_n(&lock, 0, __ATOMIC_RELEASE);
}

/* Whether any id differs from its real one (a restart happened): callers skip translation work until then. */
int vid_any(void)
{
  return __atomic_load_n(&n_ids, __ATOMIC_ACQUIRE) != 0;
}

int vid_to_real(int virt)
{
  if (__atomic_load_n(&n_ids, __ATOMIC_ACQUIRE) == 0 || virt <= 0) return virt;
  int real = virt;
  take();
  for (int i = 0; i < n_ids; i++) {
    if (ids[i].virt == virt) {
      real = ids[i].real;
      break;
    }
  }
  give();
  return real;
}

int vid_to_virt(int real)
{
  if (__atomic_load_n(&n_ids, __ATOMIC_ACQUIRE) == 0 || real <= 0) return real;
  int virt = real;
  take();
  for (int i = 0; i < n_ids; i++) {
    if (ids[i].real == real) {
      virt = ids[i].virt;
      break;
    }
  }
  give();
  return virt;
}

/* Records virt -> real, replacing an older entry for either id. */
void vid_set(int virt, int real)
{
  take();
  int k = 0;
  for (int i = 0; i < n_ids; i++) {
    if (ids[i].virt != virt && ids[i].real != real) ids[k++] = ids[i];
  }
  if (virt != real && k < MAX_IDS) ids[k++] = (struct id_pair){ virt, real };
  __atomic_store_n(&n_ids, k, __ATOMIC_RELEASE);
  give();
}

/* Forgets every entry: used before the restarted threads register their new real ids. */
void vid_reset(void)
{
  take();
  __atomic_store_n(&n_ids, 0, __ATOMIC_RELEASE);
  give();
}

/* A thread created after a restart got real tid `real`; if that number is some restored thread's virtual id, give
 * the new thread a fresh virtual id instead. Returns the virtual id to store in glibc's descriptor. */
int vid_adopt_new_thread(int real)
{
  if (__atomic_load_n(&n_ids, __ATOMIC_ACQUIRE) == 0) return real;
  int clash = 0;
  take();
  for (int i = 0; i < n_ids; i++) {
    if (ids[i].virt == real && ids[i].real != real) clash = 1;
  }
  give();
  if (!clash) {
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
  int taken = 0;
  take();
  for (int i = 0; i < n_ids; i++) {
    if (ids[i].virt == real && ids[i].real != real) taken = 1;
  }
  give();
  int virt = taken ? PROCESS_VIRTUAL_BASE + real : real;
  vid_set(virt, real);
  return virt;
}

int vid_self_pid(void)
{
  return vid_to_virt((int)d_getpid());
}

/* After fork the child runs alone: a lock held by another thread of the parent would stay held forever. */
void vid_after_fork(void)
{
  lock = 0;
  vid_new_process((int)d_getpid());
}

/* "virt:real,virt:real" for the environment of an exec'd image (at most `cap` bytes). */
void vid_format(char *buf, size_t cap)
{
  size_t used = 0;
  buf[0] = 0;
  take();
  for (int i = 0; i < n_ids && used + 24 < cap; i++) {
    used += (size_t)dfmt(buf + used, cap - used, "%s%d:%d", used ? "," : "", ids[i].virt, ids[i].real);
  }
  give();
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
