// addon.cc: the few process operations Node cannot do itself: replace the process image (execve), start a detached
// grandchild, make pipes whose ends survive exec, give memory aligned for O_DIRECT transfers, and (lazy.cc) serve
// the userfaultfd of a lazily restored process. Thin and checked; the typed wrapper is src/native/addon.ts.
#include "addon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

Napi::Value ThrowErrno(Napi::Env env, const std::string& what, int err) {
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowType(Napi::Env env, const std::string& msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

namespace {

// Copies a JS array of strings; false (with an exception pending) when it is not one.
bool StringList(Napi::Env env, Napi::Value v, const char* name, std::vector<std::string>* out) {
  if (!v.IsArray()) {
    ThrowType(env, std::string(name) + " must be an array of strings");
    return false;
  }
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value item = a.Get(i);
    if (!item.IsString()) {
      ThrowType(env, std::string(name) + "[" + std::to_string(i) + "] must be a string");
      return false;
    }
    out->push_back(item.As<Napi::String>().Utf8Value());
  }
  return true;
}

std::vector<char*> CStrings(std::vector<std::string>& list) {
  std::vector<char*> v;
  for (auto& s : list) v.push_back(&s[0]);
  v.push_back(nullptr);
  return v;
}

// What a program expects to inherit, undoing what Node changed in this process: SIGPIPE and SIGXFSZ ignored, a
// possibly non-empty signal mask, the standard descriptors marked close-on-exec (uv_disable_stdio_inheritance at
// Node's start-up) and O_NONBLOCK on them (shared with our parent's terminal).
void PrepareForExec() {
  signal(SIGPIPE, SIG_DFL);
  signal(SIGXFSZ, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int fd = 0; fd <= 2; fd++) {
    int fdfl = fcntl(fd, F_GETFD);
    if (fdfl >= 0 && (fdfl & FD_CLOEXEC)) fcntl(fd, F_SETFD, fdfl & ~FD_CLOEXEC);
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && (fl & O_NONBLOCK)) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  }
}

bool ParseExecArgs(const Napi::CallbackInfo& info, std::string* file, std::vector<std::string>* argv,
                   std::vector<std::string>* envp) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString()) {
    ThrowType(env, "expected (file: string, argv: string[], env: string[])");
    return false;
  }
  *file = info[0].As<Napi::String>().Utf8Value();
  return StringList(env, info[1], "argv", argv) && StringList(env, info[2], "env", envp);
}

// execve(file, argv, env): on success never returns; on failure throws with errno.
Napi::Value Execve(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string file;
  std::vector<std::string> argv, envp;
  if (!ParseExecArgs(info, &file, &argv, &envp)) return env.Undefined();
  auto cargv = CStrings(argv);
  auto cenv = CStrings(envp);
  PrepareForExec();
  execve(file.c_str(), cargv.data(), cenv.data());
  int err = errno;
  signal(SIGPIPE, SIG_IGN);
  return ThrowErrno(env, "execve " + file, err);
}

// spawnDetached(file, argv, env, keepFds, quiet): starts file as a grandchild in its own session, so it is nobody's
// child here; keepFds stay open across its exec; quiet points its stdin/stdout/stderr at /dev/null. Returns its pid;
// throws if the exec failed.
Napi::Value SpawnDetached(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string file;
  std::vector<std::string> argv, envp;
  if (!ParseExecArgs(info, &file, &argv, &envp)) return env.Undefined();
  std::vector<int> keep;
  if (info.Length() > 3) {
    if (!info[3].IsArray()) return ThrowType(env, "keepFds must be an array of numbers");
    Napi::Array a = info[3].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value v = a.Get(i);
      if (!v.IsNumber()) return ThrowType(env, "keepFds must be an array of numbers");
      keep.push_back(v.As<Napi::Number>().Int32Value());
    }
  }
  bool quiet = info.Length() > 4 && info[4].IsBoolean() && info[4].As<Napi::Boolean>().Value();
  auto cargv = CStrings(argv);
  auto cenv = CStrings(envp);
  int pidpipe[2], errpipe[2];
  if (pipe2(pidpipe, O_CLOEXEC) < 0) return ThrowErrno(env, "pipe2", errno);
  if (pipe2(errpipe, O_CLOEXEC) < 0) {
    int err = errno;
    close(pidpipe[0]);
    close(pidpipe[1]);
    return ThrowErrno(env, "pipe2", err);
  }
  pid_t mid = fork();
  if (mid < 0) {
    int err = errno;
    close(pidpipe[0]); close(pidpipe[1]); close(errpipe[0]); close(errpipe[1]);
    return ThrowErrno(env, "fork", err);
  }
  if (mid == 0) {
    // Intermediate child: only async-signal-safe calls from here on.
    setsid();
    pid_t grand = fork();
    if (grand == 0) {
      if (quiet) {
        int null_fd = open("/dev/null", O_RDWR);
        if (null_fd >= 0) {
          for (int fd = 0; fd <= 2; fd++) dup2(null_fd, fd);
          if (null_fd > 2) close(null_fd);
        }
      }
      for (int fd : keep) {
        int fl = fcntl(fd, F_GETFD);
        if (fl >= 0) fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
      }
      PrepareForExec();
      execve(file.c_str(), cargv.data(), cenv.data());
      int err = errno;
      ssize_t w = write(errpipe[1], &err, sizeof err);
      (void)w;
      _exit(127);
    }
    ssize_t w = write(pidpipe[1], &grand, sizeof grand);
    (void)w;
    _exit(grand < 0 ? 1 : 0);
  }
  close(pidpipe[1]);
  close(errpipe[1]);
  pid_t grand = -1;
  ssize_t n = read(pidpipe[0], &grand, sizeof grand);
  close(pidpipe[0]);
  int status = 0;
  while (waitpid(mid, &status, 0) < 0 && errno == EINTR) {
  }
  int child_err = 0;
  ssize_t m;
  do {
    m = read(errpipe[0], &child_err, sizeof child_err);
  } while (m < 0 && errno == EINTR);
  close(errpipe[0]);
  if (n != sizeof grand || grand < 0) return ThrowErrno(env, "fork (detached)", EAGAIN);
  if (m == sizeof child_err) return ThrowErrno(env, "execve " + file, child_err);
  return Napi::Number::New(env, grand);
}

// pipe(): [readFd, writeFd], both close-on-exec until setCloexec(fd, false).
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return ThrowErrno(env, "pipe2", errno);
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, Napi::Number::New(env, fds[0]));
  a.Set(1u, Napi::Number::New(env, fds[1]));
  return a;
}

Napi::Value SetCloexec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsBoolean()) return ThrowType(env, "expected (fd: number, on: boolean)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  int fl = fcntl(fd, F_GETFD);
  if (fl < 0) return ThrowErrno(env, "fcntl F_GETFD", errno);
  fl = info[1].As<Napi::Boolean>().Value() ? (fl | FD_CLOEXEC) : (fl & ~FD_CLOEXEC);
  if (fcntl(fd, F_SETFD, fl) < 0) return ThrowErrno(env, "fcntl F_SETFD", errno);
  return env.Undefined();
}

// dup(fd): another descriptor (close-on-exec) for the same open file, e.g. for a socket /proc/self/fd cannot reopen.
Napi::Value Dup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return ThrowType(env, "expected (fd: number)");
  int fd = fcntl(info[0].As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 3);
  if (fd < 0) return ThrowErrno(env, "dup", errno);
  return Napi::Number::New(env, fd);
}

// setPipeSize(fd, bytes): the capacity the kernel granted (it may round up or cap at pipe-max-size).
Napi::Value SetPipeSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) return ThrowType(env, "expected (fd: number, bytes: number)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  int want = info[1].As<Napi::Number>().Int32Value();
  int got = fcntl(fd, F_SETPIPE_SZ, want);
  if (got < 0) got = fcntl(fd, F_GETPIPE_SZ);
  if (got < 0) return ThrowErrno(env, "fcntl F_SETPIPE_SZ", errno);
  return Napi::Number::New(env, got);
}

// Copies between our buffer and another process's memory, completing short transfers. Returns 0 or an errno.
int VmCopy(bool write, pid_t pid, uint64_t remote, uint8_t* local, size_t len) {
  size_t done = 0;
  while (done < len) {
    struct iovec l = { local + done, len - done };
    struct iovec r = { reinterpret_cast<void*>(remote + done), len - done };
    ssize_t n = write ? process_vm_writev(pid, &l, 1, &r, 1, 0) : process_vm_readv(pid, &l, 1, &r, 1, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EFAULT;
    done += static_cast<size_t>(n);
  }
  return 0;
}

// processVm(write, pid, remoteAddress, buffer): copies buffer.length bytes from (read) or to (write) the other
// process's address remoteAddress. Runs in the calling thread (the pipeline calls it from its workers).
Napi::Value ProcessVm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsBoolean() || !info[1].IsNumber() || !info[2].IsBigInt() || !info[3].IsTypedArray()) {
    return ThrowType(env, "expected (write: boolean, pid: number, remoteAddress: bigint, buffer: Uint8Array)");
  }
  bool write = info[0].As<Napi::Boolean>().Value();
  pid_t pid = info[1].As<Napi::Number>().Int32Value();
  bool lossless = false;
  uint64_t remote = info[2].As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) return ThrowType(env, "remoteAddress must fit in 64 bits");
  Napi::TypedArray ta = info[3].As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_uint8_array) return ThrowType(env, "buffer must be a Uint8Array");
  Napi::Uint8Array buf = ta.As<Napi::Uint8Array>();
  int err = VmCopy(write, pid, remote, buf.Data(), buf.ByteLength());
  if (err) return ThrowErrno(env, write ? "process_vm_writev" : "process_vm_readv", err);
  return Napi::Number::New(env, static_cast<double>(buf.ByteLength()));
}

// alignedBuffer(bytes, alignment): an ArrayBuffer whose memory starts on an `alignment` boundary (a power of two, at
// least the pointer size), as O_DIRECT reads and writes need; freed when the ArrayBuffer is collected.
Napi::Value AlignedBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) return ThrowType(env, "expected (bytes: number, alignment: number)");
  double bytes = info[0].As<Napi::Number>().DoubleValue();
  double align = info[1].As<Napi::Number>().DoubleValue();
  if (!(bytes > 0 && bytes <= (1u << 30))) return ThrowType(env, "bytes must be between 1 and 1 GiB");
  size_t a = static_cast<size_t>(align);
  if (a < sizeof(void*) || (a & (a - 1)) != 0 || a != align) return ThrowType(env, "alignment must be a power of two");
  void* mem = nullptr;
  int err = posix_memalign(&mem, a, static_cast<size_t>(bytes));
  if (err) return ThrowErrno(env, "posix_memalign", err);
  memset(mem, 0, static_cast<size_t>(bytes));
  return Napi::ArrayBuffer::New(env, mem, static_cast<size_t>(bytes), [](Napi::Env, void* data) { free(data); });
}

// addressOf(view): where a typed array's bytes start in memory, so a caller can find the aligned part of a buffer
// Node allocated (a SharedArrayBuffer cannot come from alignedBuffer).
Napi::Value AddressOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) return ThrowType(env, "expected a typed array");
  void* data = nullptr;
  napi_status st = napi_get_typedarray_info(env, info[0], nullptr, nullptr, &data, nullptr, nullptr);
  if (st != napi_ok) return ThrowType(env, "cannot read the typed array");
  uint8_t* base = static_cast<uint8_t*>(data);   // already includes the view's byte offset
  return Napi::BigInt::New(env, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(base)));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("addressOf", Napi::Function::New(env, AddressOf));
  exports.Set("alignedBuffer", Napi::Function::New(env, AlignedBuffer));
  exports.Set("processVm", Napi::Function::New(env, ProcessVm));
  exports.Set("execve", Napi::Function::New(env, Execve));
  exports.Set("spawnDetached", Napi::Function::New(env, SpawnDetached));
  exports.Set("pipe", Napi::Function::New(env, Pipe));
  exports.Set("setCloexec", Napi::Function::New(env, SetCloexec));
  exports.Set("setPipeSize", Napi::Function::New(env, SetPipeSize));
  exports.Set("dup", Napi::Function::New(env, Dup));
  RegisterLazy(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(dmtcp_addon, Init)
