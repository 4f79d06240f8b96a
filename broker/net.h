/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net.h — the broker's network layer: one epoll event loop thread that owns
 * every connection, timer and request handler, so handlers and the group
 * coordinator need no locks. Disk writes to the page cache happen on the
 * loop; fdatasync happens on the worker's lanes (worker.c), which hand
 * results back with net_post() (an eventfd wakes the loop).
 *
 * Framing: each request is an int32 big-endian size then that many bytes.
 * A size <= 0 or above the configured maximum closes the connection with
 * one log line. Responses go out in request order even when a handler
 * answers later (acks=all, long-poll fetch, JoinGroup): every request gets
 * a slot in its connection's queue, and the queue is flushed in order.
 *
 * Each request reaches its handler in a buffer of its own (net_frame),
 * which the handler owns and frees with net_frame_free(): it can keep
 * pointers into the request, and write into it, for as long as the
 * request lives. Big frames are read straight into pooled buffers, so a
 * stream of large requests costs neither copies nor fresh pages; the pool
 * is bounded and released when idle (net.c says how).
 *
 * Limits (net.c says how each works): connections idle for idle_ms are
 * closed, and so is one whose request has not arrived whole idle_ms after
 * its first byte; the number of connections, in all and per client
 * address, is capped (net_limits); the memory held by requests being read,
 * by requests being handled and by replies not yet written is bounded
 * loop-wide (max_buffered_bytes): over it, connections stop being read
 * until it drains, instead of anyone being closed.
 */
#ifndef ND_BROKER_NET_H
#define ND_BROKER_NET_H

#include <stddef.h>
#include <stdint.h>

#define NET_POOL_IDLE_MS_DEFAULT 2000

typedef struct net_loop net_loop;
typedef struct net_conn net_conn;
typedef struct net_req net_req; /* one request's place in the reply order */
typedef struct net_timer net_timer;

/* A received request: its bytes without the size prefix. data is
 * writable (Produce stores record batches in place), and stays valid
 * until net_frame_free(), however long the request takes to answer. */
typedef struct net_frame {
  uint8_t *data;
  size_t len;
} net_frame;

/* Called on the loop thread for every complete frame. The handler owns
 * `frame` from the call on, whatever it returns, and gives it back with
 * net_frame_free() once nothing points into it any more (a parked request
 * keeps it until answered). The handler must eventually call exactly one
 * of net_reply / net_reply_none for req (now or later, on the loop
 * thread). Return 0, or -1 to close the connection (malformed request):
 * the net layer logs `why` set via net_conn_set_error(). */
typedef int (*net_request_fn)(void *ctx, net_conn *conn, net_req *req,
                              net_frame *frame);

/* Called on the loop thread when a connection closes, before it is freed;
 * pending net_req of this connection become invalid after it returns, so
 * parked handlers (fetch waiters, joins) must drop them here. */
typedef void (*net_close_fn)(void *ctx, net_conn *conn);

struct net_tls; /* tls.h: a listener's TLS context */

/* One listening socket. */
typedef struct net_listen {
  const char *host;    /* NULL or "" = every address */
  int port;            /* 0 = pick a free port (net_loop_listen_port) */
  struct net_tls *tls; /* NULL = plaintext, else TLS with it (not owned) */
} net_listen;

typedef struct net_config {
  /* The listeners (copied; at most 8). With none, one plaintext listener
   * at listen_host:listen_port. */
  const net_listen *listens;
  size_t nlistens;
  const char *listen_host; /* "127.0.0.1" */
  int listen_port;         /* 0 = pick a free port (see net_loop_port) */
  size_t max_request_bytes;
  /* Close a connection with no byte read or written for this long and no
   * request being handled, or whose request has not arrived whole this
   * long after its first byte (Kafka's connections.max.idle.ms); 0 =
   * never. */
  int64_t idle_ms;
  /* Stop reading from connections while the loop holds this many bytes of
   * requests (arriving or being handled) and unwritten replies (Kafka's
   * queued.max.request.bytes); 0 = no bound. */
  size_t max_buffered_bytes;
  /* Free frame buffers kept for reuse are released after this long
   * unused; 0 = NET_POOL_IDLE_MS_DEFAULT. */
  int pool_idle_ms;
  net_request_fn on_request;
  net_close_fn on_close;
  void *ctx;
} net_config;

/* A per-address exception to max_per_ip (Kafka's
 * max.connections.per.ip.overrides). */
typedef struct net_ip_limit {
  int family; /* AF_INET or AF_INET6 */
  uint8_t addr[16];
  size_t max;
} net_ip_limit;

/* Caps on connections (Kafka's max.connections, max.connections.per.ip,
 * max.connections.per.ip.overrides). SIZE_MAX = no cap (the default). At
 * max_connections the loop stops accepting: new connections wait in the
 * listen backlog until one closes. A client address at its cap has its
 * new connections accepted and closed at once, as Kafka does. */
typedef struct net_limits {
  size_t max_connections;
  size_t max_per_ip;
  const net_ip_limit *ip; /* copied */
  size_t nip;
} net_limits;

/* Parse Kafka's max.connections.per.ip.overrides ("host:count,..."; a
 * host is an IP address or a name, resolved now; an IPv6 address may be
 * bracketed). *out is malloc'ed (NULL when empty), the caller frees it.
 * Returns 0, or -1 with why[] set. Blocks while a name resolves. */
int net_parse_ip_limits(const char *text, net_ip_limit **out, size_t *n,
                        char *why, size_t whylen);

/* Create the loop and bind the listening socket. Errors: -errno. */
int net_loop_new(const net_config *cfg, net_loop **out);

/* Replace the connection caps; existing connections stay open. Loop
 * thread only (or before net_loop_run). Returns 0 or -ENOMEM (nothing
 * changed then). */
int net_loop_set_limits(net_loop *loop, const net_limits *lim);

/* Connections open now. Loop thread only. */
size_t net_loop_connections(const net_loop *loop);

/* The port actually bound (useful with listen_port 0); of the first
 * listener. */
int net_loop_port(const net_loop *loop);
/* The port listener i bound (net_config.listens[i]). */
int net_loop_listen_port(const net_loop *loop, size_t i);

/* Run until net_loop_stop(); then finish in-flight replies (bounded wait),
 * close all connections. Returns 0. */
int net_loop_run(net_loop *loop);

/* Ask the loop to stop. Async-signal-safe and thread-safe. */
void net_loop_stop(net_loop *loop);

void net_loop_free(net_loop *loop);

/* Give a frame back: big frame buffers return to their loop's pool, the
 * others to malloc. Loop thread only (or, after net_loop_run() has
 * returned, the thread that ran it), and before net_loop_free(). */
void net_frame_free(net_frame *frame);

/* What the loop holds in frame buffers, for tests and diagnostics. Loop
 * thread only. */
typedef struct net_buffer_stats {
  size_t pooled_bytes; /* free buffers kept for reuse */
  size_t pooled_count;
  size_t pool_limit;    /* the most pooled_bytes may reach */
  size_t reading_bytes; /* buffers of frames still arriving */
  size_t frames_held;   /* frames handed to handlers, not yet freed */
  /* What max_buffered_bytes bounds: buffers of frames arriving and held by
   * handlers, unwritten reply buffers, bytes read ahead. */
  size_t buffered_bytes;
  size_t buffered_limit; /* max_buffered_bytes, 0 = none */
  size_t paused;         /* connections not read until that drains */
} net_buffer_stats;
void net_loop_buffer_stats(const net_loop *loop, net_buffer_stats *out);

/* Queue the response for req. buf is malloc'ed, holds the complete
 * response frame INCLUDING its 4-byte size prefix, and is owned by the net
 * layer from now on (freed after sending, or on close). Loop thread only. */
void net_reply(net_conn *conn, net_req *req, uint8_t *buf, size_t len);

/* A part of a reply sent from a file with sendfile (zero copy): len bytes
 * of fd from byte off, spliced into the reply's buffer before buf[at]. */
typedef struct net_file {
  int fd; /* owned by the net layer once queued */
  int64_t off;
  size_t len;
  size_t at;
} net_file;

/* Like net_reply, with file parts spliced into buf: the bytes sent are
 * buf[0, files[0].at), files[0], buf[files[0].at, files[1].at), ..., the
 * rest of buf. files (malloc'ed, `at` non-decreasing and <= len) and every
 * fd in it are owned by the net layer from now on (closed once sent or on
 * close); buf's size prefix must count the file bytes too. A file shorter
 * than promised closes the connection (the frame cannot be completed).
 * Used by Fetch to send record bytes straight from the segment files. */
void net_reply_files(net_conn *conn, net_req *req, uint8_t *buf, size_t len,
                     net_file *files, size_t nfiles);

/* net_reply_files with one part, after buf. */
void net_reply_file(net_conn *conn, net_req *req, uint8_t *buf, size_t len,
                    int fd, int64_t file_off, size_t file_len);

/* Descriptors held by queued file parts, loop-wide: a handler compares it
 * with its own bound before queueing more (a consumer that stops reading
 * keeps its parts' descriptors until it reads or closes). */
size_t net_loop_files_open(const net_loop *loop);

/* Mark req answered with no response (Produce with acks=0). */
void net_reply_none(net_conn *conn, net_req *req);

/* Close the connection after already-queued replies are sent. */
void net_conn_close(net_conn *conn, const char *why);

/* net_conn_close, with the replies queued now or answered later held for
 * delay_ms first, and nothing read meanwhile: Kafka's
 * connection.failed.authentication.delay.ms, which makes a client that
 * guesses passwords wait for each answer. The rest of the loop goes on;
 * a peer that hangs up meanwhile is closed at once. delay_ms <= 0 is
 * net_conn_close. A later call changes nothing. Loop thread. */
void net_conn_close_after(net_conn *conn, int64_t delay_ms, const char *why);

/* The reason logged when the request handler returns -1 (copied). */
void net_conn_set_error(net_conn *conn, const char *why);

/* Peer address as "host:port", for log lines. */
const char *net_conn_peer(const net_conn *conn);

/* Which listener accepted the connection: its index in net_config's
 * listeners (0 with one). */
size_t net_conn_listener(const net_conn *conn);

/* The subject of the client certificate a TLS connection presented and
 * the listener verified, in RFC 2253 form as Kafka's default principal
 * builder gives it ("CN=alice,OU=eng,O=Example"); NULL without one (no
 * TLS, no certificate, or the handshake still going). Loop thread. */
const char *net_conn_tls_subject(const net_conn *conn);

/* Stop reading the connection for ms (replies still go out), as Kafka
 * mutes a client over its quota (KIP-219). A later call extends the
 * pause, never shortens it. Loop thread. */
void net_conn_mute(net_conn *conn, int64_t ms);

/* A per-connection pointer for the handlers (e.g. its group member). */
void net_conn_set_data(net_conn *conn, void *data);
void *net_conn_data(const net_conn *conn);

/* Run fn(arg) on the loop thread soon. Thread-safe (wakes the loop through
 * an eventfd). Returns 0 or -ENOMEM. */
int net_post(net_loop *loop, void (*fn)(void *arg), void *arg);

/* Run the functions posted so far, on the calling thread. Only for after
 * net_loop_run() has returned, on the thread that ran it (the worker's
 * last completions arrive then). */
void net_loop_run_posted(net_loop *loop);

/* One-shot timer: fn(arg) on the loop thread after delay_ms. Loop thread
 * only. The returned handle is valid until it fires or is cancelled. */
net_timer *net_timer_add(net_loop *loop, int64_t delay_ms,
                         void (*fn)(void *arg), void *arg);
void net_timer_cancel(net_loop *loop, net_timer *t);

/* Milliseconds on a monotonic clock, as the loop sees it. */
int64_t net_now_ms(void);

#endif
