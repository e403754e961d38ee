/* wrappers.h: the one way a wrapper reaches the function it wraps (the next definition after ours). */
#ifndef DMTCP_WRAPPERS_H
#define DMTCP_WRAPPERS_H

#include <dlfcn.h>
#include "../dmtcp_lib.h"

/* NEXT_FN(name) evaluates to a pointer to the libc (or later) `name`, looked up once. */
#define NEXT_FN(name)                                                                \
  ({                                                                                 \
    static __typeof__(&name) next_##name;                                            \
    if (!next_##name) {                                                              \
      next_##name = (__typeof__(&name))dlsym(RTLD_NEXT, #name);                      \
      if (!next_##name) dfatal("cannot find the real %s", #name);                    \
    }                                                                                \
    next_##name;                                                                     \
  })

#endif
