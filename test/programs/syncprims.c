/* syncprims.c: synchronization state held across a checkpoint. One thread waits in pthread_cond_wait; one holds a
 * recursive mutex twice; one holds a read lock; two wait at a barrier; each has its own thread-specific value and
 * errno. On SIGUSR1 the main thread wakes the waiter, releases everyone and checks every one of them carried its
 * state through: prints "PASS" or "FAIL what". Prints "READY" once all are in place, then "alive N". */
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t rec;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_barrier_t barrier;
static pthread_key_t key;
static volatile int woken, release, ready;
static volatile int results[6];   /* 1 ok, -1 wrong */

static void nap(void)
{
  struct timespec ts = { 0, 20 * 1000 * 1000 };
  nanosleep(&ts, NULL);
}

static int own_state_ok(int id)
{
  return (long)pthread_getspecific(key) == 1000 + id && errno == 100 + id;
}

static void set_own_state(int id)
{
  pthread_setspecific(key, (void *)(long)(1000 + id));
  errno = 100 + id;
}

static void *cond_waiter(void *p)
{
  (void)p;
  set_own_state(0);
  pthread_mutex_lock(&m);
  __atomic_fetch_add(&ready, 1, __ATOMIC_SEQ_CST);
  while (!woken) pthread_cond_wait(&cv, &m);
  pthread_mutex_unlock(&m);
  errno = 100;
  results[0] = own_state_ok(0) ? 1 : -1;
  return NULL;
}

static void *recursive_holder(void *p)
{
  (void)p;
  set_own_state(1);
  pthread_mutex_lock(&rec);
  pthread_mutex_lock(&rec);
  __atomic_fetch_add(&ready, 1, __ATOMIC_SEQ_CST);
  while (!release) nap();
  int a = pthread_mutex_unlock(&rec), b = pthread_mutex_unlock(&rec);
  int again = pthread_mutex_trylock(&rec);   /* free now: must succeed */
  if (again == 0) pthread_mutex_unlock(&rec);
  errno = 101;
  results[1] = (a == 0 && b == 0 && again == 0 && own_state_ok(1)) ? 1 : -1;
  return NULL;
}

static void *reader(void *p)
{
  (void)p;
  set_own_state(2);
  pthread_rwlock_rdlock(&rw);
  __atomic_fetch_add(&ready, 1, __ATOMIC_SEQ_CST);
  while (!release) nap();
  int r = pthread_rwlock_unlock(&rw);
  errno = 102;
  results[2] = (r == 0 && own_state_ok(2)) ? 1 : -1;
  return NULL;
}

static void *barrier_waiter(void *p)
{
  int id = (int)(long)p;
  set_own_state(id);
  __atomic_fetch_add(&ready, 1, __ATOMIC_SEQ_CST);
  pthread_barrier_wait(&barrier);
  errno = 100 + id;
  results[id] = own_state_ok(id) ? 1 : -1;
  return NULL;
}

int main(void)
{
  install_check_signal();
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_init(&rec, &a);
  pthread_barrier_init(&barrier, NULL, 3);
  pthread_key_create(&key, NULL);
  pthread_t t[5];
  pthread_create(&t[0], NULL, cond_waiter, NULL);
  pthread_create(&t[1], NULL, recursive_holder, NULL);
  pthread_create(&t[2], NULL, reader, NULL);
  pthread_create(&t[3], NULL, barrier_waiter, (void *)3L);
  pthread_create(&t[4], NULL, barrier_waiter, (void *)4L);
  while (ready < 5) nap();
  nap();
  printf("READY\n");
  for (long tick = 1;; tick++) {
    if (check_requested) {
      check_requested = 0;
      if (pthread_rwlock_trywrlock(&rw) != EBUSY) {
        printf("FAIL the read lock was lost\n");
        continue;
      }
      pthread_mutex_lock(&m);
      woken = 1;
      pthread_cond_signal(&cv);
      pthread_mutex_unlock(&m);
      release = 1;
      pthread_barrier_wait(&barrier);
      for (int i = 0; i < 5; i++) pthread_join(t[i], NULL);
      int bad = -1;
      for (int i = 0; i < 5; i++) if (results[i] != 1) bad = i;
      if (bad < 0) printf("PASS\n");
      else printf("FAIL thread %d result %d\n", bad, results[bad]);
      return 0;
    }
    printf("alive %ld\n", tick);
    struct timespec ts = { 0, 100 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
}
