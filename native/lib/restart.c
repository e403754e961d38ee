/* restart.c: the library's side of restart: entered from mtcp_restart once every area is back in place, it
 * removes the restorer, gives back process-wide state and recreates the threads, each resuming where it stopped. */
#include <errno.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <asm/prctl.h>

#include "dmtcp_lib.h"
#include "../include/dmtcp_sys.h"

__attribute__((aligned(64), visibility("hidden"))) char g_restart_stack[128 * 1024];
__asm__(".globl g_restart_stack_top\n.hidden g_restart_stack_top\n"
        ".set g_restart_stack_top, g_restart_stack + 131072");

struct dmtcp_restart_info g_restart_info;

/* Called by dmtcp_restart_entry (context.S) on g_restart_stack; fs is 0 and every signal is blocked. */
void dmtcp_restart_main(struct dmtcp_restart_info *info) DMTCP_HIDDEN __attribute__((noreturn, used));
void dmtcp_restart_main(struct dmtcp_restart_info *info)
{
  struct thread_slot *main_slot = threads_main_slot();
  if (!main_slot) d_exit_group(98);
  /* TLS first: compiled code may read the stack-protector canary or errno through fs. */
  d_arch_prctl(ARCH_SET_FS, (long)main_slot->fs_base);

  if (info->magic != DMTCP_RESTART_INFO_MAGIC || info->version != DMTCP_RESTART_INFO_VERSION) {
    dfatal("restart: the restorer and this library do not match (info magic %x version %u)", info->magic,
           info->version);
  }
  __builtin_memcpy(&g_restart_info, info, sizeof g_restart_info);
  lazy_adopt(g_restart_info.lazy_fd, g_restart_info.lazy_uffd);
  ipc_after_restart(&g_restart_info);

  /* The restorer is dead code now; put our placeholder back so the next restart finds the range free. */
  d_munmap((void *)g_restart_info.restorer_lo, g_restart_info.restorer_hi - g_restart_info.restorer_lo);
  memory_reserve_restorer_hole();

  procstate_restore();
  g_restarted = 1;
  vid_reset();          /* the old real tids mean nothing here; each thread records its new one */
  for (uint32_t i = 0; i < g_restart_info.n_zombies && i < DMTCP_MAX_ZOMBIES; i++) {
    vid_set(g_restart_info.zombies[i][0], g_restart_info.zombies[i][1]);   /* children that wait to be reaped */
  }
  /* This task's own entry (its old pid) before any other thread exists: the checkpoint thread, recreated next,
   * registers with the coordinator under vid_self_pid(), and every other process learns our new pid from that. Done
   * after the clones, a main thread slowed down here (a lazily restored page, a busy machine) let the checkpoint
   * thread register the new real pid as the process's own: its parent then waited for the old pid in vain (ECHILD). */
  threads_fixup_after_restart(main_slot);
  threads_recreate();
  dmtcp_restore_context(&main_slot->ctx, 0);
}

/* Lazy restore: the decoder fills some areas after we resume, through a userfaultfd of which we hold a copy too (so
 * a page never brought stays missing, and the thread touching it waits, rather than reading as zeros). A checkpoint
 * must not walk memory before every page is in (missing pages would look like zero pages), nor may fork copy it (the
 * child's areas would not be filled). The decoder holds the only write end of a pipe we read: it writes one byte
 * when every page is in, then closes it. So once the pipe has ended (POLLHUP), one unread byte in it means done and
 * none means the decoder died first. Nobody reads that byte, so every thread that looks comes to the same answer. */
static int lazy_fd = -1;
static int lazy_uffd = -1;

void lazy_adopt(int fd, int uffd)
{
  if (fd < 0) {
    if (uffd >= 0) d_close(uffd);
    return;
  }
  if (uffd >= 0) {
    int u = fd_protect(uffd, PROTECTED_LAZY_UFFD);
    __atomic_store_n(&lazy_uffd, u >= 0 ? u : uffd, __ATOMIC_RELEASE);
  }
  int slot = fd_protect(fd, PROTECTED_LAZY);
  __atomic_store_n(&lazy_fd, slot >= 0 ? slot : fd, __ATOMIC_RELEASE);
}

/* The pipe has ended: lets the areas go (every page is in), or ends the process (some never will be). */
static void lazy_ended(int fd)
{
  int left = 0;
  if (dsys3(__NR_ioctl, fd, FIONREAD, (long)&left) < 0 || left < 1) {
    dlog("the restart's decoder ended before every page of this lazily restored process was back; it cannot go on. "
         "Restart it again (dmtcp_restart --no-lazy puts every page back before the program resumes)");
    d_exit_group(70);
  }
  int u = __atomic_exchange_n(&lazy_uffd, -1, __ATOMIC_ACQ_REL);
  if (u >= 0) d_close(u);   /* the areas become ordinary memory; a thread waiting on a dropped page goes on */
  /* The descriptor stays open (protected, ended), so a thread that looks a moment after another finished never
   * polls a reused descriptor number. */
  __atomic_store_n(&lazy_fd, -1, __ATOMIC_RELEASE);
}

/* Returns once every lazily restored page is in place (or ends the process when that will never be). */
void lazy_wait(void)
{
  int fd = __atomic_load_n(&lazy_fd, __ATOMIC_ACQUIRE);
  if (fd < 0) return;
  struct pollfd pf = { fd, 0, 0 };   /* only the end of the pipe matters: POLLHUP comes unasked */
  while (dsys3(__NR_poll, (long)&pf, 1, -1) == -EINTR) {
  }
  lazy_ended(fd);
}

/* The checkpoint thread, before each message from the coordinator: returns once one is there to read, and watches
 * meanwhile for a lazy restore's end (a decoder that died must end this process at once: its threads may be waiting
 * on pages that will never come). */
void lazy_watch(int coord_fd)
{
  int fd = __atomic_load_n(&lazy_fd, __ATOMIC_ACQUIRE);
  if (fd < 0 || coord_fd < 0) return;
  struct pollfd pf[2] = { { coord_fd, POLLIN, 0 }, { fd, 0, 0 } };
  for (;;) {
    long r = dsys3(__NR_poll, (long)pf, 2, -1);
    if (r == -EINTR) continue;
    if (r < 0) return;
    if (pf[1].revents) {
      lazy_ended(fd);
      return;
    }
    if (pf[0].revents) return;
  }
}

/* Applies the RESTART blob dmtcp_restart sent: where the coordinator now is, where images now go. */
void restart_apply_blob(void)
{
  const uint8_t *blob = g_restart_info.blob;
  size_t len = g_restart_info.blob_len;
  char port[16];
  tlv_get_str(blob, len, DMTCP_TLV_COORD_HOST, g_cfg.coord_addr, sizeof g_cfg.coord_addr);
  dstrlcpy(g_cfg.coord_host, g_cfg.coord_addr, sizeof g_cfg.coord_host);
  if (tlv_get_str(blob, len, DMTCP_TLV_COORD_PORT, port, sizeof port)) {
    int v = 0;
    for (const char *p = port; *p >= '0' && *p <= '9'; p++) v = v * 10 + (*p - '0');
    g_cfg.coord_port = v;
  }
  char dir[DMTCP_MAX_PATH];
  if (tlv_get_str(blob, len, DMTCP_TLV_CKPT_DIR, dir, sizeof dir) && dir[0]) {
    dstrlcpy(g_cfg.ckpt_dir, dir, sizeof g_cfg.ckpt_dir);
  }
  if (tlv_get_str(blob, len, DMTCP_TLV_TMPDIR, dir, sizeof dir) && dir[0]) {
    dstrlcpy(g_cfg.tmpdir, dir, sizeof g_cfg.tmpdir);
  }
  /* dmtcp_restart --plugin: the TypeScript plugins later checkpoints run (absent: keep the launch's list) */
  tlv_get_str(blob, len, DMTCP_TLV_TS_PLUGINS, g_cfg.ts_plugins, sizeof g_cfg.ts_plugins);
}
