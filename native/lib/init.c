/* init.c: start-up of libdmtcp.so inside a launched program: configuration from the environment dmtcp_launch
 * prepared, the restorer's reserved hole, the checkpoint signal, registration and the checkpoint thread. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "dmtcp_lib.h"
#include "../include/dmtcp_sys.h"

struct dmtcp_config g_cfg;
struct dmtcp_identity g_id;
int g_active;
int g_protected_fd_base = 1020;

static const char *env_first(const char *a, const char *b)
{
  const char *v = getenv(a);
  if ((!v || !*v) && b) v = getenv(b);
  return v && *v ? v : 0;
}

static int env_flag(const char *name, int dflt)
{
  const char *v = getenv(name);
  if (!v || !*v) return dflt;
  return !(v[0] == '0' || v[0] == 'n' || v[0] == 'N' || v[0] == 'f' || v[0] == 'F');
}

/* Resolves the coordinator host once, now, while resolving is safe (never again while threads are frozen). */
static int resolve_coordinator(void)
{
  struct addrinfo hints, *res = 0;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = AF_UNSPEC;
  if (getaddrinfo(g_cfg.coord_host, 0, &hints, &res) != 0 || !res) return -1;
  struct addrinfo *pick = res;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET) {
      pick = ai;
      break;
    }
  }
  int ok = getnameinfo(pick->ai_addr, pick->ai_addrlen, g_cfg.coord_addr, sizeof g_cfg.coord_addr, 0, 0,
                       NI_NUMERICHOST) == 0;
  freeaddrinfo(res);
  return ok ? 0 : -1;
}

static void absolute_dir(char *dst, size_t cap, const char *dir)
{
  if (dir[0] == '/') {
    dstrlcpy(dst, dir, cap);
    return;
  }
  char cwd[DMTCP_MAX_PATH];
  if (!getcwd(cwd, sizeof cwd)) cwd[0] = 0;
  dfmt(dst, cap, "%s/%s", cwd, dir);
}

static void read_config(void)
{
  const char *v;
  dstrlcpy(g_cfg.coord_host, (v = env_first("DMTCP_COORD_HOST", "DMTCP_HOST")) ? v : "127.0.0.1",
           sizeof g_cfg.coord_host);
  v = env_first("DMTCP_COORD_PORT", "DMTCP_PORT");
  g_cfg.coord_port = v ? atoi(v) : 7779;
  if ((v = env_first("DMTCP_CHECKPOINT_DIR", 0))) {
    absolute_dir(g_cfg.ckpt_dir, sizeof g_cfg.ckpt_dir, v);
    g_cfg.explicit_ckpt_dir = 1;
  }
  Dl_info self;
  if (dladdr((void *)&read_config, &self) && self.dli_fname) dstrlcpy(g_cfg.lib_path, self.dli_fname, sizeof g_cfg.lib_path);
  if (!getcwd(g_cfg.launch_dir, sizeof g_cfg.launch_dir)) g_cfg.launch_dir[0] = 0;
  dstrlcpy(g_cfg.tmpdir, (v = env_first("DMTCP_TMPDIR", "TMPDIR")) ? v : "/tmp", sizeof g_cfg.tmpdir);
  g_cfg.ckpt_signal = (v = env_first("DMTCP_SIGCKPT", 0)) ? atoi(v) : SIGUSR2;
  if (g_cfg.ckpt_signal < 1 || g_cfg.ckpt_signal > 64 || g_cfg.ckpt_signal == SIGKILL ||
      g_cfg.ckpt_signal == SIGSTOP) {
    dfatal("DMTCP_SIGCKPT=%d is not a usable signal number; pick one of 1-64 other than 9 and 19",
           g_cfg.ckpt_signal);
  }
  if ((v = env_first("DMTCP_CODEC", 0))) dstrlcpy(g_cfg.codec, v, sizeof g_cfg.codec);
  else if (!env_flag("DMTCP_GZIP", 1)) dstrlcpy(g_cfg.codec, "none", sizeof g_cfg.codec);
  g_cfg.debug = env_flag("DMTCP_DEBUG", 0);
  g_cfg.unique_ckpt = env_flag("DMTCP_UNIQUE_CKPT_PLUGIN", 0);
  g_cfg.ckpt_open_files = env_flag("DMTCP_CKPT_OPEN_FILES", 0);
  if (env_flag("DMTCP_INCREMENTAL", 0)) {
    v = env_first("DMTCP_INCREMENTAL_FULL_EVERY", 0);
    g_cfg.incremental = v ? atoi(v) : 8;
    if (g_cfg.incremental < 1) g_cfg.incremental = 8;
    g_cfg.unique_ckpt = 1;             /* a generation must not overwrite the image the next one depends on */
  }
  if ((v = env_first("DMTCP_TS_PLUGINS", 0))) dstrlcpy(g_cfg.ts_plugins, v, sizeof g_cfg.ts_plugins);

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 1024 && rl.rlim_cur > 16) {
    g_protected_fd_base = (int)rl.rlim_cur - 4;
  }
}

/* A fresh worker id: <hash of host>-<pid>-<microseconds>, stable across restarts of this process. */
static void new_worker_id(void)
{
  uint32_t hostid = 2166136261u;
  for (const char *p = g_id.host; *p; p++) hostid = (hostid ^ (uint8_t)*p) * 16777619u;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t stamp = (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
  dfmt(g_id.worker_id, sizeof g_id.worker_id, "%08x-%d-%lx", hostid, g_id.origin_pid, (unsigned long)stamp);
}

/* Ids inherited through exec: which virtual pid this process has and the computation's pid table. */
static void read_inherited_ids(void)
{
  const char *map = getenv("DMTCP_PIDMAP");
  if (map) vid_parse(map);
  const char *vp = getenv("DMTCP_VIRTUAL_PID");
  int virt = 0, real = 0;
  for (; vp && *vp >= '0' && *vp <= '9'; vp++) virt = virt * 10 + (*vp - '0');
  if (vp && *vp == ':') {
    for (vp++; *vp >= '0' && *vp <= '9'; vp++) real = real * 10 + (*vp - '0');
  }
  int self = (int)d_getpid();
  if (virt && real == self) vid_set(virt, self);   /* exec of the same process */
  else vid_new_process(self);                      /* a process spawned by one under checkpoint control */
  const char *comp = getenv("DMTCP_COMPUTATION");
  if (comp) dstrlcpy(g_id.computation, comp, sizeof g_id.computation);
}

static void read_identity(void)
{
  char exe[DMTCP_MAX_PATH];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  exe[n > 0 ? n : 0] = 0;
  const char *base = strrchr(exe, '/');
  dstrlcpy(g_id.program, base ? base + 1 : exe, sizeof g_id.program);
  if (gethostname(g_id.host, sizeof g_id.host) != 0) dstrlcpy(g_id.host, "localhost", sizeof g_id.host);
  g_id.origin_pid = getpid();
  new_worker_id();
}

/* fork: the child is a new process of the same computation, with one thread and a copy of our state. It must not
 * speak on the parent's coordinator connection: it gets its own, a new worker id and its own checkpoint thread.
 * No checkpoint starts in the parent until the child has registered: one that stopped the parent first would leave
 * out a child the parent already knows (and later waits for). The child closes its end of a pipe once registered
 * (or given up); the parent waits for that end of file, at most FORK_SYNC_MS, before it lets checkpoints in again.
 * Write ends of forks under way in other threads are listed so that a child closes them too. */
#define FORK_SYNC_MS 2000
#define FORK_SYNC_SLOTS 64
static __thread int fork_sync[2] __attribute__((tls_model("initial-exec"))) = { -1, -1 };
static int fork_sync_writers[FORK_SYNC_SLOTS];   /* write end + 1 of each fork under way; 0 = free */

static void atfork_prepare(void)
{
  dmtcp_disable_ckpt();     /* no checkpoint starts while a thread is in the middle of fork */
  /* A child must not copy areas a lazy restore has not filled yet. Waited for with checkpoints held, so no checkpoint
   * (and restart, with a new lazy restore) comes between the wait and the fork. */
  lazy_wait();
  if (dsys2(__NR_pipe2, (long)fork_sync, O_CLOEXEC) < 0) {
    fork_sync[0] = fork_sync[1] = -1;
    return;
  }
  for (int i = 0; i < FORK_SYNC_SLOTS; i++) {
    int free_slot = 0;
    if (__atomic_compare_exchange_n(&fork_sync_writers[i], &free_slot, fork_sync[1] + 1, 0, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST)) {
      break;
    }
  }
}

static void forget_fork_sync(int write_end)
{
  for (int i = 0; i < FORK_SYNC_SLOTS; i++) {
    int mine = write_end + 1;
    if (__atomic_compare_exchange_n(&fork_sync_writers[i], &mine, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) break;
  }
}

/* Our fork wrapper keeps checkpoints out until it has also translated the child's pid (fork_wrapper_leave). */
static __thread int fork_in_wrapper __attribute__((tls_model("initial-exec")));
static __thread int fork_ckpt_held __attribute__((tls_model("initial-exec")));

void fork_wrapper_enter(void)
{
  fork_in_wrapper = 1;
}

void fork_wrapper_leave(void)
{
  fork_in_wrapper = 0;
  if (!fork_ckpt_held) return;
  fork_ckpt_held = 0;
  dmtcp_enable_ckpt();
}

static void atfork_parent(void)
{
  if (fork_sync[0] >= 0) {
    forget_fork_sync(fork_sync[1]);
    d_close(fork_sync[1]);
    struct pollfd pf = { fork_sync[0], POLLIN, 0 };
    while (dsys3(__NR_poll, (long)&pf, 1, FORK_SYNC_MS) == -EINTR) {
    }
    d_close(fork_sync[0]);
    fork_sync[0] = fork_sync[1] = -1;
  }
  if (fork_in_wrapper) fork_ckpt_held = 1;
  else dmtcp_enable_ckpt();
}

/* Tells the parent (waiting in atfork_parent) that this child is registered, or never will be. */
static void fork_child_settled(void)
{
  if (fork_sync[1] < 0) return;
  d_close(fork_sync[1]);
  fork_sync[0] = fork_sync[1] = -1;
}

static void atfork_child(void)
{
  /* Other threads' forks under way in the parent: their write ends are not ours to hold open. */
  for (int i = 0; i < FORK_SYNC_SLOTS; i++) {
    int w = fork_sync_writers[i];
    fork_sync_writers[i] = 0;
    if (w && w - 1 != fork_sync[1]) d_close(w - 1);
  }
  if (fork_sync[0] >= 0) d_close(fork_sync[0]);
  api_after_fork();
  vid_after_fork();
  suspend_after_fork();
  d_close(g_coord_fd);
  g_coord_fd = -1;
  g_id.origin_pid = (int)d_getpid();
  g_id.checkpoints = 0;
  g_id.restarts = 0;
  new_worker_id();
  char err[512];
  if (coord_connect(err, sizeof err) < 0 || ckpt_register(0, err, sizeof err) < 0) {
    dlog("forked child not under checkpoint control: %s", err);
    g_active = 0;
    fork_child_settled();
    return;
  }
  ckpt_thread_start();
  fork_child_settled();
}

__attribute__((constructor(101))) static void dmtcp_init(void)
{
  int selftest = getenv("DMTCP_SELFTEST_RAW") != 0;
  if (!selftest && !env_first("DMTCP_COORD_PORT", "DMTCP_PORT") && !env_first("DMTCP_COORD_HOST", "DMTCP_HOST")) {
    return;   /* preloaded without dmtcp_launch's environment: stay out of the way */
  }
  read_config();
  read_identity();
  read_inherited_ids();
  memory_reserve_restorer_hole();
  plugins_load();           /* after the hole is reserved; a plugin that cannot load stops us before registering */
  threads_init();
  api_init();
  suspend_install_handler();
  if (!selftest) {
    char err[512];
    if (resolve_coordinator() < 0) {
      dfatal("cannot resolve the coordinator host '%s'; set DMTCP_COORD_HOST to a reachable name or address",
             g_cfg.coord_host);
    }
    if (coord_connect(err, sizeof err) < 0 || ckpt_register(0, err, sizeof err) < 0) dfatal("%s", err);
  }
  g_active = 1;
  pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
  plugins_init();
  ckpt_thread_start();
}
