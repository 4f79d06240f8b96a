/*
 * broker.h — what the parts of `nodata serve` share: its configuration, the
 * store, the event loop and the flusher, and the entry points between the
 * network layer (net.c, serve.c, flusher.c) and the Kafka protocol layer
 * (kafka_*.c, handle_*.c, group.c).
 */
#ifndef ND_BROKER_H
#define ND_BROKER_H

#include <stddef.h>
#include <stdint.h>

#include "net.h"
#include "nodata.h"

typedef struct broker_config {
  const char *data_dir;     /* --data, NODATA_DATA, default ./data */
  char listen_host[256];    /* --listen host part, default 127.0.0.1 */
  int listen_port;          /* --listen port part, default 9092 */
  char advertise_host[256]; /* --advertise, default = listen address */
  int advertise_port;
  size_t max_request_bytes;       /* --max-request-bytes, default 100 MiB */
  int auto_create;                /* 1 unless --no-auto-create */
  int32_t default_partitions;     /* for auto-created topics, default 1 */
  int32_t max_topic_partitions;   /* --max-topic-partitions, 0 = library's */
  int32_t max_store_partitions;   /* --max-store-partitions, 0 = library's */
  int32_t max_mapped_indexes;     /* --max-mapped-indexes, 0 = library's */
  int32_t min_segment_bytes;      /* --min-segment-bytes, default Kafka's */
  int32_t node_id;                /* always 0 */
  int32_t group_initial_delay_ms; /* --group-initial-delay-ms, default 3000 */
  /* Connections (net.h says what each does). */
  int64_t idle_ms;                /* connections.max.idle.ms, 600000 */
  int64_t queued_max_bytes;       /* queued.max.request.bytes, -1 = none */
  int64_t max_connections;        /* max.connections, INT32_MAX */
  int64_t max_connections_per_ip; /* max.connections.per.ip, INT32_MAX */
  const char *per_ip_overrides;   /* max.connections.per.ip.overrides */
  /* What descriptors allow beside the store's and Fetch's: caps
   * max.connections (serve.c). 0 = no such cap. */
  int64_t fd_max_connections;
  unsigned explicit_set; /* BC_SET_*: given by a flag or variable */
} broker_config;

/* Kafka 4's least segment.bytes (KIP-1030): a client may not make a
 * partition roll at every record. */
#define BROKER_MIN_SEGMENT_BYTES (1 << 20)

/* Which settings the command line or environment gave (DescribeConfigs
 * calls those STATIC_BROKER_CONFIG, the others DEFAULT_CONFIG). */
enum {
  BC_SET_AUTO_CREATE = 1 << 0,
  BC_SET_PARTITIONS = 1 << 1,
  BC_SET_GROUP_DELAY = 1 << 2,
  BC_SET_MAX_CONNECTIONS = 1 << 3,
  BC_SET_MAX_PER_IP = 1 << 4,
  BC_SET_PER_IP_OVERRIDES = 1 << 5,
  BC_SET_IDLE = 1 << 6,
  BC_SET_QUEUED_BYTES = 1 << 7,
};

/* The default of queued.max.request.bytes: Kafka's is -1 (no bound),
 * which lets a few clients announcing big requests hold any amount of
 * memory; nodata bounds it. */
#define BC_QUEUED_MAX_BYTES_DEFAULT ((int64_t)256 << 20)

typedef struct flusher flusher;
typedef struct worker worker;

typedef struct broker {
  broker_config cfg;
  nd_store *store;
  net_loop *loop;
  flusher *flusher;
  worker *worker; /* admin work off the loop (worker.c) */
  void *kafka;    /* protocol-layer state, owned by kafka_api.c */
  void *groups;   /* group coordinator state, owned by group.c */
  void *dyn;      /* dynamic broker and group configs, owned by dynconfig.c */
  /* Record bytes Fetch answered with, by how they left (loop thread only;
   * printed at shutdown). */
  uint64_t fetch_bytes_sendfile, fetch_bytes_copied;
} broker;

/* Replace the file at path with data[0..len) so that a crash leaves the
 * old contents or the new, and the new survive power loss once this
 * returns 0 (atomic_file.c). Returns 0 or -errno; on failure the old file
 * is untouched. */
int broker_write_atomic(const char *path, const void *data, size_t len);

/* Protocol layer (kafka_api.c). kafka_init runs after the store and loop
 * exist and before the loop runs; kafka_fini after the loop has stopped. */
int kafka_init(broker *b);
void kafka_fini(broker *b);
/* net_request_fn and net_close_fn; ctx is the broker. */
int kafka_handle_request(void *ctx, net_conn *conn, net_req *req,
                         net_frame *frame);
void kafka_conn_closed(void *ctx, net_conn *conn);
/* nd_append_hook: called by the store on the appending thread (any thread)
 * after each append; wakes the fetches waiting on that partition. */
void kafka_on_append(void *ctx, const char *topic, int32_t partition,
                     int64_t high_watermark);

/* Flusher (flusher.c): a thread that makes appended data durable with
 * group commit and reports back on the loop thread. */
int flusher_start(broker *b, flusher **out);
/* Completes pending requests and joins. Call after net_loop_run() has
 * returned, on the thread that ran it: the last done() calls run there. */
void flusher_stop(flusher *f);
/* Ask for (topic, partition) to be durable up to offset; done(arg, rc) runs
 * later on the loop thread with rc from nd_sync_partition. Requests that
 * arrive while a sync runs share the next one. Returns 0 or -ENOMEM. */
int flusher_request(flusher *f, const char *topic, int32_t partition,
                    int64_t offset, void (*done)(void *arg, int rc), void *arg);

/* Worker (worker.c): a thread for admin work too slow for the loop
 * (creating topics). worker_submit (loop thread) runs fn(arg) on that
 * thread, then done(arg) on the loop thread; with w NULL both run now.
 * Returns 0 or -ENOMEM (nothing runs then). worker_stop finishes the
 * queue and runs the last done()s on the calling thread: call it after
 * net_loop_run() has returned, on the thread that ran it. */
int worker_start(broker *b, worker **out);
void worker_stop(worker *w);
int worker_submit(worker *w, void (*fn)(void *arg), void (*done)(void *arg),
                  void *arg);
/* Has w work in hand? Loop thread only; jobs are only submitted there, so
 * an idle worker stays idle while the loop does something itself. */
int worker_busy(const worker *w);

/* serve.c: `nodata serve` with its flags (argv[0] is "serve"). Returns the
 * process exit status. */
int broker_serve_main(int argc, char **argv);

#endif
