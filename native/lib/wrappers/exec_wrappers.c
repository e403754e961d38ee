/* exec_wrappers.c: a program under checkpoint control stays under it across exec, even when it passes an environment
 * without ours: every exec and posix_spawn gets LD_PRELOAD and the DMTCP_* settings of this process put back. The new
 * environment is built on the stack, so the wrappers are safe in a vfork child. */
#include <alloca.h>
#include <errno.h>
#include <spawn.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "wrappers.h"
#include "../../include/dmtcp_sys.h"

extern char **environ;

/* LD_PRELOAD with this library first and whatever else the caller preloads after it. */
static void merged_preload(char *out, size_t cap, char **env)
{
  const char *old = "";
  for (int i = 0; env[i]; i++) {
    if (!strncmp(env[i], "LD_PRELOAD=", 11)) old = env[i] + 11;
  }
  size_t used = (size_t)dfmt(out, cap, "LD_PRELOAD=%s", g_cfg.lib_path);
  while (*old && used + 2 < cap) {
    while (*old == ':' || *old == ' ') old++;
    const char *end = old;
    while (*end && *end != ':' && *end != ' ') end++;
    size_t len = (size_t)(end - old);
    int is_us = len >= 11 && !strncmp(end - 11, "libdmtcp.so", 11);
    if (len && !is_us && used + len + 2 < cap) {
      out[used++] = ':';
      memcpy(out + used, old, len);
      used += len;
      out[used] = 0;
    }
    old = end;
  }
}

/* Our variables, rendered for the current state (the coordinator may have moved after a restart). */
static int our_vars(char out[][DMTCP_MAX_PATH + 32], int max, char **env)
{
  int n = 0;
  if (n < max) merged_preload(out[n++], sizeof out[0], env);
  if (n < max) dfmt(out[n++], sizeof out[0], "DMTCP_COORD_HOST=%s", g_cfg.coord_addr);
  if (n < max) dfmt(out[n++], sizeof out[0], "DMTCP_COORD_PORT=%d", g_cfg.coord_port);
  if (n < max) dfmt(out[n++], sizeof out[0], "DMTCP_SIGCKPT=%d", g_cfg.ckpt_signal);
  if (n < max) dfmt(out[n++], sizeof out[0], "DMTCP_TMPDIR=%s", g_cfg.tmpdir);
  if (g_cfg.explicit_ckpt_dir && n < max) dfmt(out[n++], sizeof out[0], "DMTCP_CHECKPOINT_DIR=%s", g_cfg.ckpt_dir);
  if (g_cfg.codec[0] && n < max) dfmt(out[n++], sizeof out[0], "DMTCP_CODEC=%s", g_cfg.codec);
  if (g_cfg.unique_ckpt && n < max) dstrlcpy(out[n++], "DMTCP_UNIQUE_CKPT_PLUGIN=1", sizeof out[0]);
  if (g_cfg.debug && n < max) dstrlcpy(out[n++], "DMTCP_DEBUG=1", sizeof out[0]);
  if (g_cfg.ckpt_open_files && n < max) dstrlcpy(out[n++], "DMTCP_CKPT_OPEN_FILES=1", sizeof out[0]);
  if (g_cfg.incremental && n < max) dstrlcpy(out[n++], "DMTCP_INCREMENTAL=1", sizeof out[0]);
  if (g_cfg.incremental && n < max) dfmt(out[n++], sizeof out[0], "DMTCP_INCREMENTAL_FULL_EVERY=%d", g_cfg.incremental);
  if (g_cfg.ts_plugins[0] && n < max) dfmt(out[n++], sizeof out[0], "DMTCP_TS_PLUGINS=%s", g_cfg.ts_plugins);
  if (plugins_list()[0] && n < max) dfmt(out[n++], sizeof out[0], "DMTCP_PLUGIN=%s", plugins_list());
  if (n < max) dfmt(out[n++], sizeof out[0], "DMTCP_VIRTUAL_PID=%d:%d", vid_self_pid(), (int)d_getpid());
  if (n < max) {
    char map[DMTCP_MAX_PATH];
    vid_format(map, sizeof map - 16);
    if (map[0]) dfmt(out[n++], sizeof out[0], "DMTCP_PIDMAP=%s", map);
  }
  if (n < max) dfmt(out[n++], sizeof out[0], "DMTCP_COMPUTATION=%s", g_id.computation);
  return n;
}

static int ours(const char *entry)
{
  static const char *const names[] = { "LD_PRELOAD=", "DMTCP_COORD_HOST=", "DMTCP_COORD_PORT=", "DMTCP_SIGCKPT=",
                                       "DMTCP_TMPDIR=", "DMTCP_CHECKPOINT_DIR=", "DMTCP_CODEC=",
                                       "DMTCP_UNIQUE_CKPT_PLUGIN=", "DMTCP_DEBUG=", "DMTCP_VIRTUAL_PID=",
                                       "DMTCP_COMPUTATION=", "DMTCP_PORT=", "DMTCP_HOST=", "DMTCP_PIDMAP=",
                                       "DMTCP_CKPT_OPEN_FILES=", "DMTCP_PLUGIN=", "DMTCP_TS_PLUGINS=",
                                       "DMTCP_INCREMENTAL=", "DMTCP_INCREMENTAL_FULL_EVERY=", 0 };
  for (int i = 0; names[i]; i++) {
    if (!strncmp(entry, names[i], strlen(names[i]))) return 1;
  }
  return 0;
}

#define MAX_OURS 20   /* every variable our_vars() can produce, with room to spare */

/* The caller's environment without our variables, followed by ours; `vars` and `list` live in the caller's frame. */
#define WITH_OUR_ENV(envp, result)                                                                  \
  do {                                                                                              \
    char **in_ = (envp) ? (envp) : (char *[]){ 0 };                                                 \
    int count_ = 0;                                                                                 \
    while (in_[count_]) count_++;                                                                   \
    char(*vars_)[DMTCP_MAX_PATH + 32] = alloca(sizeof(*vars_) * MAX_OURS);                           \
    int nv_ = g_active ? our_vars(vars_, MAX_OURS, in_) : 0;                                              \
    char **list_ = alloca(sizeof(char *) * (size_t)(count_ + nv_ + 1));                              \
    int k_ = 0;                                                                                     \
    for (int i_ = 0; i_ < count_; i_++) if (!g_active || !ours(in_[i_])) list_[k_++] = in_[i_];      \
    for (int i_ = 0; i_ < nv_; i_++) list_[k_++] = vars_[i_];                                        \
    list_[k_] = 0;                                                                                  \
    (result) = list_;                                                                               \
  } while (0)

/* Between exec and the new image's registration the process is known to no one: a checkpoint then would leave it
 * out, and its parent would wait after a restart for a child that does not exist. So the coordinator hears "EXEC"
 * first (and waits for the new image before it lets a checkpoint stop the others), and "RUNNING" again when exec
 * failed. No checkpoint starts here meanwhile. A vfork child stays quiet: the connection is its parent's. */
static int exec_lock;

static void exec_say(const char *state)
{
  static struct msg_out m;
  dspin_lock(&exec_lock);
  m.used = 0;
  msg_str(&m, DMTCP_TAG_STATE, state);
  coord_send(DMTCP_MSG_UPDATE, &m);
  dspin_unlock(&exec_lock);
}

static int exec_begin(void)
{
  if (!g_active || g_coord_fd < 0 || (int)d_getpid() != g_coord_pid) return 0;
  dmtcp_disable_ckpt();
  exec_say("EXEC");
  return 1;
}

/* Only reached when exec failed: returns r with errno as exec left it. */
static int exec_failed(int announced, int r)
{
  if (!announced) return r;
  int saved = errno;
  exec_say("RUNNING");
  dmtcp_enable_ckpt();
  errno = saved;
  return r;
}

int execve(const char *path, char *const argv[], char *const envp[])
{
  int announced = exec_begin();
  char **env;
  WITH_OUR_ENV((char **)envp, env);
  return exec_failed(announced, NEXT_FN(execve)(path, argv, env));
}

int execvpe(const char *file, char *const argv[], char *const envp[])
{
  int announced = exec_begin();
  char **env;
  WITH_OUR_ENV((char **)envp, env);
  return exec_failed(announced, NEXT_FN(execvpe)(file, argv, env));
}

int fexecve(int fd, char *const argv[], char *const envp[])
{
  int announced = exec_begin();
  char **env;
  WITH_OUR_ENV((char **)envp, env);
  return exec_failed(announced, NEXT_FN(fexecve)(fd, argv, env));
}

int execv(const char *path, char *const argv[])
{
  return execve(path, argv, environ);
}

int execvp(const char *file, char *const argv[])
{
  return execvpe(file, argv, environ);
}

/* The list forms collect their arguments into an argv on the stack. */
#define COLLECT_ARGS(first, ap, argv)                                       \
  do {                                                                      \
    va_list count_ap;                                                       \
    va_copy(count_ap, ap);                                                  \
    int n_ = 1;                                                             \
    while (va_arg(count_ap, char *)) n_++;                                   \
    va_end(count_ap);                                                       \
    (argv) = alloca(sizeof(char *) * (size_t)(n_ + 1));                      \
    (argv)[0] = (char *)(first);                                            \
    for (int i_ = 1; i_ <= n_; i_++) (argv)[i_] = va_arg(ap, char *);        \
  } while (0)

int execl(const char *path, const char *arg, ...)
{
  va_list ap;
  va_start(ap, arg);
  char **argv;
  COLLECT_ARGS(arg, ap, argv);
  va_end(ap);
  return execve(path, argv, environ);
}

int execlp(const char *file, const char *arg, ...)
{
  va_list ap;
  va_start(ap, arg);
  char **argv;
  COLLECT_ARGS(arg, ap, argv);
  va_end(ap);
  return execvpe(file, argv, environ);
}

int execle(const char *path, const char *arg, ...)
{
  va_list ap;
  va_start(ap, arg);
  char **argv;
  COLLECT_ARGS(arg, ap, argv);
  char **envp = va_arg(ap, char **);
  va_end(ap);
  return execve(path, argv, envp);
}

int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr,
                char *const argv[], char *const envp[])
{
  char **env;
  WITH_OUR_ENV((char **)envp, env);
  pid_t real = 0;
  int r = NEXT_FN(posix_spawn)(&real, path, fa, attr, argv, env);
  if (r == 0 && pid) *pid = vid_new_process(real);
  return r;
}

int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr,
                 char *const argv[], char *const envp[])
{
  char **env;
  WITH_OUR_ENV((char **)envp, env);
  pid_t real = 0;
  int r = NEXT_FN(posix_spawnp)(&real, file, fa, attr, argv, env);
  if (r == 0 && pid) *pid = vid_new_process(real);
  return r;
}
