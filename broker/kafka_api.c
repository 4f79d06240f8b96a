/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kafka_api.c — the Kafka protocol layer: the API table, request dispatch,
 * response framing and ApiVersions.
 *
 * Every API we serve is one row of kafka_apis[]: key, name, the advertised
 * version range, the generated request/response descriptors and the
 * handler. ApiVersions is built from this table, and the first flexible
 * version of each API comes from its schema, so advertising a new version
 * is a table edit once the generated descriptors cover it.
 *
 * Version ranges follow kafka-protocol.md: minima low enough for
 * librdkafka 2.0's feature checks (Produce is advertised from 0, but only
 * v3+ is served, as Kafka 4 does, KAFKA-18659), maxima at what Kafka 4.4
 * (the release kafka_msgs.h was generated from) advertises, so current
 * clients, the Java client included, negotiate their newest version and
 * kafka-python infers a recent broker release.
 *
 * A request at a version that is not served closes its connection with a
 * log line, as Kafka 4 does (checked against Kafka 4.4: OffsetCommit v1,
 * DescribeConfigs v0, Produce v0-2, Heartbeat v5, Metadata v14). An error
 * response would be worse: versions without a top-level error field would
 * read as success with nothing done. ApiVersions alone is answered, in the
 * v0 layout, so that a client can retry within our range.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "group.h"
#include "kafka.h"
#include "logline.h"
#include "sasl.h"
#include "tls.h"

#define API(key, name, lo, hi, msg, fn)                                        \
  {                                                                            \
    key, name, lo, hi, &kafka_##msg##_request_msg,                             \
        &kafka_##msg##_response_msg, fn, 0                                     \
  }

#define API_HIDDEN(key, name, lo, hi, msg, fn)                                 \
  {                                                                            \
    key, name, lo, hi, &kafka_##msg##_request_msg,                             \
        &kafka_##msg##_response_msg, fn, 1                                     \
  }

const kafka_api kafka_apis[] = {
    API(0, "Produce", 0, 13, produce, handle_produce),
    API(1, "Fetch", 4, 18, fetch, handle_fetch),
    API(2, "ListOffsets", 1, 11, list_offsets, handle_list_offsets),
    API(3, "Metadata", 0, 13, metadata, handle_metadata),
    API(8, "OffsetCommit", 2, 10, offset_commit, handle_offset_commit),
    API(9, "OffsetFetch", 1, 10, offset_fetch, handle_offset_fetch),
    API(10, "FindCoordinator", 0, 6, find_coordinator, handle_find_coordinator),
    API(11, "JoinGroup", 0, 9, join_group, handle_join_group),
    API(12, "Heartbeat", 0, 4, heartbeat, handle_heartbeat),
    API(13, "LeaveGroup", 0, 5, leave_group, handle_leave_group),
    API(14, "SyncGroup", 0, 5, sync_group, handle_sync_group),
    API(15, "DescribeGroups", 0, 6, describe_groups, handle_describe_groups),
    API(16, "ListGroups", 0, 5, list_groups, handle_list_groups),
    API(17, "SaslHandshake", 0, 1, sasl_handshake, handle_sasl_handshake),
    API(18, "ApiVersions", 0, 5, api_versions, handle_api_versions),
    API(19, "CreateTopics", 2, 7, create_topics, handle_create_topics),
    API(20, "DeleteTopics", 1, 6, delete_topics, handle_delete_topics),
    API(21, "DeleteRecords", 0, 2, delete_records, handle_delete_records),
    API(22, "InitProducerId", 0, 5, init_producer_id, handle_init_producer_id),
    API(23, "OffsetForLeaderEpoch", 2, 4, offset_for_leader_epoch,
        handle_offset_for_leader_epoch),
    API(24, "AddPartitionsToTxn", 0, 5, add_partitions_to_txn,
        handle_add_partitions_to_txn),
    API(25, "AddOffsetsToTxn", 0, 4, add_offsets_to_txn,
        handle_add_offsets_to_txn),
    API(26, "EndTxn", 0, 5, end_txn, handle_end_txn),
    API(28, "TxnOffsetCommit", 0, 6, txn_offset_commit,
        handle_txn_offset_commit),
    API(29, "DescribeAcls", 1, 3, describe_acls, handle_describe_acls),
    API(30, "CreateAcls", 1, 3, create_acls, handle_create_acls),
    API(31, "DeleteAcls", 1, 3, delete_acls, handle_delete_acls),
    API(32, "DescribeConfigs", 1, 4, describe_configs, handle_describe_configs),
    API(33, "AlterConfigs", 0, 2, alter_configs, handle_alter_configs),
    API(35, "DescribeLogDirs", 1, 5, describe_log_dirs,
        handle_describe_log_dirs),
    API(36, "SaslAuthenticate", 0, 2, sasl_authenticate,
        handle_sasl_authenticate),
    API(37, "CreatePartitions", 0, 3, create_partitions,
        handle_create_partitions),
    API(42, "DeleteGroups", 0, 3, delete_groups, handle_delete_groups),
    API(44, "IncrementalAlterConfigs", 0, 1, incremental_alter_configs,
        handle_incremental_alter_configs),
    API(47, "OffsetDelete", 0, 0, offset_delete, handle_offset_delete),
    API(50, "DescribeUserScramCredentials", 0, 0,
        describe_user_scram_credentials,
        handle_describe_user_scram_credentials),
    API(51, "AlterUserScramCredentials", 0, 0, alter_user_scram_credentials,
        handle_alter_user_scram_credentials),
    API(48, "DescribeClientQuotas", 0, 1, describe_client_quotas,
        handle_describe_client_quotas),
    API(49, "AlterClientQuotas", 0, 1, alter_client_quotas,
        handle_alter_client_quotas),
    API(60, "DescribeCluster", 0, 2, describe_cluster, handle_describe_cluster),
    API(61, "DescribeProducers", 0, 0, describe_producers,
        handle_describe_producers),
    API(65, "DescribeTransactions", 0, 0, describe_transactions,
        handle_describe_transactions),
    API(66, "ListTransactions", 0, 2, list_transactions,
        handle_list_transactions),
    API(68, "ConsumerGroupHeartbeat", 0, 1, consumer_group_heartbeat,
        handle_consumer_group_heartbeat),
    API(69, "ConsumerGroupDescribe", 0, 1, consumer_group_describe,
        handle_consumer_group_describe),
    /* Kafka 4.4 without a telemetry exporter plugin answers these but does
     * not advertise them (handle_telemetry.c). */
    API_HIDDEN(71, "GetTelemetrySubscriptions", 0, 0,
               get_telemetry_subscriptions, handle_get_telemetry_subscriptions),
    API_HIDDEN(72, "PushTelemetry", 0, 0, push_telemetry,
               handle_push_telemetry),
};
const size_t kafka_api_count = sizeof kafka_apis / sizeof kafka_apis[0];

static const kafka_api *find_api(int key) {
  for (size_t i = 0; i < kafka_api_count; i++)
    if (kafka_apis[i].key == key && kafka_apis[i].fn)
      return &kafka_apis[i];
  return NULL;
}

#define API_VERSIONS_KEY 18
#define PRODUCE_KEY 0
/* Produce v0-2 are advertised for librdkafka 2.0, which enables its codecs
 * only when v0 is in range (KAFKA-18659), but never served. */
#define PRODUCE_FIRST_SERVED 3

/* ---- logging and errors ------------------------------------------------- */

/* The component of a request's lines: what an operator filters by. */
static const char *api_component(int key) {
  switch (key) {
  case 8:
  case 9:
  case 10:
  case 11:
  case 12:
  case 13:
  case 14:
  case 15:
  case 16:
  case 42:
  case 47:
  case 68:
  case 69:
    return "group";
  case 22:
  case 24:
  case 25:
  case 26:
  case 28:
  case 61:
  case 65:
  case 66:
    return "txn";
  case 19:
  case 20:
  case 21:
  case 33:
  case 37:
  case 44:
  case 49:
    return "admin";
  case 71:
  case 72:
    return "telemetry";
  default:
    return "kafka";
  }
}

void kafka_logx(kafka_req *r, int level, const blog_field *extra, size_t nextra,
                const char *fmt, ...) {
  if (!blog_enabled(level))
    return;
  char msg[512], who[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* r->peer, not the connection's: this may run on the worker, or after
   * the connection closed. */
  const char *peer = r && r->peer[0] ? r->peer : "-";
  int idlen = r && r->client_id.ptr && r->client_id.len > 0
                  ? (r->client_id.len > 200 ? 200 : r->client_id.len)
                  : 0;
  const char *api = r && r->api ? r->api->name : "?";
  int version = r ? r->version : -1;
  if (idlen)
    snprintf(who, sizeof who, "%s client_id=%.*s", peer, idlen,
             r->client_id.ptr);
  else
    snprintf(who, sizeof who, "%s", peer);
  blog_field f[12];
  size_t nf = 0;
  f[nf++] = BLOG_STR("client_addr", peer);
  if (idlen)
    f[nf++] = BLOG_STRN("client_id", r->client_id.ptr, idlen);
  f[nf++] = BLOG_STR("api", api);
  f[nf++] = BLOG_NUM("api_version", version);
  for (size_t i = 0; i < nextra && nf < sizeof f / sizeof f[0]; i++)
    f[nf++] = extra[i];
  blog(level, api_component(r && r->api ? r->api->key : -1), f, nf,
       "%s: %s v%d: %s", who, api, version, msg);
}

void kafka_log_refusal(kafka_req *r, const char *what, kf_str topic,
                       int16_t code, kf_str msg) {
  if (!code)
    return;
  /* An existing topic is what idempotent tooling meets on every run. */
  int level = code == KERR_TOPIC_ALREADY_EXISTS ? BLOG_INFO : BLOG_WARN;
  int tl = topic.ptr && topic.len > 0 ? (topic.len > 255 ? 255 : topic.len) : 0;
  int ml = msg.ptr && msg.len > 0 ? (msg.len > 300 ? 300 : msg.len) : 0;
  blog_field f[2] = {BLOG_STRN("topic", tl ? topic.ptr : "", tl),
                     BLOG_STR("error", kafka_err_name(code)
                                           ? kafka_err_name(code)
                                           : "UNKNOWN")};
  kafka_logx(r, level, f, 2, "%s %.*s refused: " KAFKA_ERR_FMT "%s%.*s", what,
             tl, tl ? topic.ptr : "", KAFKA_ERR_ARGS(code), ml ? ": " : "", ml,
             ml ? msg.ptr : "");
}

int kafka_auto_create(kafka_req *r, const char *topic) {
  if (!r->b->cfg.auto_create)
    return ND_ENOTOPIC;
  /* With ACLs, creating needs CREATE on the cluster or the topic (as
   * Kafka's auto-creation and CreateTopics check). */
  if (kafka_authz_on(r) &&
      !kafka_authorize_quiet(r, ACL_RES_CLUSTER, ACL_CLUSTER_NAME,
                             sizeof ACL_CLUSTER_NAME - 1, ACL_OP_CREATE) &&
      !kafka_authorize(r, ACL_RES_TOPIC, topic, strlen(topic), ACL_OP_CREATE))
    return ND_ENOTOPIC;
  /* The store creates topics one at a time: while the worker creates
   * (Metadata's auto-creation, CreateTopics), creating here would hold the
   * loop until it is done. UNKNOWN_TOPIC_OR_PARTITION is retriable, and
   * the client's metadata refresh creates the topic on the worker. */
  if (worker_busy(r->b->worker, WORKER_LANE_ADMIN))
    return ND_ENOTOPIC;
  int32_t n =
      r->b->cfg.default_partitions > 0 ? r->b->cfg.default_partitions : 1;
  int rc = nd_topic_create(r->b->store, topic, n, NULL); /* no overrides */
  if (rc == 0)
    kafka_log_topic(r, BLOG_INFO, topic,
                    "created topic %s with %d partition(s)", topic, n);
  return rc == ND_ETOPICEXISTS ? 0 : rc;
}

int16_t kafka_topic_resolve(kafka_req *r, int flags, kf_str name,
                            const uint8_t id[16], int16_t bad_name,
                            nd_topic_info *info, kf_arena *arena,
                            const char **name_out) {
  nd_store *store = r->b->store;
  const char *found = NULL;
  int16_t err = KERR_NONE;
  if (flags & KAFKA_TOPIC_BY_ID) {
    if (nd_topic_by_id(store, id, info) != 0)
      err = KERR_UNKNOWN_TOPIC_ID;
    else if (!arena)
      found = info->name;
    else if (!(found = kf_strndup(arena, info->name, strlen(info->name))))
      found = "";
  } else if (!kafka_cstr_ok(name)) {
    err = bad_name;
  } else if ((flags & KAFKA_TOPIC_VALIDATE) &&
             nd_topic_name_valid(name.ptr) != 0) {
    err = KERR_INVALID_TOPIC_EXCEPTION;
  } else {
    int rc = nd_topic_describe(store, name.ptr, info);
    if (rc == ND_ENOTOPIC && (flags & KAFKA_TOPIC_AUTO_CREATE) &&
        (rc = kafka_auto_create(r, name.ptr)) == 0)
      rc = nd_topic_describe(store, name.ptr, info);
    err = kafka_err(rc);
    found = name.ptr;
  }
  if (name_out)
    *name_out = err ? NULL : found;
  return err;
}

/* ---- request life ------------------------------------------------------- */

/* The arena, then the frame its views point into. */
void kafka_session_release(kafka_session *s) {
  if (!s || --s->refs > 0)
    return;
  if (s->on_free)
    s->on_free(s);
  free(s);
}

/* The connection's session, made on its first request. */
static kafka_session *session_of(broker *b, net_conn *conn) {
  kafka_session *s = net_conn_data(conn);
  if (s)
    return s;
  s = calloc(1, sizeof *s);
  if (!s) {
    net_conn_set_error(conn, "out of memory");
    return NULL;
  }
  s->refs = 1; /* the connection's own, dropped when it closes */
  s->listener = net_conn_listener(conn);
  if (s->listener >= b->cfg.nlisteners)
    s->listener = 0;
  s->protocol = b->cfg.nlisteners ? b->cfg.listeners[s->listener].protocol
                                  : SEC_PLAINTEXT;
  s->authenticated = s->protocol == SEC_PLAINTEXT || s->protocol == SEC_SSL;
  snprintf(s->principal, sizeof s->principal, "User:ANONYMOUS");
  /* Kafka's DefaultKafkaPrincipalBuilder on an SSL listener: the verified
   * client certificate's subject (RFC 2253), else ANONYMOUS. */
  const char *subject = net_conn_tls_subject(conn);
  if (s->protocol == SEC_SSL && subject) {
    /* ssl.principal.mapping.rules; none applying fails authentication. */
    char name[sizeof s->principal - 5], why[600];
    const char *rules =
        net_tls_prop(b->cfg.props, b->cfg.listeners[s->listener].name,
                     "ssl.principal.mapping.rules");
    if (net_tls_map_principal(rules, subject, name, sizeof name, why,
                              sizeof why) < 0) {
      net_conn_set_error(conn, why);
      free(s);
      return NULL;
    }
    snprintf(s->principal, sizeof s->principal, "User:%s", name);
    blog(BLOG_DEBUG, "kafka", &BLOG_STR("client_addr", net_conn_peer(conn)), 1,
         "%s: session principal %s (client certificate %s)",
         net_conn_peer(conn), s->principal, subject);
  }
  /* The peer is "host:port" or "[v6]:port". */
  const char *peer = net_conn_peer(conn);
  const char *colon = strrchr(peer, ':');
  size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
  if (n >= 2 && peer[0] == '[' && peer[n - 1] == ']') {
    peer++;
    n -= 2;
  }
  if (n >= sizeof s->host)
    n = sizeof s->host - 1;
  memcpy(s->host, peer, n);
  s->host[n] = 0;
  net_conn_set_data(conn, s);
  return s;
}

static void req_release(kafka_req *r) {
  kafka_session_release(r->session);
  kf_arena_free(&r->arena);
  net_frame_free(r->frame);
  free(r);
}

void kafka_req_free(kafka_req *r) {
  if (!r)
    return;
  if (r->parked)
    kafka_unpark(r);
  req_release(r);
}

void kafka_park(kafka_req *r, int (*on_close)(kafka_req *r)) {
  kafka_state *k = r->k;
  quota_request_done(r, NULL); /* waiting is not loop time */
  r->on_close = on_close;
  r->parked = 1;
  r->prev = NULL;
  r->next = k->parked;
  if (k->parked)
    k->parked->prev = r;
  k->parked = r;
}

void kafka_unpark(kafka_req *r) {
  if (!r->parked)
    return;
  if (r->prev)
    r->prev->next = r->next;
  else
    r->k->parked = r->next;
  if (r->next)
    r->next->prev = r->prev;
  r->prev = r->next = NULL;
  r->parked = 0;
}

int kafka_held_elsewhere(kafka_req *r) {
  (void)r;
  return 0;
}

int kafka_run_on_worker(kafka_req *r, void (*fn)(void *arg),
                        void (*done)(void *arg), void *arg) {
  return kafka_run_on_lane(r, WORKER_LANE_ADMIN, fn, done, arg);
}

int kafka_run_on_lane(kafka_req *r, int lane, void (*fn)(void *arg),
                      void (*done)(void *arg), void *arg) {
  kafka_park(r, kafka_held_elsewhere);
  if (worker_submit_on(r->b->worker, lane, fn, done, arg) != 0) {
    kafka_unpark(r);
    return -1;
  }
  return 0;
}

void kafka_answer_parked(kafka_req *r, int (*answer)(kafka_req *r, void *arg),
                         void *arg) {
  if (r->dead) {
    kafka_respond_none(r); /* frees it */
    return;
  }
  kafka_unpark(r);
  if (answer(r, arg) != 0) {
    net_conn_close(r->conn, "out of memory answering a request");
    kafka_respond_none(r);
  }
}

/* The version the response body is encoded at: the request's, or for a
 * version outside what we know, the nearest one the schema defines. */
static int resp_version(const kafka_req *r) {
  int v = r->version;
  if (v < r->api->resp->vmin)
    v = r->api->resp->vmin;
  if (v > r->api->resp->vmax)
    v = r->api->resp->vmax;
  return v;
}

static void close_files(net_file *files, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (files[i].fd >= 0)
      close(files[i].fd);
}

void kafka_respond_files(kafka_req *r, const void *resp, net_file *files,
                         size_t nfiles) {
  if (r->dead) {
    close_files(files, nfiles);
    kafka_req_free(r);
    return;
  }
  quota_request_done(r, (void *)resp);
  int v = resp_version(r);
  /* ApiVersions always answers with header v0 so that a client can read
   * the error of a version it guessed too high (KIP-511). */
  int hdr_tags =
      r->api->key != API_VERSIONS_KEY && kf_flexible(r->api->req, r->version);
  /* Size first, then one allocation: a fetch response is mostly record
   * bytes, and growing the buffer would copy them again. */
  kf_buf b = {0};
  b.count_only = 1;
  kf_encode(r->api->resp, v, resp, &b);
  size_t need = 8 + (size_t)hdr_tags + b.len;
  b = (kf_buf){0};
  b.on_error = metrics_error;
  b.on_error_key = r->api->key;
  b.data = malloc(need);
  b.cap = b.data ? need : 0;
  kf_put_i32(&b, 0); /* size, patched below */
  kf_put_i32(&b, r->correlation_id);
  if (hdr_tags)
    kf_put_uvarint(&b, 0);
  kf_encode(r->api->resp, v, resp, &b);
  /* Every file is spliced in exactly once, in the encoder's order, and
   * the holes add up to the files' lengths. */
  net_file *parts = NULL;
  size_t moved = 0, file_bytes = 0;
  const char *why = NULL;
  if (b.failed || (nfiles && !(parts = malloc(nfiles * sizeof *parts))))
    why = "cannot build the response (out of memory)";
  else if (b.nholes != nfiles)
    why = "response parts do not match its files";
  for (size_t i = 0; !why && i < nfiles; i++) {
    int32_t id = b.holes[i].ext;
    if (id < 0 || (size_t)id >= nfiles || files[id].fd < 0) {
      why = "response parts do not match its files";
      break;
    }
    parts[moved] = files[id];
    parts[moved].at = b.holes[i].at;
    moved++;
    file_bytes += files[id].len;
    files[id].fd = -1;
  }
  if (!why && file_bytes != b.ext_len)
    why = "response parts do not match its files";
  if (!why && b.len - 4 + b.ext_len > INT32_MAX)
    why = "response over 2 GiB";
  if (why) {
    close_files(parts, moved);
    free(parts);
    close_files(files, nfiles);
    kf_buf_free(&b);
    kafka_log(r, BLOG_ERROR, "%s", why);
    net_conn_close(r->conn, "cannot build a response");
    net_reply_none(r->conn, r->nreq);
    kafka_req_free(r);
    return;
  }
  uint32_t n = (uint32_t)(b.len - 4 + b.ext_len);
  b.data[0] = (uint8_t)(n >> 24);
  b.data[1] = (uint8_t)(n >> 16);
  b.data[2] = (uint8_t)(n >> 8);
  b.data[3] = (uint8_t)n;
  free(b.holes);
  metrics_request(r->api->key, r->version, r->start_ns);
  if (nfiles)
    net_reply_files(r->conn, r->nreq, b.data, b.len, parts, nfiles);
  else
    net_reply(r->conn, r->nreq, b.data, b.len);
  kafka_req_free(r);
}

void kafka_respond(kafka_req *r, const void *resp) {
  kafka_respond_files(r, resp, NULL, 0);
}

void kafka_respond_none(kafka_req *r) {
  if (!r->dead) {
    quota_request_done(r, NULL); /* acks=0 uses the loop too */
    metrics_request(r->api->key, r->version, r->start_ns);
    net_reply_none(r->conn, r->nreq);
  }
  kafka_req_free(r);
}

/* ---- ApiVersions -------------------------------------------------------- */

/* ApiVersions v5 (KIP-1242) names the cluster and node the client means to
 * reach, both or neither. Kafka 4.4 answers INVALID_REQUEST when only one
 * is given (a null ClusterId counts as not given, an empty one as given) and
 * REBOOTSTRAP_REQUIRED when they are not this broker's, so that a client
 * whose address now reaches another broker re-bootstraps; the connection
 * stays open. Returns that error, or 0. */
static int16_t expected_node_error(kafka_req *r) {
  /* A version above ours was not decoded (no body): it gets the v0 answer. */
  if (r->version < 5 || r->version > r->api->max || !r->body)
    return KERR_NONE;
  const kafka_api_versions_request *req = r->body;
  int has_cluster = req->cluster_id.ptr && req->cluster_id.len >= 0;
  int has_node = req->node_id != -1;
  if (has_cluster != has_node)
    return KERR_INVALID_REQUEST;
  if (has_cluster && ((size_t)req->cluster_id.len != strlen(r->k->cluster_id) ||
                      memcmp(req->cluster_id.ptr, r->k->cluster_id,
                             (size_t)req->cluster_id.len) != 0 ||
                      req->node_id != r->b->cfg.node_id))
    return KERR_REBOOTSTRAP_REQUIRED;
  return KERR_NONE;
}

/* The features that mean something here, as a fresh Kafka 4.4 KRaft
 * cluster answers them: transaction.version (KIP-890, KIP-1022),
 * supported 0-2, finalized at 2 (or at what --transaction-version says),
 * so that clients able to speak Transactions V2 (the Java producer 4.x)
 * do and older ones use V1; group.version (KIP-848's consumer groups),
 * supported 0-1, finalized at 1: ConsumerGroupHeartbeat is served. A v3
 * request gets no supported feature whose minimum is 0, as Kafka leaves
 * them out for v3 (older clients choked on a range starting at 0,
 * KIP-1022); the finalized levels are sent at every version from 3. The
 * epoch is 0: clients take the finalized set of the highest epoch they
 * have seen, starting from -1. */
static int add_features(kafka_req *r, kafka_api_versions_response *resp) {
  if (r->version < 3)
    return 0;
  struct {
    const char *name;
    int16_t max, level;
  } f[] = {
      {"group.version", 1, 1},
      {"transaction.version", 2, (int16_t)kafka_transaction_version(r->b)},
  };
  enum { NF = sizeof f / sizeof f[0] };
  if (r->version >= 4) {
    kafka_api_versions_response_supported_feature_key *sup = kf_new_array(
        &r->arena, &kafka_api_versions_response_supported_feature_key_desc, NF);
    if (!sup)
      return -1;
    for (int i = 0; i < NF; i++) {
      sup[i].name = kf_s(f[i].name);
      sup[i].min_version = 0;
      sup[i].max_version = f[i].max;
    }
    resp->supported_features.items = sup;
    resp->supported_features.count = NF;
  }
  kafka_api_versions_response_finalized_feature_key *fin = kf_new_array(
      &r->arena, &kafka_api_versions_response_finalized_feature_key_desc, NF);
  if (!fin)
    return -1;
  for (int i = 0; i < NF; i++) {
    fin[i].name = kf_s(f[i].name);
    fin[i].min_version_level = f[i].level;
    fin[i].max_version_level = f[i].level;
  }
  resp->finalized_features.items = fin;
  resp->finalized_features.count = NF;
  resp->finalized_features_epoch = 0;
  return 0;
}

int handle_api_versions(kafka_req *r) {
  kafka_api_versions_response *resp =
      kf_new(&r->arena, &kafka_api_versions_response_desc);
  int16_t refused = expected_node_error(r);
  if (refused) {
    /* As Kafka: the error and no API keys. */
    if (!resp)
      return -1;
    resp->error_code = refused;
    kafka_respond(r, resp);
    return 0;
  }
  kafka_api_versions_response_api_version *keys =
      kf_new_array(&r->arena, &kafka_api_versions_response_api_version_desc,
                   (int32_t)kafka_api_count);
  if (!resp || !keys)
    return -1;
  int32_t n = 0;
  /* A client that guessed too high gets only ApiVersions' own range, as
   * Kafka answers; it retries within it and then learns the rest. */
  int guessed_high = r->version > r->api->max;
  for (size_t i = 0; i < kafka_api_count; i++) {
    if (!kafka_apis[i].fn || kafka_apis[i].hidden ||
        (guessed_high && kafka_apis[i].key != API_VERSIONS_KEY))
      continue;
    keys[n].api_key = kafka_apis[i].key;
    keys[n].min_version = kafka_apis[i].min;
    keys[n].max_version = kafka_apis[i].max;
    n++;
  }
  resp->api_keys.items = keys;
  resp->api_keys.count = n;
  if (!guessed_high && add_features(r, resp) < 0)
    return -1;
  if (guessed_high) {
    /* In the v0 layout, which every client can read. */
    resp->error_code = KERR_UNSUPPORTED_VERSION;
    r->version = 0;
  }
  kafka_respond(r, resp);
  return 0;
}

/* ---- dispatch ----------------------------------------------------------- */

int kafka_handle_request(void *ctx, net_conn *conn, net_req *req,
                         net_frame *fr) {
  broker *b = ctx;
  /* After a SaslHandshake v0, frames are bare SASL tokens (sasl.c). */
  if (sasl_raw_pending(conn))
    return sasl_raw_token(b, conn, req, fr);
  const uint8_t *frame = fr->data;
  size_t len = fr->len;
  if (len < 8) {
    net_frame_free(fr);
    net_conn_set_error(conn, "request shorter than a request header");
    return -1;
  }
  int key = (int16_t)(frame[0] << 8 | frame[1]);
  int version = (int16_t)(frame[2] << 8 | frame[3]);
  const kafka_api *api = find_api(key);
  if (!api) {
    char why[96];
    snprintf(why, sizeof why, "unknown or unsupported API key %d (v%d)", key,
             version);
    net_frame_free(fr);
    net_conn_set_error(conn, why);
    return -1;
  }
  kafka_req *r = calloc(1, sizeof *r);
  if (!r) {
    net_frame_free(fr);
    net_conn_set_error(conn, "out of memory");
    return -1;
  }
  /* From here on the frame goes with r (kafka_req_free). */
  r->frame = fr;
  r->session = session_of(b, conn);
  if (!r->session) {
    kafka_req_free(r); /* session_of said why */
    return -1;
  }
  r->session->refs++;
  r->b = b;
  r->k = b->kafka;
  r->conn = conn;
  r->nreq = req;
  r->api = api;
  r->version = (int16_t)version;
  snprintf(r->peer, sizeof r->peer, "%s", net_conn_peer(conn));
  r->start_ns = metrics_now_ns();

  kf_cur c = {frame, frame + len};
  int flex = version >= api->req->flex_min;
  kafka_request_header *h =
      kf_decode(&kafka_request_header_msg, flex ? 2 : 1, &c, &r->arena);
  if (!h) {
    kafka_req_free(r);
    net_conn_set_error(conn, "malformed request header");
    return -1;
  }
  r->correlation_id = h->correlation_id;
  r->client_id = h->client_id;

  /* A SASL listener serves only authentication until it is done. */
  char gate_why[160];
  if (sasl_gate(r, key, gate_why, sizeof gate_why) < 0) {
    kafka_req_free(r);
    net_conn_set_error(conn, gate_why);
    return -1;
  }

  int16_t served_min = key == PRODUCE_KEY ? PRODUCE_FIRST_SERVED : api->min;
  if (version < served_min || version > api->max) {
    if (key == API_VERSIONS_KEY)
      return handle_api_versions(r);
    char why[160];
    snprintf(why, sizeof why,
             "%s v%d is not served (v%d-%d): connection closed, as Kafka does",
             api->name, version, served_min, api->max);
    kafka_req_free(r);
    net_conn_set_error(conn, why);
    return -1;
  }

  /* Decoded structs can be several times larger than their bytes (a
   * one-character topic name takes 3 bytes on the wire and ~48 decoded), so
   * bound what a hostile request can make us allocate; what the handler
   * allocates for the response afterwards is not limited. */
  r->arena.limit = r->arena.total + ((size_t)64 << 20) + 2 * len;
  r->body = kf_decode(api->req, version, &c, &r->arena);
  r->arena.limit = 0;
  if (!r->body) {
    char why[128];
    snprintf(why, sizeof why, "malformed (or oversized) %s v%d request",
             api->name, version);
    kafka_req_free(r);
    net_conn_set_error(conn, why);
    return -1;
  }
  r->quota_timed = 1;
  int rc = api->fn(r);
  if (rc < 0) {
    /* The handler did not answer and could not: drop the connection. */
    char why[128];
    snprintf(why, sizeof why, "cannot answer %s v%d (out of memory)", api->name,
             version);
    kafka_req_free(r);
    net_conn_set_error(conn, why);
    return -1;
  }
  return 0;
}

void kafka_conn_closed(void *ctx, net_conn *conn) {
  broker *b = ctx;
  kafka_session *s = net_conn_data(conn);
  net_conn_set_data(conn, NULL);
  kafka_session_release(s);
  kafka_state *k = b->kafka;
  if (!k)
    return;
  kafka_req *r = k->parked;
  while (r) {
    kafka_req *next = r->next;
    if (r->conn == conn && !r->dead) {
      r->dead = 1;
      if (!r->on_close || r->on_close(r))
        kafka_req_free(r);
    }
    r = next;
  }
}

void kafka_on_append(void *ctx, const char *topic, int32_t partition,
                     int64_t high_watermark) {
  (void)high_watermark;
  broker *b = ctx;
  kafka_state *k = b ? b->kafka : NULL;
  /* Possibly on another thread than the loop's, and inside an append:
   * only mark the partition; its fetches are looked at on the loop. */
  if (k && k->fetch_waits)
    waitset_notify(k->fetch_waits, topic, partition);
}

/* ---- init --------------------------------------------------------------- */

int kafka_init(broker *b) {
  kafka_state *k = calloc(1, sizeof *k);
  if (!k)
    return -ENOMEM;
  k->b = b;
  if (b->loop && waitset_new(b->loop, fetch_wake, k, &k->fetch_waits) != 0) {
    free(k);
    return -ENOMEM;
  }
  /* Tools tell clusters apart by id: derive a stable one from where the
   * data lives, so two brokers on two data directories differ. */
  char real[4096], hex[65];
  const char *dir = b->cfg.data_dir ? b->cfg.data_dir : ".";
  nd_topic_dirname(realpath(dir, real) ? real : dir, hex);
  snprintf(k->cluster_id, sizeof k->cluster_id, "nodata-%.22s", hex);
  b->kafka = k;
  int rc = dynconfig_init(b);
  if (rc == 0)
    rc = sasl_init(b);
  if (rc == 0)
    rc = quota_init(b);
  if (rc == 0)
    rc = kafka_authz_init(b);
  if (rc == 0)
    rc = group_init(b);
  if (rc == 0)
    rc = cgroup_init(b);
  if (rc != 0) {
    cgroup_fini(b);
    group_fini(b);
    sasl_fini(b);
    quota_fini(b);
    kafka_authz_fini(b);
    waitset_free(k->fetch_waits);
    dynconfig_fini(b);
    free(k);
    b->kafka = NULL;
    return rc;
  }
  return 0;
}

void kafka_fini(broker *b) {
  kafka_state *k = b->kafka;
  if (!k)
    return;
  fetch_fini(k);
  telemetry_fini(k);
  cgroup_fini(b);
  group_fini(b);
  sasl_fini(b);
  dynconfig_fini(b);
  quota_fini(b);
  kafka_authz_fini(b);
  while (k->parked) {
    kafka_req *r = k->parked;
    kafka_unpark(r);
    req_release(r);
  }
  waitset_free(k->fetch_waits);
  free(k);
  b->kafka = NULL;
}

/* ---- helpers for the handlers ------------------------------------------ */

kf_str kafka_strn(kafka_req *r, const char *s, size_t n) {
  if (!s)
    return kf_null_str();
  kf_str out = {kf_strndup(&r->arena, s, n), (int32_t)n};
  if (!out.ptr)
    out = kf_s("");
  return out;
}

kf_str kafka_str(kafka_req *r, const char *s) {
  return kafka_strn(r, s, s ? strlen(s) : 0);
}

kf_str kafka_errmsg(kafka_req *r) {
  const char *m = nd_errmsg();
  return m && *m ? kafka_str(r, m) : kf_null_str();
}

kf_str kafka_topic_name_error(kafka_req *r, const char *name) {
  if (nd_topic_name_valid(name) == 0)
    return kf_null_str();
  /* nd_topic_name_valid's rules are Kafka's; only the words differ. */
  char buf[600];
  size_t len = strlen(name);
  if (len == 0)
    snprintf(buf, sizeof buf, "the empty string is not allowed");
  else if (!strcmp(name, ".") || !strcmp(name, ".."))
    snprintf(buf, sizeof buf, "'%s' is not allowed", name);
  else if (len > ND_TOPIC_NAME_MAX)
    snprintf(buf, sizeof buf,
             "the length of '%s' is longer than the max allowed length %d",
             name, ND_TOPIC_NAME_MAX);
  else
    snprintf(buf, sizeof buf,
             "'%s' contains one or more characters other than ASCII "
             "alphanumerics, '.', '_' and '-'",
             name);
  char msg[640];
  snprintf(msg, sizeof msg, "Topic name is invalid: %s", buf);
  return kafka_str(r, msg);
}

/* Kafka answers Metadata, FindCoordinator and DescribeCluster with the
 * endpoint of the listener the request came in on, so a client that
 * bootstrapped on one listener stays on it. serve.c fills every
 * listener's advertised address once bound; before that (and for a
 * broker made without serve.c) the --listen/--advertise fields. */
const char *kafka_advertised_host(broker *b, size_t listener) {
  if (listener < b->cfg.nlisteners && b->cfg.listeners[listener].adv_host[0])
    return b->cfg.listeners[listener].adv_host;
  if (b->cfg.advertise_host[0])
    return b->cfg.advertise_host;
  if (b->cfg.listen_host[0])
    return b->cfg.listen_host;
  return "127.0.0.1";
}

int kafka_transaction_version(broker *b) {
  return b->cfg.transaction_version == 1 ? 1 : 2;
}

int kafka_advertised_port(broker *b, size_t listener) {
  if (listener < b->cfg.nlisteners && b->cfg.listeners[listener].adv_port > 0)
    return b->cfg.listeners[listener].adv_port;
  if (b->cfg.advertise_port > 0)
    return b->cfg.advertise_port;
  if (b->cfg.listen_port > 0)
    return b->cfg.listen_port;
  return b->loop ? net_loop_port(b->loop) : 9092;
}
