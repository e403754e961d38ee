// addon.h: what addon.cc and lazy.cc share: the two ways a call fails (with an errno, or with arguments of the wrong
// kind), and lazy.cc's entry points.
#ifndef DMTCP_ADDON_H
#define DMTCP_ADDON_H

#include <napi.h>

#include <string>

// Throws Error("what: strerror(err)") with an `errno` property; returns undefined for the caller to return.
Napi::Value ThrowErrno(Napi::Env env, const std::string& what, int err);
// Throws TypeError(msg); returns undefined for the caller to return.
Napi::Value ThrowType(Napi::Env env, const std::string& msg);

// lazy.cc: pidfdGetfd, lazyServe, lazyCopy, lazyFinish.
void RegisterLazy(Napi::Env env, Napi::Object exports);

#endif
