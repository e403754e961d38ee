/* log.c: async-signal-safe formatting and diagnostics on stderr, usable while other threads are frozen. */
#include <stdarg.h>

#include "dmtcp_lib.h"
#include "../include/dmtcp_sys.h"

size_t dstrlcpy(char *dst, const char *src, size_t cap)
{
  size_t n = 0;
  if (cap == 0) return 0;
  while (src[n] && n + 1 < cap) {
    dst[n] = src[n];
    n++;
  }
  dst[n] = 0;
  return n;
}

struct fmt_sink {
  char *buf;
  size_t cap;
  size_t len;
};

static void put_char(struct fmt_sink *s, char c)
{
  if (s->len + 1 < s->cap) s->buf[s->len] = c;
  s->len++;
}

static void put_str(struct fmt_sink *s, const char *str)
{
  if (!str) str = "(null)";
  while (*str) put_char(s, *str++);
}

static void put_unsigned(struct fmt_sink *s, unsigned long long v, unsigned base, int width, char padc)
{
  char tmp[32];
  int n = 0;
  do {
    tmp[n++] = "0123456789abcdef"[v % base];
    v /= base;
  } while (v);
  while (n < width) tmp[n++] = padc;
  while (n) put_char(s, tmp[--n]);
}

int dvfmt(char *buf, size_t cap, const char *fmt, va_list ap)
{
  struct fmt_sink s = { buf, cap, 0 };
  for (const char *p = fmt; *p; p++) {
    if (*p != '%') {
      put_char(&s, *p);
      continue;
    }
    p++;
    char padc = ' ';
    int width = 0;
    if (*p == '0') {
      padc = '0';
      p++;
    }
    while (*p >= '0' && *p <= '9') width = width * 10 + (*p++ - '0');
    int longs = 0;
    while (*p == 'l') longs++, p++;
    if (*p == 'z') longs = 1, p++;
    switch (*p) {
    case 'd': {
      long long v = longs ? va_arg(ap, long) : va_arg(ap, int);
      if (v < 0) {
        put_char(&s, '-');
        v = -v;
      }
      put_unsigned(&s, (unsigned long long)v, 10, width, padc);
      break;
    }
    case 'u':
      put_unsigned(&s, longs ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 10, width, padc);
      break;
    case 'x':
      put_unsigned(&s, longs ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 16, width, padc);
      break;
    case 'p':
      put_str(&s, "0x");
      put_unsigned(&s, (unsigned long)va_arg(ap, void *), 16, width, padc);
      break;
    case 's':
      put_str(&s, va_arg(ap, const char *));
      break;
    case 'c':
      put_char(&s, (char)va_arg(ap, int));
      break;
    case '%':
      put_char(&s, '%');
      break;
    default:
      put_char(&s, '?');
      break;
    }
  }
  if (cap) buf[s.len < cap ? s.len : cap - 1] = 0;
  return (int)s.len;
}

int dfmt(char *buf, size_t cap, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = dvfmt(buf, cap, fmt, ap);
  va_end(ap);
  return n;
}

static void vlog(const char *fmt, va_list ap)
{
  char line[1024];
  int n = dfmt(line, sizeof line, "[dmtcp %s:%d] ", g_id.program[0] ? g_id.program : "?", (int)d_getpid());
  if (n >= (int)sizeof line) n = sizeof line - 1;
  int m = dvfmt(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  size_t len = (size_t)n + (size_t)m;
  if (len > sizeof line - 2) len = sizeof line - 2;
  line[len++] = '\n';
  d_write_all(2, line, len);
}

void dlog(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vlog(fmt, ap);
  va_end(ap);
}

void dlog_debug(const char *fmt, ...)
{
  if (!g_cfg.debug) return;
  va_list ap;
  va_start(ap, fmt);
  vlog(fmt, ap);
  va_end(ap);
}

void dfatal(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vlog(fmt, ap);
  va_end(ap);
  d_exit_group(99);
}
