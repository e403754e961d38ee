/* openmp.c: an OpenMP loop (libgomp's thread pool) summing a series chunk by chunk; after a restart the running sum
 * continues. Prints "READY threads=T", then "sum K S" after each chunk K; on SIGUSR1 "PASS"/"FAIL" comparing S with
 * the closed form. */
#include <omp.h>
#include <time.h>

#include "common.h"

int main(void)
{
  install_check_signal();
  long long sum = 0;
  printf("READY threads=%d\n", omp_get_max_threads());
  for (long k = 1;; k++) {
    long long part = 0;
#pragma omp parallel for reduction(+ : part)
    for (long i = (k - 1) * 100000; i < k * 100000; i++) part += i;
    sum += part;
    long long n = k * 100000;
    if (check_requested) {
      check_requested = 0;
      if (sum == n * (n - 1) / 2) printf("PASS sum=%lld\n", sum);
      else printf("FAIL sum=%lld expected=%lld\n", sum, n * (n - 1) / 2);
    }
    printf("sum %ld %lld\n", k, sum);
    struct timespec ts = { 0, 50 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
}
