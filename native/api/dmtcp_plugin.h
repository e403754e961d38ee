/* dmtcp_plugin.h: the interface of a native plugin (dmtcp-ts): a shared object that libdmtcp.so loads into every
 * process of a computation and calls at each checkpoint event, for state inside the process that checkpointing
 * alone cannot bring back (a connection to something outside, a file that must be reopened where it now is).
 *
 * Loading. `dmtcp_launch --with-plugin /path/a.so[:/path/b.so] PROGRAM` (the option repeats) or DMTCP_PLUGIN=
 * /path/a.so:/path/b.so in the environment. The list goes to every process of the computation, programs they exec
 * included; each process dlopen()s the plugins at start-up (RTLD_NOW | RTLD_GLOBAL), in list order, and finds
 * dmtcp_event_hook in each. A plugin that cannot be loaded or has no dmtcp_event_hook stops the process at
 * start-up with one line naming it. A restarted process gets its plugins back with the rest of its memory: nothing
 * is given to dmtcp_restart, but the plugin's file must be unchanged, like the program's own libraries.
 *
 * Build: cc -shared -fPIC -I<dir of this header> -o plugin.so plugin.c. Nothing to link against: the dmtcp.h calls
 * (dmtcp_get_generation, dmtcp_disable_ckpt, ...) resolve to the library already in the process.
 *
 * Events, in this order in a process's life; "load order" is the order of the list:
 *
 *   INIT            once per program start (launch, fork excepted, and every exec), on the thread that runs the
 *                   library's constructor, before the program's main and before any checkpoint can start.
 *                   Load order. Anything goes (malloc, stdio, threads, pthread_atfork for a fork child) but
 *                   dmtcp_checkpoint: the checkpoint thread does not run yet.
 *   PRE_CHECKPOINT  on the checkpoint thread, once every other thread of the process is stopped and before
 *                   anything of the process is recorded (descriptors, memory). Load order. What the plugin closes
 *                   here is not in the image; what it writes to memory is.
 *   RESUME          the checkpoint is over (its image written, or the checkpoint abandoned), the process goes on.
 *   RESTART         instead of RESUME, in a process restarted from that image, once descriptors, pids and the
 *                   coordinator connection are back.
 *                   Both run on the checkpoint thread, in reverse load order, while every other thread is still
 *                   stopped; the threads run again when the last plugin returns. Every PRE_CHECKPOINT is followed
 *                   by exactly one RESUME or RESTART.
 *   EXIT            when the program calls exit() or returns from main, on that thread, in reverse load order,
 *                   late in the exit (after the program's atexit handlers and destructors, before the plugins'
 *                   own destructors), never during a checkpoint, and last: no event follows. Not on _exit, on a
 *                   fatal signal, on exec, or when dmtcp_command -k / -kc ends the computation.
 *
 * While the other threads are stopped (PRE_CHECKPOINT, RESUME, RESTART) one of them may hold a lock of libc or of
 * the program: use system calls (open, close, dup3, read, write, fstat, socket, connect) and your own memory, never
 * malloc, stdio, or a lock the program's threads take; do not wait for them; do not call exit or
 * dmtcp_checkpoint. Keep it short: the whole computation waits.
 *
 * State: the plugin's memory is part of the image, so globals set before a checkpoint are there after a restart;
 * there is no separate save call. A fork child has the parent's plugins and their state and receives the events of
 * its own checkpoints; it gets no INIT (register pthread_atfork handlers at INIT if the child must differ).
 */
#ifndef DMTCP_PLUGIN_H
#define DMTCP_PLUGIN_H

#include "dmtcp.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DMTCP_PLUGIN_INTERFACE_VERSION 1

enum dmtcp_event {
  DMTCP_EVENT_INIT = 1,
  DMTCP_EVENT_PRE_CHECKPOINT = 2,
  DMTCP_EVENT_RESUME = 3,
  DMTCP_EVENT_RESTART = 4,
  DMTCP_EVENT_EXIT = 5,
};

/* DMTCP 3 spells it without the second underscore. */
#define DMTCP_EVENT_PRECHECKPOINT DMTCP_EVENT_PRE_CHECKPOINT

struct dmtcp_event_data {
  unsigned int size;           /* sizeof(struct dmtcp_event_data) in the calling library; later versions only add */
  unsigned int version;        /* DMTCP_PLUGIN_INTERFACE_VERSION of the calling library */
  unsigned int generation;     /* PRE_CHECKPOINT, RESUME, RESTART: the checkpoint's generation (1, 2, ...);
                                  INIT, EXIT: the last generation this process took part in (0 before any) */
  unsigned int restarts;       /* times this process has been restarted (RESTART: 1 after the first restart) */
  const char *plugin_path;     /* this plugin's file, as loaded */
};

/* The entry point every plugin defines (with default visibility). */
void dmtcp_event_hook(enum dmtcp_event event, struct dmtcp_event_data *data);

/* "INIT", "PRE_CHECKPOINT", ... for messages. */
static inline const char *dmtcp_event_name(enum dmtcp_event event)
{
  switch (event) {
  case DMTCP_EVENT_INIT: return "INIT";
  case DMTCP_EVENT_PRE_CHECKPOINT: return "PRE_CHECKPOINT";
  case DMTCP_EVENT_RESUME: return "RESUME";
  case DMTCP_EVENT_RESTART: return "RESTART";
  case DMTCP_EVENT_EXIT: return "EXIT";
  }
  return "?";
}

#ifdef __cplusplus
}
#endif

#endif
