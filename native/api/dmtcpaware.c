/* dmtcpaware.c: the stand-in API a program links against (libdmtcpaware.so); under dmtcp_launch the preloaded
 * libdmtcp.so defines the same functions first, so these answers are only seen outside checkpoint control. */
#include "dmtcp.h"

int dmtcp_is_enabled(void) { return 0; }
int dmtcp_checkpoint(void) { return DMTCP_NOT_PRESENT; }
int dmtcp_disable_ckpt(void) { return 0; }
int dmtcp_enable_ckpt(void) { return 0; }
int dmtcp_get_generation(void) { return 0; }

int dmtcp_get_local_status(int *num_checkpoints, int *num_restarts)
{
  if (num_checkpoints) *num_checkpoints = 0;
  if (num_restarts) *num_restarts = 0;
  return 0;
}

int dmtcp_get_coordinator_status(int *num_peers, int *is_running)
{
  if (num_peers) *num_peers = 0;
  if (is_running) *is_running = 0;
  return 0;
}
