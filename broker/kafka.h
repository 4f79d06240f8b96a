/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kafka.h — what kafka_api.c (dispatch, ApiVersions, replies) shares with
 * the per-API handlers in handle_*.c.
 *
 * A request's life: kafka_handle_request() reads the header, finds the API
 * in the table, decodes the body into a kafka_req's arena and calls the
 * handler. The kafka_req owns the request's frame (net_frame): decoded
 * records and bytes point into it (no copy), so it lives, writable, until
 * the request is freed. The handler either answers at once with
 * kafka_respond(), or parks the request (acks=all waiting for fdatasync, a
 * long-poll Fetch) and answers later from a callback on the loop thread.
 * If the connection closes meanwhile, the request is marked dead: its
 * callbacks still run (to release what they hold) and kafka_respond() then
 * only frees it.
 */
#ifndef ND_KAFKA_H
#define ND_KAFKA_H

#include <stdatomic.h>
#include <stdio.h>

#include "authorizer.h"
#include "broker.h"
#include "kafka_errors.h"
#include "kafka_msgs.h"
#include "logline.h"
#include "metrics.h"
#include "waitset.h"

/* Authorized operations, as Kafka answers them without an authorizer
 * (AuthHelper.authorizedOperations with no authorizer: every operation
 * AclEntry.supportedOperations lists for the resource type), as bits of
 * AclOperation codes: READ 3, WRITE 4, CREATE 5, DELETE 6, ALTER 7,
 * DESCRIBE 8, CLUSTER_ACTION 9, DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11,
 * IDEMPOTENT_WRITE 12. nodata has no ACLs, so these are always the
 * answer when a client asks; when it does not, the field keeps the
 * schema's INT32_MIN. */
#define KAFKA_OPS(a) (1 << (a))
#define KAFKA_OPS_TOPIC                                                        \
  (KAFKA_OPS(3) | KAFKA_OPS(4) | KAFKA_OPS(5) | KAFKA_OPS(6) | KAFKA_OPS(7) |  \
   KAFKA_OPS(8) | KAFKA_OPS(10) | KAFKA_OPS(11))
#define KAFKA_OPS_GROUP                                                        \
  (KAFKA_OPS(3) | KAFKA_OPS(6) | KAFKA_OPS(8) | KAFKA_OPS(10) | KAFKA_OPS(11))
#define KAFKA_OPS_CLUSTER                                                      \
  (KAFKA_OPS(5) | KAFKA_OPS(7) | KAFKA_OPS(8) | KAFKA_OPS(9) | KAFKA_OPS(10) | \
   KAFKA_OPS(11) | KAFKA_OPS(12))

typedef struct kafka_req kafka_req;
typedef struct kafka_state kafka_state;

/* Who is on a connection (security.h): made on its first request, shared
 * by its requests (each holds a reference, so a request parked past the
 * connection's close still reads it), freed with the last. Loop thread
 * only. */
typedef struct kafka_session {
  int refs;
  size_t listener;       /* index into b->cfg.listeners */
  sec_protocol protocol; /* that listener's */
  /* Kafka's principal string, "User:NAME": User:ANONYMOUS until SASL
   * authenticates (or, on SSL with a client certificate, the subject). */
  char principal[512];
  char host[64];             /* the client's IP address, as ACLs match hosts */
  int authenticated;         /* 1 unless a SASL listener still waits for it */
  struct sasl_conn *sasl;    /* sasl.c's handshake state, or NULL */
  int64_t session_expiry_ms; /* KIP-368 re-authentication; 0 = never */
  void (*on_free)(struct kafka_session *s); /* releases sasl etc. */
} kafka_session;

/* Returns 0, or -1 to close the connection (request not answerable). */
typedef int (*kafka_handler_fn)(kafka_req *r);

typedef struct kafka_api {
  int16_t key;
  const char *name;
  int16_t min, max; /* advertised */
  const kf_msg *req, *resp;
  kafka_handler_fn fn;
  int hidden; /* served but left out of ApiVersions, as Kafka does */
} kafka_api;

struct kafka_req {
  broker *b;
  kafka_state *k;
  net_conn *conn;
  net_req *nreq;
  const kafka_api *api;
  int16_t version;
  int32_t correlation_id;
  kf_str client_id;
  kafka_session *session; /* never NULL; one reference held */
  /* The connection's peer, copied on arrival so a line logged from the
   * worker (or after the connection closed) can still name the client. */
  char peer[64];
  kf_arena arena;
  net_frame *frame; /* the request's bytes; records/bytes point into it */
  void *body;       /* the decoded request */
  int dead;         /* connection closed while parked */
  int64_t start_ns; /* arrival, for the latency metric */
  /* Client quotas (quota.c): 1 while the handler runs on the loop, whose
   * time counts against request_percentage; the throttle time the
   * response carries (its throttle_time_ms field, where it has one). */
  int quota_timed;
  int32_t quota_throttle_ms;
  int parked; /* in k->parked */
  kafka_req *prev, *next;
  /* Called when the connection closes while the request is parked: the
   * handler cancels what it can (timers, waiter lists). If it returns 1
   * the request is freed now; 0 means a callback still holds it and will
   * call kafka_respond(), which frees a dead request without replying. */
  int (*on_close)(kafka_req *r);
  void *hctx; /* handler state */
};

struct kafka_state {
  broker *b;
  kafka_req *parked; /* requests answered later */
  /* Parked fetches by the partitions they wait on (NULL without a loop):
   * an append wakes only those of its partition. */
  waitset *fetch_waits;
  char cluster_id[32];
  struct telemetry_state *telemetry; /* handle_telemetry.c, loop only */
  struct sasl_state *sasl;           /* sasl.c: credentials, mechanisms */
  struct quota_state *quotas;        /* quota.c, loop only */
  /* The ACLs when authorizer.class.name turns them on, else NULL
   * (authorizer_kafka.c; loop thread only). */
  struct authorizer *authz;
};

/* Drop one reference to s (NULL allowed); the last frees it. */
void kafka_session_release(kafka_session *s);

/* Encode `resp` (a struct of r->api->resp at r->version) with its response
 * header, send it, and free r. resp may be NULL only with error_only. */
void kafka_respond(kafka_req *r, const void *resp);
/* kafka_respond for a response whose records fields name files[ext - 1]
 * (kf_bytes.ext) instead of holding bytes: they are sent from the files
 * with sendfile. Takes ownership of every fd in files (the array itself
 * stays the caller's); a mismatch between fields and files closes the
 * connection. */
void kafka_respond_files(kafka_req *r, const void *resp, net_file *files,
                         size_t nfiles);
void kafka_respond_none(kafka_req *r);
void kafka_req_free(kafka_req *r);
void kafka_park(kafka_req *r, int (*on_close)(kafka_req *r));
void kafka_unpark(kafka_req *r);
/* For a request parked while another thread works for it (worker.c):
 * kafka_held_elsewhere is its on_close (the request stays until that work
 * is done); kafka_answer_parked, called on the loop once it is, runs
 * answer(r, arg) to build and send the reply (returning -1 closes the
 * connection unanswered), or only frees r if its connection closed. */
int kafka_held_elsewhere(kafka_req *r);
/* Park r and run fn(arg) on the worker's admin lane, then done(arg) on the loop
 * (which answers with kafka_answer_parked). 0, or -1 when out of memory
 * (r is not parked then). */
int kafka_run_on_worker(kafka_req *r, void (*fn)(void *arg),
                        void (*done)(void *arg), void *arg);
/* The same on a given lane that runs jobs one at a time (worker_submit_on). */
int kafka_run_on_lane(kafka_req *r, int lane, void (*fn)(void *arg),
                      void (*done)(void *arg), void *arg);
void kafka_answer_parked(kafka_req *r, int (*answer)(kafka_req *r, void *arg),
                         void *arg);
/* The worker lane of a transactional id (handle_txn.c): every call for the
 * id runs there, in arrival order, Produce's partition adds included. */
int kafka_txn_lane(const char *tid);

/* Kafka error code for an nd_* error (kafka_errors.c). */
int16_t kafka_err(int nd_rc);

/* Create `topic` if the broker auto-creates topics (0 if it exists now),
 * else ND_ENOTOPIC (also while the worker's admin lane is creating topics). */
int kafka_auto_create(kafka_req *r, const char *topic);

/* How kafka_topic_resolve looks a topic up (flags). */
enum {
  /* By its 16-byte id (the versions that name topics by id), not by name. */
  KAFKA_TOPIC_BY_ID = 1,
  /* A name breaking Kafka's rule (nd_topic_name_valid) is
   * INVALID_TOPIC_EXCEPTION; without this flag it is looked up, and so
   * unknown. */
  KAFKA_TOPIC_VALIDATE = 2,
  /* An unknown name is created if the broker auto-creates topics
   * (kafka_auto_create). */
  KAFKA_TOPIC_AUTO_CREATE = 4,
};

/* The one topic lookup of the handlers: the topic a request names, by id
 * (`id`, with KAFKA_TOPIC_BY_ID) or by `name`, into *info, and its name
 * into *name_out (NULL allowed; NULL on error). By name that is the
 * request's own string. By id it is copied into `arena`: r->arena to keep
 * it until r is freed, a shorter-lived arena for a lookup repeated while
 * r is parked (a long-poll Fetch builds each attempt in its own), or NULL
 * for info->name itself, valid while *info is (out of memory gives "",
 * an unknown topic, as before). Returns
 * KERR_NONE or the Kafka error to answer: UNKNOWN_TOPIC_ID for an unknown
 * id; for a name that is no usable C string (null, NUL inside),
 * `bad_name` (the handlers differ, as Kafka's do);
 * INVALID_TOPIC_EXCEPTION (KAFKA_TOPIC_VALIDATE); else kafka_err() of the
 * lookup (UNKNOWN_TOPIC_OR_PARTITION, or what auto-creation failed with).
 * Loop thread; KAFKA_TOPIC_AUTO_CREATE may create the topic there. */
int16_t kafka_topic_resolve(kafka_req *r, int flags, kf_str name,
                            const uint8_t id[16], int16_t bad_name,
                            nd_topic_info *info, kf_arena *arena,
                            const char **name_out);

/* A copy of s in r's arena, as a kf_str (null for NULL). */
kf_str kafka_str(kafka_req *r, const char *s);

/* A copy of the n bytes at s (which may hold NULs) in r's arena (null for
 * NULL). */
kf_str kafka_strn(kafka_req *r, const char *s, size_t n);

/* The calling thread's nd_errmsg() copied into r's arena, for the
 * error_message fields of responses. */
kf_str kafka_errmsg(kafka_req *r);

/* Is s a usable C string (not null, no NUL inside)? */
static inline int kafka_cstr_ok(kf_str s) {
  return s.ptr && s.len >= 0 && (size_t)s.len == __builtin_strlen(s.ptr);
}

/* Are a and b the same string (two nulls are)? */
static inline int kafka_str_eq(kf_str a, kf_str b) {
  return a.len == b.len &&
         (a.len <= 0 || __builtin_memcmp(a.ptr, b.ptr, (size_t)a.len) == 0);
}

/* Kafka's message for a topic name it refuses (its Topic.validate:
 * "Topic name is invalid: ..."), or a null string if name is valid. */
kf_str kafka_topic_name_error(kafka_req *r, const char *name);

/* Kafka topic settings that cannot change anything on one node, accepted
 * at their only value and listed read-only (handle_configs.c); the list
 * ends with {NULL, NULL}. */
typedef struct kafka_fixed_config {
  const char *name, *value;
} kafka_fixed_config;
extern const kafka_fixed_config kafka_fixed_configs[];

/* Apply one topic setting from a request to cfg. Returns 0, or a Kafka
 * error code with *msg set to say why. */
int16_t kafka_apply_config(kafka_req *r, nd_topic_config *cfg, kf_str name,
                           kf_str value, kf_str *msg);
/* INVALID_CONFIG with Kafka's message if `name` is segment.bytes or
 * log.segment.bytes and `value` is below the broker's least segment size
 * (--min-segment-bytes, Kafka's 1 MiB by default); 0 otherwise. */
int16_t kafka_check_segment_bytes(kafka_req *r, const char *name,
                                  const char *value, kf_str *msg);

/* Does DescribeConfigs resource q ask for config `name` (or for all)? */
int kafka_config_wanted(const kafka_describe_configs_request_resource *q,
                        const char *name);

/* Dynamic broker and group configs (dynconfig.c). dynconfig_init reads
 * DATA/broker.conf and applies it to b->cfg (after the flags were parsed,
 * before requests are served); 0, ND_ECORRUPT (message on stderr) or
 * -errno. dynconfig_fini frees the state. */
int dynconfig_init(broker *b);
void dynconfig_fini(broker *b);
/* The topic defaults of b->cfg's flags and DATA/broker.conf into *out,
 * before the store opens (so that no retention runs with other values);
 * errors as dynconfig_init. */
int dynconfig_topic_defaults(broker *b, nd_topic_config *out);
/* A group config set on GROUP `group` (IncrementalAlterConfigs), e.g.
 * consumer.session.timeout.ms, or NULL when it has none (the broker's
 * setting applies). Valid until the next config change; loop thread. */
const char *dynconfig_group_value(broker *b, const char *group,
                                  const char *name);
/* The broker config behind topic config `key` (log.retention.ms for
 * retention.ms) at each level that sets it, highest first (per-broker,
 * cluster default, flag; at most 3): its name, value (valid until the
 * next config change) and ConfigSource. Returns how many; 0 when none
 * does (the built-in default applies). Loop thread. */
int dynconfig_topic_levels(broker *b, const char *key, const char *names[3],
                           const char *values[3], int sources[3]);
/* Is `name` a broker config DescribeConfigs knows? */
int dynconfig_known(const char *name);
/* The topic defaults of a --config file (log.retention.ms, ...) that do
 * not parse: -1 with *bad and *value set, else 0. */
int dynconfig_static_check(const broker_props *props, const char **bad,
                           const char **value);
/* Does the topic set config `name` itself (DYNAMIC_TOPIC_CONFIG)? Its
 * overrides bit, or for Kafka's flush.* views a topic fsync that shows
 * through them. */
int kafka_topic_config_own(const nd_topic_config *cfg, const char *name);
/* The store's topic defaults: libnodata's overlaid with the broker-level
 * log.* settings (overrides 0). Valid until the next config change. */
const nd_topic_config *kafka_topic_defaults(broker *b);
/* AlterConfigs (incremental 0: configs are
 * kafka_alter_configs_request_alterable_config) or IncrementalAlterConfigs
 * (1: kafka_incremental_alter_configs_request_alterable_config) on one
 * BROKER or GROUP resource. Persists and applies unless validate_only.
 * Returns 0 or a Kafka error code with *msg set. */
int16_t dynconfig_alter(kafka_req *r, int8_t type, kf_str name, int incremental,
                        const void *configs, int32_t n, int validate_only,
                        kf_str *msg);
/* IncrementalAlterConfigs' APPEND (append 1) or SUBTRACT on a list
 * config's value: old's comma-separated items plus those of arg not in it
 * yet, or old's without those in arg. Allocated in r's arena; NULL when
 * out of memory. */
const char *kafka_list_op(kafka_req *r, const char *old, const char *arg,
                          int append);
/* DescribeConfigs of one BROKER or GROUP resource into res; -1 only when
 * out of memory. */
int dynconfig_describe(kafka_req *r, const kafka_describe_configs_request *req,
                       const kafka_describe_configs_request_resource *q,
                       kafka_describe_configs_response_result *res);

/* Where clients reach listener `listener` (r->session->listener). */
const char *kafka_advertised_host(broker *b, size_t listener);
int kafka_advertised_port(broker *b, size_t listener);
/* dynconfig.c's line escapes, for other files of the data directory:
 * percent-encode the bytes that would break a `name=value` line (spaces,
 * controls, '%', '='); decode in place (-1 on a bad escape). */
int kafka_conf_put_enc(FILE *f, const char *s);
int kafka_conf_decode(char *s);

/* Client quotas (quota.c): DATA/client-quotas, read at start (0, or
 * ND_ECORRUPT naming the file and line on stderr, or -errno); the
 * throttling state. quota_fini frees both. */
int quota_init(broker *b);
void quota_fini(broker *b);
/* What a quota measures (Kafka's QuotaType). */
enum { QUOTA_PRODUCE = 0, QUOTA_FETCH = 1, QUOTA_REQUEST = 2 };
/* Record `value` (bytes for PRODUCE and FETCH, request-handler time in
 * percent-seconds for REQUEST) against r's user and client id, as
 * Kafka's ClientQuotaManager does, and return the throttle time in ms (0
 * when within the quota or none applies). Does not mute: quota_mute
 * does. */
int32_t quota_record(kafka_req *r, int type, double value);
/* The most bytes a Fetch of r's may answer with under its
 * consumer_byte_rate: the quota times quota.window.num - 1 windows
 * (Kafka's getMaxValueInQuotaWindow); INT64_MAX without one. */
int64_t quota_fetch_max_bytes(kafka_req *r);
/* Take back what quota_record recorded (a throttled Fetch answers empty,
 * so its bytes were not sent, as Kafka unrecords them). */
void quota_unrecord(kafka_req *r, int type, double value);
/* Stop reading r's connection for ms (KIP-219: the client is answered at
 * once, with the throttle time, and then muted), and count it for the
 * metrics. */
void quota_mute(kafka_req *r, int type, int32_t ms);
/* The request quota: the loop time r took so far (since arrival, until it
 * is answered or parked) against request_percentage, once; a throttle
 * mutes the connection and goes into r->quota_throttle_ms. Then sets the
 * response's throttle_time_ms (where its version has one) to the larger
 * of what it holds and r->quota_throttle_ms. */
void quota_request_done(kafka_req *r, void *resp);
int handle_describe_client_quotas(kafka_req *r);
int handle_alter_client_quotas(kafka_req *r);

/* The finalized transaction.version: 1 or 2 (2 unless configured). */
int kafka_transaction_version(broker *b);

/* One log line at `level` (logline.h's BLOG_*) naming the client (its
 * address and client id) and the request; the component follows the API
 * (group, txn, admin, telemetry, kafka). extra are more JSON fields. */
void kafka_logx(kafka_req *r, int level, const blog_field *extra, size_t nextra,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
#define kafka_log(r, level, ...) kafka_logx(r, level, NULL, 0, __VA_ARGS__)
/* A refused topic operation (`what`: "create topic", ...) with its error
 * and message, at WARN (TOPIC_ALREADY_EXISTS at INFO); nothing if code is
 * 0. */
void kafka_log_refusal(kafka_req *r, const char *what, kf_str topic,
                       int16_t code, kf_str msg);
/* The same with the topic as a field. */
#define kafka_log_topic(r, level, topic, ...)                                  \
  kafka_logx(r, level, &BLOG_STR("topic", topic), 1, __VA_ARGS__)

/* ACL checks (authorizer_kafka.c over authorizer.h). kafka_authz_init
 * reads authorizer.class.name, super.users and
 * allow.everyone.if.no.acl.found and DATA/security/acls; 0, or
 * ND_ECORRUPT (a bad setting or file: logged, naming file and line; the
 * broker must not start then) or -ENOMEM. */
int kafka_authz_init(broker *b);
void kafka_authz_fini(broker *b);
/* Is an authorizer configured? */
static inline int kafka_authz_on(const kafka_req *r) {
  return r->k && r->k->authz != NULL;
}
/* May r's principal perform op (authorizer.h's ACL_OP_*) on the resource
 * (ACL_RES_*, name[0..len))? 1 or 0; always 1 without an authorizer. A
 * denial is logged at INFO as Kafka's authorizer logger does (principal,
 * operation, host, resource, API). */
int kafka_authorize(kafka_req *r, int res_type, const char *name, size_t len,
                    int op);
/* The same without the log line: for filtering what a principal may see
 * (Kafka's logIfDenied = false). */
int kafka_authorize_quiet(kafka_req *r, int res_type, const char *name,
                          size_t len, int op);
/* kafka_authorize for a kf_str name (a null one is ""). */
static inline int kafka_authorize_str(kafka_req *r, int res_type, kf_str name,
                                      int op) {
  return kafka_authorize(r, res_type, name.ptr ? name.ptr : "",
                         name.len > 0 ? (size_t)name.len : 0, op);
}
/* May r's principal perform op on the cluster? */
int kafka_authorize_cluster(kafka_req *r, int op);
/* Has r's principal op on some resource of the type (Kafka's
 * authorizeByResourceType: InitProducerId's WRITE on any topic)? */
int kafka_authorize_any(kafka_req *r, int res_type, int op);
/* The include_*_authorized_operations answer: of `all` (KAFKA_OPS_*), the
 * operations r's principal may perform on the resource. */
int32_t kafka_authorized_ops(kafka_req *r, int res_type, const char *name,
                             size_t len, int32_t all);

/* handle_telemetry.c: frees its KIP-714 client instances. */
void telemetry_fini(kafka_state *k);

/* Handlers. */
int handle_get_telemetry_subscriptions(kafka_req *r);
int handle_push_telemetry(kafka_req *r);
int handle_api_versions(kafka_req *r); /* kafka_api.c */
/* handle_metadata.c: the cluster and its topics */
int handle_metadata(kafka_req *r);
int handle_describe_cluster(kafka_req *r);
int handle_describe_log_dirs(kafka_req *r);
/* handle_produce.c, handle_fetch.c */
int handle_produce(kafka_req *r);
int handle_fetch(kafka_req *r);
/* handle_offsets.c: a partition's log offsets */
int handle_list_offsets(kafka_req *r);
int handle_offset_for_leader_epoch(kafka_req *r);
int handle_delete_records(kafka_req *r);
/* handle_topics.c */
int handle_create_topics(kafka_req *r);
int handle_delete_topics(kafka_req *r);
int handle_create_partitions(kafka_req *r);
/* handle_configs.c */
int handle_describe_configs(kafka_req *r);
int handle_alter_configs(kafka_req *r);
int handle_incremental_alter_configs(kafka_req *r);
/* handle_producers.c */
int handle_init_producer_id(kafka_req *r);
int handle_describe_producers(kafka_req *r);
/* handle_txn.c: the transaction APIs over the library's coordinator */
int handle_init_producer_id_txn(kafka_req *r);
int handle_add_partitions_to_txn(kafka_req *r);
int handle_add_offsets_to_txn(kafka_req *r);
int handle_end_txn(kafka_req *r);
int handle_txn_offset_commit(kafka_req *r);
int handle_describe_transactions(kafka_req *r);
int handle_list_transactions(kafka_req *r);
/* handle_acls.c */
int handle_describe_acls(kafka_req *r);
int handle_create_acls(kafka_req *r);
int handle_delete_acls(kafka_req *r);
/* authorizer_kafka.c: the same with the authorizer on. */
int kafka_describe_acls_on(kafka_req *r);
int kafka_create_acls_on(kafka_req *r);
int kafka_delete_acls_on(kafka_req *r);
/* The group coordinator's handlers and lifecycle are declared with it, in
 * group.h. */

/* waitset_wake_fn for k->fetch_waits (ctx is k): look at a parked fetch
 * again, answer it if it now has min_bytes. */
void fetch_wake(void *ctx, waiter *w);
void fetch_fini(kafka_state *k);

/* The API table, for ApiVersions. */
extern const kafka_api kafka_apis[];
extern const size_t kafka_api_count;

#endif
