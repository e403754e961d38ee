/* sockets.c: the native half of the socket-drain plugin (docs/ARCHITECTURE.md, "Sockets").
 *
 * Checkpoint (DRAINED barrier, every process at once): each socket is described (family, type, addresses, options)
 * and its peer found on this host (sock_diag for Unix sockets, /proc/net/tcp{,6} for TCP), so a connection between two
 * processes of the computation is told from one to the outside. For every inside connection both ends write a marker
 * (the round's nonce) and read until the other end's marker: what they read before it is the data that was in flight
 * towards them, kept in the descriptor's record. Refill (REFILLED): both ends send what they drained to the other,
 * which writes it straight back, so it is in their own receive queue again, in order.
 *
 * Restart: the restorer gives every socket an unconnected socket of the same kind, shared as before. Here, REBOUND:
 * listening and bound sockets get their addresses back; for each inside connection one end (ACCEPT) listens on a
 * fresh address and publishes it in the coordinator's name service under the connection's key. RECONNECTED: the
 * other end (CONNECT) looks the address up and connects; the accepted socket takes the original descriptor number.
 * A connection to the outside comes back closed: reading gives end-of-file. */
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>

#include "dmtcp_lib.h"
#include "../include/dmtcp_sys.h"

#define MAX_SOCKS 4096
#define EXCHANGE_TIMEOUT_MS 15000
#define COOKIE_LEN 16
#define EAGAIN_ 11
#define EINTR_ 4
#define EINPROGRESS_ 115
#define EADDRINUSE_ 98

int sockets_asked_buffer(int fd, int name, int current) DMTCP_HIDDEN;

/* ---- growable buffers outside the heap (malloc may be locked by a frozen thread) ---- */

struct buf {
  uint8_t *p;
  uint64_t len, cap;
};

static int buf_room(struct buf *b, uint64_t n)
{
  if (b->len + n <= b->cap) return 0;
  uint64_t cap = b->cap ? b->cap : 65536;
  while (cap < b->len + n) cap *= 2;
  long m = b->p ? d_mremap(b->p, b->cap, cap, 1 /* MREMAP_MAYMOVE */, 0)
                : d_mmap(0, cap, 3 /* PROT_READ|PROT_WRITE */, 0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */, -1, 0);
  if (m < 0) return -1;
  b->p = (uint8_t *)m;
  b->cap = cap;
  return 0;
}

static void buf_free(struct buf *b)
{
  if (b->p) d_munmap(b->p, b->cap);
  b->p = 0;
  b->len = b->cap = 0;
}

/* ---- peers on this host ---- */

struct net_line {
  char local[40], remote[40];
  uint64_t ino;
};

static struct buf unix_peers;           /* (u64 ino, u64 peer ino) pairs from sock_diag */
static struct buf tcp_lines;            /* struct net_line, IPv4 then IPv6 */
static int tables_loaded;

static void load_unix_peers(void)
{
  long nl = dsys3(__NR_socket, AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (nl < 0) return;
  struct {
    struct nlmsghdr h;
    struct unix_diag_req r;
  } req;
  __builtin_memset(&req, 0, sizeof req);
  req.h.nlmsg_len = sizeof req;
  req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.r.sdiag_family = AF_UNIX;
  req.r.udiag_states = ~0u;
  req.r.udiag_show = UDIAG_SHOW_PEER;
  if (d_write((int)nl, &req, sizeof req) != (long)sizeof req) {
    d_close((int)nl);
    return;
  }
  static uint8_t in[65536];
  for (int done = 0; !done;) {
    long n = d_read((int)nl, in, sizeof in);
    if (n <= 0) break;
    for (struct nlmsghdr *h = (struct nlmsghdr *)in; NLMSG_OK(h, (unsigned long)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
        done = 1;
        break;
      }
      struct unix_diag_msg *m = NLMSG_DATA(h);
      long attrs = (long)h->nlmsg_len - (long)NLMSG_LENGTH(sizeof *m);
      for (struct rtattr *a = (struct rtattr *)(m + 1); RTA_OK(a, attrs); a = RTA_NEXT(a, attrs)) {
        if (a->rta_type != UNIX_DIAG_PEER) continue;
        uint32_t peer;
        __builtin_memcpy(&peer, RTA_DATA(a), 4);
        if (buf_room(&unix_peers, 16) < 0) break;
        uint64_t pair[2] = { m->udiag_ino, peer };
        __builtin_memcpy(unix_peers.p + unix_peers.len, pair, 16);
        unix_peers.len += 16;
      }
    }
  }
  d_close((int)nl);
}

/* /proc/net/tcp lines: "sl local rem st tx:rx tr:when retr uid timeout inode ..." */
static void load_tcp(const char *path)
{
  static struct buf text;
  text.len = 0;
  long fd = d_open(path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return;
  for (;;) {
    if (buf_room(&text, 65536) < 0) break;
    long n = d_read((int)fd, text.p + text.len, text.cap - text.len - 1);
    if (n <= 0) break;
    text.len += (uint64_t)n;
  }
  d_close((int)fd);
  if (!text.p) return;
  text.p[text.len] = 0;
  char *s = (char *)text.p;
  while (*s && *s != '\n') s++;                      /* the heading */
  while (*s) {
    s++;
    char *field[12];
    int nf = 0;
    while (*s && *s != '\n' && nf < 12) {
      while (*s == ' ') s++;
      if (!*s || *s == '\n') break;
      field[nf++] = s;
      while (*s && *s != ' ' && *s != '\n') s++;
    }
    while (*s && *s != '\n') s++;
    if (nf < 10 || buf_room(&tcp_lines, sizeof(struct net_line)) < 0) continue;
    struct net_line *l = (struct net_line *)(tcp_lines.p + tcp_lines.len);
    int i;
    for (i = 0; i < 39 && field[1][i] != ' '; i++) l->local[i] = field[1][i];
    l->local[i] = 0;
    for (i = 0; i < 39 && field[2][i] != ' '; i++) l->remote[i] = field[2][i];
    l->remote[i] = 0;
    l->ino = 0;
    for (const char *p = field[9]; *p >= '0' && *p <= '9'; p++) l->ino = l->ino * 10 + (uint64_t)(*p - '0');
    tcp_lines.len += sizeof *l;
  }
}

static int streq(const char *a, const char *b)
{
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

static uint64_t peer_of(uint32_t family, uint64_t ino)
{
  if (!tables_loaded) {
    tables_loaded = 1;
    load_unix_peers();
    load_tcp("/proc/net/tcp");
    load_tcp("/proc/net/tcp6");
  }
  if (family == AF_UNIX) {
    for (uint64_t o = 0; o + 16 <= unix_peers.len; o += 16) {
      uint64_t pair[2];
      __builtin_memcpy(pair, unix_peers.p + o, 16);
      if (pair[0] == ino) return pair[1];
    }
    return 0;
  }
  struct net_line *lines = (struct net_line *)tcp_lines.p;
  uint64_t n = tcp_lines.len / sizeof *lines;
  for (uint64_t i = 0; i < n; i++) {
    if (lines[i].ino != ino) continue;
    for (uint64_t k = 0; k < n; k++) {
      if (k != i && lines[k].ino && streq(lines[k].local, lines[i].remote) && streq(lines[k].remote, lines[i].local)) {
        return lines[k].ino;
      }
    }
    return 0;
  }
  return 0;
}

void sockets_begin_capture(void)
{
  tables_loaded = 0;
  unix_peers.len = 0;
  tcp_lines.len = 0;
}

/* ---- describing ---- */

static int get_int(int fd, int level, int name)
{
  int v = 0;
  uint32_t l = sizeof v;
  if (dsys5(__NR_getsockopt, fd, level, name, (long)&v, (long)&l) < 0) return -1;
  return v;
}

static void set_int(int fd, int level, int name, int v)
{
  dsys5(__NR_setsockopt, fd, level, name, (long)&v, sizeof v);
}

static int is_stream(const struct dmtcp_sock_state *st)
{
  return st->type == SOCK_STREAM;
}

/* A connection whose two ends both belong to the computation, that this process drains and rebuilds. */
static int rebuilt_here(const struct fd_entry *e, const struct dmtcp_sock_state *st)
{
  if (!fds_owns(e)) return 0;
  if ((st->flags & (DMTCP_SOCK_CONNECTED | DMTCP_SOCK_INSIDE)) != (DMTCP_SOCK_CONNECTED | DMTCP_SOCK_INSIDE)) return 0;
  return is_stream(st) || st->family == AF_UNIX;
}

static const char *describe_addr(const uint8_t *sa, uint32_t len, char *out, size_t cap)
{
  uint16_t fam;
  __builtin_memcpy(&fam, sa, 2);
  if (fam == AF_INET && len >= sizeof(struct sockaddr_in)) {
    const struct sockaddr_in *in = (const void *)sa;
    const uint8_t *a = (const uint8_t *)&in->sin_addr;
    dfmt(out, cap, "%u.%u.%u.%u:%u", a[0], a[1], a[2], a[3], (unsigned)__builtin_bswap16(in->sin_port));
  } else if (fam == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
    const struct sockaddr_in6 *in6 = (const void *)sa;
    const uint8_t *a = in6->sin6_addr.s6_addr;
    dfmt(out, cap, "[%x:%x:%x:%x:%x:%x:%x:%x]:%u", a[0] << 8 | a[1], a[2] << 8 | a[3], a[4] << 8 | a[5],
         a[6] << 8 | a[7], a[8] << 8 | a[9], a[10] << 8 | a[11], a[12] << 8 | a[13], a[14] << 8 | a[15],
         (unsigned)__builtin_bswap16(in6->sin6_port));
  } else if (fam == AF_UNIX && len > 2) {
    const char *p = (const char *)sa + 2;
    if (!p[0]) dfmt(out, cap, "@%.*s", (int)(len - 3), p + 1);
    else dfmt(out, cap, "%.*s", (int)(len - 2), p);
  } else {
    dfmt(out, cap, "an unnamed socket");
  }
  return out;
}

void sockets_capture(struct fd_entry *e, int fd)
{
  struct dmtcp_sock_state st;
  __builtin_memset(&st, 0, sizeof st);
  st.family = (uint16_t)get_int(fd, SOL_SOCKET, SO_DOMAIN);
  st.type = (uint32_t)get_int(fd, SOL_SOCKET, SO_TYPE);
  st.protocol = (uint32_t)get_int(fd, SOL_SOCKET, SO_PROTOCOL);
  st.ino = e->rec.ino;
  if (get_int(fd, SOL_SOCKET, SO_ACCEPTCONN) == 1) st.flags |= DMTCP_SOCK_LISTENING;
  uint32_t l = sizeof st.local;
  if (dsys3(__NR_getsockname, fd, (long)st.local, (long)&l) == 0) st.local_len = l;
  l = sizeof st.peer;
  if (dsys3(__NR_getpeername, fd, (long)st.peer, (long)&l) == 0) {
    st.peer_len = l;
    st.flags |= DMTCP_SOCK_CONNECTED;
  }
  if (st.family == AF_INET || st.family == AF_INET6) {
    uint16_t port;
    __builtin_memcpy(&port, st.local + 2, 2);
    if (port && !(st.flags & DMTCP_SOCK_CONNECTED)) st.flags |= DMTCP_SOCK_BOUND;
    if (st.type == SOCK_STREAM && get_int(fd, IPPROTO_TCP, TCP_NODELAY) > 0) st.flags |= DMTCP_SOCK_NODELAY;
  } else if (st.family == AF_UNIX && st.local_len > 2 && !(st.flags & DMTCP_SOCK_CONNECTED && !(st.flags & DMTCP_SOCK_LISTENING))) {
    st.flags |= DMTCP_SOCK_BOUND;
  }
  if (get_int(fd, SOL_SOCKET, SO_REUSEADDR) > 0) st.flags |= DMTCP_SOCK_REUSEADDR;
  if (get_int(fd, SOL_SOCKET, SO_REUSEPORT) > 0) st.flags |= DMTCP_SOCK_REUSEPORT;
  if (get_int(fd, SOL_SOCKET, SO_KEEPALIVE) > 0) st.flags |= DMTCP_SOCK_KEEPALIVE;
  st.sndbuf = sockets_asked_buffer(fd, SO_SNDBUF, get_int(fd, SOL_SOCKET, SO_SNDBUF));
  st.rcvbuf = sockets_asked_buffer(fd, SO_RCVBUF, get_int(fd, SOL_SOCKET, SO_RCVBUF));
  st.backlog = 128;

  if (st.flags & DMTCP_SOCK_CONNECTED) {
    st.peer_ino = (st.family == AF_UNIX || st.type == SOCK_STREAM) ? peer_of(st.family, st.ino) : 0;
    char peer_link[48];
    int self_holds = 0, elsewhere = 0;
    if (st.peer_ino) {
      dfmt(peer_link, sizeof peer_link, "socket:[%llu]", (unsigned long long)st.peer_ino);
      elsewhere = fds_link_held(peer_link, &self_holds);
    }
    if (elsewhere || self_holds) {
      st.flags |= DMTCP_SOCK_INSIDE;
      if (st.type != SOCK_STREAM) {
        st.role = DMTCP_SOCK_ROLE_PAIR;
      } else {
        /* The end shared by several processes connects, keeping its description; else the lower inode accepts. */
        int mine_shared = fds_link_held(e->path, 0) > 0;
        int peer_shared = elsewhere + self_holds > 1;
        if (mine_shared != peer_shared) st.role = mine_shared ? DMTCP_SOCK_ROLE_CONNECT : DMTCP_SOCK_ROLE_ACCEPT;
        else st.role = st.ino < st.peer_ino ? DMTCP_SOCK_ROLE_ACCEPT : DMTCP_SOCK_ROLE_CONNECT;
      }
    } else if (st.type == SOCK_STREAM && fd > 2 && fds_owns(e)) {
      /* Descriptors 0-2 connected outside become dmtcp_restart's own at restart, not a closed connection. */
      char a[160], b[160];
      dlog("warning: fd %d: connection %s -> %s leads outside the computation; after a restart it reads end-of-file",
           fd, describe_addr(st.local, st.local_len, a, sizeof a), describe_addr(st.peer, st.peer_len, b, sizeof b));
    }
  }
  e->rec.flags |= (st.flags & DMTCP_SOCK_CONNECTED) && !(st.flags & DMTCP_SOCK_INSIDE) ? DMTCP_FD_F_OUTSIDE : 0;
  fds_set_data(e, &st, sizeof st, 0, 0);
}

/* ---- the drain and refill exchanges ---- */

struct exchange {
  struct fd_entry *e;
  struct dmtcp_sock_state *st;
  int fd;
  int file_flags;
  int done_out, done_in;
  /* outgoing: up to three pieces in order */
  const uint8_t *out[3];
  uint64_t out_len[3], out_pos;
  int out_piece;
  struct buf in;                       /* incoming bytes */
  uint64_t want;                       /* refill: bytes of the peer's message still expected (after the header) */
  int header_done;
  uint8_t header[16];
};

static struct exchange ex[MAX_SOCKS];
static int n_ex;
static uint8_t cookie[COOKIE_LEN];
static uint8_t dgram_buf[1 << 18];

static long now_ms(void)
{
  struct { long s, ns; } t;
  dsys2(__NR_clock_gettime, 1, (long)&t);
  return t.s * 1000 + t.ns / 1000000;
}

static struct dmtcp_sock_state *state_of(struct fd_entry *e)
{
  if (e->rec.kind != DMTCP_FD_SOCKET || e->rec.data_len < sizeof(struct dmtcp_sock_state)) return 0;
  return (struct dmtcp_sock_state *)fds_data(e);
}

static void collect_exchanges(void)
{
  int n;
  struct fd_entry *all = fds_entries(&n);
  n_ex = 0;
  for (int i = 0; i < n && n_ex < MAX_SOCKS; i++) {
    struct dmtcp_sock_state *st = state_of(&all[i]);
    if (!st || !rebuilt_here(&all[i], st)) continue;
    struct exchange *x = &ex[n_ex++];
    __builtin_memset(x, 0, sizeof *x);
    x->e = &all[i];
    x->st = st;
    x->fd = all[i].rec.fd;
    x->file_flags = (int)dsys2(__NR_fcntl, x->fd, F_GETFL);
    dsys3(__NR_fcntl, x->fd, F_SETFL, x->file_flags | O_NONBLOCK);
  }
}

static void restore_flags(void)
{
  for (int i = 0; i < n_ex; i++) {
    if (ex[i].file_flags >= 0) dsys3(__NR_fcntl, ex[i].fd, F_SETFL, ex[i].file_flags);
  }
}

/* Sends what is queued on x; returns -1 when the connection is gone. */
static int pump_out(struct exchange *x, int datagrams)
{
  while (x->out_piece < 3) {
    uint64_t len = x->out_len[x->out_piece];
    if (x->out_pos >= len && !(datagrams && len == 0 && x->out[x->out_piece])) {
      x->out_piece++;
      x->out_pos = 0;
      continue;
    }
    long w = dsys6(__NR_sendto, x->fd, (long)(x->out[x->out_piece] + x->out_pos), (long)(len - x->out_pos),
                   MSG_NOSIGNAL | MSG_DONTWAIT, 0, 0);
    if (w == -EAGAIN_ || w == -EINTR_) return 0;
    if (w < 0) return -1;
    if (datagrams) {
      x->out_piece++;
      x->out_pos = 0;
    } else {
      x->out_pos += (uint64_t)w;
    }
  }
  return 1;
}

/* Runs every exchange's `step` until all are done or time runs out. step() returns 1 when x is finished. */
static void run_exchanges(int (*step)(struct exchange *x, short revents), const char *what)
{
  static struct pollfd p[MAX_SOCKS];
  static int idx[MAX_SOCKS];
  long deadline = now_ms() + EXCHANGE_TIMEOUT_MS;
  for (;;) {
    int np = 0;
    for (int i = 0; i < n_ex; i++) {
      struct exchange *x = &ex[i];
      if (x->done_in && x->done_out) continue;
      if (step(x, 0)) continue;
      p[np].fd = x->fd;
      p[np].events = (short)((x->done_out ? 0 : POLLOUT) | (x->done_in ? 0 : POLLIN));
      p[np].revents = 0;
      idx[np++] = i;
    }
    if (!np) return;
    long left = deadline - now_ms();
    if (left <= 0) {
      for (int k = 0; k < np; k++) {
        dlog("warning: %s of socket fd %d did not finish (the other end did not answer); bytes may be lost", what,
             ex[idx[k]].fd);
      }
      return;
    }
    struct { long s, ns; } ts = { left / 1000, (left % 1000) * 1000000 };
    long r = dsys5(__NR_ppoll, (long)p, np, (long)&ts, 0, 8);
    if (r < 0 && r != -EINTR_) return;
    for (int k = 0; k < np; k++) {
      if (p[k].revents) step(&ex[idx[k]], p[k].revents);
    }
  }
}

/* Drain: send our marker, read until the peer's. */
static int drain_step(struct exchange *x, short revents)
{
  int dgram = !is_stream(x->st);
  if (!x->done_out) {
    int r = pump_out(x, dgram);
    if (r != 0) x->done_out = 1;
  }
  if (!x->done_in && (revents & (POLLIN | POLLHUP | POLLERR))) {
    for (;;) {
      if (dgram) {
        long n = dsys6(__NR_recvfrom, x->fd, (long)dgram_buf, sizeof dgram_buf, MSG_DONTWAIT, 0, 0);
        if (n == -EAGAIN_ || n == -EINTR_) break;
        if (n < 0 || (n == COOKIE_LEN && d_memeq(dgram_buf, cookie, COOKIE_LEN))) {
          x->done_in = 1;
          break;
        }
        if (buf_room(&x->in, (uint64_t)n + 4) < 0) break;
        uint32_t len = (uint32_t)n;
        __builtin_memcpy(x->in.p + x->in.len, &len, 4);
        __builtin_memcpy(x->in.p + x->in.len + 4, dgram_buf, (size_t)n);
        x->in.len += 4 + (uint64_t)n;
      } else {
        if (buf_room(&x->in, 65536) < 0) break;
        long n = d_read(x->fd, x->in.p + x->in.len, x->in.cap - x->in.len);
        if (n == -EAGAIN_ || n == -EINTR_) break;
        if (n <= 0) {
          x->st->flags |= DMTCP_SOCK_PEER_CLOSED;
          x->done_in = 1;
          break;
        }
        x->in.len += (uint64_t)n;
        if (x->in.len >= COOKIE_LEN && d_memeq(x->in.p + x->in.len - COOKIE_LEN, cookie, COOKIE_LEN)) {
          x->in.len -= COOKIE_LEN;
          x->done_in = 1;
          break;
        }
      }
    }
  }
  return x->done_in && x->done_out;
}

void sockets_drain(uint64_t nonce)
{
  __builtin_memcpy(cookie, "DMTCPDRN", 8);
  __builtin_memcpy(cookie + 8, &nonce, 8);
  collect_exchanges();
  for (int i = 0; i < n_ex; i++) {
    ex[i].out[0] = cookie;
    ex[i].out_len[0] = COOKIE_LEN;
  }
  run_exchanges(drain_step, "draining");
  restore_flags();
  uint64_t total = 0;
  for (int i = 0; i < n_ex; i++) {
    struct exchange *x = &ex[i];
    struct dmtcp_sock_state st = *x->st;
    st.drained = (uint32_t)x->in.len;
    total += x->in.len;
    fds_set_data(x->e, &st, sizeof st, x->in.p, x->in.len);
    buf_free(&x->in);
  }
  if (n_ex) dlog_debug("drained %llu bytes from %d socket(s)", (unsigned long long)total, n_ex);
}

/* Refill: each end sends [magic, length, bytes it drained]; reads the other's message whole; writes those bytes back
 * raw, so they arrive in the other end's receive queue, where they were. Datagram pairs send one datagram per saved
 * datagram (marked), then an end marker, and echo each back unmarked. */
static const uint8_t refill_magic[8] = { 'D', 'M', 'T', 'C', 'P', 'R', 'F', 'L' };
static const uint8_t dgram_mark[8] = { 'D', 'M', 'T', 'C', 'P', 'D', 'G', '1' };
static const uint8_t dgram_end[8] = { 'D', 'M', 'T', 'C', 'P', 'D', 'G', '0' };

struct dgram_sender {
  const uint8_t *saved;                 /* u32 length + bytes, repeated */
  uint64_t len, pos;
  int ended;
};
static struct dgram_sender dsend[MAX_SOCKS];
static struct buf dgram_echo[MAX_SOCKS];  /* received datagrams to send back: u32 length + bytes, repeated */
static uint64_t dgram_echo_pos[MAX_SOCKS];

static int refill_dgram_step(struct exchange *x, short revents)
{
  int i = (int)(x - ex);
  struct dgram_sender *s = &dsend[i];
  static uint8_t msg[8 + (1 << 18)];
  /* our saved datagrams, marked, then the end marker */
  while (!s->ended) {
    long w;
    if (s->pos + 4 <= s->len) {
      uint32_t n;
      __builtin_memcpy(&n, s->saved + s->pos, 4);
      if (n > sizeof msg - 8) n = sizeof msg - 8;
      __builtin_memcpy(msg, dgram_mark, 8);
      __builtin_memcpy(msg + 8, s->saved + s->pos + 4, n);
      w = dsys6(__NR_sendto, x->fd, (long)msg, 8 + n, MSG_NOSIGNAL | MSG_DONTWAIT, 0, 0);
      if (w == -EAGAIN_ || w == -EINTR_) break;
      s->pos += 4 + n;
      if (w < 0) s->ended = 1;
    } else {
      w = dsys6(__NR_sendto, x->fd, (long)dgram_end, 8, MSG_NOSIGNAL | MSG_DONTWAIT, 0, 0);
      if (w == -EAGAIN_ || w == -EINTR_) break;
      s->ended = 1;
    }
  }
  while (!x->done_in) {
    long n = dsys6(__NR_recvfrom, x->fd, (long)dgram_buf, sizeof dgram_buf, MSG_DONTWAIT, 0, 0);
    if (n == -EAGAIN_ || n == -EINTR_) break;
    if (n < 8 || d_memeq(dgram_buf, dgram_end, 8)) {
      x->done_in = 1;
      break;
    }
    struct buf *b = &dgram_echo[i];
    if (buf_room(b, (uint64_t)n) < 0) break;
    uint32_t len = (uint32_t)(n - 8);
    __builtin_memcpy(b->p + b->len, &len, 4);
    __builtin_memcpy(b->p + b->len + 4, dgram_buf + 8, len);
    b->len += 4 + len;
  }
  if (x->done_in && s->ended && !x->done_out) {
    struct buf *b = &dgram_echo[i];
    while (dgram_echo_pos[i] + 4 <= b->len) {
      uint32_t n;
      __builtin_memcpy(&n, b->p + dgram_echo_pos[i], 4);
      long w = dsys6(__NR_sendto, x->fd, (long)(b->p + dgram_echo_pos[i] + 4), n, MSG_NOSIGNAL | MSG_DONTWAIT, 0, 0);
      if (w == -EAGAIN_ || w == -EINTR_) break;
      dgram_echo_pos[i] += 4 + n;
    }
    if (dgram_echo_pos[i] + 4 > b->len) x->done_out = 1;
  }
  (void)revents;
  return x->done_in && x->done_out;
}

static void grow_buffer(int fd, int name, uint64_t need)
{
  int cur = get_int(fd, SOL_SOCKET, name);
  if (cur >= 0 && (uint64_t)cur >= need) return;
  set_int(fd, SOL_SOCKET, name, need > (1u << 30) ? (1 << 30) : (int)need);
}

static int refill_stream_step(struct exchange *x, short revents)
{
  /* Reading the peer's message: its header, then exactly its length. */
  while (!x->done_in) {
    long n;
    if (!x->header_done) {
      n = d_read(x->fd, x->header + x->in.len, 16 - x->in.len);
      if (n == -EAGAIN_ || n == -EINTR_) break;
      if (n <= 0) {
        x->done_in = 1;
        x->done_out = 1;
        break;
      }
      x->in.len += (uint64_t)n;
      if (x->in.len < 16) continue;
      x->in.len = 0;
      x->header_done = 1;
      __builtin_memcpy(&x->want, x->header + 8, 8);
      if (!d_memeq(x->header, refill_magic, 8)) {
        dlog("warning: socket fd %d: the other end's refill message is malformed; its data is lost", x->fd);
        x->done_in = 1;
        x->want = 0;
        break;
      }
      if (x->want && buf_room(&x->in, x->want) < 0) {
        x->done_in = 1;
        break;
      }
      if (!x->want) x->done_in = 1;
      continue;
    }
    n = d_read(x->fd, x->in.p + x->in.len, x->want - x->in.len);
    if (n == -EAGAIN_ || n == -EINTR_) break;
    if (n <= 0) {
      x->done_in = 1;
      break;
    }
    x->in.len += (uint64_t)n;
    if (x->in.len == x->want) x->done_in = 1;
  }
  if (x->done_in && x->out_piece >= 2 && !x->out[2] && x->in.len) {
    /* Our own message is out and the peer's is in: queue its bytes back to it. */
    grow_buffer(x->fd, SO_SNDBUF, x->in.len);
    x->out[2] = x->in.p;
    x->out_len[2] = x->in.len;
    x->out_piece = 2;
    x->out_pos = 0;
  }
  if (!x->done_out) {
    int r = pump_out(x, 0);
    if (r < 0) x->done_out = 1;
    if (r > 0 && x->done_in && (x->out[2] || !x->in.len)) x->done_out = 1;
  }
  (void)revents;
  return x->done_in && x->done_out;
}

static int refill_step(struct exchange *x, short revents)
{
  return is_stream(x->st) ? refill_stream_step(x, revents) : refill_dgram_step(x, revents);
}

void sockets_refill(void)
{
  static uint8_t headers[MAX_SOCKS][16];
  collect_exchanges();
  /* An end whose peer had shut down cannot have its bytes echoed back: it skips the exchange. */
  int kept = 0;
  for (int i = 0; i < n_ex; i++) {
    if (ex[i].st->flags & DMTCP_SOCK_PEER_CLOSED) {
      if (ex[i].st->drained) dlog("warning: socket fd %d: %u drained bytes cannot be put back (the peer had closed)", ex[i].fd, ex[i].st->drained);
      dsys3(__NR_fcntl, ex[i].fd, F_SETFL, ex[i].file_flags);
      continue;
    }
    ex[kept++] = ex[i];
  }
  n_ex = kept;
  int n_stream = 0;
  for (int i = 0; i < n_ex; i++) {
    struct exchange *x = &ex[i];
    const uint8_t *data = (const uint8_t *)(x->st + 1);
    uint64_t len = x->st->drained;
    if (is_stream(x->st)) {
      __builtin_memcpy(headers[i], refill_magic, 8);
      __builtin_memcpy(headers[i] + 8, &len, 8);
      if (len) grow_buffer(x->fd, SO_RCVBUF, len);
      x->out[0] = headers[i];
      x->out_len[0] = 16;
      x->out[1] = data;
      x->out_len[1] = len;
      n_stream++;
    } else {
      dsend[i].saved = data;
      dsend[i].len = len;
      dsend[i].pos = 0;
      dsend[i].ended = 0;
      dgram_echo[i].len = 0;
      dgram_echo_pos[i] = 0;
    }
  }
  run_exchanges(refill_step, "refilling");
  restore_flags();
  for (int i = 0; i < n_ex; i++) {
    buf_free(&ex[i].in);
    buf_free(&dgram_echo[i]);
  }
  if (n_ex) dlog_debug("refilled %d stream and %d datagram socket(s)", n_stream, n_ex - n_stream);
}

/* ---- restart ---- */

struct pending {
  struct fd_entry *e;
  struct dmtcp_sock_state *st;
  int listener;                        /* ACCEPT: the fresh listening socket */
  int state;                           /* 0 to do, 1 connecting, 2 done */
  char key[64];
};

static struct pending pend[MAX_SOCKS];
static int n_pend;
static uint8_t names[12288];
static size_t names_used;

static void key_of(const struct dmtcp_sock_state *st, int side, char *out, size_t cap)
{
  uint64_t lo = st->ino < st->peer_ino ? st->ino : st->peer_ino;
  uint64_t hi = st->ino < st->peer_ino ? st->peer_ino : st->ino;
  dfmt(out, cap, "sock:%llu-%llu/%d", (unsigned long long)lo, (unsigned long long)hi, side);
}

static void names_flush(uint16_t type)
{
  if (!names_used) return;
  static struct msg_out m;
  m.used = 0;
  msg_bytes(&m, DMTCP_TAG_NAMES, names, (uint32_t)names_used);
  coord_send(type, &m);
  names_used = 0;
}

static void names_add(uint16_t type, const char *key, const void *value, uint16_t vlen)
{
  uint16_t klen = 0;
  while (key[klen]) klen++;
  if (names_used + 4 + klen + vlen > sizeof names) names_flush(type);
  __builtin_memcpy(names + names_used, &klen, 2);
  __builtin_memcpy(names + names_used + 2, &vlen, 2);
  __builtin_memcpy(names + names_used + 4, key, klen);
  if (vlen) __builtin_memcpy(names + names_used + 4 + klen, value, vlen);
  names_used += 4 + (size_t)klen + vlen;
}

/* The descriptor at e's number is a socket of the right kind (the restorer made it); else make one. */
static int ensure_socket(struct fd_entry *e, const struct dmtcp_sock_state *st)
{
  int fd = e->rec.fd;
  if (get_int(fd, SOL_SOCKET, SO_DOMAIN) == st->family) return fd;
  long s = dsys3(__NR_socket, st->family, (long)st->type | SOCK_CLOEXEC, st->protocol);
  if (s < 0) return -1;
  dsys3(__NR_dup3, s, fd, (e->rec.flags & DMTCP_FD_F_CLOEXEC) ? O_CLOEXEC : 0);
  d_close((int)s);
  return fd;
}

/* Where peers reach this host: the address we reach the coordinator from, when it is of this family. */
static uint32_t publish_addr(int family, uint8_t *sa, int port_be)
{
  if (family == AF_INET) {
    struct sockaddr_in in;
    __builtin_memset(&in, 0, sizeof in);
    uint32_t l = sizeof in;
    if (dsys3(__NR_getsockname, g_coord_fd, (long)&in, (long)&l) < 0 || in.sin_family != AF_INET) {
      in.sin_family = AF_INET;
      in.sin_addr.s_addr = __builtin_bswap32(0x7f000001);
    }
    in.sin_port = (uint16_t)port_be;
    __builtin_memcpy(sa, &in, sizeof in);
    return sizeof in;
  }
  struct sockaddr_in6 in6;
  __builtin_memset(&in6, 0, sizeof in6);
  uint32_t l = sizeof in6;
  if (dsys3(__NR_getsockname, g_coord_fd, (long)&in6, (long)&l) < 0 || in6.sin6_family != AF_INET6) {
    __builtin_memset(&in6, 0, sizeof in6);
    in6.sin6_family = AF_INET6;
    in6.sin6_addr.s6_addr[15] = 1;
  }
  in6.sin6_port = (uint16_t)port_be;
  in6.sin6_flowinfo = 0;
  in6.sin6_scope_id = 0;
  __builtin_memcpy(sa, &in6, sizeof in6);
  return sizeof in6;
}

/* A fresh listening (or, for datagrams, bound) address of the socket's family; returns its published form. */
static int fresh_address(int fd, const struct dmtcp_sock_state *st, uint8_t *pub, uint32_t *pub_len)
{
  uint8_t any[128];
  __builtin_memset(any, 0, sizeof any);
  uint32_t alen;
  if (st->family == AF_UNIX) {
    ((struct sockaddr_un *)any)->sun_family = AF_UNIX;
    alen = sizeof(sa_family_t);                      /* autobind: a fresh abstract name */
  } else if (st->family == AF_INET) {
    ((struct sockaddr_in *)any)->sin_family = AF_INET;
    alen = sizeof(struct sockaddr_in);
  } else {
    ((struct sockaddr_in6 *)any)->sin6_family = AF_INET6;
    alen = sizeof(struct sockaddr_in6);
  }
  long r = dsys3(__NR_bind, fd, (long)any, alen);
  if (r < 0) return (int)r;
  uint8_t got[128];
  uint32_t glen = sizeof got;
  if (dsys3(__NR_getsockname, fd, (long)got, (long)&glen) < 0) return -1;
  if (st->family == AF_UNIX) {
    __builtin_memcpy(pub, got, glen);
    *pub_len = glen;
  } else {
    uint16_t port;
    __builtin_memcpy(&port, got + 2, 2);
    *pub_len = publish_addr(st->family, pub, port);
  }
  return 0;
}

/* Binds a socket to its old address: stale Unix socket files go first; a taken TCP/UDP port gives way to a new one. */
static void bind_again(int fd, struct dmtcp_sock_state *st)
{
  uint8_t addr[128];
  __builtin_memcpy(addr, st->local, sizeof addr);
  if (st->family == AF_UNIX && st->local_len > 2 && st->local[2]) {
    struct stat sb;
    const char *path = (const char *)st->local + 2;
    if (dsys2(__NR_lstat, (long)path, (long)&sb) == 0 && S_ISSOCK(sb.st_mode)) dsys1(__NR_unlink, (long)path);
  }
  /* Held through listen(): connections of the killed process may linger in TIME_WAIT on this port. The program's
   * own setting comes back in restore_options(). */
  set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  long r = dsys3(__NR_bind, fd, (long)addr, st->local_len);
  if (r == -EADDRINUSE_ && (st->family == AF_INET || st->family == AF_INET6)) {
    char was[160], now[160];
    describe_addr(st->local, st->local_len, was, sizeof was);
    addr[2] = addr[3] = 0;
    r = dsys3(__NR_bind, fd, (long)addr, st->local_len);
    uint32_t l = sizeof addr;
    dsys3(__NR_getsockname, fd, (long)addr, (long)&l);
    dlog("warning: fd %d: %s is taken by another program; bound to %s instead", fd, was,
         describe_addr(addr, l, now, sizeof now));
  }
  if (r < 0) {
    char was[160];
    dlog("warning: fd %d: cannot bind %s again (errno %ld)", fd, describe_addr(st->local, st->local_len, was, sizeof was), -r);
  }
}

/* An outside connection comes back closed: connected to a listener of our own that is gone at once. */
static void connect_closed(int fd, const struct dmtcp_sock_state *st)
{
  long l = dsys3(__NR_socket, st->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l < 0) return;
  uint8_t pub[128];
  uint32_t plen;
  if (fresh_address((int)l, st, pub, &plen) == 0 && dsys2(__NR_listen, l, 1) == 0) {
    if (st->family == AF_INET) {
      ((struct sockaddr_in *)pub)->sin_addr.s_addr = __builtin_bswap32(0x7f000001);
    } else if (st->family == AF_INET6) {
      __builtin_memset(&((struct sockaddr_in6 *)pub)->sin6_addr, 0, 16);
      ((struct sockaddr_in6 *)pub)->sin6_addr.s6_addr[15] = 1;
    }
    if (dsys3(__NR_connect, fd, (long)pub, plen) == 0) {
      long a = dsys4(__NR_accept4, l, 0, 0, SOCK_CLOEXEC);
      if (a >= 0) d_close((int)a);
    }
  }
  d_close((int)l);
}

static void restore_options(struct fd_entry *e, const struct dmtcp_sock_state *st)
{
  int fd = e->rec.fd;
  if ((st->family == AF_INET || st->family == AF_INET6) && st->type == SOCK_STREAM) {
    set_int(fd, IPPROTO_TCP, TCP_NODELAY, !!(st->flags & DMTCP_SOCK_NODELAY));
  }
  set_int(fd, SOL_SOCKET, SO_REUSEADDR, !!(st->flags & DMTCP_SOCK_REUSEADDR));
  if (st->flags & DMTCP_SOCK_KEEPALIVE) set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
  if (st->sndbuf > 0) set_int(fd, SOL_SOCKET, SO_SNDBUF, st->sndbuf);
  if (st->rcvbuf > 0) set_int(fd, SOL_SOCKET, SO_RCVBUF, st->rcvbuf);
  dsys3(__NR_fcntl, fd, F_SETFL, e->rec.file_flags);
}

/* Other descriptors of this process that shared e's description take what e's number holds now. */
static void share_again(struct fd_entry *e)
{
  int n;
  struct fd_entry *all = fds_entries(&n);
  for (int i = 0; i < n; i++) {
    struct fd_entry *o = &all[i];
    if (o == e || o->rec.owner_vpid != e->rec.owner_vpid || o->rec.owner_fd != e->rec.owner_fd) continue;
    dsys3(__NR_dup3, e->rec.fd, o->rec.fd, (o->rec.flags & DMTCP_FD_F_CLOEXEC) ? O_CLOEXEC : 0);
  }
}

void sockets_restart_bind(void)
{
  int n;
  struct fd_entry *all = fds_entries(&n);
  for (int i = 0; i < n; i++) {
    struct fd_entry *e = &all[i];
    struct dmtcp_sock_state *st = state_of(e);
    if (!st || !fds_owns(e)) continue;
    int fd = ensure_socket(e, st);
    if (fd < 0) {
      dlog("warning: fd %d: cannot create a socket of family %u again", e->rec.fd, st->family);
      continue;
    }
    if (st->flags & DMTCP_SOCK_LISTENING) {
      bind_again(fd, st);
      long r = dsys2(__NR_listen, fd, st->backlog > 0 ? st->backlog : 128);
      if (r < 0) dlog("warning: fd %d: cannot listen again (errno %ld)", fd, -r);
      continue;
    }
    if (!(st->flags & DMTCP_SOCK_CONNECTED)) {
      if (st->flags & DMTCP_SOCK_BOUND) bind_again(fd, st);
      continue;
    }
    if (!(st->flags & DMTCP_SOCK_INSIDE)) {
      if (!is_stream(st)) {
        /* A datagram socket that talked to an outside address talks to it again. */
        if (st->flags & DMTCP_SOCK_BOUND) bind_again(fd, st);
        dsys3(__NR_connect, fd, (long)st->peer, st->peer_len);
      }
      continue;
    }
  }
}

/* PUBLISHED: every original address is taken again (all processes passed REBOUND), so fresh ports cannot collide
 * with them: each inside connection's ACCEPT end listens on one and publishes it. */
void sockets_restart_publish(void)
{
  int n;
  struct fd_entry *all = fds_entries(&n);
  n_pend = 0;
  names_used = 0;
  for (int i = 0; i < n; i++) {
    struct fd_entry *e = &all[i];
    struct dmtcp_sock_state *st = state_of(e);
    if (!st) continue;
    int fd = e->rec.fd;
    if (is_stream(st) && (st->flags & DMTCP_SOCK_CONNECTED) && !(st->flags & DMTCP_SOCK_INSIDE) &&
        fds_owns(e) && get_int(fd, SOL_SOCKET, SO_DOMAIN) == st->family) {
      connect_closed(fd, st);
      continue;
    }
    if (!rebuilt_here(e, st) || n_pend >= MAX_SOCKS) continue;
    struct pending *p = &pend[n_pend++];
    __builtin_memset(p, 0, sizeof *p);
    p->e = e;
    p->st = st;
    p->listener = -1;
    uint8_t pub[128];
    uint32_t plen = 0;
    if (st->role == DMTCP_SOCK_ROLE_ACCEPT) {
      long l = dsys3(__NR_socket, st->family, (long)st->type | SOCK_CLOEXEC | SOCK_NONBLOCK, st->protocol);
      if (l < 0 || fresh_address((int)l, st, pub, &plen) < 0 || dsys2(__NR_listen, l, 4) < 0) {
        dlog("warning: fd %d: cannot listen for its peer again", fd);
        if (l >= 0) d_close((int)l);
        p->state = 2;
        continue;
      }
      p->listener = (int)l;
      key_of(st, 0, p->key, sizeof p->key);
      names_add(DMTCP_MSG_NS_PUBLISH, p->key, pub, (uint16_t)plen);
    } else if (st->role == DMTCP_SOCK_ROLE_PAIR) {
      int side = st->ino < st->peer_ino ? 0 : 1;
      if (fresh_address(fd, st, pub, &plen) < 0) {
        dlog("warning: fd %d: cannot bind a fresh address for its peer", fd);
        p->state = 2;
        continue;
      }
      char key[64];
      key_of(st, side, key, sizeof key);
      names_add(DMTCP_MSG_NS_PUBLISH, key, pub, (uint16_t)plen);
      key_of(st, 1 - side, p->key, sizeof p->key);
    } else {
      key_of(st, 0, p->key, sizeof p->key);
    }
  }
  names_flush(DMTCP_MSG_NS_PUBLISH);
}

/* Asks the coordinator for every key this process connects to; fills `addr` of each pending entry. */
static uint8_t found_addr[MAX_SOCKS][128];
static uint32_t found_len[MAX_SOCKS];

static void lookup_all(void)
{
  static uint8_t in[1 << 17];
  int start = 0;
  while (start < n_pend) {
    int end = start;
    names_used = 0;
    while (end < n_pend) {
      struct pending *p = &pend[end];
      if (p->state == 2 || p->st->role == DMTCP_SOCK_ROLE_ACCEPT) {
        end++;
        continue;
      }
      uint16_t klen = 0;
      while (p->key[klen]) klen++;
      if (names_used + 4 + klen > sizeof names) break;
      names_add(DMTCP_MSG_NS_LOOKUP, p->key, 0, 0);
      end++;
    }
    if (names_used) {
      names_flush(DMTCP_MSG_NS_LOOKUP);
      uint16_t type;
      size_t len;
      const uint8_t *v;
      uint32_t vlen = 0;
      if (coord_recv(&type, in, sizeof in, &len) < 0 || type != DMTCP_MSG_NS_ANSWER || !tlv_find(in, len, DMTCP_TAG_NAMES, &v, &vlen)) {
        dlog("warning: the coordinator's name service did not answer; connections cannot be rebuilt");
        return;
      }
      for (uint32_t off = 0; off + 4 <= vlen;) {
        uint16_t kl, vl;
        __builtin_memcpy(&kl, v + off, 2);
        __builtin_memcpy(&vl, v + off + 2, 2);
        const char *k = (const char *)v + off + 4;
        for (int i = start; i < end; i++) {
          uint16_t ml = 0;
          while (pend[i].key[ml]) ml++;
          if (ml == kl && d_memeq(pend[i].key, k, kl) && vl <= 128) {
            __builtin_memcpy(found_addr[i], v + off + 4 + kl, vl);
            found_len[i] = vl;
          }
        }
        off += 4u + kl + vl;
      }
    }
    start = end;
  }
}

void sockets_restart_connect(void)
{
  for (int i = 0; i < n_pend; i++) found_len[i] = 0;
  lookup_all();
  /* Connect (nonblocking) every CONNECT end and every datagram pair; then accept until all are done. */
  for (int i = 0; i < n_pend; i++) {
    struct pending *p = &pend[i];
    if (p->state == 2 || p->st->role == DMTCP_SOCK_ROLE_ACCEPT) continue;
    int fd = p->e->rec.fd;
    if (!found_len[i]) {
      dlog("warning: fd %d: its peer published no address (%s); the connection is not rebuilt", fd, p->key);
      p->state = 2;
      continue;
    }
    dsys3(__NR_fcntl, fd, F_SETFL, O_NONBLOCK);
    long r = dsys3(__NR_connect, fd, (long)found_addr[i], found_len[i]);
    if (r == 0) p->state = 2;
    else if (r == -EINPROGRESS_ || r == -EAGAIN_) p->state = 1;
    else {
      dlog("warning: fd %d: cannot reach its peer again (errno %ld)", fd, -r);
      p->state = 2;
    }
  }
  static struct pollfd pf[MAX_SOCKS];
  static int idx[MAX_SOCKS];
  long deadline = now_ms() + EXCHANGE_TIMEOUT_MS;
  for (;;) {
    int np = 0;
    for (int i = 0; i < n_pend; i++) {
      struct pending *p = &pend[i];
      if (p->state == 2) continue;
      if (p->st->role == DMTCP_SOCK_ROLE_ACCEPT) {
        pf[np].fd = p->listener;
        pf[np].events = POLLIN;
      } else {
        pf[np].fd = p->e->rec.fd;
        pf[np].events = POLLOUT;
      }
      pf[np].revents = 0;
      idx[np++] = i;
    }
    if (!np) break;
    long left = deadline - now_ms();
    if (left <= 0) {
      for (int k = 0; k < np; k++) dlog("warning: fd %d: its peer never connected again", pend[idx[k]].e->rec.fd);
      break;
    }
    struct { long s, ns; } ts = { left / 1000, (left % 1000) * 1000000 };
    long r = dsys5(__NR_ppoll, (long)pf, np, (long)&ts, 0, 8);
    if (r < 0 && r != -EINTR_) break;
    for (int k = 0; k < np; k++) {
      if (!pf[k].revents) continue;
      struct pending *p = &pend[idx[k]];
      if (p->st->role == DMTCP_SOCK_ROLE_ACCEPT) {
        long a = dsys4(__NR_accept4, p->listener, 0, 0, SOCK_CLOEXEC);
        if (a == -EAGAIN_ || a == -EINTR_) continue;
        if (a >= 0) {
          dsys3(__NR_dup3, a, p->e->rec.fd, (p->e->rec.flags & DMTCP_FD_F_CLOEXEC) ? O_CLOEXEC : 0);
          d_close((int)a);
          share_again(p->e);
        } else {
          dlog("warning: fd %d: accepting its peer failed (errno %ld)", p->e->rec.fd, -a);
        }
        d_close(p->listener);
        p->listener = -1;
        p->state = 2;
      } else {
        int err = get_int(p->e->rec.fd, SOL_SOCKET, SO_ERROR);
        if (err) dlog("warning: fd %d: reconnecting to its peer failed (errno %d)", p->e->rec.fd, err);
        p->state = 2;
      }
    }
  }
  for (int i = 0; i < n_pend; i++) {
    if (pend[i].listener >= 0) d_close(pend[i].listener);
    pend[i].listener = -1;
  }
  /* Every socket this process owns gets its options and flags back. */
  int n;
  struct fd_entry *all = fds_entries(&n);
  for (int i = 0; i < n; i++) {
    struct dmtcp_sock_state *st = state_of(&all[i]);
    if (st && fds_owns(&all[i])) restore_options(&all[i], st);
  }
  fds_restore_epoll_again();
}
