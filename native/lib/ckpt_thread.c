/* ckpt_thread.c: the checkpoint thread: follows the coordinator's barriers (SUSPENDED, DRAINED, CHECKPOINTED,
 * REFILLED, RUNNING), writes this process's stream to the image service, and rejoins after a restart. */
#include <pthread.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "dmtcp_lib.h"
#include "../include/dmtcp_sys.h"

volatile int g_restarted;
int g_ckpt_tid;

enum ckpt_result { CKPT_FAILED = -1, CKPT_WRITTEN = 0, CKPT_RESTARTED = 1 };

static struct stream_out stream;
static char stream_path[DMTCP_MAX_PATH];
static char reply[DMTCP_MAX_PATH + 128];
static char coord_ckpt_dir[DMTCP_MAX_PATH];
static uint32_t service_pid;
static int restarted_this_round;       /* the restorer already put the drained pipe bytes into the new pipes */

static int open_unix(const char *path, char *err, size_t errcap)
{
  struct sockaddr_un sa;
  __builtin_memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (dstrlcpy(sa.sun_path, path, sizeof sa.sun_path) >= sizeof sa.sun_path - 1) {
    dfmt(err, errcap, "image service socket path too long: %s", path);
    return -1;
  }
  long fd = dsys3(__NR_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    dfmt(err, errcap, "socket() failed (%ld)", fd);
    return -1;
  }
  int sz = 4 << 20;
  dsys5(__NR_setsockopt, fd, SOL_SOCKET, SO_SNDBUF, (long)&sz, sizeof sz);
  long r;
  do {
    r = dsys3(__NR_connect, fd, (long)&sa, sizeof sa);
  } while (r == -4);
  if (r < 0) {
    d_close((int)fd);
    dfmt(err, errcap, "cannot connect to the image service at %s (errno %ld)", path, -r);
    return -1;
  }
  return (int)fd;
}

/* Streams this process to the image service and reads its one-line verdict: "OK <bytes> <path>" or "ERR <why>". */
static int send_stream(const char *sock_path, char *image, size_t imgcap, uint64_t *bytes, char *err, size_t errcap)
{
  int fd = open_unix(sock_path, err, errcap);
  if (fd < 0) return -1;
  out_init(&stream, fd);
  /* Under Yama ptrace_scope=1 only a named process may read our memory; harmless where Yama is absent. */
  if (service_pid) d_prctl(PR_SET_PTRACER, service_pid, 0, 0, 0);
  int rc = memory_write_stream(&stream, 1, err, errcap);
  dsys2(__NR_shutdown, fd, SHUT_WR);
  size_t used = 0;
  for (;;) {
    long r = d_read(fd, reply + used, sizeof reply - 1 - used);
    if (r == -4) continue;
    if (r <= 0) break;
    used += (size_t)r;
    if (used >= sizeof reply - 1 || reply[used - 1] == '\n') break;
  }
  d_close(fd);
  if (service_pid) d_prctl(PR_SET_PTRACER, 0, 0, 0, 0);
  reply[used] = 0;
  if (used && reply[used - 1] == '\n') reply[used - 1] = 0;
  if (rc < 0) return -1;
  if (reply[0] == 'O' && reply[1] == 'K' && reply[2] == ' ') {
    const char *p = reply + 3;
    uint64_t n = 0;
    while (*p >= '0' && *p <= '9') n = n * 10 + (uint64_t)(*p++ - '0');
    if (*p == ' ') p++;
    *bytes = n;
    dstrlcpy(image, p, imgcap);
    return 0;
  }
  dfmt(err, errcap, "image service: %s", used ? (reply[0] == 'E' && reply[3] == ' ' ? reply + 4 : reply)
                                              : "closed the connection without an answer");
  return -1;
}

/* Decides where this process's image goes: its own --ckptdir, else the coordinator's, else its launch directory. */
static void settle_ckpt_dir(void)
{
  static int explicit_dir = -1;
  if (explicit_dir < 0) explicit_dir = g_cfg.ckpt_dir[0] != 0;
  if (explicit_dir) return;
  dstrlcpy(g_cfg.ckpt_dir, coord_ckpt_dir[0] ? coord_ckpt_dir : g_cfg.launch_dir, sizeof g_cfg.ckpt_dir);
}

/* Runs with every user thread parked. Returns twice in spirit: CKPT_WRITTEN here, CKPT_RESTARTED in a restarted
 * process, where execution comes back through dmtcp_save_context. */
static __attribute__((noinline)) int checkpoint_self(const char *sock_path, char *image, size_t imgcap,
                                                     uint64_t *bytes, char *err, size_t errcap)
{
  struct thread_slot *slot = threads_claim_slot();
  if (!slot) {
    dfmt(err, errcap, "more than %d threads", DMTCP_MAX_THREADS);
    return CKPT_FAILED;
  }
  threads_capture(slot);
  slot->is_ckpt = 1;
  procstate_capture();
  timers_capture();
  settle_ckpt_dir();
  if (dmtcp_save_context(&slot->ctx) != 0) return CKPT_RESTARTED;
  return send_stream(sock_path, image, imgcap, bytes, err, errcap) == 0 ? CKPT_WRITTEN : CKPT_FAILED;
}

static void send_reached(const char *state, const char *image, uint64_t bytes, const char *reason)
{
  static struct msg_out m;
  m.used = 0;
  msg_str(&m, DMTCP_TAG_STATE, state);
  msg_u32(&m, DMTCP_TAG_GENERATION, g_id.generation);
  if (image) msg_str(&m, DMTCP_TAG_IMAGE, image);
  if (image) msg_u64(&m, DMTCP_TAG_IMAGE_BYTES, bytes);
  if (reason) msg_str(&m, DMTCP_TAG_REASON, reason);
  coord_send(DMTCP_MSG_REACHED, &m);
}

static int read_cmdline(char *buf, size_t cap)
{
  long fd = d_open("/proc/self/cmdline", 0, 0);
  if (fd < 0) return 0;
  long n = d_read((int)fd, buf, cap);
  d_close((int)fd);
  return n > 0 ? (int)n : 0;
}

/* HELLO_WORKER, then wait for WELCOME. Returns 0, or -1 with the coordinator's reason in err. */
int ckpt_register(int restarting, char *err, size_t errcap)
{
  static struct msg_out m;
  static uint8_t in[16384];
  static char argv_buf[4096];
  m.used = 0;
  msg_u32(&m, DMTCP_TAG_PROTOCOL_VERSION, DMTCP_PROTO_VERSION);
  msg_u32(&m, DMTCP_TAG_PID, (uint32_t)d_getpid());
  msg_u32(&m, DMTCP_TAG_VPID, (uint32_t)vid_self_pid());
  msg_u32(&m, DMTCP_TAG_PPID, (uint32_t)dsys0(__NR_getppid));
  msg_str(&m, DMTCP_TAG_HOST, g_id.host);
  msg_str(&m, DMTCP_TAG_PROGRAM, g_id.program);
  msg_bytes(&m, DMTCP_TAG_ARGV, argv_buf, (uint32_t)read_cmdline(argv_buf, sizeof argv_buf));
  msg_str(&m, DMTCP_TAG_WORKER_ID, g_id.worker_id);
  msg_u32(&m, DMTCP_TAG_GENERATION, g_id.generation);
  msg_u32(&m, DMTCP_TAG_RESTART, (uint32_t)restarting);
  msg_str(&m, DMTCP_TAG_STATE, restarting ? "RESTARTING" : "RUNNING");
  msg_str(&m, DMTCP_TAG_CKPT_DIR, g_cfg.ckpt_dir);
  if (g_id.computation[0]) msg_str(&m, DMTCP_TAG_COMPUTATION, g_id.computation);
  if (restarting) {
    char image[DMTCP_MAX_PATH];
    uint32_t nprocs = 1;
    if (tlv_get_str(g_restart_info.blob, g_restart_info.blob_len, DMTCP_TLV_IMAGE_PATH, image, sizeof image)) {
      msg_str(&m, DMTCP_TAG_IMAGE, image);
    }
    char n[16];
    if (tlv_get_str(g_restart_info.blob, g_restart_info.blob_len, DMTCP_TLV_NPROCS, n, sizeof n)) {
      nprocs = 0;
      for (const char *p = n; *p >= '0' && *p <= '9'; p++) nprocs = nprocs * 10 + (uint32_t)(*p - '0');
    }
    msg_u32(&m, DMTCP_TAG_NPROCS, nprocs);
  }
  if (coord_send(DMTCP_MSG_HELLO_WORKER, &m) < 0) {
    dfmt(err, errcap, "lost the coordinator while registering");
    return -1;
  }
  uint16_t type;
  size_t len;
  if (coord_recv(&type, in, sizeof in, &len) < 0) {
    dfmt(err, errcap, "the coordinator closed the connection while registering");
    return -1;
  }
  if (type == DMTCP_MSG_REJECT || type == DMTCP_MSG_ERROR) {
    char reason[512] = "no reason given";
    tlv_get_str(in, len, DMTCP_TAG_REASON, reason, sizeof reason);
    dfmt(err, errcap, "the coordinator refused this process: %s", reason);
    return -1;
  }
  if (type != DMTCP_MSG_WELCOME) {
    dfmt(err, errcap, "unexpected message %u from the coordinator while registering", type);
    return -1;
  }
  tlv_get_str(in, len, DMTCP_TAG_COMPUTATION, g_id.computation, sizeof g_id.computation);
  tlv_get_str(in, len, DMTCP_TAG_CKPT_DIR, coord_ckpt_dir, sizeof coord_ckpt_dir);
  g_coord_pid = (int)d_getpid();
  return 0;
}

/* In a restarted process: release the temporary stacks, find the (possibly new) coordinator, say who we are. */
static void rejoin_after_restart(void)
{
  char err[512];
  threads_release_restart_stacks();
  restarted_this_round = 1;
  fds_restore_events();
  timers_restore();
  restart_apply_blob();
  g_id.restarts++;
  api_hook_restart();
  g_coord_fd = -1;
  if (coord_connect(err, sizeof err) < 0 || ckpt_register(1, err, sizeof err) < 0) {
    dlog("restart: %s", err);
    d_exit_group(1);
  }
  dlog_debug("restarted from generation %u", g_id.generation);
}

static void do_checkpoint_barrier(const uint8_t *in, size_t len)
{
  char image[DMTCP_MAX_PATH], err[1024];
  uint64_t bytes = 0;
  uint32_t gen;
  if (tlv_get_u32(in, len, DMTCP_TAG_GENERATION, &gen)) g_id.generation = gen;
  tlv_get_str(in, len, DMTCP_TAG_CKPT_DIR, coord_ckpt_dir, sizeof coord_ckpt_dir);
  service_pid = 0;
  tlv_get_u32(in, len, DMTCP_TAG_SERVICE_PID, &service_pid);
  if (!tlv_get_str(in, len, DMTCP_TAG_STREAM_SOCKET, stream_path, sizeof stream_path)) {
    send_reached("CHECKPOINTED", 0, 0, "the coordinator named no image service");
    return;
  }
  api_hook_pre_checkpoint();
  int r = checkpoint_self(stream_path, image, sizeof image, &bytes, err, sizeof err);
  if (r == CKPT_RESTARTED) {
    rejoin_after_restart();
    return;
  }
  g_id.checkpoints++;
  api_hook_post_checkpoint();
  if (r == CKPT_FAILED) {
    dlog("checkpoint failed: %s", err);
    send_reached("CHECKPOINTED", 0, 0, err);
    return;
  }
  send_reached("CHECKPOINTED", image, bytes, 0);
}

/* Every restarted process of the computation, by its old (virtual) pid and its new real one. */
static void learn_new_pids(const uint8_t *in, size_t len)
{
  const uint8_t *pairs;
  uint32_t plen = 0;
  if (!tlv_find(in, len, DMTCP_TAG_PIDS, &pairs, &plen)) return;
  for (uint32_t i = 0; i + 8 <= plen; i += 8) {
    uint32_t real, virt;
    __builtin_memcpy(&real, pairs + i, 4);
    __builtin_memcpy(&virt, pairs + i + 4, 4);
    if ((int)real != (int)d_getpid()) vid_set((int)virt, (int)real);
  }
}

static void handle_barrier(const uint8_t *in, size_t len)
{
  char state[32];
  char err[512];
  if (!tlv_get_str(in, len, DMTCP_TAG_STATE, state, sizeof state)) return;
  if (!__builtin_strcmp(state, "SUSPENDED")) {
    lazy_wait();            /* after a lazy restore, memory is walked only once every page is back */
    api_begin_checkpoint();
    if (suspend_user_threads(err, sizeof err) < 0) {
      dlog("cannot suspend: %s", err);
      resume_user_threads();
      api_end_checkpoint();
      send_reached("SUSPENDED", 0, 0, err);
      return;
    }
    plugins_pre_checkpoint(in, len);
    send_reached("SUSPENDED", 0, 0, 0);
  } else if (!__builtin_strcmp(state, "DRAINED")) {
    const uint8_t *pairs;
    uint32_t plen = 0;
    if (!tlv_find(in, len, DMTCP_TAG_PIDS, &pairs, &plen)) plen = 0;
    static uint32_t pid_pairs[2048];
    if (plen > sizeof pid_pairs) plen = sizeof pid_pairs;
    __builtin_memcpy(pid_pairs, pairs, plen);
    if (fds_capture(pid_pairs, (int)(plen / 8)) < 0) dlog("warning: cannot list open descriptors");
    fds_drain();
    const uint8_t *nv;
    uint32_t nlen = 0;
    uint64_t nonce = 0x9e3779b97f4a7c15ull ^ g_id.generation;
    if (tlv_find(in, len, DMTCP_TAG_NONCE, &nv, &nlen) && nlen == 8) __builtin_memcpy(&nonce, nv, 8);
    sockets_drain(nonce);
    send_reached(state, 0, 0, 0);
  } else if (!__builtin_strcmp(state, "REFILLED")) {
    if (restarted_this_round) {
      learn_new_pids(in, len);
      sockets_refill();
      fds_release();
      ipc_remove_again();
    } else {
      fds_refill();
    }
    restarted_this_round = 0;
    send_reached(state, 0, 0, 0);
  } else if (!__builtin_strcmp(state, "REBOUND")) {
    /* Restart round: sockets get their addresses back; then fresh ones for rebuilt connections go to the name
     * service; then each connection's other end looks its peer up and connects. */
    learn_new_pids(in, len);
    sockets_restart_bind();
    send_reached(state, 0, 0, 0);
  } else if (!__builtin_strcmp(state, "PUBLISHED")) {
    sockets_restart_publish();
    send_reached(state, 0, 0, 0);
  } else if (!__builtin_strcmp(state, "RECONNECTED")) {
    sockets_restart_connect();
    send_reached(state, 0, 0, 0);
  } else if (!__builtin_strcmp(state, "CHECKPOINTED")) {
    do_checkpoint_barrier(in, len);
  } else if (!__builtin_strcmp(state, "RUNNING")) {
    plugins_resume();
    resume_user_threads();
    api_end_checkpoint();
    send_reached("RUNNING", 0, 0, 0);
  } else {
    dlog("unknown barrier '%s' from the coordinator; ignored", state);
  }
}

/* ---- self-test mode: checkpoint to a raw stream file without any coordinator (DMTCP_SELFTEST_RAW) ---- */

static void selftest_loop(const char *path, long delay_ms)
{
  char err[512], tmp[DMTCP_MAX_PATH + 8];
  d_nanosleep_ns(delay_ms * 1000000L);
  if (suspend_user_threads(err, sizeof err) < 0) dfatal("selftest: %s", err);
  struct thread_slot *slot = threads_claim_slot();
  threads_capture(slot);
  slot->is_ckpt = 1;
  procstate_capture();
  if (dmtcp_save_context(&slot->ctx) != 0) {
    threads_release_restart_stacks();
    dlog("selftest: restarted");
    resume_user_threads();
    return;
  }
  struct { long s, ns; } t0, t1;
  dsys2(__NR_clock_gettime, 1, (long)&t0);
  dfmt(tmp, sizeof tmp, "%s.tmp", path);
  long fd = d_open(tmp, 01 | 0100 | 01000 | 02000000 /* O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC */, 0600);
  if (fd < 0) dfatal("selftest: cannot create %s", tmp);
  out_init(&stream, (int)fd);
  if (memory_write_stream(&stream, 0, err, sizeof err) < 0) dfatal("selftest: %s", err);
  d_close((int)fd);
  dsys2(__NR_rename, (long)tmp, (long)path);
  dsys2(__NR_clock_gettime, 1, (long)&t1);
  dlog("selftest: wrote %s in %ld ms", path, (t1.s - t0.s) * 1000 + (t1.ns - t0.ns) / 1000000);
  resume_user_threads();
}

static void *ckpt_thread_main(void *arg)
{
  (void)arg;
  static uint8_t in[65536];
  g_ckpt_tid = (int)d_gettid();
  d_prctl(PR_SET_NAME, (long)"dmtcp:ckpt", 0, 0, 0);
  const char *selftest = getenv("DMTCP_SELFTEST_RAW");
  if (selftest) {
    const char *d = getenv("DMTCP_SELFTEST_DELAY_MS");
    long ms = 0;
    for (; d && *d >= '0' && *d <= '9'; d++) ms = ms * 10 + (*d - '0');
    selftest_loop(selftest, ms);
    return 0;
  }
  for (;;) {
    uint16_t type;
    size_t len;
    lazy_watch(g_coord_fd);
    if (coord_recv(&type, in, sizeof in, &len) < 0) {
      dlog("lost the connection to the coordinator; this process keeps running but can no longer be checkpointed");
      plugins_resume();
      resume_user_threads();   /* never leave the program frozen by a checkpoint nobody will finish */
      api_end_checkpoint();
      d_close(g_coord_fd);
      g_coord_fd = -1;
      return 0;
    }
    switch (type) {
    case DMTCP_MSG_BARRIER:
      handle_barrier(in, len);
      break;
    case DMTCP_MSG_KILL:
      d_exit_group(0);
    default:
      break;
    }
  }
}

void ckpt_thread_start(void)
{
  uint64_t all = ~0ull, old;
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  d_rt_sigprocmask(SIG_BLOCK, &all, &old);          /* the new thread inherits a fully blocked mask */
  int r = pthread_create(&t, &attr, ckpt_thread_main, 0);
  d_rt_sigprocmask(SIG_SETMASK, &old, 0);
  pthread_attr_destroy(&attr);
  if (r != 0) dfatal("cannot start the checkpoint thread (error %d)", r);
}
