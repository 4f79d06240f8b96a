/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net.c — the broker's event loop: one thread, level-triggered epoll,
 * non-blocking sockets, timers in a min-heap, cross-thread posts through an
 * eventfd.
 *
 * Frames and their buffers. Every request is handed to its handler in a
 * buffer of its own (net_frame), which the handler owns until it calls
 * net_frame_free(): the Kafka layer decodes record sets as views into it
 * and keeps it while a request is parked (acks=all, long-poll fetch), so
 * no record byte is copied between the socket and the log.
 *  - Memory per connection is kept small on purpose (1,000 idle
 *    connections must cost far less than 100 MB): a connection owns no read
 *    buffer while it is between frames.
 *  - Small frames (under NET_BIG_FRAME) are read through one loop-wide
 *    scratch buffer, many per system call, and each is copied once into an
 *    exact-size malloc'ed buffer. Reading each into its own buffer instead
 *    would cost a system call per frame, more than the copy.
 *  - A frame with NET_BIG_FRAME or more still to arrive is read straight
 *    into its own buffer (its first bytes may come through the scratch
 *    buffer). After a big frame, the next size prefix is read alone (also
 *    by the read that finishes the frame, when the bytes are there), so a
 *    stream of big frames never goes through the scratch buffer: one more
 *    small read per big frame at most, instead of copying up to the
 *    scratch buffer's size out of it.
 *  - A frame's buffer grows with the bytes received, up to the frame's
 *    size, so a size prefix alone allocates nothing: it can only take a
 *    free buffer from the loop's pool, memory already held.
 *  - Big buffers, once freed, go to a per-loop pool (best fit, at most
 *    NET_POOL_MAX_BYTES, the smallest evicted first) and are released after
 *    pool_idle_ms unused. A stream of 1 MB Produce requests reuses one or
 *    a few buffers whose pages are already mapped, instead of growing (and
 *    copying) a fresh buffer per request; the loop never keeps more than
 *    the pool's bound beyond what requests in progress hold.
 *
 * Reply order: every frame gets a net_req appended to its connection's
 * queue before the handler runs. The queue is written from its head only,
 * and only while the head has been answered, so a late answer (acks=all,
 * long-poll fetch) holds back later ones instead of overtaking them.
 *
 * Back-pressure: a connection stops being read while it has more than
 * NET_MAX_UNSENT reply bytes waiting or NET_MAX_INFLIGHT unanswered
 * requests, so a client that never reads its socket costs at most that
 * much and never slows anyone else (writes never block the loop).
 *
 * Loop-wide memory bound (max_buffered_bytes): the loop counts what
 * connections make it hold — buffers of frames arriving, frames handed to
 * handlers and not yet freed, reply buffers not yet written, bytes read
 * ahead (stash) — and a connection that holds any of that is not read
 * (EPOLLIN off; it waits on `paused`) while the count is at the bound. A
 * connection holding nothing may still be read up to a quarter over it
 * (budget_allows says why). Writing goes on, and requests being handled finish,
 * which is what brings the count down; nobody is closed for it. One
 * connection at a time is exempt (`exempt`): among the oldest frames in
 * progress (the head of the `partial` list), one whose connection has no
 * request in the queue may finish that frame, so that when frames
 * arriving hold all the memory, one of them still completes and the loop
 * cannot stall. A connection with requests queued is never exempt: its
 * frame would only add a reply to those its client is not reading. The
 * loop therefore holds at most 5/4 of the bound plus one request
 * (max_request_bytes), plus the pool and the scratch buffer.
 *
 * Timeouts (idle_ms, Kafka's connections.max.idle.ms): connections sit in
 * `lru` by their last byte read or written; a periodic sweep closes those
 * idle for idle_ms, silently as Kafka does (one summary line per sweep),
 * unless a request of theirs is still being handled (a parked fetch, a
 * join). A frame in progress must also arrive whole within idle_ms of its
 * first byte (`partial`, oldest first): Kafka keeps a connection that
 * trickles a 100 MB frame a byte at a time open for as long as bytes come,
 * which lets a few clients pin memory for ever; here that closes the
 * connection, with a log line.
 *
 * Connection caps (net_limits): at max_connections the listener leaves
 * EPOLLIN off and new connections wait in the kernel's backlog (Kafka's
 * acceptor blocks the same way) until one closes; a client address at its
 * cap (per_ip, counted in a small hash table) gets its new connection
 * closed right after accept, with a rate-limited log line in Kafka's
 * words.
 *
 * Connections are never freed inside a callback: closing marks them dead
 * and the loop reaps them at the end of the iteration, after on_close.
 */
#include "net.h"

#include "logline.h"
#include "metrics.h"
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h> /* malloc_trim */
#endif

#include <openssl/err.h>
#include <openssl/ssl.h>

#define NET_SCRATCH_BYTES (256 * 1024)
/* A frame this big (or with this much still to arrive) costs more to copy
 * than a system call: it is read straight into its own buffer, and that
 * buffer is pooled for reuse when freed. */
#define NET_BIG_FRAME ((size_t)64 * 1024)
/* Pooled buffers are sized in these steps, so that one serves later
 * frames a little larger than the one it was made for. */
#define NET_POOL_GRANULE ((size_t)64 * 1024)
#define NET_POOL_MAX_BYTES ((size_t)16 * 1024 * 1024)
/* Bigger buffers are rare (the clients' default request limit is 1 MB);
 * keeping one would crowd out the common size. */
#define NET_POOL_MAX_BUF ((size_t)4 * 1024 * 1024)
#define NET_MAX_UNSENT ((size_t)64 * 1024 * 1024)
#define NET_MAX_INFLIGHT 1024
/* Per readable event, so one busy client cannot starve the others. */
#define NET_READS_PER_EVENT 16
#define NET_WRITE_BYTES_PER_EVENT ((size_t)4 * 1024 * 1024)
#define NET_DRAIN_MS 3000
#define NET_MAX_EVENTS 256
#define NET_IOV_MAX 64
#define NET_ACCEPT_PAUSE_MS 100
/* Warnings that could repeat per connection are logged at most this
 * often. */
#define NET_LOG_EVERY_MS 10000
#define NET_IP_BUCKETS 1024
/* TLS: small replies are gathered into one buffer of this size so that
 * they share a record and a system call, as sendmsg shares them in
 * plaintext; file parts without kTLS are read into it and encrypted. */
#define NET_TLS_WBUF ((size_t)64 * 1024)
#define NET_TLS_GATHER ((size_t)16 * 1024)

enum req_state { REQ_PENDING, REQ_READY, REQ_NONE };

/* A frame buffer: the net_frame handed out, then the frame with its size
 * prefix. */
typedef struct net_fbuf {
  net_frame f; /* first: net_frame_free() converts back */
  net_loop *loop;
  struct net_fbuf *next; /* in the pool, which is sorted by cap */
  size_t cap;            /* bytes at b */
  int64_t pooled_ms;     /* when it went into the pool */
  uint8_t b[];
} net_fbuf;

/* A reply is buf with file parts spliced in: buf[0, files[0].at), then
 * files[0], then buf[files[0].at, files[1].at), ... then the rest of buf. */
struct net_req {
  net_req *next;
  int state;
  uint8_t *buf;
  size_t len;
  size_t sent; /* of buf */
  net_file *files;
  size_t nfiles;
  size_t cur;       /* files[cur] is the next file part to send */
  size_t file_sent; /* of files[cur] */
  size_t file_left; /* file bytes not yet sent, all parts */
};

enum close_mode {
  CLOSE_NONE,
  CLOSE_AFTER_READY, /* once no answered reply is left to send */
  CLOSE_AFTER_ALL,   /* once every request is answered and sent */
};

/* Connections from one client address. */
typedef struct ip_count {
  struct ip_count *next;
  int family;
  uint8_t addr[16];
  size_t n;
} ip_count;

/* An intrusive doubly-linked list of connections (lru, partial, paused). */
typedef struct conn_link {
  net_conn *prev, *next;
  int in;
} conn_link;

typedef struct conn_list {
  net_conn *head, *tail;
  size_t n;
} conn_list;

struct net_conn {
  net_loop *loop;
  net_conn *prev, *next; /* all live connections */
  net_conn *dead_next;   /* reap list */
  /* by last activity; frames in progress by first byte; paused at the
   * memory bound (see the top of the file) */
  conn_link lru, partial, paused;
  int64_t active_ms, frame_ms;
  size_t unanswered; /* requests whose handler has not answered yet */
  size_t rbuf_counted;
  ip_count *ip;
  int fd;
  uint32_t events; /* current epoll interest */
  int dead;
  int close_mode;
  int read_eof;
  /* A frame still arriving: hdr collects the size prefix, then rbuf holds
   * the whole frame (prefix included) once its size is known. */
  uint8_t hdr[4];
  size_t hdr_len;
  net_fbuf *rbuf;
  size_t rlen, rneed;
  int big; /* the last frame was big: read the next size prefix alone */
  /* Bytes read past a back-pressure point, consumed before the socket. */
  uint8_t *stash;
  size_t stash_len;
  int in_ready;
  int in_flushq;
  net_conn *flush_next;
  net_req *cur_req; /* the request whose handler is running */
  net_conn *ready_next;
  /* Reply queue, oldest first. */
  net_req *qhead, *qtail;
  size_t unsent;   /* bytes of answered replies not yet written */
  size_t inflight; /* requests in the queue */
  void *data;
  size_t listener; /* index of the listening socket that accepted it */
  /* TLS (accepted on a listener with a context; see "TLS" below). */
  SSL *ssl;
  int tls_hs;            /* the handshake is still going */
  int tls_seen;          /* its first byte was looked at */
  uint32_t tls_hs_ev;    /* what the handshake waits for */
  int tls_rd_want_write; /* SSL_read needs the socket writable */
  int tls_ktls;          /* kernel TLS sends: file parts go by SSL_sendfile */
  char *tls_subject;     /* the verified client certificate's */
  char error[160];
  char peer[64];
  /* Muted until then (net_conn_mute); the timer that unmutes. */
  int64_t muted_until;
  net_timer *mute_timer;
  /* net_conn_close_after: replies are held (and nothing is read) until
   * this timer fires; then they are sent and the connection closes. */
  net_timer *hold_timer;
};

struct net_timer {
  int64_t when;
  uint64_t seq;
  size_t idx; /* position in the heap, for cancel */
  void (*fn)(void *);
  void *arg;
};

struct net_post_item {
  struct net_post_item *next;
  void (*fn)(void *);
  void *arg;
};

/* Most listening sockets a loop has (net_config.listens). */
#define NET_MAX_LISTENS 8

/* One listening socket: fd -1 once closed (draining). */
typedef struct net_lsock {
  int fd;
  int port; /* bound, so port 0 is resolved */
  struct net_tls *tls;
} net_lsock;

struct net_loop {
  net_config cfg;
  int epfd;
  int evfd;
  net_lsock ls[NET_MAX_LISTENS];
  size_t nls;
  int listening;   /* the listening fds are registered for EPOLLIN */
  int accept_full; /* not accepting: at max_connections */
  int64_t now;     /* this iteration's net_now_ms() */
  atomic_int stop;
  int draining;
  int64_t drain_deadline;
  net_conn *conns;
  size_t nconns;
  size_t files_open; /* descriptors held by queued file parts */
  net_conn *dead;
  net_conn *ready;  /* back-pressure lifted with stashed bytes to process */
  net_conn *flushq; /* answered replies to write this iteration */
  uint8_t *scratch;
  /* Free big frame buffers, smallest first (see the top of the file). */
  net_fbuf *pool;
  size_t pool_bytes, pool_count;
  net_timer *pool_timer;
  size_t frames_held; /* handed to handlers, not yet freed */
  net_timer **heap;
  size_t nheap, capheap;
  uint64_t timer_seq;
  net_timer *accept_timer;
  /* Limits (see the top of the file). */
  size_t max_connections, max_per_ip;
  net_ip_limit *ip_limits;
  size_t nip_limits;
  ip_count *ips[NET_IP_BUCKETS];
  int64_t full_logged_ms, per_ip_logged_ms;
  /* The TLS context of the (first) listener, NULL = plaintext; and the
   * buffer TLS writes gather into (NET_TLS_WBUF, made on first use). */
  struct net_tls *tls;
  uint8_t *tls_wbuf;
  conn_list lru, partial, paused;
  net_timer *sweep_timer;
  /* Bytes counted against max_buffered_bytes. */
  size_t reading_bytes, frame_bytes, reply_bytes, stash_bytes;
  int paused_kinds; /* 1: holders are paused, 2: others are */
  net_conn *exempt; /* may finish its frame whatever the bound */
  pthread_mutex_t post_mu;
  struct net_post_item *post_head, *post_tail;
};

/* Tags stored in epoll_event.data.ptr for the non-connection fds: one per
 * listening socket (its index is the tag's), and the eventfd. */
static char tag_listen[NET_MAX_LISTENS], tag_event;

int64_t net_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The network layer's lines share the broker's flood limit; a line about
 * one connection carries its address as a field. */
#define net_log(level, ...) blog(level, "net", NULL, 0, __VA_ARGS__)
#define net_log_peer(level, peer, fmt, ...)                                    \
  blog(level, "net", &BLOG_STR("client_addr", peer), 1, "%s: " fmt, peer,      \
       __VA_ARGS__)

/* For warnings that could come once per connection: 1 when the last one
 * of its kind was logged long enough ago. */
static int log_due(int64_t *last) {
  int64_t now = net_now_ms();
  if (*last && now - *last < NET_LOG_EVERY_MS)
    return 0;
  *last = now;
  return 1;
}

/* ------------------------------------------------------------------------ */
/* Connection lists and the memory bound                                    */
/* ------------------------------------------------------------------------ */

#define LINK(c, off) ((conn_link *)((char *)(c) + (off)))
#define L_LRU offsetof(net_conn, lru)
#define L_PARTIAL offsetof(net_conn, partial)
#define L_PAUSED offsetof(net_conn, paused)

/* Append c (no-op if it is in already). */
static void list_add(conn_list *L, net_conn *c, size_t off) {
  conn_link *k = LINK(c, off);
  if (k->in)
    return;
  k->in = 1;
  k->next = NULL;
  k->prev = L->tail;
  if (L->tail)
    LINK(L->tail, off)->next = c;
  else
    L->head = c;
  L->tail = c;
  L->n++;
}

static void list_del(conn_list *L, net_conn *c, size_t off) {
  conn_link *k = LINK(c, off);
  if (!k->in)
    return;
  if (k->prev)
    LINK(k->prev, off)->next = k->next;
  else
    L->head = k->next;
  if (k->next)
    LINK(k->next, off)->prev = k->prev;
  else
    L->tail = k->prev;
  k->in = 0;
  k->prev = k->next = NULL;
  L->n--;
}

/* A byte went in or out: c is not idle. */
static void conn_touch(net_conn *c) {
  net_loop *l = c->loop;
  c->active_ms = l->now;
  if (l->lru.tail != c) {
    list_del(&l->lru, c, L_LRU);
    list_add(&l->lru, c, L_LRU);
  }
}

static size_t buffered(const net_loop *l) {
  return l->reading_bytes + l->frame_bytes + l->reply_bytes + l->stash_bytes;
}

/* Does c hold memory the bound counts: a frame arriving, requests being
 * handled or replies unsent, bytes read ahead? */
static int conn_holds(const net_conn *c) {
  return c->rbuf || c->hdr_len || c->stash || c->inflight;
}

/* The frame of the connection exempt from the bound (below). */
static size_t exempt_bytes(const net_loop *l) {
  return l->exempt ? l->exempt->rbuf_counted : 0;
}

/* Does the memory bound let c be read? A connection holding memory, only
 * below the bound. One holding nothing, up to a quarter over it (not
 * counting the exempt frame), so that small requests from other clients
 * (heartbeats, metadata, a produce) are served while some sit on big
 * frames; once it holds memory it stops in turn. The exempt connection
 * always may (see the top of the file). */
static int budget_allows(const net_conn *c) {
  const net_loop *l = c->loop;
  size_t max = l->cfg.max_buffered_bytes;
  if (!max || l->exempt == c)
    return 1;
  if (conn_holds(c))
    return buffered(l) < max;
  return buffered(l) - exempt_bytes(l) < max + max / 4;
}

/* Count c's frame buffer as it is now. */
static void rbuf_count(net_conn *c) {
  size_t cap = c->rbuf ? c->rbuf->cap : 0;
  c->loop->reading_bytes = c->loop->reading_bytes - c->rbuf_counted + cap;
  c->rbuf_counted = cap;
}

/* ------------------------------------------------------------------------ */
/* Connection caps                                                          */
/* ------------------------------------------------------------------------ */

/* Every listener pauses and resumes together: the caps are the loop's. */
static void listener_set(net_loop *l, int on) {
  if (l->listening == on)
    return;
  int ok = 0;
  for (size_t i = 0; i < l->nls; i++) {
    if (l->ls[i].fd < 0)
      continue;
    struct epoll_event e = {.events = on ? EPOLLIN : 0,
                            .data.ptr = &tag_listen[i]};
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, l->ls[i].fd, &e) == 0)
      ok = 1;
  }
  if (ok)
    l->listening = on;
}

/* The client address of a peer; an IPv4 client of an IPv6 listener
 * counts as its IPv4 address. Returns 0, or -1 for other families. */
static int peer_addr(const struct sockaddr_storage *ss, int *family,
                     uint8_t addr[16]) {
  memset(addr, 0, 16);
  if (ss->ss_family == AF_INET) {
    *family = AF_INET;
    memcpy(addr, &((const struct sockaddr_in *)ss)->sin_addr, 4);
    return 0;
  }
  if (ss->ss_family != AF_INET6)
    return -1;
  const uint8_t *a = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (memcmp(a, mapped, 12) == 0) {
    *family = AF_INET;
    memcpy(addr, a + 12, 4);
  } else {
    *family = AF_INET6;
    memcpy(addr, a, 16);
  }
  return 0;
}

static size_t ip_hash(int family, const uint8_t addr[16]) {
  uint64_t h = 1469598103934665603ull ^ (uint64_t)family;
  for (int i = 0; i < 16; i++)
    h = (h ^ addr[i]) * 1099511628211ull;
  return (size_t)(h % NET_IP_BUCKETS);
}

/* The count of connections from this address, created at 0 if missing;
 * NULL when out of memory (the connection is then not counted). */
static ip_count *ip_get(net_loop *l, int family, const uint8_t addr[16]) {
  ip_count **pp = &l->ips[ip_hash(family, addr)];
  for (ip_count *e = *pp; e; e = e->next)
    if (e->family == family && memcmp(e->addr, addr, 16) == 0)
      return e;
  ip_count *e = calloc(1, sizeof *e);
  if (!e)
    return NULL;
  e->family = family;
  memcpy(e->addr, addr, 16);
  e->next = *pp;
  *pp = e;
  return e;
}

/* Drop an entry whose count is 0. */
static void ip_forget(net_loop *l, ip_count *e) {
  if (!e || e->n)
    return;
  for (ip_count **pp = &l->ips[ip_hash(e->family, e->addr)]; *pp;
       pp = &(*pp)->next)
    if (*pp == e) {
      *pp = e->next;
      free(e);
      return;
    }
}

static void ip_release(net_loop *l, ip_count *e) {
  if (!e)
    return;
  e->n--;
  ip_forget(l, e);
}

static size_t ip_cap(const net_loop *l, int family, const uint8_t addr[16]) {
  for (size_t i = 0; i < l->nip_limits; i++)
    if (l->ip_limits[i].family == family &&
        memcmp(l->ip_limits[i].addr, addr, 16) == 0)
      return l->ip_limits[i].max;
  return l->max_per_ip;
}

int net_loop_set_limits(net_loop *loop, const net_limits *lim) {
  net_loop *l = loop;
  net_ip_limit *ip = NULL;
  if (lim->nip) {
    ip = malloc(lim->nip * sizeof *ip);
    if (!ip)
      return -ENOMEM;
    memcpy(ip, lim->ip, lim->nip * sizeof *ip);
  }
  free(l->ip_limits);
  l->ip_limits = ip;
  l->nip_limits = lim->nip;
  l->max_connections = lim->max_connections;
  l->max_per_ip = lim->max_per_ip;
  if (l->accept_full && l->nconns < l->max_connections) {
    l->accept_full = 0;
    if (!l->accept_timer && !l->draining)
      listener_set(l, 1);
  }
  return 0;
}

size_t net_loop_connections(const net_loop *loop) {
  return loop->nconns;
}

/* One "host:count" of max.connections.per.ip.overrides. */
static int parse_ip_limit(char *item, net_ip_limit **out, size_t *n, char *why,
                          size_t whylen) {
  char *colon = strrchr(item, ':');
  if (!colon || colon == item) {
    snprintf(why, whylen, "'%s' is not host:count", item);
    return -1;
  }
  *colon = 0;
  char *host = item, *num = colon + 1, *end;
  errno = 0;
  long long v = strtoll(num, &end, 10);
  if (errno || end == num || *end || v < 0) {
    snprintf(why, whylen, "For input string: \"%s\"", num);
    return -1;
  }
  size_t hl = strlen(host);
  if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
    host[hl - 1] = 0;
    host++;
  }
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
  int gai = getaddrinfo(host, NULL, &hints, &res);
  if (gai != 0) {
    snprintf(why, whylen, "cannot resolve host '%s': %s", host,
             gai_strerror(gai));
    return -1;
  }
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    net_ip_limit e = {.max = (size_t)v};
    if (peer_addr((const struct sockaddr_storage *)(void *)ai->ai_addr,
                  &e.family, e.addr) < 0)
      continue;
    net_ip_limit *grown = realloc(*out, (*n + 1) * sizeof *grown);
    if (!grown) {
      freeaddrinfo(res);
      snprintf(why, whylen, "out of memory");
      return -1;
    }
    *out = grown;
    (*out)[(*n)++] = e;
  }
  freeaddrinfo(res);
  return 0;
}

int net_parse_ip_limits(const char *text, net_ip_limit **out, size_t *n,
                        char *why, size_t whylen) {
  *out = NULL;
  *n = 0;
  char *copy = strdup(text ? text : "");
  if (!copy) {
    snprintf(why, whylen, "out of memory");
    return -1;
  }
  int rc = 0;
  char *save = NULL;
  for (char *t = strtok_r(copy, ",", &save); t && rc == 0;
       t = strtok_r(NULL, ",", &save)) {
    while (*t == ' ')
      t++;
    size_t tl = strlen(t);
    while (tl && t[tl - 1] == ' ')
      t[--tl] = 0;
    if (*t)
      rc = parse_ip_limit(t, out, n, why, whylen);
  }
  free(copy);
  if (rc) {
    free(*out);
    *out = NULL;
    *n = 0;
  }
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Timers                                                                   */
/* ------------------------------------------------------------------------ */

static int timer_less(const net_timer *a, const net_timer *b) {
  return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void heap_set(net_loop *l, size_t i, net_timer *t) {
  l->heap[i] = t;
  t->idx = i;
}

static void heap_up(net_loop *l, size_t i) {
  net_timer *t = l->heap[i];
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!timer_less(t, l->heap[p]))
      break;
    heap_set(l, i, l->heap[p]);
    i = p;
  }
  heap_set(l, i, t);
}

static void heap_down(net_loop *l, size_t i) {
  net_timer *t = l->heap[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= l->nheap)
      break;
    if (c + 1 < l->nheap && timer_less(l->heap[c + 1], l->heap[c]))
      c++;
    if (!timer_less(l->heap[c], t))
      break;
    heap_set(l, i, l->heap[c]);
    i = c;
  }
  heap_set(l, i, t);
}

static void heap_remove(net_loop *l, size_t i) {
  l->nheap--;
  if (i == l->nheap)
    return;
  net_timer *t = l->heap[l->nheap];
  heap_set(l, i, t);
  heap_down(l, i);
  heap_up(l, t->idx);
}

net_timer *net_timer_add(net_loop *loop, int64_t delay_ms,
                         void (*fn)(void *arg), void *arg) {
  if (loop->nheap == loop->capheap) {
    size_t cap = loop->capheap ? loop->capheap * 2 : 64;
    net_timer **h = realloc(loop->heap, cap * sizeof *h);
    if (!h)
      return NULL;
    loop->heap = h;
    loop->capheap = cap;
  }
  net_timer *t = malloc(sizeof *t);
  if (!t)
    return NULL;
  t->when = net_now_ms() + (delay_ms > 0 ? delay_ms : 0);
  t->seq = loop->timer_seq++;
  t->fn = fn;
  t->arg = arg;
  loop->heap[loop->nheap++] = t;
  heap_up(loop, loop->nheap - 1);
  return t;
}

void net_timer_cancel(net_loop *loop, net_timer *t) {
  if (!t)
    return;
  heap_remove(loop, t->idx);
  free(t);
}

static int timers_timeout(net_loop *l) {
  if (!l->nheap)
    return -1;
  int64_t d = l->heap[0]->when - net_now_ms();
  if (d <= 0)
    return 0;
  return d > INT_MAX ? INT_MAX : (int)d;
}

static void timers_run(net_loop *l) {
  int64_t now = net_now_ms();
  /* Timers added by a callback with delay 0 wait for the next iteration,
   * so a callback that re-arms itself cannot spin this loop forever. */
  uint64_t seq_limit = l->timer_seq;
  while (l->nheap && l->heap[0]->when <= now && l->heap[0]->seq < seq_limit) {
    net_timer *t = l->heap[0];
    heap_remove(l, 0);
    void (*fn)(void *) = t->fn;
    void *arg = t->arg;
    free(t); /* the handle is invalid once it fires */
    fn(arg);
  }
}

/* ------------------------------------------------------------------------ */
/* Posts                                                                    */
/* ------------------------------------------------------------------------ */

static void wake(net_loop *l) {
  uint64_t one = 1;
  /* EAGAIN means the counter is already non-zero: the loop will wake. */
  ssize_t r = write(l->evfd, &one, sizeof one);
  (void)r;
}

int net_post(net_loop *loop, void (*fn)(void *arg), void *arg) {
  struct net_post_item *it = malloc(sizeof *it);
  if (!it)
    return -ENOMEM;
  it->next = NULL;
  it->fn = fn;
  it->arg = arg;
  pthread_mutex_lock(&loop->post_mu);
  if (loop->post_tail)
    loop->post_tail->next = it;
  else
    loop->post_head = it;
  loop->post_tail = it;
  pthread_mutex_unlock(&loop->post_mu);
  wake(loop);
  return 0;
}

void net_loop_run_posted(net_loop *loop) {
  for (;;) {
    pthread_mutex_lock(&loop->post_mu);
    struct net_post_item *it = loop->post_head;
    loop->post_head = loop->post_tail = NULL;
    pthread_mutex_unlock(&loop->post_mu);
    if (!it)
      return;
    while (it) {
      struct net_post_item *next = it->next;
      it->fn(it->arg);
      free(it);
      it = next;
    }
  }
}

void net_loop_stop(net_loop *loop) {
  atomic_store(&loop->stop, 1);
  wake(loop);
}

/* ------------------------------------------------------------------------ */
/* Frame buffers                                                            */
/* ------------------------------------------------------------------------ */

static size_t round_granule(size_t n) {
  size_t r = (n + NET_POOL_GRANULE - 1) / NET_POOL_GRANULE * NET_POOL_GRANULE;
  return r < n ? n : r;
}

static int pool_idle_ms(const net_loop *l) {
  return l->cfg.pool_idle_ms > 0 ? l->cfg.pool_idle_ms
                                 : NET_POOL_IDLE_MS_DEFAULT;
}

static void pool_unlink(net_loop *l, net_fbuf **pp) {
  net_fbuf *b = *pp;
  *pp = b->next;
  b->next = NULL;
  l->pool_bytes -= b->cap;
  l->pool_count--;
}

/* Free what has sat unused in the pool for pool_idle_ms, so a burst of big
 * requests does not keep its buffers for the life of the broker. */
static void pool_trim(void *arg) {
  net_loop *l = arg;
  l->pool_timer = NULL;
  int64_t now = net_now_ms(), idle = pool_idle_ms(l), next = INT64_MAX;
  int freed = 0;
  net_fbuf **pp = &l->pool;
  while (*pp) {
    net_fbuf *b = *pp;
    if (now - b->pooled_ms >= idle) {
      pool_unlink(l, pp);
      free(b);
      freed = 1;
      continue;
    }
    if (b->pooled_ms + idle < next)
      next = b->pooled_ms + idle;
    pp = &b->next;
  }
#ifdef __GLIBC__
  /* free() keeps these MB-sized buffers in the heap (below glibc's mmap
   * threshold, which grows as big blocks are freed), so RSS stayed at its
   * peak for the broker's life: 4 MB at start, 19 MB after one acks=all
   * burst on an fsync=always topic (parked requests keep their frames).
   * Giving the free pages back is one madvise pass, after an idle period. */
  if (freed)
    malloc_trim(0);
#else
  (void)freed;
#endif
  if (l->pool)
    l->pool_timer = net_timer_add(l, next - now, pool_trim, l);
}

/* Keep a freed buffer for the next big frame, or free it. */
static void pool_put(net_loop *l, net_fbuf *b) {
  if (b->cap < NET_BIG_FRAME || b->cap > NET_POOL_MAX_BUF) {
    free(b);
    return;
  }
  b->pooled_ms = net_now_ms();
  net_fbuf **pp = &l->pool;
  while (*pp && (*pp)->cap < b->cap)
    pp = &(*pp)->next;
  b->next = *pp;
  *pp = b;
  l->pool_bytes += b->cap;
  l->pool_count++;
  /* Over the bound, the smallest go first: the big ones are the costly
   * ones to grow and fault in again. */
  while (l->pool_bytes > NET_POOL_MAX_BYTES) {
    net_fbuf *s = l->pool;
    pool_unlink(l, &l->pool);
    free(s);
  }
  if (l->pool && !l->pool_timer)
    l->pool_timer = net_timer_add(l, pool_idle_ms(l), pool_trim, l);
}

/* The smallest pooled buffer that holds `need` bytes, or NULL. */
static net_fbuf *pool_take(net_loop *l, size_t need) {
  if (need < NET_BIG_FRAME)
    return NULL;
  for (net_fbuf **pp = &l->pool; *pp; pp = &(*pp)->next)
    if ((*pp)->cap >= need) {
      net_fbuf *b = *pp;
      pool_unlink(l, pp);
      return b;
    }
  return NULL;
}

static void pool_free_all(net_loop *l) {
  while (l->pool) {
    net_fbuf *b = l->pool;
    pool_unlink(l, &l->pool);
    free(b);
  }
  if (l->pool_timer) {
    net_timer_cancel(l, l->pool_timer);
    l->pool_timer = NULL;
  }
}

/* (Re)size b to hold cap bytes; the bytes it holds are kept. */
static net_fbuf *fbuf_resize(net_loop *l, net_fbuf *b, size_t cap) {
  if (cap > SIZE_MAX - sizeof *b)
    return NULL;
  net_fbuf *nb = realloc(b, sizeof *nb + cap);
  if (!nb)
    return NULL;
  if (!b) {
    nb->loop = l;
    nb->next = NULL;
  }
  nb->cap = cap;
  return nb;
}

void net_frame_free(net_frame *frame) {
  if (!frame)
    return;
  net_fbuf *b = (net_fbuf *)frame;
  net_loop *l = b->loop;
  l->frames_held--;
  l->frame_bytes -= b->cap;
  pool_put(l, b);
}

void net_loop_buffer_stats(const net_loop *loop, net_buffer_stats *out) {
  memset(out, 0, sizeof *out);
  out->pooled_bytes = loop->pool_bytes;
  out->pooled_count = loop->pool_count;
  out->pool_limit = NET_POOL_MAX_BYTES;
  out->frames_held = loop->frames_held;
  for (const net_conn *c = loop->conns; c; c = c->next)
    if (c->rbuf)
      out->reading_bytes += c->rbuf->cap;
  out->buffered_bytes = buffered(loop);
  out->buffered_limit = loop->cfg.max_buffered_bytes;
  out->paused = loop->paused.n;
}

/* ------------------------------------------------------------------------ */
/* Connections                                                              */
/* ------------------------------------------------------------------------ */

static void conn_set_events(net_conn *c, uint32_t ev) {
  if (c->dead || c->events == ev)
    return;
  struct epoll_event e = {.events = ev, .data.ptr = c};
  if (epoll_ctl(c->loop->epfd, EPOLL_CTL_MOD, c->fd, &e) == 0)
    c->events = ev;
}

static void conn_kill(net_conn *c) {
  if (c->dead)
    return;
  c->dead = 1;
  epoll_ctl(c->loop->epfd, EPOLL_CTL_DEL, c->fd, NULL);
  c->dead_next = c->loop->dead;
  c->loop->dead = c;
}

static void file_close(net_loop *l, net_file *f) {
  if (f->fd >= 0) {
    close(f->fd);
    f->fd = -1;
    l->files_open--;
  }
}

static void files_close(net_loop *l, net_file *files, size_t n) {
  for (size_t i = 0; i < n; i++)
    file_close(l, &files[i]);
  free(files);
}

static void req_free(net_loop *l, net_req *r) {
  l->reply_bytes -= r->len - r->sent;
  free(r->buf);
  files_close(l, r->files, r->nfiles);
  free(r);
}

static size_t req_unsent(const net_req *r) {
  return (r->len - r->sent) + r->file_left;
}

static int req_done(const net_req *r) {
  return r->sent == r->len && r->cur == r->nfiles;
}

/* Where the buffer piece being sent ends: at the next file part. */
static size_t req_buf_end(const net_req *r) {
  return r->cur < r->nfiles ? r->files[r->cur].at : r->len;
}

static void conn_free(net_conn *c) {
  net_loop *l = c->loop;
  if (l->cfg.on_close)
    l->cfg.on_close(l->cfg.ctx, c);
  if (c->mute_timer)
    net_timer_cancel(l, c->mute_timer);
  if (c->hold_timer)
    net_timer_cancel(l, c->hold_timer);
  net_req *r = c->qhead;
  while (r) {
    net_req *n = r->next;
    req_free(l, r);
    r = n;
  }
  if (c->in_flushq) {
    net_conn **pp = &l->flushq;
    while (*pp != c)
      pp = &(*pp)->flush_next;
    *pp = c->flush_next;
  }
  if (c->in_ready) {
    net_conn **pp = &l->ready;
    while (*pp != c)
      pp = &(*pp)->ready_next;
    *pp = c->ready_next;
  }
  if (c->rbuf) {
    pool_put(l, c->rbuf);
    c->rbuf = NULL;
    rbuf_count(c);
  }
  l->stash_bytes -= c->stash_len;
  free(c->stash);
  if (c->ssl) {
    /* A close_notify, best effort and without waiting for the peer's;
     * none after a failed handshake or a TLS error (OpenSSL skips it
     * then), so nothing is written to a client that never spoke TLS. */
    if (!c->tls_hs)
      SSL_shutdown(c->ssl);
    ERR_clear_error();
    SSL_free(c->ssl);
    free(c->tls_subject);
  }
  close(c->fd);
  list_del(&l->lru, c, L_LRU);
  list_del(&l->partial, c, L_PARTIAL);
  list_del(&l->paused, c, L_PAUSED);
  if (l->exempt == c)
    l->exempt = NULL;
  ip_release(l, c->ip);
  if (c->prev)
    c->prev->next = c->next;
  else
    l->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  l->nconns--;
  metrics_conn_closed();
  free(c);
  if (l->accept_full && l->nconns < l->max_connections) {
    l->accept_full = 0;
    if (!l->accept_timer && !l->draining)
      listener_set(l, 1);
  }
}

static void reap(net_loop *l) {
  /* on_close may close other connections, which pushes onto the list. */
  while (l->dead) {
    net_conn *c = l->dead;
    l->dead = c->dead_next;
    conn_free(c);
  }
}

/* May c be read, the memory bound aside? */
static int conn_may_read_own(const net_conn *c) {
  return !c->dead && !c->close_mode && !c->read_eof && !c->loop->draining &&
         !c->mute_timer && c->unsent <= NET_MAX_UNSENT &&
         c->inflight < NET_MAX_INFLIGHT;
}

static int conn_may_read(const net_conn *c) {
  return conn_may_read_own(c) && budget_allows(c);
}

/* Recompute epoll interest and apply a pending graceful close. */
static void conn_update(net_conn *c) {
  if (c->dead)
    return;
  if (c->hold_timer) {
    /* Neither read nor written until the hold ends (its close is then
     * applied); a peer that hangs up is still seen (EPOLLHUP, EPOLLERR). */
    conn_set_events(c, 0);
    return;
  }
  net_req *h = c->qhead;
  int head_ready = h && h->state != REQ_PENDING;
  if ((c->close_mode == CLOSE_AFTER_READY && !head_ready) ||
      (c->close_mode == CLOSE_AFTER_ALL && !h) || (c->loop->draining && !h)) {
    conn_kill(c);
    return;
  }
  if (c->tls_hs) {
    conn_set_events(c, c->tls_hs_ev);
    return;
  }
  uint32_t ev = 0;
  net_loop *l = c->loop;
  if (!conn_may_read(c)) {
    /* Woken by paused_wake() once the loop holds less. */
    if (conn_may_read_own(c)) {
      list_add(&l->paused, c, L_PAUSED);
      l->paused_kinds |= conn_holds(c) ? 1 : 2;
    } else {
      list_del(&l->paused, c, L_PAUSED);
    }
  } else {
    list_del(&l->paused, c, L_PAUSED);
    ev |= EPOLLIN;
    if ((c->stash || (c->ssl && SSL_pending(c->ssl) > 0)) && !c->in_ready) {
      /* epoll will not report bytes that already left the socket (read
       * ahead by us, or decrypted by OpenSSL and not yet taken). */
      c->in_ready = 1;
      c->ready_next = c->loop->ready;
      c->loop->ready = c;
    }
  }
  if ((head_ready && !c->in_flushq) || c->tls_rd_want_write)
    ev |= EPOLLOUT; /* a queued flush decides for itself */
  conn_set_events(c, ev);
}

/* Write answered replies from the head of the queue until the socket is
 * full, the head is unanswered, or this event's byte budget is spent.
 * Consecutive answered replies go out in one sendmsg, so pipelined
 * requests answered in one loop iteration cost one system call. */
/* Free the answered and fully written replies at the head. */
static net_req *conn_pop_sent(net_conn *c) {
  net_req *r = c->qhead;
  while (r && r->state != REQ_PENDING && req_done(r)) {
    c->qhead = r->next;
    if (!c->qhead)
      c->qtail = NULL;
    c->inflight--;
    if (c->cur_req == r)
      c->cur_req = NULL;
    req_free(c->loop, r);
    r = c->qhead;
  }
  return r;
}

/* Send buffer pieces from r on, through the following answered replies,
 * in one sendmsg; stops at the first file part. Returns bytes sent, 0
 * when the socket is full, -1 when the connection is dead. */
static ssize_t tls_flush_buffers(net_conn *c, net_req *r);
static ssize_t tls_flush_file(net_conn *c, net_req *r, size_t want);

/* n bytes of buffer pieces from r on went out. */
static void buffers_sent(net_conn *c, net_req *r, size_t n) {
  for (net_req *q = r; n; q = q->next) {
    size_t part = req_buf_end(q) - q->sent;
    if (part > n)
      part = n;
    q->sent += part;
    c->loop->reply_bytes -= part;
    n -= part;
  }
  conn_touch(c);
}

/* n bytes of r's current file part went out. */
static void file_part_sent(net_conn *c, net_req *r, size_t n) {
  net_file *f = &r->files[r->cur];
  conn_touch(c);
  r->file_sent += n;
  r->file_left -= n;
  if (r->file_sent == f->len) {
    file_close(c->loop, f);
    r->cur++;
    r->file_sent = 0;
  }
}

static ssize_t flush_buffers(net_conn *c, net_req *r) {
  if (c->ssl)
    return tls_flush_buffers(c, r);
  struct iovec iov[NET_IOV_MAX];
  int niov = 0, file_next = 0;
  for (net_req *q = r; q && q->state != REQ_PENDING && niov < NET_IOV_MAX;
       q = q->next) {
    size_t end = req_buf_end(q);
    if (q->sent < end) {
      iov[niov].iov_base = q->buf + q->sent;
      iov[niov].iov_len = end - q->sent;
      niov++;
    }
    if (q->cur < q->nfiles) {
      file_next = 1; /* its file bytes come next */
      break;
    }
  }
  struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)niov};
  /* MSG_MORE: the file part that follows joins these bytes in one
   * segment instead of a small one going out alone. */
  int flags = MSG_NOSIGNAL | MSG_DONTWAIT | (file_next ? MSG_MORE : 0);
  for (;;) {
    ssize_t n = sendmsg(c->fd, &mh, flags);
    if (n >= 0) {
      if (n > 0)
        buffers_sent(c, r, (size_t)n);
      return n;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return 0;
    conn_kill(c);
    return -1;
  }
}

/* Send from r's current file part. Same returns as flush_buffers. */
static ssize_t flush_file(net_conn *c, net_req *r, size_t budget) {
  net_file *f = &r->files[r->cur];
  off_t off = (off_t)(f->off + (int64_t)r->file_sent);
  size_t want = f->len - r->file_sent;
  if (want > budget)
    want = budget;
  if (c->ssl)
    return tls_flush_file(c, r, want);
  for (;;) {
    ssize_t n = sendfile(c->fd, f->fd, &off, want);
    if (n > 0) {
      file_part_sent(c, r, (size_t)n);
      return n;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return 0;
    if (n == 0) /* the file is shorter than promised: the frame cannot end */
      net_log_peer(BLOG_WARN, c->peer,
                   "closing: sendfile hit end of file with %zu bytes left",
                   f->len - r->file_sent);
    else if (errno != EPIPE && errno != ECONNRESET) /* else: the peer left */
      net_log_peer(BLOG_WARN, c->peer, "closing: sendfile failed: %s",
                   strerror(errno));
    conn_kill(c);
    return -1;
  }
}

/* ------------------------------------------------------------------------ */
/* TLS                                                                      */
/* ------------------------------------------------------------------------ */
/*
 * A connection accepted on a listener with a TLS context gets an SSL on
 * its socket and runs the server handshake without blocking: each step
 * (SSL_do_handshake) says whether it waits for the socket to be readable
 * or writable, and that is its epoll interest until it is done. The
 * handshake is a frame in progress for the timeouts: it must finish
 * within idle_ms of the accept, or the connection is closed.
 *
 * Before the first step, the first byte is peeked at: a TLS connection
 * starts with a handshake record (0x16). Anything else (a Kafka client
 * speaking plaintext, whose first byte is a size's high byte) is closed
 * with one log line and without a byte written, instead of answered with
 * a TLS alert the client would read as a garbled response size.
 *
 * After it, reads go through SSL_read (one record at a time, so a read
 * loop goes on until OpenSSL wants more bytes rather than stopping at a
 * short read) and writes through SSL_write. OpenSSL's rule for a write
 * that would block — try again with the same bytes — is kept by how the
 * reply queue works: nothing is marked sent until SSL_write says so, and
 * the next attempt starts from the same place with at least as many
 * bytes (the context allows a moving buffer and partial writes). Bytes
 * OpenSSL decrypted but net.c has not taken yet (SSL_pending, e.g. after
 * reading a size prefix alone) are not seen by epoll: conn_update puts
 * such a connection on the ready list, like stashed bytes.
 *
 * File parts of replies (Fetch): with kernel TLS on for sending, OpenSSL
 * encrypts in the kernel and SSL_sendfile keeps the zero copy; without
 * it, each part is read (pread) into tls_wbuf and written with SSL_write.
 */

static uint8_t *tls_wbuf(net_loop *l) {
  if (!l->tls_wbuf)
    l->tls_wbuf = malloc(NET_TLS_WBUF);
  return l->tls_wbuf;
}

/* SSL_write's outcome: bytes written, 0 when the socket is full, -1 when
 * the connection is dead (closed here, with a line for real errors). */
static ssize_t tls_write_result(net_conn *c, int n, const char *what) {
  if (n > 0)
    return n;
  int e = SSL_get_error(c->ssl, n);
  if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
    return 0;
  char err[200];
  if (e == SSL_ERROR_SYSCALL && (errno == EPIPE || errno == ECONNRESET))
    ERR_clear_error(); /* the peer left */
  else
    net_log_peer(BLOG_WARN, c->peer, "closing: TLS %s failed: %s", what,
                 e == SSL_ERROR_SYSCALL && errno
                     ? strerror(errno)
                     : net_tls_error(err, sizeof err));
  conn_kill(c);
  return -1;
}

/* flush_buffers over TLS: one piece as it is when big, else the answered
 * pieces that follow gathered into one buffer (one record). */
static ssize_t tls_flush_buffers(net_conn *c, net_req *r) {
  const uint8_t *p = r->buf + r->sent;
  size_t len = req_buf_end(r) - r->sent;
  int more = r->cur >= r->nfiles && r->next && r->next->state != REQ_PENDING;
  uint8_t *w;
  if (len < NET_TLS_GATHER && more && (w = tls_wbuf(c->loop)) != NULL) {
    size_t have = 0;
    for (net_req *q = r; q && q->state != REQ_PENDING; q = q->next) {
      size_t part = req_buf_end(q) - q->sent;
      if (part > NET_TLS_WBUF - have)
        part = NET_TLS_WBUF - have;
      memcpy(w + have, q->buf + q->sent, part);
      have += part;
      if (have == NET_TLS_WBUF || q->cur < q->nfiles)
        break;
    }
    p = w;
    len = have;
  }
  if (len > INT_MAX)
    len = INT_MAX;
  ERR_clear_error();
  ssize_t n = tls_write_result(c, SSL_write(c->ssl, p, (int)len), "write");
  if (n > 0)
    buffers_sent(c, r, (size_t)n);
  return n;
}

/* flush_file over TLS: SSL_sendfile with kTLS, else pread + SSL_write. */
static ssize_t tls_flush_file(net_conn *c, net_req *r, size_t want) {
  net_file *f = &r->files[r->cur];
  off_t off = (off_t)(f->off + (int64_t)r->file_sent);
  ssize_t n;
  ERR_clear_error();
  if (c->tls_ktls) {
    ossl_ssize_t k = SSL_sendfile(c->ssl, f->fd, off, want, 0);
    n = k > 0 ? k : tls_write_result(c, (int)k, "sendfile");
  } else {
    uint8_t *w = tls_wbuf(c->loop);
    if (!w) {
      net_log_peer(BLOG_ERROR, c->peer, "%s", "closing: out of memory");
      conn_kill(c);
      return -1;
    }
    if (want > NET_TLS_WBUF)
      want = NET_TLS_WBUF;
    ssize_t got;
    do
      got = pread(f->fd, w, want, off);
    while (got < 0 && errno == EINTR);
    if (got <= 0) {
      if (got == 0)
        net_log_peer(BLOG_WARN, c->peer,
                     "closing: a file part ended with %zu bytes left",
                     f->len - r->file_sent);
      else
        net_log_peer(BLOG_WARN, c->peer, "closing: reading a file part: %s",
                     strerror(errno));
      conn_kill(c);
      return -1;
    }
    n = tls_write_result(c, SSL_write(c->ssl, w, (int)got), "write");
  }
  if (n > 0)
    file_part_sent(c, r, (size_t)n);
  return n;
}

/* SSL_read into buf: bytes, 0 at the end of the stream, -1 with errno
 * EAGAIN (wait for epoll) or another errno (dead: closed by the caller). */
static ssize_t tls_read(net_conn *c, void *buf, size_t len) {
  if (len > INT_MAX)
    len = INT_MAX;
  ERR_clear_error();
  int n = SSL_read(c->ssl, buf, (int)len);
  if (n > 0)
    return n;
  int e = SSL_get_error(c->ssl, n);
  char err[200];
  switch (e) {
  case SSL_ERROR_WANT_READ:
    errno = EAGAIN;
    return -1;
  case SSL_ERROR_WANT_WRITE: /* a key update to answer: wait for EPOLLOUT */
    c->tls_rd_want_write = 1;
    errno = EAGAIN;
    return -1;
  case SSL_ERROR_ZERO_RETURN: /* close_notify, or EOF (IGNORE_UNEXPECTED_EOF) */
    return 0;
  case SSL_ERROR_SYSCALL:
    if (!errno)
      return 0;
    if (errno == EAGAIN)
      errno = EIO; /* not a retry: OpenSSL said the socket failed */
    return -1;
  default:
    net_log_peer(BLOG_WARN, c->peer, "closing: TLS error: %s",
                 net_tls_error(err, sizeof err));
    errno = EPROTO;
    return -1;
  }
}

/* The handshake is done: note what the peer proved, and serve. */
static void tls_established(net_conn *c) {
  net_loop *l = c->loop;
  c->tls_hs = 0;
  list_del(&l->partial, c, L_PARTIAL);
  conn_touch(c);
  char subj[512];
  if (net_tls_peer_subject(c->ssl, subj, sizeof subj) == 0)
    c->tls_subject = strdup(subj); /* NULL when out of memory: anonymous */
  c->tls_ktls = net_tls_ktls_send(c->ssl);
  if (blog_enabled(BLOG_DEBUG))
    net_log_peer(BLOG_DEBUG, c->peer,
                 "TLS handshake done on listener %s: %s %s, client "
                 "certificate %s, kTLS send %s",
                 net_tls_listener(l->ls[c->listener].tls),
                 SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl),
                 c->tls_subject ? c->tls_subject : "(none)",
                 c->tls_ktls ? "on" : "off");
  conn_update(c);
}

/* Read and drop what the client has sent and this side will never read,
 * before a close on an error: closing a socket with unread bytes sends a
 * reset instead of a FIN, and a reset can discard the last thing written
 * (an alert) before the client reads it. Bounded: at most 64 KiB. */
static void drain_unread(net_conn *c) {
  uint8_t sink[4096];
  for (int i = 0; i < 16 && recv(c->fd, sink, sizeof sink, MSG_DONTWAIT) > 0;
       i++)
    ;
}

/* One step of the server handshake (see the top of this section). */
static void tls_handshake(net_conn *c) {
  if (!c->tls_seen) {
    uint8_t b;
    ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
      return;
    if (n <= 0) {
      conn_kill(c); /* gone before saying anything */
      return;
    }
    if (b != 0x16) {
      /* Answer as Java's SSLEngine does for Kafka: a fatal
       * unexpected_message alert record, which clients recognise ("a
       * plaintext connection speaking to a tls endpoint?"). What the client
       * sent is read first, so that the close is a FIN that lets the alert
       * arrive rather than a reset that may destroy it. */
      static const uint8_t alert[7] = {0x15, 0x03, 0x03, 0x00,
                                       0x02, 0x02, 0x0a};
      drain_unread(c);
      ssize_t w = send(c->fd, alert, sizeof alert, MSG_NOSIGNAL | MSG_DONTWAIT);
      net_log_peer(BLOG_WARN, c->peer,
                   "closing: not TLS on SSL listener %s (first byte 0x%02x; "
                   "a plaintext client?); answered with a TLS alert%s",
                   net_tls_listener(c->loop->ls[c->listener].tls), b,
                   w == (ssize_t)sizeof alert ? "" : " (not sent)");
      conn_kill(c);
      return;
    }
    c->tls_seen = 1;
  }
  ERR_clear_error();
  int r = SSL_do_handshake(c->ssl);
  if (r == 1) {
    tls_established(c);
    return;
  }
  int e = SSL_get_error(c->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    c->tls_hs_ev = e == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT;
    conn_set_events(c, c->tls_hs_ev);
    return;
  }
  /* Kafka's words for it, with OpenSSL's reason. */
  char err[200];
  const char *why = e == SSL_ERROR_SYSCALL
                        ? (errno ? strerror(errno) : "the client closed")
                        : net_tls_error(err, sizeof err);
  long v = SSL_get_verify_result(c->ssl);
  net_log_peer(BLOG_INFO, c->peer,
               "Failed authentication (SSL handshake failed: %s%s%s)", why,
               v != X509_V_OK ? "; client certificate: " : "",
               v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
  /* OpenSSL has written its alert. A TLS 1.3 client sends its first
   * request right behind its Finished, before it can know the verdict on
   * its certificate: unread, that request would turn the close into a
   * reset, which can destroy the alert before the client reads it (a
   * client then says "connection closed", not why). */
  drain_unread(c);
  conn_kill(c);
}

static void conn_flush(net_conn *c) {
  if (c->hold_timer)
    return; /* conn_release_hold flushes */
  size_t budget = NET_WRITE_BYTES_PER_EVENT;
  while (!c->dead && budget) {
    net_req *r = conn_pop_sent(c);
    if (!r || r->state == REQ_PENDING)
      break;
    ssize_t n = r->sent < req_buf_end(r) ? flush_buffers(c, r)
                                         : flush_file(c, r, budget);
    if (n <= 0)
      break;
    c->unsent -= (size_t)n;
    budget = (size_t)n >= budget ? 0 : budget - (size_t)n;
  }
  if (!c->dead)
    conn_pop_sent(c);
  conn_update(c);
}

/* Replies are written at the end of the loop iteration, after every frame
 * of the current read has been handled, so they can share a sendmsg. */
static void conn_want_flush(net_conn *c) {
  if (c->in_flushq || c->dead)
    return;
  c->in_flushq = 1;
  c->flush_next = c->loop->flushq;
  c->loop->flushq = c;
}

static void run_flushes(net_loop *l) {
  while (l->flushq) {
    net_conn *c = l->flushq;
    l->flushq = c->flush_next;
    c->in_flushq = 0;
    if (!c->dead)
      conn_flush(c);
  }
}

static void req_answer(net_conn *c, net_req *r, int state, uint8_t *buf,
                       size_t len, net_file *files, size_t nfiles) {
  net_loop *l = c->loop;
  l->files_open += nfiles;
  if (r->state != REQ_PENDING) {
    /* A second answer for one request is a handler bug; dropping it keeps
     * the stream well-formed. */
    net_log_peer(BLOG_ERROR, c->peer, "%s",
                 "ignoring a second reply to one request");
    free(buf);
    files_close(l, files, nfiles);
    return;
  }
  r->state = state;
  c->unanswered--;
  r->buf = buf;
  r->len = buf ? len : 0;
  /* Empty parts send nothing: drop them here so that a sendfile of 0
   * bytes always means a file shorter than promised. */
  size_t kept = 0;
  for (size_t i = 0; i < nfiles; i++) {
    if (files[i].len == 0) {
      file_close(l, &files[i]);
    } else {
      files[kept++] = files[i];
    }
  }
  nfiles = kept;
  if (!nfiles) {
    free(files);
    files = NULL;
  }
  r->files = files;
  r->nfiles = nfiles;
  for (size_t i = 0; i < nfiles; i++) {
    /* Parts out of order or past the buffer would garble the stream. */
    if (files[i].at > r->len || (i && files[i].at < files[i - 1].at)) {
      net_log_peer(BLOG_ERROR, c->peer, "%s",
                   "closing: reply with misplaced file parts");
      r->state = REQ_NONE;
      free(buf);
      r->buf = NULL;
      r->len = 0;
      files_close(l, files, nfiles);
      r->files = NULL;
      r->nfiles = 0;
      net_conn_close(c, NULL);
      break;
    }
    r->file_left += files[i].len;
  }
  l->reply_bytes += r->len;
  c->unsent += req_unsent(r);
  if (c->dead)
    return; /* freed with the connection */
  if (c->qhead == r)
    conn_want_flush(c);
}

void net_reply(net_conn *conn, net_req *req, uint8_t *buf, size_t len) {
  req_answer(conn, req, REQ_READY, buf, len, NULL, 0);
}

void net_reply_files(net_conn *conn, net_req *req, uint8_t *buf, size_t len,
                     net_file *files, size_t nfiles) {
  if (nfiles == 0) {
    free(files);
    files = NULL;
  }
  req_answer(conn, req, REQ_READY, buf, len, files, nfiles);
}

void net_reply_file(net_conn *conn, net_req *req, uint8_t *buf, size_t len,
                    int fd, int64_t file_off, size_t file_len) {
  net_file *f = malloc(sizeof *f);
  if (!f) {
    close(fd);
    free(buf);
    net_conn_close(conn, "out of memory queueing a reply");
    req_answer(conn, req, REQ_NONE, NULL, 0, NULL, 0);
    return;
  }
  *f = (net_file){.fd = fd, .off = file_off, .len = file_len, .at = len};
  req_answer(conn, req, REQ_READY, buf, len, f, 1);
}

size_t net_loop_files_open(const net_loop *loop) {
  return loop->files_open;
}

void net_reply_none(net_conn *conn, net_req *req) {
  req_answer(conn, req, REQ_NONE, NULL, 0, NULL, 0);
}

void net_conn_close(net_conn *conn, const char *why) {
  if (why && *why && !conn->dead && !conn->close_mode)
    net_log_peer(BLOG_WARN, conn->peer, "closing: %s", why);
  if (!conn->close_mode || conn->close_mode == CLOSE_AFTER_ALL)
    conn->close_mode = CLOSE_AFTER_READY;
  conn_update(conn);
}

static void conn_release_hold(void *arg) {
  net_conn *c = arg;
  c->hold_timer = NULL;
  conn_flush(c); /* and conn_update, which applies the close */
}

void net_conn_close_after(net_conn *conn, int64_t delay_ms, const char *why) {
  if (conn->dead || conn->hold_timer)
    return;
  net_conn_close(conn, why);
  if (delay_ms <= 0 || conn->dead)
    return;
  /* Without a timer (out of memory) the close is simply not delayed. One
   * millisecond more: the loop's clock counts whole ones, so a timer can
   * fire up to one early, and the hold is a floor. */
  conn->hold_timer =
      net_timer_add(conn->loop, delay_ms + 1, conn_release_hold, conn);
  conn_update(conn);
}

void net_conn_set_error(net_conn *conn, const char *why) {
  snprintf(conn->error, sizeof conn->error, "%s", why ? why : "");
}

const char *net_conn_peer(const net_conn *conn) {
  return conn->peer;
}

size_t net_conn_listener(const net_conn *conn) {
  return conn->listener;
}

const char *net_conn_tls_subject(const net_conn *conn) {
  return conn->tls_hs ? NULL : conn->tls_subject;
}

static void conn_unmute(void *arg) {
  net_conn *c = arg;
  c->mute_timer = NULL;
  int64_t left = c->muted_until - net_now_ms();
  if (left > 0) /* extended meanwhile */
    c->mute_timer = net_timer_add(c->loop, left, conn_unmute, c);
  if (!c->mute_timer)
    conn_update(c);
}

void net_conn_mute(net_conn *conn, int64_t ms) {
  if (conn->dead || ms <= 0)
    return;
  int64_t until = net_now_ms() + ms;
  if (until > conn->muted_until)
    conn->muted_until = until;
  if (!conn->mute_timer)
    conn->mute_timer = net_timer_add(conn->loop, ms, conn_unmute, conn);
  /* Without a timer (out of memory) the client is simply not muted. */
  if (conn->mute_timer)
    conn_update(conn);
}

void net_conn_set_data(net_conn *conn, void *data) {
  conn->data = data;
}

void *net_conn_data(const net_conn *conn) {
  return conn->data;
}

/* Hand one complete frame to the handler, which owns it from now on. */
static void dispatch(net_conn *c, net_fbuf *fb, size_t total) {
  net_loop *l = c->loop;
  c->big = total >= NET_BIG_FRAME;
  fb->f.data = fb->b + 4;
  fb->f.len = total - 4;
  l->frames_held++;
  l->frame_bytes += fb->cap;
  /* Whatever arrives next starts a new frame's time, and is not exempt. */
  list_del(&l->partial, c, L_PARTIAL);
  if (l->exempt == c)
    l->exempt = NULL;
  net_req *r = calloc(1, sizeof *r);
  if (!r) {
    net_log_peer(BLOG_ERROR, c->peer, "%s", "closing: out of memory");
    net_frame_free(&fb->f);
    conn_kill(c);
    return;
  }
  r->state = REQ_PENDING;
  c->unanswered++;
  if (c->qtail)
    c->qtail->next = r;
  else
    c->qhead = r;
  c->qtail = r;
  c->inflight++;
  c->error[0] = 0;
  c->cur_req = r;
  int rc = l->cfg.on_request(l->cfg.ctx, c, r, &fb->f);
  /* cur_req is cleared if the handler's reply was sent and freed. */
  r = c->cur_req;
  c->cur_req = NULL;
  if (rc < 0) {
    /* A handler that already called net_conn_close has logged why. */
    if (!c->dead && !c->close_mode)
      net_log_peer(BLOG_WARN, c->peer, "closing: %s",
                   c->error[0] ? c->error : "malformed request");
    /* The request that failed gets no answer; ones before it still do. */
    if (r && !c->dead && r->state == REQ_PENDING)
      net_reply_none(c, r);
    if (!c->close_mode || c->close_mode == CLOSE_AFTER_ALL)
      c->close_mode = CLOSE_AFTER_READY;
    conn_update(c);
  }
}

static int frame_size_ok(net_conn *c, const uint8_t hdr[4], size_t *total) {
  int32_t size = (int32_t)((uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
                           (uint32_t)hdr[2] << 8 | hdr[3]);
  if (size <= 0 || (size_t)size > c->loop->cfg.max_request_bytes) {
    net_log_peer(BLOG_WARN, c->peer,
                 "closing: request size %" PRId32
                 " out of range (1..%zu bytes): over --max-request-bytes",
                 size, c->loop->cfg.max_request_bytes);
    conn_kill(c);
    return -1;
  }
  *total = 4 + (size_t)size;
  return 0;
}

static void no_memory(net_conn *c, size_t total) {
  net_log_peer(BLOG_ERROR, c->peer, "closing: no memory for a %zu-byte request",
               total);
  conn_kill(c);
}

/* Make room for `want` bytes of the frame in progress. The buffer grows
 * geometrically up to the frame size as bytes arrive, so a size prefix
 * alone (up to max_request_bytes) does not reserve memory. A big frame's
 * last step rounds up to the pool's granule, for reuse. */
static int rbuf_reserve(net_conn *c, size_t want) {
  size_t have = c->rbuf ? c->rbuf->cap : 0;
  size_t full = c->rneed >= NET_BIG_FRAME ? round_granule(c->rneed) : c->rneed;
  if (want > full)
    want = full;
  if (want <= have)
    return 0;
  size_t cap = have * 2;
  if (cap < want)
    cap = want;
  if (cap < 4096)
    cap = 4096;
  if (cap > full)
    cap = full;
  net_fbuf *nb = fbuf_resize(c->loop, c->rbuf, cap);
  if (!nb) {
    no_memory(c, c->rneed);
    return -1;
  }
  c->rbuf = nb;
  rbuf_count(c);
  return 0;
}

/* Start a frame of `total` bytes (size prefix included) with its first n
 * bytes. A free pooled buffer is taken if one fits. */
static int rbuf_start(net_conn *c, size_t total, const uint8_t *p, size_t n) {
  c->rneed = total;
  c->rlen = 0;
  c->rbuf = pool_take(c->loop, total);
  rbuf_count(c);
  if (rbuf_reserve(c, n) < 0)
    return -1;
  memcpy(c->rbuf->b, p, n);
  c->rlen = n;
  return 0;
}

/* The size prefix in hdr is complete: start its frame. */
static int hdr_complete(net_conn *c) {
  size_t total;
  c->hdr_len = 0;
  if (frame_size_ok(c, c->hdr, &total) < 0)
    return -1;
  return rbuf_start(c, total, c->hdr, 4);
}

/* The frame in progress is complete: hand it over. */
static void rbuf_dispatch(net_conn *c) {
  net_fbuf *fb = c->rbuf;
  size_t total = c->rneed;
  c->rbuf = NULL;
  c->rlen = c->rneed = 0;
  rbuf_count(c);
  dispatch(c, fb, total);
}

/* A whole frame at p: copy it once into a buffer of its own. */
static int dispatch_copy(net_conn *c, const uint8_t *p, size_t total) {
  net_fbuf *fb = pool_take(c->loop, total);
  if (!fb)
    fb = fbuf_resize(c->loop, NULL,
                     total >= NET_BIG_FRAME ? round_granule(total) : total);
  if (!fb) {
    no_memory(c, total);
    return -1;
  }
  memcpy(fb->b, p, total);
  dispatch(c, fb, total);
  return 0;
}

/* Consume n bytes read from the socket, frame by frame. Stops early when
 * the connection must not take more requests (closed, or back-pressured)
 * and returns how many bytes it used. */
static size_t consume(net_conn *c, const uint8_t *p, size_t n) {
  const uint8_t *start = p;
  while (n > 0 && conn_may_read(c)) {
    if (c->rbuf) {
      /* Finish the frame in progress. */
      size_t take = c->rneed - c->rlen;
      if (take > n)
        take = n;
      if (rbuf_reserve(c, c->rlen + take) < 0)
        break;
      memcpy(c->rbuf->b + c->rlen, p, take);
      c->rlen += take;
      p += take;
      n -= take;
      if (c->rlen < c->rneed)
        break;
      rbuf_dispatch(c);
      continue;
    }
    if (c->hdr_len || n < 4) {
      size_t take = 4 - c->hdr_len;
      if (take > n)
        take = n;
      memcpy(c->hdr + c->hdr_len, p, take);
      c->hdr_len += take;
      p += take;
      n -= take;
      if (c->hdr_len < 4)
        break;
      if (hdr_complete(c) < 0)
        break;
      continue;
    }
    size_t total;
    if (frame_size_ok(c, p, &total) < 0)
      break;
    if (n >= total) {
      if (dispatch_copy(c, p, total) < 0)
        break;
      p += total;
      n -= total;
      continue;
    }
    if (rbuf_start(c, total, p, n) < 0)
      break;
    p += n;
    n = 0;
  }
  return (size_t)(p - start);
}

/* Keep bytes read past a back-pressure point for when the connection may
 * take requests again; a closing connection drops them. */
static void stash_rest(net_conn *c, const uint8_t *p, size_t n) {
  if (!n || c->dead || c->close_mode)
    return;
  uint8_t *s = malloc(n);
  if (!s) {
    net_log_peer(BLOG_ERROR, c->peer, "%s", "closing: out of memory");
    conn_kill(c);
    return;
  }
  memcpy(s, p, n);
  c->loop->stash_bytes += n - c->stash_len;
  free(c->stash);
  c->stash = s;
  c->stash_len = n;
}

/* The rest of a big frame is read straight into its buffer. A read that
 * can finish the frame also takes the next one's size prefix, so that
 * frame can be read into a buffer of its own too instead of through the
 * scratch buffer. Returns the number of iovecs, or -1. */
static int direct_iov(net_conn *c, struct iovec iov[2]) {
  if (rbuf_reserve(c, c->rlen + NET_SCRATCH_BYTES) < 0)
    return -1;
  size_t end = c->rbuf->cap < c->rneed ? c->rbuf->cap : c->rneed;
  iov[0].iov_base = c->rbuf->b + c->rlen;
  iov[0].iov_len = end - c->rlen;
  iov[1].iov_base = c->hdr;
  iov[1].iov_len = sizeof c->hdr;
  return end == c->rneed ? 2 : 1;
}

/* n bytes arrived through direct_iov(). */
static void direct_done(net_conn *c, const struct iovec iov[2], size_t n) {
  size_t got = n < iov[0].iov_len ? n : iov[0].iov_len;
  c->rlen += got;
  c->hdr_len = n - got;
  if (c->rlen == c->rneed)
    rbuf_dispatch(c);
  if (c->hdr_len == sizeof c->hdr && !c->dead)
    hdr_complete(c);
}

static void conn_on_readable(net_conn *c) {
  net_loop *l = c->loop;
  if (c->stash && conn_may_read(c)) {
    uint8_t *s = c->stash;
    size_t len = c->stash_len;
    c->stash = NULL;
    c->stash_len = 0;
    l->stash_bytes -= len;
    size_t used = consume(c, s, len);
    stash_rest(c, s + used, len - used);
    free(s);
  }
  for (int i = 0; i < NET_READS_PER_EVENT && conn_may_read(c); i++) {
    struct iovec iov[2] = {{l->scratch, NET_SCRATCH_BYTES}, {NULL, 0}};
    int niov = 1, direct = c->rbuf && c->rneed - c->rlen >= NET_BIG_FRAME;
    int hdr_only = !c->rbuf && c->big;
    if (direct && (niov = direct_iov(c, iov)) < 0)
      break;
    if (hdr_only) {
      iov[0].iov_base = c->hdr + c->hdr_len;
      iov[0].iov_len = sizeof c->hdr - c->hdr_len;
    }
    size_t want = iov[0].iov_len + (niov == 2 ? iov[1].iov_len : 0);
    /* Over TLS only the first iovec is read: one record comes per
     * SSL_read anyway, and direct_done() takes a short read. */
    ssize_t n = c->ssl ? tls_read(c, iov[0].iov_base, iov[0].iov_len)
                       : readv(c->fd, iov, niov);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        conn_kill(c);
      break;
    }
    if (n > 0)
      conn_touch(c);
    if (n == 0) {
      /* The peer may only have shut its sending side: answer what it has
       * asked, then close. */
      c->read_eof = 1;
      if (!c->close_mode)
        c->close_mode = CLOSE_AFTER_ALL;
      break;
    }
    if (direct) {
      direct_done(c, iov, (size_t)n);
    } else if (hdr_only) {
      c->hdr_len += (size_t)n;
      if (c->hdr_len == sizeof c->hdr)
        hdr_complete(c);
    } else {
      size_t used = consume(c, l->scratch, (size_t)n);
      stash_rest(c, l->scratch + used, (size_t)n - used);
    }
    if ((size_t)n < want && !c->ssl)
      break; /* the socket is empty; skip the EAGAIN round trip */
  }
  /* A frame begun by this read must arrive whole within idle_ms. */
  if ((c->rbuf || c->hdr_len) && !c->dead && !c->partial.in) {
    c->frame_ms = l->now;
    list_add(&l->partial, c, L_PARTIAL);
  }
  conn_update(c);
}

static void conn_on_event(net_conn *c, uint32_t ev) {
  if (c->dead)
    return;
  if (c->tls_hs) {
    tls_handshake(c);
    return;
  }
  if (c->tls_rd_want_write && (ev & EPOLLOUT)) {
    c->tls_rd_want_write = 0;
    ev |= EPOLLIN; /* the read that waited for it goes on */
  }
  if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
    if (conn_may_read(c)) {
      conn_on_readable(c);
    } else if (ev & (EPOLLERR | EPOLLHUP)) {
      conn_kill(c);
      return;
    } else {
      conn_update(c); /* paused at the memory bound since last asked */
    }
  }
  if (!c->dead && (ev & EPOLLOUT))
    conn_flush(c);
}

static void format_peer(const struct sockaddr_storage *ss, char *out,
                        size_t outlen) {
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
    snprintf(out, outlen, "%s:%d", host, port);
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
    snprintf(out, outlen, "[%s]:%d", host, port);
  } else {
    snprintf(out, outlen, "unknown");
  }
}

static void accept_resume(void *arg) {
  net_loop *l = arg;
  l->accept_timer = NULL;
  if (!l->draining && !l->accept_full)
    listener_set(l, 1);
}

static void on_accept(net_loop *l, size_t li) {
  for (int i = 0; i < 256; i++) {
    if (l->nconns >= l->max_connections) {
      /* Kafka's acceptor waits for a free slot the same way: the kernel
       * keeps completing handshakes into the backlog meanwhile. */
      l->accept_full = 1;
      listener_set(l, 0);
      if (log_due(&l->full_logged_ms))
        net_log(BLOG_WARN,
                "%zu connections open, the most allowed (max.connections, "
                "or what ulimit -n leaves); new ones wait in the listen "
                "backlog until one closes",
                l->nconns);
      return;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = accept4(l->ls[li].fd, (struct sockaddr *)&ss, &sl,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
          errno == ENOMEM) {
        /* Level-triggered epoll would report the listener again at once;
         * pause accepting instead of spinning. */
        net_log(BLOG_WARN, "accept: %s; pausing new connections for %d ms",
                strerror(errno), NET_ACCEPT_PAUSE_MS);
        listener_set(l, 0);
        if (!l->accept_timer)
          l->accept_timer =
              net_timer_add(l, NET_ACCEPT_PAUSE_MS, accept_resume, l);
      }
      return;
    }
    int family;
    uint8_t addr[16];
    ip_count *ipc = NULL;
    if (peer_addr(&ss, &family, addr) == 0) {
      ipc = ip_get(l, family, addr);
      size_t cap = ip_cap(l, family, addr);
      if (ipc && ipc->n >= cap) {
        close(fd);
        ip_forget(l, ipc);
        if (log_due(&l->per_ip_logged_ms)) {
          char peer[64];
          format_peer(&ss, peer, sizeof peer);
          net_log_peer(BLOG_WARN, peer,
                       "rejected connection: address already has the "
                       "configured maximum of %zu connections "
                       "(max.connections.per.ip)",
                       cap);
        }
        continue;
      }
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* As Kafka brokers do: a client whose host vanished is found out
     * eventually instead of holding its connection forever. */
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    net_conn *c = calloc(1, sizeof *c);
    if (!c) {
      close(fd);
      ip_forget(l, ipc);
      continue;
    }
    c->loop = l;
    c->fd = fd;
    c->listener = li;
    c->events = EPOLLIN;
    format_peer(&ss, c->peer, sizeof c->peer);
    if (l->ls[li].tls) {
      if (!(c->ssl = net_tls_accept(l->ls[li].tls, fd))) {
        close(fd);
        free(c);
        ip_forget(l, ipc);
        continue;
      }
      c->tls_hs = 1;
      c->tls_hs_ev = EPOLLIN;
    }
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
      close(fd);
      free(c);
      ip_forget(l, ipc);
      continue;
    }
    c->ip = ipc;
    if (ipc)
      ipc->n++;
    conn_touch(c);
    if (c->tls_hs) {
      /* Timed like a frame in progress (see TLS above). */
      c->frame_ms = l->now;
      list_add(&l->partial, c, L_PARTIAL);
    }
    c->next = l->conns;
    if (l->conns)
      l->conns->prev = c;
    l->conns = c;
    l->nconns++;
    metrics_conn_opened();
  }
}

/* ------------------------------------------------------------------------ */
/* Timeouts and the memory bound                                            */
/* ------------------------------------------------------------------------ */

static int64_t sweep_every(const net_loop *l) {
  int64_t t = l->cfg.idle_ms / 8;
  return t < 10 ? 10 : t > 1000 ? 1000 : t;
}

/* Close what has been idle for idle_ms, and frames in progress for that
 * long (see the top of the file). */
static void sweep(void *arg) {
  net_loop *l = arg;
  l->sweep_timer = NULL;
  int64_t now = net_now_ms(), idle = l->cfg.idle_ms;
  size_t closed = 0;
  for (net_conn *c = l->lru.head, *next; c && c->active_ms + idle <= now;
       c = next) {
    next = c->lru.next;
    if (c->tls_hs && !c->dead) {
      /* Closed below (same deadline), with a line about its handshake. */
      list_del(&l->lru, c, L_LRU);
      continue;
    }
    if (c->unanswered && !c->dead) {
      /* Waiting on us, not idle: a parked fetch or join. */
      c->active_ms = now;
      list_del(&l->lru, c, L_LRU);
      list_add(&l->lru, c, L_LRU);
      continue;
    }
    list_del(&l->lru, c, L_LRU);
    if (!c->dead) {
      conn_kill(c);
      closed++;
    }
  }
  if (closed)
    net_log(BLOG_INFO,
            "closed %zu connection(s) idle for %" PRId64
            " ms (connections.max.idle.ms)",
            closed, idle);
  for (net_conn *c = l->partial.head, *next; c && c->frame_ms + idle <= now;
       c = next) {
    next = c->partial.next;
    list_del(&l->partial, c, L_PARTIAL);
    if (c->dead)
      continue;
    if (c->rbuf)
      net_log_peer(BLOG_WARN, c->peer,
                   "closing: a %zu-byte request is not complete %" PRId64
                   " ms after its first byte (%zu bytes came; "
                   "connections.max.idle.ms)",
                   c->rneed - 4, now - c->frame_ms, c->rlen - 4);
    else if (c->tls_hs)
      net_log_peer(BLOG_WARN, c->peer,
                   "closing: TLS handshake not complete %" PRId64
                   " ms after connecting (connections.max.idle.ms)",
                   now - c->frame_ms);
    else
      net_log_peer(BLOG_WARN, c->peer,
                   "closing: a request's size is not complete %" PRId64
                   " ms after its first byte (connections.max.idle.ms)",
                   now - c->frame_ms);
    conn_kill(c);
  }
  l->sweep_timer = net_timer_add(l, sweep_every(l), sweep, l);
}

/* At the bound with no exempt connection: pick one of the oldest frames in
 * progress whose connection has no request queued (a few are looked at:
 * this runs every iteration). */
static void exempt_pick(net_loop *l) {
  size_t max = l->cfg.max_buffered_bytes;
  if (l->exempt || !max || buffered(l) < max)
    return;
  net_conn *c = l->partial.head;
  for (int i = 0; c && i < 64; i++, c = c->partial.next)
    if (!c->dead && !c->inflight) {
      l->exempt = c;
      if (c->paused.in)
        conn_update(c);
      return;
    }
}

/* Connections paused at the memory bound are looked at again once the
 * loop holds less than some of them wait for (conn_update decides); and
 * an exempt one may go on with its frame. */
static void paused_wake(net_loop *l) {
  if (!l->paused.n)
    return;
  exempt_pick(l);
  size_t max = l->cfg.max_buffered_bytes, b = buffered(l);
  if (!((l->paused_kinds & 1) && b < max) &&
      !((l->paused_kinds & 2) && b - exempt_bytes(l) < max + max / 4))
    return;
  /* Those still paused register again, with what they hold now. */
  l->paused_kinds = 0;
  net_conn *c = l->paused.head;
  for (size_t n = l->paused.n; n && c; n--) {
    net_conn *next = c->paused.next;
    list_del(&l->paused, c, L_PAUSED);
    conn_update(c);
    c = next;
  }
}

/* ------------------------------------------------------------------------ */
/* The loop                                                                 */
/* ------------------------------------------------------------------------ */

/* Say at start how a TLS listener sends Fetch's file parts: kernel TLS
 * needs the kernel's tls module (listed in tcp_available_ulp once loaded)
 * and a cipher it supports; OpenSSL decides per connection. */
static void log_tls_fetch(struct net_tls *t) {
  char ulp[256] = "";
  FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_ulp", "r");
  if (f) {
    if (!fgets(ulp, sizeof ulp, f))
      ulp[0] = 0;
    fclose(f);
  }
  int ktls = 0;
  for (char *save = NULL, *w = strtok_r(ulp, " \n", &save); w;
       w = strtok_r(NULL, " \n", &save))
    ktls |= strcmp(w, "tls") == 0;
  if (ktls)
    net_log(BLOG_INFO,
            "listener %s: TLS; Fetch sends record bytes with SSL_sendfile "
            "(kernel TLS, zero copy) on connections whose cipher the "
            "kernel supports, else reads and encrypts them (pread + "
            "SSL_write)",
            net_tls_listener(t));
  else
    net_log(BLOG_INFO,
            "listener %s: TLS; Fetch reads and encrypts record bytes "
            "(pread + SSL_write): the kernel offers no kernel TLS (no "
            "'tls' in /proc/sys/net/ipv4/tcp_available_ulp; modprobe tls "
            "for zero-copy sendfile over TLS)",
            net_tls_listener(t));
}

/* Bind and listen on host:port (host NULL or "" = every address, IPv6
 * and, through it, IPv4 where the system has IPv6, as Kafka binds an
 * empty host); fills ls. Returns 0 or -errno. */
static int bind_listener(const char *host, int port, net_lsock *ls) {
  char portstr[16];
  snprintf(portstr, sizeof portstr, "%d", port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC,
                           .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *res = NULL;
  int wild = !host || !*host;
  int gai = getaddrinfo(wild ? NULL : host, portstr, &hints, &res);
  if (gai != 0)
    return gai == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL;
  int err = -EADDRNOTAVAIL;
  /* The wildcard: IPv6's first (dual-stack), then IPv4's. */
  for (int pass = wild ? 0 : 1; pass < 2 && err < 0; pass++)
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
      if (pass == 0 && ai->ai_family != AF_INET6)
        continue;
      int fd =
          socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                 ai->ai_protocol);
      if (fd < 0) {
        err = -errno;
        continue;
      }
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      /* Backlog: the kernel caps it at somaxconn; ask for enough that a
       * burst of thousands of connects is queued rather than refused. */
      if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 8192) < 0) {
        err = -errno;
        close(fd);
        continue;
      }
      struct sockaddr_storage ss;
      socklen_t sl = sizeof ss;
      getsockname(fd, (struct sockaddr *)&ss, &sl);
      ls->port = ss.ss_family == AF_INET6
                     ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                     : ntohs(((struct sockaddr_in *)&ss)->sin_port);
      ls->fd = fd;
      err = 0;
      break;
    }
  freeaddrinfo(res);
  return err;
}

static void close_listeners(net_loop *l) {
  for (size_t i = 0; i < l->nls; i++) {
    if (l->ls[i].fd < 0)
      continue;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, l->ls[i].fd, NULL);
    close(l->ls[i].fd);
    l->ls[i].fd = -1;
  }
  l->listening = 0;
}

int net_loop_new(const net_config *cfg, net_loop **out) {
  *out = NULL;
  if (!cfg || !cfg->on_request || cfg->nlistens > NET_MAX_LISTENS ||
      (cfg->listens && !cfg->nlistens))
    return -EINVAL;
  /* Without listens: the one of listen_host:listen_port. */
  net_listen one = {cfg->listen_host && *cfg->listen_host ? cfg->listen_host
                                                          : "127.0.0.1",
                    cfg->listen_port, NULL};
  const net_listen *lst = cfg->nlistens ? cfg->listens : &one;
  size_t nlst = cfg->nlistens ? cfg->nlistens : 1;
  for (size_t i = 0; i < nlst; i++)
    if (lst[i].port < 0 || lst[i].port > 65535)
      return -EINVAL;
  net_loop *l = calloc(1, sizeof *l);
  if (!l)
    return -ENOMEM;
  l->cfg = *cfg;
  /* The caller's array need not outlive this call. */
  l->cfg.listens = NULL;
  l->cfg.nlistens = 0;
  l->nls = nlst;
  for (size_t i = 0; i < nlst; i++) {
    l->ls[i].fd = -1;
    l->ls[i].tls = lst[i].tls;
  }
  if (!l->cfg.max_request_bytes)
    l->cfg.max_request_bytes = (size_t)100 * 1024 * 1024;
  if (l->cfg.max_request_bytes > INT32_MAX)
    l->cfg.max_request_bytes = INT32_MAX;
  l->epfd = l->evfd = -1;
  l->max_connections = l->max_per_ip = SIZE_MAX;
  l->now = net_now_ms();
  atomic_init(&l->stop, 0);
  pthread_mutex_init(&l->post_mu, NULL);
  int err = -ENOMEM;
  l->scratch = malloc(NET_SCRATCH_BYTES);
  if (!l->scratch)
    goto fail;
  /* A server must survive a client that disappears mid-write; send()
   * uses MSG_NOSIGNAL but sendfile() has no such flag. */
  struct sigaction sa;
  if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
    signal(SIGPIPE, SIG_IGN);
  l->epfd = epoll_create1(EPOLL_CLOEXEC);
  l->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (l->epfd < 0 || l->evfd < 0) {
    err = -errno;
    goto fail;
  }
  for (size_t i = 0; i < nlst; i++) {
    if ((err = bind_listener(lst[i].host, lst[i].port, &l->ls[i])) < 0) {
      /* The caller only learns the errno: name the address that failed. */
      if (nlst > 1)
        net_log(BLOG_ERROR, "cannot listen on %s port %d: %s",
                lst[i].host && *lst[i].host ? lst[i].host : "127.0.0.1",
                lst[i].port, strerror(-err));
      goto fail;
    }
    if (lst[i].tls)
      log_tls_fetch(lst[i].tls);
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = &tag_listen[i]};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->ls[i].fd, &e) < 0) {
      err = -errno;
      goto fail;
    }
  }
  struct epoll_event w = {.events = EPOLLIN, .data.ptr = &tag_event};
  if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->evfd, &w) < 0) {
    err = -errno;
    goto fail;
  }
  l->listening = 1;
  if (l->cfg.idle_ms > 0 &&
      !(l->sweep_timer = net_timer_add(l, sweep_every(l), sweep, l))) {
    err = -ENOMEM;
    goto fail;
  }
  *out = l;
  return 0;
fail:
  net_loop_free(l);
  return err;
}

int net_loop_port(const net_loop *loop) {
  return loop->ls[0].port;
}

int net_loop_listen_port(const net_loop *loop, size_t i) {
  return i < loop->nls ? loop->ls[i].port : -1;
}

static void start_drain(net_loop *l) {
  l->draining = 1;
  l->drain_deadline = net_now_ms() + NET_DRAIN_MS;
  close_listeners(l);
  if (l->accept_timer) {
    net_timer_cancel(l, l->accept_timer);
    l->accept_timer = NULL;
  }
  for (net_conn *c = l->conns; c; c = c->next)
    conn_update(c);
}

int net_loop_run(net_loop *loop) {
  net_loop *l = loop;
  struct epoll_event evs[NET_MAX_EVENTS];
  for (;;) {
    if (!l->draining && atomic_load(&l->stop))
      start_drain(l);
    reap(l);
    paused_wake(l); /* closed connections gave memory back */
    if (l->draining && (!l->conns || net_now_ms() >= l->drain_deadline))
      break;
    int timeout = (l->ready || l->flushq) ? 0 : timers_timeout(l);
    if (l->draining) {
      int64_t d = l->drain_deadline - net_now_ms();
      if (d < 0)
        d = 0;
      if (timeout < 0 || timeout > d)
        timeout = (int)d;
    }
    int n = epoll_wait(l->epfd, evs, NET_MAX_EVENTS, timeout);
    l->now = net_now_ms();
    if (n < 0) {
      if (errno == EINTR)
        continue;
      net_log(BLOG_ERROR, "epoll_wait: %s", strerror(errno));
      break;
    }
    for (int i = 0; i < n; i++) {
      void *p = evs[i].data.ptr;
      size_t li = 0;
      while (li < l->nls && p != (void *)&tag_listen[li])
        li++;
      if (li < l->nls) {
        if (!l->draining)
          on_accept(l, li);
      } else if (p == &tag_event) {
        uint64_t v;
        ssize_t r = read(l->evfd, &v, sizeof v);
        (void)r;
      } else {
        conn_on_event(p, evs[i].events);
      }
    }
    net_loop_run_posted(l);
    timers_run(l);
    run_flushes(l);
    paused_wake(l);
    /* One pass only: whatever resumes again waits for the next round. */
    net_conn *ready = l->ready;
    l->ready = NULL;
    while (ready) {
      net_conn *c = ready;
      ready = c->ready_next;
      c->in_ready = 0;
      if (!c->dead)
        conn_on_readable(c);
    }
    run_flushes(l);
  }
  /* Bounded wait is over: close whatever is left. */
  for (net_conn *c = l->conns; c; c = c->next)
    conn_kill(c);
  reap(l);
  return 0;
}

void net_loop_free(net_loop *loop) {
  if (!loop)
    return;
  net_loop *l = loop;
  for (net_conn *c = l->conns; c; c = c->next)
    conn_kill(c);
  reap(l);
  /* After reap: closing connections give their buffers back. */
  pool_free_all(l);
  free(l->ip_limits);
  for (size_t i = 0; i < l->nheap; i++)
    free(l->heap[i]);
  free(l->heap);
  /* Posts that never ran are dropped: their owners are gone by now. */
  struct net_post_item *it = l->post_head;
  while (it) {
    struct net_post_item *n = it->next;
    free(it);
    it = n;
  }
  pthread_mutex_destroy(&l->post_mu);
  for (size_t i = 0; i < l->nls; i++)
    if (l->ls[i].fd >= 0)
      close(l->ls[i].fd);
  if (l->evfd >= 0)
    close(l->evfd);
  if (l->epfd >= 0)
    close(l->epfd);
  free(l->scratch);
  free(l->tls_wbuf);
  free(l);
}
