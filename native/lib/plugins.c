/* plugins.c: native plugins: loads the shared objects DMTCP_PLUGIN names at start-up and calls their
 * dmtcp_event_hook at INIT, PRE_CHECKPOINT, RESUME or RESTART, and EXIT (the contract is in api/dmtcp_plugin.h). */
#include <dlfcn.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>

#include "dmtcp_lib.h"
#include "../include/dmtcp_sys.h"
#include "../api/dmtcp_plugin.h"

#define MAX_PLUGINS 32

typedef void (*event_hook_fn)(enum dmtcp_event, struct dmtcp_event_data *);

struct plugin {
  const char *path;                    /* into `names` */
  event_hook_fn hook;
};

static struct plugin plugins[MAX_PLUGINS];
static int n_plugins;
static char list[DMTCP_MAX_PATH];      /* DMTCP_PLUGIN as this process got it: what exec'd programs get */
static char names[DMTCP_MAX_PATH];     /* the same, split at ':' */
static int pending;                    /* PRE_CHECKPOINT was delivered; RESUME or RESTART is owed */
static uint32_t pending_generation;
static uint32_t restarts_at_pre;       /* g_id.restarts when PRE_CHECKPOINT ran: a restart increments it */
static int exited;                     /* EXIT was delivered: nothing more */

const char *plugins_list(void)
{
  return list;
}

static void deliver(enum dmtcp_event event, int reverse, uint32_t generation)
{
  struct dmtcp_event_data d;
  for (int k = 0; k < n_plugins; k++) {
    struct plugin *p = &plugins[reverse ? n_plugins - 1 - k : k];
    __builtin_memset(&d, 0, sizeof d);   /* afresh for each: one plugin cannot change what the next sees */
    d.size = sizeof d;
    d.version = DMTCP_PLUGIN_INTERFACE_VERSION;
    d.generation = generation;
    d.restarts = g_id.restarts;
    d.plugin_path = p->path;
    p->hook(event, &d);
  }
}

/* At program exit, on the exiting thread. Registered from our constructor, so it runs when this library is finalized
 * (glibc: after the program's atexit handlers and destructors, before objects loaded after us, the plugins, are).
 * Waits for a checkpoint under way; none starts while EXIT runs, and plugins see no event after it. */
static void at_exit(void)
{
  if (exited) return;
  dmtcp_disable_ckpt();
  exited = 1;
  deliver(DMTCP_EVENT_EXIT, 1, g_id.generation);
  dmtcp_enable_ckpt();
}

/* dlsym on a handle also searches the object's dependencies; the hook must be the plugin's own. */
static int own_symbol(void *handle, void *sym)
{
  struct link_map *lm = 0;
  Dl_info di;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &lm) != 0 || !lm) return 1;
  if (!dladdr(sym, &di) || !di.dli_fname) return 1;
  return strcmp(di.dli_fname, lm->l_name) == 0;
}

/* Start-up, after the restorer's hole is reserved (so no plugin lands in it), before registering: a plugin that
 * cannot be loaded ends the process here with one line naming it. */
void plugins_load(void)
{
  const char *v = getenv("DMTCP_PLUGIN");
  if (!v || !*v) return;
  if (dstrlcpy(list, v, sizeof list) >= sizeof list) {
    dfatal("DMTCP_PLUGIN is longer than %d bytes", (int)sizeof list - 1);
  }
  dstrlcpy(names, v, sizeof names);
  for (char *p = names; *p;) {
    char *end = p;
    while (*end && *end != ':') end++;
    int last = *end == 0;
    *end = 0;
    if (*p) {
      void *h = dlopen(p, RTLD_NOW | RTLD_GLOBAL | RTLD_NODELETE);
      if (!h) {
        const char *why = dlerror();
        size_t n = strlen(p);
        if (why && !strncmp(why, p, n) && why[n] == ':' && why[n + 1] == ' ') why += n + 2;   /* named once */
        dfatal("cannot load plugin %s: %s", p, why ? why : "dlopen failed");
      }
      void *sym = dlsym(h, "dmtcp_event_hook");
      if (!sym || !own_symbol(h, sym)) {
        dfatal("plugin %s defines no dmtcp_event_hook (see dmtcp_plugin.h)", p);
      }
      int seen = 0;
      for (int i = 0; i < n_plugins; i++) seen |= plugins[i].hook == (event_hook_fn)sym;
      if (!seen) {
        if (n_plugins == MAX_PLUGINS) dfatal("more than %d plugins in DMTCP_PLUGIN", MAX_PLUGINS);
        plugins[n_plugins].path = p;
        plugins[n_plugins].hook = (event_hook_fn)sym;
        n_plugins++;
        dlog_debug("plugin %s loaded", p);
      }
    }
    if (last) break;
    p = end + 1;
  }
  if (n_plugins) atexit(at_exit);
}

/* INIT, in load order, just before the checkpoint thread starts. */
void plugins_init(void)
{
  deliver(DMTCP_EVENT_INIT, 0, g_id.generation);
}

/* The checkpoint thread, every user thread stopped, before descriptors or memory are recorded. The barrier message
 * carries the generation being taken. */
void plugins_pre_checkpoint(const uint8_t *barrier, size_t len)
{
  if (!n_plugins || exited) return;
  uint32_t gen = g_id.generation + 1;
  tlv_get_u32(barrier, len, DMTCP_TAG_GENERATION, &gen);
  pending_generation = gen;
  restarts_at_pre = g_id.restarts;
  pending = 1;
  deliver(DMTCP_EVENT_PRE_CHECKPOINT, 0, gen);
}

/* The checkpoint thread, before the user threads are released: RESUME, or RESTART in a process restarted from the
 * image this checkpoint wrote (its memory says PRE_CHECKPOINT ran, and its restart count has grown since). */
void plugins_resume(void)
{
  if (!pending) return;
  pending = 0;
  int restarted = g_id.restarts != restarts_at_pre;
  deliver(restarted ? DMTCP_EVENT_RESTART : DMTCP_EVENT_RESUME, 1, pending_generation);
}
