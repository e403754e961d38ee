/* dmtcp.h: the API a program may use to talk to checkpointing itself (dmtcp-ts). Link with -ldmtcpaware (from
 * build/native): outside dmtcp_launch every call reports "not present"; under dmtcp_launch the preloaded library
 * provides the real behaviour. Functions the program defines with these names are called at each event if the
 * program is linked with -Wl,--export-dynamic (-rdynamic):
 *   void mtcpHookPreCheckpoint(void);   every thread is stopped, the image is about to be written
 *   void mtcpHookPostCheckpoint(void);  the image is written, threads are about to run again
 *   void mtcpHookRestart(void);         in a restarted process, before its threads run again
 * Hooks run on the checkpoint thread while the other threads are stopped: they must not wait for locks those threads
 * may hold (stdio, malloc); write(2) is safe. */
#ifndef DMTCP_API_H
#define DMTCP_API_H

#ifdef __cplusplus
extern "C" {
#endif

#define DMTCP_NOT_PRESENT 0          /* not running under dmtcp_launch */
#define DMTCP_AFTER_CHECKPOINT 1     /* dmtcp_checkpoint(): the checkpoint was taken, this is the original process */
#define DMTCP_AFTER_RESTART 2        /* dmtcp_checkpoint(): this process was restarted from that checkpoint */
#define DMTCP_ERROR (-1)

/* 1 when this process is under checkpoint control, 0 otherwise. */
int dmtcp_is_enabled(void);

/* Checkpoints the whole computation and returns once every image is on disk (DMTCP_AFTER_CHECKPOINT) or, in a
 * process restarted from that checkpoint, after the restart (DMTCP_AFTER_RESTART). */
int dmtcp_checkpoint(void);

/* Keep checkpoints out of a critical section: a checkpoint requested meanwhile waits for the matching enable.
 * Calls nest. Return 1 (0 when not present). */
int dmtcp_disable_ckpt(void);
int dmtcp_enable_ckpt(void);

/* The generation of the last checkpoint this process took part in (0 before the first). */
int dmtcp_get_generation(void);

/* Checkpoints this process took part in and times it was restarted. Returns 1 (0 when not present). */
int dmtcp_get_local_status(int *num_checkpoints, int *num_restarts);

/* Asks the coordinator: processes connected and whether they are all running. Returns 1, 0 when not present,
 * DMTCP_ERROR when the coordinator cannot be reached. */
int dmtcp_get_coordinator_status(int *num_peers, int *is_running);

#ifdef __cplusplus
}
#endif

#endif
