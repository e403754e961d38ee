/* ipc_wrappers.c: System V shared memory ids across restarts. The restorer attaches every segment again, created
 * anew by the restart plan with a new id; the program keeps the id it had. The table maps the ids the program knows
 * (virtual) to the kernel's (real); it is empty until the first restart. */
#include <sys/ipc.h>
#include <sys/shm.h>

#include "wrappers.h"
#include "../../include/dmtcp_sys.h"

static int32_t shm_ids[DMTCP_MAX_SHMIDS][2];   /* virtual, real */
static int n_shm_ids;
static int32_t to_remove[DMTCP_MAX_SHMIDS];     /* segments that had been removed (IPC_RMID) before the checkpoint */
static int n_to_remove;

static int shmid_to_real(int id)
{
  for (int i = 0; i < n_shm_ids; i++) {
    if (shm_ids[i][0] == id) return shm_ids[i][1];
  }
  return id;
}

static int shmid_to_virt(int id)
{
  for (int i = 0; i < n_shm_ids; i++) {
    if (shm_ids[i][1] == id) return shm_ids[i][0];
  }
  return id;
}

/* The restorer reports (id at checkpoint, id now) for each segment it attached: the id at checkpoint was real then,
 * so the program knew it as shmid_to_virt() of it. Runs single-threaded in the restart path. */
void ipc_after_restart(const struct dmtcp_restart_info *info)
{
  int32_t next[DMTCP_MAX_SHMIDS][2];
  int n = 0;
  n_to_remove = 0;
  for (uint32_t i = 0; i < info->n_shmids && i < DMTCP_MAX_SHMIDS; i++) {
    next[n][0] = shmid_to_virt(info->shmids[i][0]);
    next[n][1] = info->shmids[i][1];
    if (info->shmids[i][2]) to_remove[n_to_remove++] = info->shmids[i][1];
    n++;
  }
  __builtin_memcpy(shm_ids, next, sizeof next);
  n_shm_ids = n;
}

/* Once every process of the restart has attached its segments: those removed before the checkpoint are removed
 * again, so they vanish with their last detach as they would have. */
void ipc_remove_again(void)
{
  for (int i = 0; i < n_to_remove; i++) dsys3(__NR_shmctl, to_remove[i], IPC_RMID, 0);
  n_to_remove = 0;
}

int shmget(key_t key, size_t size, int flags)
{
  int r = NEXT_FN(shmget)(key, size, flags);
  return r >= 0 ? shmid_to_virt(r) : r;
}

void *shmat(int id, const void *addr, int flags)
{
  return NEXT_FN(shmat)(shmid_to_real(id), addr, flags);
}

int shmctl(int id, int cmd, struct shmid_ds *buf)
{
  if (cmd == IPC_INFO || cmd == SHM_INFO) return NEXT_FN(shmctl)(id, cmd, buf);
  return NEXT_FN(shmctl)(shmid_to_real(id), cmd, buf);
}
