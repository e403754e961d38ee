/* coordinator.c: the worker's side of the coordinator protocol: connecting, framing and TLV fields. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "dmtcp_lib.h"
#include "../include/dmtcp_sys.h"

int g_coord_fd = -1;
int g_coord_pid;

void msg_bytes(struct msg_out *m, uint16_t tag, const void *p, uint32_t n)
{
  out_tlv(m->buf, sizeof m->buf, &m->used, tag, p, n);
}

void msg_u32(struct msg_out *m, uint16_t tag, uint32_t v)
{
  msg_bytes(m, tag, &v, 4);
}

void msg_u64(struct msg_out *m, uint16_t tag, uint64_t v)
{
  msg_bytes(m, tag, &v, 8);
}

void msg_str(struct msg_out *m, uint16_t tag, const char *s)
{
  out_tlv_str(m->buf, sizeof m->buf, &m->used, tag, s);
}

int tlv_find(const uint8_t *buf, size_t len, uint16_t tag, const uint8_t **val, uint32_t *vlen)
{
  size_t off = 0;
  while (off + 8 <= len) {
    uint16_t t;
    uint32_t n;
    __builtin_memcpy(&t, buf + off, 2);
    __builtin_memcpy(&n, buf + off + 4, 4);
    if (n > len - off - 8) return 0;            /* malformed: the coordinator validates its own side */
    if (t == tag) {
      *val = buf + off + 8;
      *vlen = n;
      return 1;
    }
    off += 8 + DMTCP_REC_ALIGN(n);
  }
  return 0;
}

int tlv_get_str(const uint8_t *buf, size_t len, uint16_t tag, char *out, size_t cap)
{
  const uint8_t *v;
  uint32_t n;
  if (!tlv_find(buf, len, tag, &v, &n)) return 0;
  if (n >= cap) n = (uint32_t)cap - 1;
  __builtin_memcpy(out, v, n);
  out[n] = 0;
  return 1;
}

int tlv_get_u32(const uint8_t *buf, size_t len, uint16_t tag, uint32_t *out)
{
  const uint8_t *v;
  uint32_t n;
  if (!tlv_find(buf, len, tag, &v, &n) || n != 4) return 0;
  __builtin_memcpy(out, v, 4);
  return 1;
}

/* Connects to the coordinator and moves the socket to our protected descriptor. Uses only the numeric address
 * resolved at startup, so it is safe while other threads are frozen. */
int coord_connect(char *err, size_t errcap)
{
  struct sockaddr_storage ss;
  socklen_t sslen;
  __builtin_memset(&ss, 0, sizeof ss);
  struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
  int family;
  if (inet_pton(AF_INET, g_cfg.coord_addr, &v4->sin_addr) == 1) {
    family = AF_INET;
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)g_cfg.coord_port);
    sslen = sizeof *v4;
  } else if (inet_pton(AF_INET6, g_cfg.coord_addr, &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)g_cfg.coord_port);
    sslen = sizeof *v6;
  } else {
    dfmt(err, errcap, "coordinator address '%s' is not numeric", g_cfg.coord_addr);
    return -1;
  }
  long fd = dsys3(__NR_socket, family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    dfmt(err, errcap, "socket() failed (%ld)", fd);
    return -1;
  }
  long r;
  do {
    r = dsys3(__NR_connect, fd, (long)&ss, sslen);
  } while (r == -4);
  if (r < 0) {
    d_close((int)fd);
    dfmt(err, errcap, "cannot connect to the coordinator at %s:%d (errno %ld); is dmtcp_coordinator running?",
         g_cfg.coord_host, g_cfg.coord_port, -r);
    return -1;
  }
  int one = 1;
  dsys5(__NR_setsockopt, fd, IPPROTO_TCP, TCP_NODELAY, (long)&one, sizeof one);
  int moved = fd_protect((int)fd, PROTECTED_COORD);
  if (moved < 0) {
    d_close((int)fd);
    dfmt(err, errcap, "cannot move the coordinator socket to fd %d (%d)", g_protected_fd_base + PROTECTED_COORD, moved);
    return -1;
  }
  g_coord_fd = moved;
  return 0;
}

int coord_send_fd(int fd, uint16_t type, const struct msg_out *m)
{
  struct dmtcp_frame f = { DMTCP_PROTO_MAGIC, DMTCP_PROTO_VERSION, type, (uint32_t)m->used, 0 };
  if (fd < 0) return -1;
  if (d_write_all(fd, &f, sizeof f) < 0) return -1;
  if (m->used && d_write_all(fd, m->buf, m->used) < 0) return -1;
  return 0;
}

int coord_send(uint16_t type, const struct msg_out *m)
{
  return coord_send_fd(g_coord_fd, type, m);
}

int coord_recv(uint16_t *type, uint8_t *buf, size_t cap, size_t *len)
{
  return coord_recv_fd(g_coord_fd, type, buf, cap, len);
}

/* Blocks for the next frame; returns 0, or -1 when the connection is gone or the frame is malformed. */
int coord_recv_fd(int fd, uint16_t *type, uint8_t *buf, size_t cap, size_t *len)
{
  struct dmtcp_frame f;
  if (fd < 0) return -1;
  if (d_read_all(fd, &f, sizeof f) < 0) return -1;
  if (f.magic != DMTCP_PROTO_MAGIC || f.version != DMTCP_PROTO_VERSION || f.length > cap) {
    dlog("malformed message from the coordinator (magic %x, version %u, length %u); disconnecting",
         f.magic, (unsigned)f.version, f.length);
    return -1;
  }
  if (f.length && d_read_all(fd, buf, f.length) < 0) return -1;
  *type = f.type;
  *len = f.length;
  return 0;
}
