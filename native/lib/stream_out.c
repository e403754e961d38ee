/* stream_out.c: buffered writing of raw-stream records and TLV fields, with raw syscalls only. */
#include "dmtcp_lib.h"
#include "../include/dmtcp_sys.h"

void out_init(struct stream_out *o, int fd)
{
  o->fd = fd;
  o->err = 0;
  o->pos = 0;
  o->used = 0;
}

void out_flush(struct stream_out *o)
{
  if (o->used && !o->err) {
    long r = d_write_all(o->fd, o->buf, o->used);
    if (r < 0) o->err = (int)r;
  }
  o->used = 0;
}

/* Small pieces are gathered in the buffer; large ones (page contents) go straight from memory to the fd. */
void out_bytes(struct stream_out *o, const void *p, size_t n)
{
  if (o->err) return;
  o->pos += n;
  if (n >= sizeof o->buf / 2) {
    out_flush(o);
    long r = d_write_all(o->fd, p, n);
    if (r < 0) o->err = (int)r;
    return;
  }
  if (o->used + n > sizeof o->buf) out_flush(o);
  __builtin_memcpy(o->buf + o->used, p, n);
  o->used += n;
}

void out_record(struct stream_out *o, uint32_t type, const void *body, uint32_t len)
{
  static const uint8_t zeros[8];
  struct dmtcp_rec r = { type, DMTCP_REC_ALIGN(len) };
  out_bytes(o, &r, sizeof r);
  if (len) out_bytes(o, body, len);
  if (r.len != len) out_bytes(o, zeros, r.len - len);
}

void out_tlv(uint8_t *buf, size_t cap, size_t *used, uint16_t tag, const void *val, uint32_t len)
{
  size_t need = 8 + DMTCP_REC_ALIGN(len);
  if (*used + need > cap) return;      /* callers size their buffers for the worst case; overflow drops the field */
  uint8_t *p = buf + *used;
  uint16_t zero = 0;
  __builtin_memcpy(p, &tag, 2);
  __builtin_memcpy(p + 2, &zero, 2);
  __builtin_memcpy(p + 4, &len, 4);
  if (len) __builtin_memcpy(p + 8, val, len);
  for (size_t i = 8 + len; i < need; i++) p[i] = 0;
  *used += need;
}

void out_tlv_str(uint8_t *buf, size_t cap, size_t *used, uint16_t tag, const char *s)
{
  size_t n = 0;
  while (s[n]) n++;
  out_tlv(buf, cap, used, tag, s, (uint32_t)n);
}
