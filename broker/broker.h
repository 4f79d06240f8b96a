/* SPDX-License-Identifier: Apache-2.0 */
/*
 * broker.h — what the parts of `nodata serve` share: its configuration, the
 * store, the event loop and the worker, and the entry points between the
 * network layer (net.c, serve.c, worker.c) and the Kafka protocol layer
 * (kafka_*.c, handle_*.c, coordinator*.c).
 */
#ifndef ND_BROKER_H
#define ND_BROKER_H

#include <stddef.h>
#include <stdint.h>

#include "net.h"
#include "nodata.h"
#include "security.h"

typedef struct broker_config {
  const char *data_dir;     /* --data, NODATA_DATA, default ./data */
  char listen_host[256];    /* --listen host part, default 127.0.0.1 */
  int listen_port;          /* --listen port part, default 9092 */
  char advertise_host[256]; /* --advertise, default = listen address */
  int advertise_port;
  char http_host[256]; /* --http host part; "" = no HTTP listener */
  int http_port;       /* --http port part, 0 = any free port */
  int http_read_only;  /* --http-read-only: the console changes nothing */
  char http_allowed_hosts[1024];  /* --http-allowed-hosts (console.h) */
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
  /* connection.failed.authentication.delay.ms, 100: a failed SASL
   * authentication is answered, and the connection closed, this late. */
  int64_t failed_auth_delay_ms;
  const char *per_ip_overrides; /* max.connections.per.ip.overrides */
  /* What descriptors allow beside the store's and Fetch's: caps
   * max.connections (serve.c). 0 = no such cap. */
  int64_t fd_max_connections;
  /* The log cleaner, Kafka's log.cleaner.* (read at start, passed to
   * nd_options; docs/serve.md): */
  int cleaner_enable;           /* log.cleaner.enable, default 1 */
  int32_t cleaner_threads;      /* log.cleaner.threads, default 1 */
  int64_t cleaner_dedupe_bytes; /* log.cleaner.dedupe.buffer.size */
  double cleaner_io_max;        /* log.cleaner.io.max.bytes.per.second */
  const char *cleaner_io_text;  /* ... as given */
  int64_t cleaner_backoff_ms;   /* log.cleaner.backoff.ms, 15000 */
  /* Transactions (issue 19; read at start, passed to nd_options): */
  int64_t txn_max_timeout_ms;   /* transaction.max.timeout.ms, 900000 */
  int64_t txn_id_expiration_ms; /* transactional.id.expiration.ms, 7 d */
  int64_t txn_abort_check_ms;   /* transaction.abort.timed.out.transaction.
                                   cleanup.interval.ms, 10000 */
  int transaction_version;      /* finalized transaction.version, 1 or 2 */
  /* KIP-848 consumer groups, Kafka's group.consumer.* (read at start;
   * docs/serve.md). */
  int32_t cg_session_ms;       /* group.consumer.session.timeout.ms, 45000 */
  int32_t cg_min_session_ms;   /* ...min.session.timeout.ms, 45000 */
  int32_t cg_max_session_ms;   /* ...max.session.timeout.ms, 60000 */
  int32_t cg_heartbeat_ms;     /* group.consumer.heartbeat.interval.ms, 5000 */
  int32_t cg_min_heartbeat_ms; /* ...min.heartbeat.interval.ms, 5000 */
  int32_t cg_max_heartbeat_ms; /* ...max.heartbeat.interval.ms, 15000 */
  int32_t cg_max_size;         /* group.consumer.max.size, INT32_MAX */
  int32_t cg_assign_interval_ms;     /* ...assignment.interval.ms, 1000 */
  int32_t cg_min_assign_interval_ms; /* ...min.assignment.interval.ms, 0 */
  int32_t cg_max_assign_interval_ms; /* ...max.assignment.interval.ms, 15000 */
  char cg_assignors[256];  /* group.consumer.assignors, "uniform,range" */
  int cg_migration_policy; /* group.consumer.migration.policy, CG_MIGRATE_* */
  /* Committed offsets expire (coordinator_expiry.c; read at start): */
  int64_t offsets_retention_min;      /* offsets.retention.minutes, 10080 */
  int64_t offsets_retention_check_ms; /* offsets.retention.check.interval.ms,
                                         600000 */
  uint64_t explicit_set; /* BC_SET_*: given by a flag or variable */
  /* Security (security.h). props: --config FILE's Kafka properties (an
   * empty set without one), owned here. listeners[0] is the one the
   * listen_* and advertise_* fields above describe. */
  const char *config_path; /* --config, NODATA_CONFIG; NULL = none */
  broker_props *props;
  broker_listener listeners[BROKER_MAX_LISTENERS];
  size_t nlisteners;
  /* --allow-insecure, allow.insecure, NODATA_ALLOW_INSECURE: serve on a
   * non-loopback address without authentication (serve.c). */
  int allow_insecure;
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
  BC_SET_CLEANER_ENABLE = 1 << 8,
  BC_SET_CLEANER_THREADS = 1 << 9,
  BC_SET_CLEANER_DEDUPE = 1 << 10,
  BC_SET_CLEANER_IO = 1 << 11,
  BC_SET_CLEANER_BACKOFF = 1 << 12,
  BC_SET_TXN_MAX_TIMEOUT = 1 << 13,
  BC_SET_TXN_ID_EXPIRATION = 1 << 14,
  BC_SET_TXN_ABORT_CHECK = 1 << 15,
  BC_SET_LISTEN = 1 << 16,
  BC_SET_CG_SESSION = 1 << 17,
  BC_SET_CG_MIN_SESSION = 1 << 18,
  BC_SET_CG_MAX_SESSION = 1 << 19,
  BC_SET_CG_HEARTBEAT = 1 << 20,
  BC_SET_CG_MIN_HEARTBEAT = 1 << 21,
  BC_SET_CG_MAX_HEARTBEAT = 1 << 22,
  BC_SET_CG_MAX_SIZE = 1 << 23,
  BC_SET_CG_ASSIGNORS = 1 << 24,
  BC_SET_CG_MIGRATION = 1 << 25,
  BC_SET_CG_ASSIGN_INTERVAL = 1 << 26,
  BC_SET_CG_MIN_ASSIGN_INTERVAL = 1 << 27,
  BC_SET_CG_MAX_ASSIGN_INTERVAL = 1 << 28,
  BC_SET_FAILED_AUTH_DELAY = 1 << 29,
  BC_SET_OFFSETS_RETENTION = 1 << 30,
};
/* Past what an enumerator (an int) holds: explicit_set has 64 bits. */
#define BC_SET_OFFSETS_RETENTION_CHECK (UINT64_C(1) << 31)

/* group.consumer.migration.policy: which conversions between classic and
 * consumer groups are allowed (Kafka's ConsumerGroupMigrationPolicy). */
enum {
  CG_MIGRATE_DISABLED = 0,
  CG_MIGRATE_UPGRADE = 1,   /* classic -> consumer */
  CG_MIGRATE_DOWNGRADE = 2, /* consumer -> classic */
  CG_MIGRATE_BIDIRECTIONAL = 3,
};

/* The default of queued.max.request.bytes: Kafka's is -1 (no bound),
 * which lets a few clients announcing big requests hold any amount of
 * memory; nodata bounds it. */
#define BC_QUEUED_MAX_BYTES_DEFAULT ((int64_t)256 << 20)

typedef struct worker worker;

typedef struct broker {
  broker_config cfg;
  nd_store *store;
  net_loop *loop;
  worker *worker; /* work off the loop: admin, syncs, commits (worker.c) */
  void *kafka;    /* protocol-layer state, owned by kafka_api.c */
  void *groups;   /* group coordinator state, owned by coordinator.c */
  void *cgroups;  /* KIP-848 consumer groups, owned by cgroup.c */
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

/* Worker (worker.c, whose top says why it is built so): lanes of threads
 * for work the loop must not wait for, completions back on the loop.
 * Lanes: ADMIN (one job at a time, in submission order), SYNC (acks=all
 * fdatasyncs, gathered: group commit), COMMIT + i (OffsetCommits, a group
 * always on one lane), TXN + i (the transaction coordinator's calls, one
 * at a time, a transactional id always on one lane: handle_txn.c), AUTH + i
 * (PLAIN passwords checked with a PBKDF2: sasl.c). A slow job on one lane
 * never delays another. */
enum {
  WORKER_LANE_ADMIN = 0,
  WORKER_LANE_SYNC = 1,
  WORKER_LANE_COMMIT = 2,
  WORKER_COMMIT_LANES = 4,
  WORKER_LANE_TXN = WORKER_LANE_COMMIT + WORKER_COMMIT_LANES,
  WORKER_TXN_LANES = 4,
  WORKER_LANE_AUTH = WORKER_LANE_TXN + WORKER_TXN_LANES,
  WORKER_AUTH_LANES = 2,
  WORKER_LANES = WORKER_LANE_AUTH + WORKER_AUTH_LANES
};

/* A job, embedded in the caller's own struct (so queuing never fails). The
 * caller sets run, done and ctx; the worker owns next and lane until done
 * runs. */
typedef struct worker_job {
  struct worker_job *next;
  /* On the lane's thread: this job and the n - 1 queued right behind it
   * with the same run (reached through ->next; n is 1 on the admin lane).
   * Record each job's result with worker_job_result; do not touch next. */
  void (*run)(struct worker_job *first, size_t n);
  /* On the loop thread, once run has returned; may free the job. */
  void (*done)(struct worker_job *j);
  void *ctx; /* the caller's */
  int rc;    /* set by worker_job_result */
  int lane;  /* the worker's */
  /* The library's message for rc (nd_errmsg() of the lane's thread), or
   * nd_strerror(rc) when it had none; "" when rc is 0. */
  char msg[256];
} worker_job;

/* Start the lanes; -errno if a thread could not start (nothing runs then).
 * Call on the loop's thread with b->loop and b->store set. */
int worker_start(broker *b, worker **out);
/* Finish every lane's queue, join, and run the last done()s on the calling
 * thread: call after net_loop_run() has returned, on the thread that ran
 * it. w may be NULL. */
void worker_stop(worker *w);
/* Loop thread: queue j on lane. With w NULL (embedded tests) or a lane
 * without a thread, run(j, 1) and done(j) run now on the caller's thread. */
void worker_queue(worker *w, int lane, worker_job *j);
/* Lane thread, inside run: j's result is rc; for rc != 0 the library's
 * message is copied into j->msg here, where nd_errmsg() is this thread's. */
void worker_job_result(worker_job *j, int rc);
/* Has lane queued or running jobs whose done() has not run? Loop thread
 * only; jobs are only queued there, so an idle lane stays idle while the
 * loop does something itself. */
int worker_busy(const worker *w, int lane);

/* Admin lane: fn(arg) on its thread, then done(arg) on the loop thread.
 * Returns 0 or -ENOMEM (nothing runs then). */
int worker_submit(worker *w, void (*fn)(void *arg), void (*done)(void *arg),
                  void *arg);
/* The same on another lane that takes jobs one at a time (ADMIN, TXN + i). */
int worker_submit_on(worker *w, int lane, void (*fn)(void *arg),
                     void (*done)(void *arg), void *arg);
/* Sync lane: make (topic, partition) durable up to offset (-1: everything
 * appended so far); done(arg, rc, msg) runs later on the loop thread with
 * nd_sync_partition's rc and the library's message for it. Syncs queued
 * while one runs share the next fdatasync of their partition. Returns 0
 * or -ENOMEM. topic is copied. */
int worker_sync(broker *b, const char *topic, int32_t partition, int64_t offset,
                void (*done)(void *arg, int rc, const char *msg), void *arg);

/* serve.c: `nodata serve` with its flags (argv[0] is "serve"). Returns the
 * process exit status. */
int broker_serve_main(int argc, char **argv);
/* `nodata console`: the web console for a remote Kafka-protocol broker
 * (console_cli.c, docs/console.md). Same conventions as
 * broker_serve_main. */
int broker_console_main(int argc, char **argv);

/* "host:port", "[v6]:port" or ":port" (127.0.0.1) into host (hostcap
 * bytes) and *port (0 to 65535). Returns 0, or -1 when s is none of
 * these or the host does not fit. Pure; thread-safe. */
int broker_parse_hostport(const char *s, char *host, size_t hostcap, int *port);
/* Does host name only loopback addresses? 1 yes, 0 no ("" is every
 * address), -1 it does not resolve (start-up fails on it later, with
 * its own message). Resolves with getaddrinfo; thread-safe. */
int broker_host_is_loopback(const char *host);

#endif
