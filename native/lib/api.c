/* api.c: what the program can ask of checkpointing itself: its hook functions (mtcpHook*) and the dmtcp.h calls. */
#include <dlfcn.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include "dmtcp_lib.h"
#include "../include/dmtcp_sys.h"
#include "../api/dmtcp.h"

static void (*hook_pre)(void), (*hook_post)(void), (*hook_restart)(void);
static int ckpt_disabled;              /* futex: dmtcp_disable_ckpt() nesting across all threads */
static int ckpt_pending;               /* futex: a checkpoint waits to start, or is under way */
static pthread_mutex_t client_lock = PTHREAD_MUTEX_INITIALIZER;

/* Resolved now, while the loader's lock is free; never looked up while threads are stopped. */
void api_init(void)
{
  hook_pre = (void (*)(void))dlsym(RTLD_DEFAULT, "mtcpHookPreCheckpoint");
  hook_post = (void (*)(void))dlsym(RTLD_DEFAULT, "mtcpHookPostCheckpoint");
  hook_restart = (void (*)(void))dlsym(RTLD_DEFAULT, "mtcpHookRestart");
}

void api_hook_pre_checkpoint(void)
{
  if (hook_pre) hook_pre();
}

void api_hook_post_checkpoint(void)
{
  if (hook_post) hook_post();
}

void api_hook_restart(void)
{
  if (hook_restart) hook_restart();
}

/* The checkpoint thread, before suspending: wait until no critical section is open, and keep new ones out. */
void api_begin_checkpoint(void)
{
  __atomic_store_n(&ckpt_pending, 1, __ATOMIC_SEQ_CST);
  for (;;) {
    int n = __atomic_load_n(&ckpt_disabled, __ATOMIC_SEQ_CST);
    if (n <= 0) break;
    d_futex(&ckpt_disabled, FUTEX_WAIT | FUTEX_PRIVATE_FLAG, n, 0);
  }
}

void api_end_checkpoint(void)
{
  __atomic_store_n(&ckpt_pending, 0, __ATOMIC_SEQ_CST);
  d_futex(&ckpt_pending, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 0x7fffffff, 0);
}

/* In a fork child: the parent's critical sections and checkpoint are not the child's. */
void api_after_fork(void)
{
  ckpt_disabled = 0;
  ckpt_pending = 0;
  pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
  client_lock = fresh;
}

int dmtcp_is_enabled(void)
{
  return g_active;
}

int dmtcp_disable_ckpt(void)
{
  if (!g_active) return 0;
  for (;;) {
    __atomic_fetch_add(&ckpt_disabled, 1, __ATOMIC_SEQ_CST);
    if (!__atomic_load_n(&ckpt_pending, __ATOMIC_SEQ_CST)) return 1;
    /* A checkpoint got there first: step back, let it run, then try again. */
    __atomic_fetch_sub(&ckpt_disabled, 1, __ATOMIC_SEQ_CST);
    d_futex(&ckpt_disabled, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, 0);
    while (__atomic_load_n(&ckpt_pending, __ATOMIC_SEQ_CST)) d_futex(&ckpt_pending, FUTEX_WAIT | FUTEX_PRIVATE_FLAG, 1, 0);
  }
}

int dmtcp_enable_ckpt(void)
{
  if (!g_active) return 0;
  if (__atomic_fetch_sub(&ckpt_disabled, 1, __ATOMIC_SEQ_CST) <= 0) __atomic_fetch_add(&ckpt_disabled, 1, __ATOMIC_SEQ_CST);
  d_futex(&ckpt_disabled, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, 0);
  return 1;
}

int dmtcp_get_generation(void)
{
  return g_active ? (int)g_id.generation : 0;
}

int dmtcp_get_local_status(int *num_checkpoints, int *num_restarts)
{
  if (num_checkpoints) *num_checkpoints = g_active ? (int)g_id.checkpoints : 0;
  if (num_restarts) *num_restarts = g_active ? (int)g_id.restarts : 0;
  return g_active;
}

/* A short client connection to the coordinator on a protected descriptor; sends one COMMAND and returns the RESULT
 * payload in `in`, or -1. In a restarted process a call that was waiting returns -1 (its socket did not survive). */
static int coordinator_request(const char *verb, uint8_t *in, size_t cap, size_t *len)
{
  static struct msg_out m;
  struct sockaddr_in sa;
  __builtin_memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)g_cfg.coord_port);
  if (inet_pton(AF_INET, g_cfg.coord_addr, &sa.sin_addr) != 1) return -1;
  long fd = dsys3(__NR_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int slot = fd_protect((int)fd, PROTECTED_REQUEST);
  if (slot < 0) {
    d_close((int)fd);
    return -1;
  }
  int rc = -1;
  uint16_t type;
  if (dsys3(__NR_connect, slot, (long)&sa, sizeof sa) < 0) goto out;
  m.used = 0;
  msg_str(&m, DMTCP_TAG_CLIENT, "dmtcp.h");
  msg_u32(&m, DMTCP_TAG_PROTOCOL_VERSION, DMTCP_PROTO_VERSION);
  if (coord_send_fd(slot, DMTCP_MSG_HELLO_CLIENT, &m) < 0 || coord_recv_fd(slot, &type, in, cap, len) < 0 || type != DMTCP_MSG_WELCOME) goto out;
  m.used = 0;
  msg_str(&m, DMTCP_TAG_COMMAND, verb);
  if (coord_send_fd(slot, DMTCP_MSG_COMMAND, &m) < 0 || coord_recv_fd(slot, &type, in, cap, len) < 0 || type != DMTCP_MSG_RESULT) goto out;
  rc = 0;
out:
  d_close(slot);
  return rc;
}

int dmtcp_checkpoint(void)
{
  static uint8_t in[65536];
  if (!g_active) return DMTCP_NOT_PRESENT;
  pthread_mutex_lock(&client_lock);
  uint32_t restarts = g_id.restarts;
  size_t len;
  int rc = coordinator_request("bc", in, sizeof in, &len);
  uint32_t ok = 0;
  if (rc == 0) tlv_get_u32(in, len, DMTCP_TAG_OK, &ok);
  int restarted = g_id.restarts != restarts;
  pthread_mutex_unlock(&client_lock);
  if (restarted) return DMTCP_AFTER_RESTART;
  return rc == 0 && ok ? DMTCP_AFTER_CHECKPOINT : DMTCP_ERROR;
}

/* Finds "key": in a small JSON text and reads the number or boolean after it. */
static int json_value(const char *json, const char *key, int *out)
{
  for (const char *p = json; *p; p++) {
    const char *a = p, *k = key;
    while (*k && *a == *k) a++, k++;
    if (*k) continue;
    while (*a == ' ' || *a == ':') a++;
    if (*a == 't') return *out = 1, 1;
    if (*a == 'f') return *out = 0, 1;
    int v = 0;
    while (*a >= '0' && *a <= '9') v = v * 10 + (*a++ - '0');
    *out = v;
    return 1;
  }
  return 0;
}

int dmtcp_get_coordinator_status(int *num_peers, int *is_running)
{
  static uint8_t in[65536];
  static char json[8192];
  if (!g_active) return 0;
  pthread_mutex_lock(&client_lock);
  size_t len;
  int rc = coordinator_request("s", in, sizeof in, &len);
  if (rc == 0) rc = tlv_get_str(in, len, DMTCP_TAG_JSON, json, sizeof json) ? 0 : -1;
  int peers = 0, running = 0;
  if (rc == 0) {
    json_value(json, "\"numPeers\"", &peers);
    json_value(json, "\"running\"", &running);
  }
  pthread_mutex_unlock(&client_lock);
  if (rc < 0) return DMTCP_ERROR;
  if (num_peers) *num_peers = peers;
  if (is_running) *is_running = running;
  return 1;
}
