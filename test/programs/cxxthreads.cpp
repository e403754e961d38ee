// cxxthreads.cpp: std::thread workers sharing a std::mutex-protected map and an atomic counter; after a restart the
// totals stay consistent. Prints "READY", then "total N"; on SIGUSR1 "PASS"/"FAIL".
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

static volatile std::sig_atomic_t check_requested;

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::signal(SIGUSR1, [](int) { check_requested = 1; });
  std::mutex m;
  std::map<int, long> per_worker;
  std::atomic<long> total{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 6; w++) {
    workers.emplace_back([&, w] {
      for (;;) {
        {
          std::lock_guard<std::mutex> g(m);
          per_worker[w]++;
          total++;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(300));
      }
    });
  }
  std::printf("READY\n");
  for (;;) {
    if (check_requested) {
      check_requested = 0;
      std::lock_guard<std::mutex> g(m);
      long sum = 0;
      for (auto &kv : per_worker) sum += kv.second;
      if (sum == total.load() && per_worker.size() == 6) std::printf("PASS total=%ld\n", sum);
      else std::printf("FAIL sum=%ld total=%ld\n", sum, total.load());
    }
    std::printf("total %ld\n", total.load());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}
