/* shmcounter.c: a parent and a child increment counters that live in four kinds of shared memory: MAP_SHARED
 * anonymous memory, a System V segment, a POSIX shm_open object and a regular file mapped MAP_SHARED. Under a lock in the same memory each also counts
 * its own increments, so counter == mine + theirs must always hold; and each checks every round that the other's
 * increments still arrive (memory that was duplicated instead of shared would freeze the other's share). At the end
 * the segment and the object are removed by the ids and names the program kept.
 * Usage: shmcounter NAME FILE [interval_ms] [limit]. Lines: "count N anon A sysv S posix P file F ok" or "FAIL". */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct region {
  int lock;
  long counter;
  long by[2];
};

static void nap(long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static void lock(struct region *r)
{
  while (__atomic_exchange_n(&r->lock, 1, __ATOMIC_ACQUIRE)) nap(0);
}

static void unlock(struct region *r)
{
  __atomic_store_n(&r->lock, 0, __ATOMIC_RELEASE);
}

/* One increment; returns -1 if the invariant broke. */
static int bump(struct region *r, int me)
{
  lock(r);
  r->counter++;
  r->by[me]++;
  int ok = r->counter == r->by[0] + r->by[1];
  unlock(r);
  return ok ? 0 : -1;
}

static long theirs(struct region *r, int me)
{
  lock(r);
  long v = r->by[1 - me];
  unlock(r);
  return v;
}

int main(int argc, char **argv)
{
  if (argc < 3) return fprintf(stderr, "usage: shmcounter NAME FILE [interval_ms] [limit]\n"), 2;
  long interval = argc > 3 ? atol(argv[3]) : 20;
  long limit = argc > 4 ? atol(argv[4]) : 0;
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct region *anon = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (anon == MAP_FAILED) return perror("mmap"), 1;
  key_t key = (key_t)(0x5d000000 | (getpid() & 0xffffff));
  int shmid = shmget(key, 8192, IPC_CREAT | IPC_EXCL | 0600);
  if (shmid < 0) return perror("shmget"), 1;
  struct region *sysv = shmat(shmid, NULL, 0);
  if (sysv == (void *)-1) return perror("shmat"), 1;
  char name[256];
  snprintf(name, sizeof name, "/%s", argv[1]);
  int pfd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
  if (pfd < 0 || ftruncate(pfd, 4096)) return perror("shm_open"), 1;
  struct region *posix = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, pfd, 0);
  if (posix == MAP_FAILED) return perror("mmap"), 1;
  close(pfd);
  int ffd = open(argv[2], O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (ffd < 0 || ftruncate(ffd, 4096)) return perror(argv[2]), 1;
  struct region *file = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ffd, 0);
  if (file == MAP_FAILED) return perror("mmap"), 1;
  close(ffd);
  struct region *all[4] = { anon, sysv, posix, file };
  pid_t child = fork();
  if (child < 0) return perror("fork"), 1;
  int me = child == 0;
  long seen[4] = { 0, 0, 0, 0 };
  int stalled = 0;
  for (long n = 1; limit == 0 || n <= limit + (me ? 20 : 0); n++) {
    for (int k = 0; k < 4; k++) {
      if (bump(all[k], me) < 0) {
        printf("FAIL: %s: counter %ld != %ld + %ld in region %d\n", me ? "child" : "parent", all[k]->counter, all[k]->by[0], all[k]->by[1], k);
        return 1;
      }
    }
    if (n % 10 == 0) {
      /* The other process increments as often: over ten rounds its share must have grown in every region. */
      for (int k = 0; k < 4; k++) {
        long t = theirs(all[k], me);
        if (t == seen[k] && !(me && n > limit)) stalled++;
        seen[k] = t;
      }
      if (stalled > 3) {
        printf("FAIL: %s: the other process's increments stopped arriving (memory not shared?)\n", me ? "child" : "parent");
        return 1;
      }
    }
    if (!me) printf("count %ld anon %ld sysv %ld posix %ld file %ld ok\n", n, anon->counter, sysv->counter, posix->counter, file->counter);
    nap(interval);
  }
  if (me) return 0;
  int status;
  waitpid(child, &status, 0);
  int rm = shmctl(shmid, IPC_RMID, NULL);
  int ul = shm_unlink(name);
  printf("child status %d rmid %s unlink %s\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1, rm == 0 ? "ok" : strerror(errno), ul == 0 ? "ok" : "failed");
  return 0;
}
