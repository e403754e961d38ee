// lazy.cc: the decoder's half of a lazy restore (docs/ARCHITECTURE.md, "Lazy restore"). The restored process runs
// while its large areas are still missing; its userfaultfd, taken from the restorer with pidfd_getfd, is served here:
//   - worker threads copy decoded chunks in (lazyCopy -> UFFDIO_COPY), in the background, page runs at a time;
//   - one thread per process reads the userfaultfd: a fault on a page still to come is passed on (its address, on a
//     pipe) so the decoder decodes that chunk next; a fault on a page with nothing to come (zero in the image, or
//     dropped by the program since) gets the zero page;
//   - madvise(MADV_DONTNEED/REMOVE) and munmap events mark pages as never to be filled; mremap events move where the
//     image's pages now are.
// One mutex per process orders event reading against copies: a copy never lands after the program dropped the page.
// The kernel refuses a copy while an event is unread (EAGAIN); the copy then lets the reader in and tries again.
#include "addon.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace lazy {

constexpr uint64_t kPage = 4096;

// One area registered with the userfaultfd, by the addresses it had in the image. A set bit: nothing more is to be
// put in that page (copied already, zero in the image, or dropped or unmapped by the program).
struct Area {
  uint64_t lo, hi;
  std::vector<uint64_t> done;
  bool Done(uint64_t a) const {
    uint64_t i = (a - lo) / kPage;
    return (done[i / 64] >> (i % 64)) & 1;
  }
  // Sets (nothing more to come) or clears (content to come) the bits of the pages of [from, to) inside the area.
  void Set(uint64_t from, uint64_t to, bool value) {
    from = std::max(from, lo);
    to = std::min(to, hi);
    for (uint64_t a = from; a < to; a += kPage) {
      uint64_t i = (a - lo) / kPage;
      if (value) done[i / 64] |= 1ull << (i % 64);
      else done[i / 64] &= ~(1ull << (i % 64));
    }
  }
  void Mark(uint64_t from, uint64_t to) { Set(from, to, true); }
};

// Image addresses [lo, hi) are now at cur (mremap moved them; identity until then).
struct Segment {
  uint64_t lo, hi, cur;
};

struct Stats {
  double copied = 0, faults = 0, zeroFaults = 0, droppedPages = 0, remaps = 0;
};

class Server {
 public:
  Server(int uffd, int notify_w, int stop_fd) : uffd_(uffd), notify_w_(notify_w), stop_fd_(stop_fd) {}

  void AddArea(uint64_t lo, uint64_t hi) {
    Area a{lo, hi, std::vector<uint64_t>(((hi - lo) / kPage + 63) / 64, ~0ull)};
    areas_.push_back(std::move(a));
    segs_.push_back({lo, hi, lo});
  }

  // Pages [lo, hi) have content to come (everything else in the areas is zero).
  void Expect(uint64_t lo, uint64_t hi) {
    for (Area& a : areas_) a.Set(lo, hi, false);
  }

  void Start() {
    std::sort(segs_.begin(), segs_.end(), [](const Segment& x, const Segment& y) { return x.lo < y.lo; });
    thread_ = std::thread([this] { Serve(); });
  }

  // Copies len bytes meant for image address `orig`, skipping pages that must not be filled. Returns 0, -1 when the
  // process is gone, or an errno.
  int Copy(uint64_t orig, const uint8_t* src, uint64_t len) {
    std::unique_lock<std::mutex> lock(mu_);
    uint64_t pos = orig, end = orig + len;
    while (pos < end) {
      if (gone_) return -1;
      Area* area = FindArea(pos);
      uint64_t cur = 0, seg_hi = 0;
      if (!area || area->Done(pos) || !ToCur(pos, &cur, &seg_hi)) {
        if (area) area->Mark(pos, pos + kPage);
        pos += kPage;
        continue;
      }
      uint64_t run = pos + kPage;
      while (run < end && run < area->hi && run < seg_hi && !area->Done(run)) run += kPage;
      struct uffdio_copy c;
      c.dst = cur;
      c.src = reinterpret_cast<uint64_t>(src + (pos - orig));
      c.len = run - pos;
      c.mode = 0;
      c.copy = 0;
      if (ioctl(uffd_, UFFDIO_COPY, &c) == 0) {
        area->Mark(pos, run);
        stats_.copied += static_cast<double>(run - pos);
        pos = run;
        continue;
      }
      if (c.copy > 0) {   // part of the run went in (and was woken) before the kernel stopped
        uint64_t n = static_cast<uint64_t>(c.copy);
        area->Mark(pos, pos + n);
        stats_.copied += static_cast<double>(n);
        pos += n;
        continue;
      }
      int err = c.copy < 0 ? static_cast<int>(-c.copy) : errno;
      if (err == EAGAIN) {
        // An event (madvise, munmap, mremap) is waiting to be read: let the reader have the lock, then look again.
        lock.unlock();
        std::this_thread::sleep_for(std::chrono::microseconds(100));
        lock.lock();
      } else if (err == EEXIST) {
        area->Mark(pos, pos + kPage);
        pos += kPage;
      } else if (err == ENOENT || err == EFAULT) {
        area->Mark(pos, run);   // the mapping is gone or no longer registered: nothing to put there
        pos = run;
      } else if (err == ESRCH) {
        gone_ = true;
      } else {
        return err;
      }
    }
    return gone_ ? -1 : 0;
  }

  // Stops the reader thread and closes everything; returns what was done. With the pid of a process that is done
  // (every page in), first gives its areas back to the kernel: the process holds a copy of this userfaultfd (so that
  // our death leaves pages missing, not zero), and a fault in an area still registered would wait for a reader that
  // is gone, however long the process keeps its copy.
  Stats Finish(int done_pid) {
    if (done_pid > 0) UnregisterAll(done_pid);
    uint64_t one = 1;
    if (write(stop_fd_, &one, sizeof one) < 0) {
      // the thread also stops when the process is gone; nothing else to do
    }
    if (thread_.joinable()) thread_.join();
    close(stop_fd_);
    close(notify_w_);
    close(uffd_);
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  // Unregisters every area of `pid` registered with a userfaultfd ("um" in its VmFlags: our areas, where mremap may
  // have moved or grown them), waking any thread that waits in one. Areas are looked for again until none is left
  // (the process runs on meanwhile and may move one).
  void UnregisterAll(int pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/smaps", pid);
    for (int pass = 0; pass < 8; pass++) {
      FILE* f = fopen(path, "re");
      if (!f) return;   // the process is gone
      std::vector<struct uffdio_range> found;
      char line[512];
      unsigned long long lo = 0, hi = 0;
      while (fgets(line, sizeof line, f)) {
        unsigned long long a, b;
        if (sscanf(line, "%llx-%llx ", &a, &b) == 2) {
          lo = a;
          hi = b;
        } else if (strncmp(line, "VmFlags:", 8) == 0 && (strstr(line, " um ") || strstr(line, " um\n"))) {
          found.push_back({lo, hi - lo});
        }
      }
      fclose(f);
      if (found.empty()) return;
      for (struct uffdio_range& r : found) ioctl(uffd_, UFFDIO_UNREGISTER, &r);
    }
  }

  Area* FindArea(uint64_t orig) {
    for (Area& a : areas_) {
      if (orig >= a.lo && orig < a.hi) return &a;
    }
    return nullptr;
  }

  bool ToCur(uint64_t orig, uint64_t* cur, uint64_t* seg_hi) {
    for (const Segment& s : segs_) {
      if (orig >= s.lo && orig < s.hi) {
        *cur = s.cur + (orig - s.lo);
        *seg_hi = s.hi;
        return true;
      }
    }
    return false;
  }

  bool ToOrig(uint64_t cur, uint64_t* orig) {
    for (const Segment& s : segs_) {
      if (cur >= s.cur && cur < s.cur + (s.hi - s.lo)) {
        *orig = s.lo + (cur - s.cur);
        return true;
      }
    }
    return false;
  }

  // The program dropped or unmapped [lo, hi) (current addresses): those pages get nothing more.
  void Drop(uint64_t lo, uint64_t hi) {
    for (const Segment& s : segs_) {
      uint64_t f = std::max(lo, s.cur), t = std::min(hi, s.cur + (s.hi - s.lo));
      if (f >= t) continue;
      uint64_t of = s.lo + (f - s.cur), ot = s.lo + (t - s.cur);
      for (Area& a : areas_) a.Mark(of, ot);
      stats_.droppedPages += static_cast<double>((t - f) / kPage);
    }
  }

  // mremap moved [from, from + len) to `to`: the image pages that were there now live at the new place.
  void Move(uint64_t from, uint64_t to, uint64_t len) {
    std::vector<Segment> next;
    for (const Segment& s : segs_) {
      uint64_t s_end = s.cur + (s.hi - s.lo);
      uint64_t f = std::max(from, s.cur), t = std::min(from + len, s_end);
      if (f >= t) {
        next.push_back(s);
        continue;
      }
      if (s.cur < f) next.push_back({s.lo, s.lo + (f - s.cur), s.cur});
      next.push_back({s.lo + (f - s.cur), s.lo + (t - s.cur), to + (f - from)});
      if (t < s_end) next.push_back({s.lo + (t - s.cur), s.hi, t});
    }
    segs_ = std::move(next);
    stats_.remaps++;
  }

  // A page with nothing to come: map the zero page there (or just wake the thread if a page arrived meanwhile).
  void ZeroPage(uint64_t addr) {
    struct uffdio_zeropage z;
    z.range.start = addr;
    z.range.len = kPage;
    z.mode = 0;
    z.zeropage = 0;
    if (ioctl(uffd_, UFFDIO_ZEROPAGE, &z) == 0) {
      stats_.zeroFaults++;
      return;
    }
    if (errno == EAGAIN) {
      retry_.push_back(addr);   // an event is still unread: after this batch
      return;
    }
    struct uffdio_range r = {addr, kPage};
    ioctl(uffd_, UFFDIO_WAKE, &r);
  }

  void Fault(uint64_t addr) {
    addr &= ~(kPage - 1);
    uint64_t orig = 0;
    Area* area = ToOrig(addr, &orig) ? FindArea(orig) : nullptr;
    if (!area || area->Done(orig)) {
      ZeroPage(addr);   // zero in the image, dropped by the program, or memory mremap added
      return;
    }
    stats_.faults++;
    if (write(notify_w_, &orig, sizeof orig) < 0) {
      // pipe full: the background fill reaches that page anyway
    }
  }

  // Reads every message waiting; returns false once the userfaultfd is unusable (the process is gone).
  bool Drain() {
    struct uffd_msg msgs[64];
    for (;;) {
      ssize_t n = read(uffd_, msgs, sizeof msgs);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno == EAGAIN;
      }
      if (n == 0) return false;
      for (ssize_t i = 0; i < n / static_cast<ssize_t>(sizeof msgs[0]); i++) {
        const struct uffd_msg& m = msgs[i];
        switch (m.event) {
          case UFFD_EVENT_PAGEFAULT:
            Fault(m.arg.pagefault.address);
            break;
          case UFFD_EVENT_REMOVE:
          case UFFD_EVENT_UNMAP:   // both carry their range in arg.remove
            Drop(m.arg.remove.start, m.arg.remove.end);
            break;
          case UFFD_EVENT_REMAP:
            Move(m.arg.remap.from, m.arg.remap.to, m.arg.remap.len);
            break;
          default:
            break;
        }
      }
    }
  }

  void Serve() {
    for (;;) {
      struct pollfd p[2] = {{uffd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
      int r = poll(p, 2, retry_.empty() ? -1 : 1);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 || (p[1].revents & POLLIN)) break;
      std::lock_guard<std::mutex> lock(mu_);
      if (p[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
        gone_ = true;
        break;
      }
      if (!Drain()) {
        gone_ = true;
        break;
      }
      std::vector<uint64_t> again;
      again.swap(retry_);
      for (uint64_t a : again) Fault(a);
    }
  }

  int uffd_, notify_w_, stop_fd_;
  std::mutex mu_;
  std::vector<Area> areas_;
  std::vector<Segment> segs_;
  std::vector<uint64_t> retry_;
  bool gone_ = false;
  Stats stats_;
  std::thread thread_;
};

std::mutex registry_mu;
std::map<int, std::shared_ptr<Server>> registry;
int next_handle = 1;

std::shared_ptr<Server> Lookup(int handle) {
  std::lock_guard<std::mutex> lock(registry_mu);
  auto it = registry.find(handle);
  return it == registry.end() ? nullptr : it->second;
}

bool U64Pairs(Napi::Value v, std::vector<uint64_t>* out) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array) return false;
  Napi::TypedArrayOf<uint64_t> a = v.As<Napi::TypedArrayOf<uint64_t>>();
  if (a.ElementLength() % 2) return false;
  out->assign(a.Data(), a.Data() + a.ElementLength());
  for (size_t i = 0; i < out->size(); i += 2) {
    if ((*out)[i] % kPage || (*out)[i + 1] % kPage || (*out)[i + 1] < (*out)[i]) return false;
  }
  return true;
}

// pidfdGetfd(pid, fd): a copy of descriptor `fd` of process `pid` (same checks as ptrace attach).
Napi::Value PidfdGetfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    return ThrowType(env, "expected (pid: number, fd: number)");
  }
  long pidfd = syscall(SYS_pidfd_open, info[0].As<Napi::Number>().Int32Value(), 0);
  if (pidfd < 0) return ThrowErrno(env, "pidfd_open", errno);
  long fd = syscall(SYS_pidfd_getfd, pidfd, info[1].As<Napi::Number>().Int32Value(), 0);
  int err = errno;
  close(static_cast<int>(pidfd));
  if (fd < 0) return ThrowErrno(env, "pidfd_getfd", err);
  return Napi::Number::New(env, static_cast<double>(fd));
}

// lazyServe(uffd, areas, expected): serves `uffd` (ours now, closed by lazyFinish). `areas` are the registered areas
// and `expected` the page runs with content to come, both as [start, end) pairs of image addresses. Returns
// [handle, notifyFd]: notifyFd (close-on-exec, for reading) yields the 8-byte image address of each fault on a page
// still to come, and reaches end of file after lazyFinish.
Napi::Value LazyServe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<uint64_t> areas, expected;
  if (info.Length() < 3 || !info[0].IsNumber() || !U64Pairs(info[1], &areas) || !U64Pairs(info[2], &expected)) {
    return ThrowType(env, "expected (uffd: number, areas: BigUint64Array, expected: BigUint64Array) of page-aligned [start, end) pairs");
  }
  int notify[2];
  if (pipe2(notify, O_CLOEXEC) < 0) return ThrowErrno(env, "pipe2", errno);
  fcntl(notify[1], F_SETFL, O_NONBLOCK);
  int stop = eventfd(0, EFD_CLOEXEC);
  if (stop < 0) {
    int err = errno;
    close(notify[0]);
    close(notify[1]);
    return ThrowErrno(env, "eventfd", err);
  }
  auto server = std::make_shared<Server>(info[0].As<Napi::Number>().Int32Value(), notify[1], stop);
  for (size_t i = 0; i < areas.size(); i += 2) server->AddArea(areas[i], areas[i + 1]);
  for (size_t i = 0; i < expected.size(); i += 2) server->Expect(expected[i], expected[i + 1]);
  server->Start();
  int handle;
  {
    std::lock_guard<std::mutex> lock(registry_mu);
    handle = next_handle++;
    registry[handle] = server;
  }
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, handle));
  out.Set(1u, Napi::Number::New(env, notify[0]));
  return out;
}

// lazyCopy(handle, address, bytes): puts `bytes` at image address `address` of that process, skipping pages the
// program has dropped meanwhile. Returns 1, 0 when the process is gone (or the restore finished), or -errno. Safe
// from any thread.
Napi::Value LazyCopy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsBigInt() || !info[2].IsTypedArray() ||
      info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    return ThrowType(env, "expected (handle: number, address: bigint, bytes: Uint8Array)");
  }
  std::shared_ptr<Server> server = Lookup(info[0].As<Napi::Number>().Int32Value());
  if (!server) return Napi::Number::New(env, 0);   // finished meanwhile (the restore failed, or the process is gone)
  bool lossless = false;
  uint64_t address = info[1].As<Napi::BigInt>().Uint64Value(&lossless);
  Napi::Uint8Array bytes = info[2].As<Napi::Uint8Array>();
  if (!lossless || address % kPage || bytes.ByteLength() % kPage) {
    return ThrowType(env, "lazyCopy needs a page-aligned address and whole pages");
  }
  int r = server->Copy(address, bytes.Data(), bytes.ByteLength());
  // An errno comes back as a value: a worker thread may be shutting down, and throwing there would be fatal.
  return Napi::Number::New(env, r == 0 ? 1 : r < 0 ? 0 : -r);
}

// lazyFinish(handle, donePid?): stops serving and closes the userfaultfd. With donePid (every page of that process
// is in), first unregisters its areas, which the kernel then treats as ordinary memory although the process still
// holds its own copy of the userfaultfd. Returns counts of what was done.
Napi::Value LazyFinish(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    return ThrowType(env, "expected (handle: number, donePid?: number)");
  }
  std::shared_ptr<Server> server;
  {
    std::lock_guard<std::mutex> lock(registry_mu);
    auto it = registry.find(info[0].As<Napi::Number>().Int32Value());
    if (it == registry.end()) return ThrowErrno(env, "lazyFinish", EBADF);
    server = it->second;
    registry.erase(it);
  }
  int done_pid = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
  Stats s = server->Finish(done_pid);
  Napi::Object out = Napi::Object::New(env);
  out.Set("copied", s.copied);
  out.Set("faults", s.faults);
  out.Set("zeroFaults", s.zeroFaults);
  out.Set("droppedPages", s.droppedPages);
  out.Set("remaps", s.remaps);
  return out;
}

}  // namespace lazy

void RegisterLazy(Napi::Env env, Napi::Object exports) {
  exports.Set("pidfdGetfd", Napi::Function::New(env, lazy::PidfdGetfd));
  exports.Set("lazyServe", Napi::Function::New(env, lazy::LazyServe));
  exports.Set("lazyCopy", Napi::Function::New(env, lazy::LazyCopy));
  exports.Set("lazyFinish", Napi::Function::New(env, lazy::LazyFinish));
}
