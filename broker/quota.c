/* SPDX-License-Identifier: Apache-2.0 */
/*
 * quota.c — client quotas as Kafka defines them (KIP-13, KIP-55,
 * KIP-124, KIP-219, KIP-546): the quota entities and their values,
 * DescribeClientQuotas and AlterClientQuotas, DATA/client-quotas, and
 * the throttling of clients over their quota.
 *
 * An entity is a user, a client id, both, or an IP address; each part is
 * a name or <default> (a null name on the wire). The keys are Kafka's:
 * producer_byte_rate, consumer_byte_rate (whole numbers), request_percentage
 * and controller_mutation_rate (fractional allowed) for user/client-id
 * entities, connection_creation_rate for IP entities. Validation and its
 * error texts are Kafka 4.4's (ClientQuotaControlManager), checked by
 * tests/compat/test_client_quotas.py against a real broker.
 *
 * Which quota applies to a request is Kafka's order (docs "Quotas"), per
 * key, first match wins:
 *   1 user=U, client-id=C     5 user=<default>, client-id=<default>
 *   2 user=U, client-id=<d>   6 user=<default>
 *   3 user=U                  7 client-id=C
 *   4 user=<d>, client-id=C   8 client-id=<default>
 * U is the principal's name (User:NAME without "User:"), C the request
 * header's client id. Clients matched by the same level share one rate
 * (Kafka's metric tags): a user-level quota is shared by all that user's
 * clients, a <default> one is per user (or per client id).
 *
 * Rates are Kafka's Rate over quota.window.num (11) samples of
 * quota.window.size.seconds (1 s), and over quota the throttle time is
 * (rate - quota) / quota * window, at most the whole window span, as
 * ClientQuotaManager computes it. The connection is then not read for
 * that long (KIP-219: answered at once with throttle_time_ms, then
 * muted). connection_creation_rate is stored and described, not
 * enforced (docs/limits.md).
 *
 * Loop thread only: the handlers, quota_record and the file.
 */
#include <errno.h>
#include <math.h> /* isfinite: a macro, no libm */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "kafka.h"

#define QUOTA_FILE "client-quotas"
#define QUOTA_HEADER "# nodata client quotas v1"
#define WINDOW_MS 1000               /* quota.window.size.seconds */
#define SAMPLES 11                   /* quota.window.num */
#define SENSOR_IDLE_MS (3600 * 1000) /* Kafka expires quota sensors at 1 h */
#define SENSOR_BUCKETS 1024

/* Entity parts, in the order Kafka's describe names them. */
enum { P_USER = 0, P_CLIENT = 1, P_IP = 2, NPARTS = 3 };
static const char *const part_name[NPARTS] = {"user", "client-id", "ip"};

/* The quota keys. `integral`: Kafka's LONG/INT config (no fraction). */
enum { K_PRODUCE, K_CONSUME, K_REQUEST, K_MUTATION, K_CONN, NKEYS };
static const struct {
  const char *name;
  int ip;       /* 1: for IP entities only; 0: user/client-id only */
  int integral; /* 0 DOUBLE, 1 LONG, 2 INT */
} keys[NKEYS] = {
    {"producer_byte_rate", 0, 1},       {"consumer_byte_rate", 0, 1},
    {"request_percentage", 0, 0},       {"controller_mutation_rate", 0, 0},
    {"connection_creation_rate", 1, 2},
};

typedef struct qentity {
  int has[NPARTS];      /* the part is in the entity */
  char *name[NPARTS];   /* NULL = <default> */
  unsigned set;         /* bit k: values[k] is set */
  double values[NKEYS]; /* the quotas */
} qentity;

/* One rate: Kafka's SampledStat of SAMPLES windows. */
typedef struct sensor {
  struct sensor *next;
  int type;            /* QUOTA_* */
  char *user, *client; /* the metric tags ("" = not part of the key) */
  int64_t start[SAMPLES];
  double value[SAMPLES];
  int cur;
  int64_t last_ms;
  double throttle_ms_total;
} sensor;

typedef struct quota_state {
  qentity *e;
  size_t n, cap;
  unsigned keys_any; /* bit k: some entity sets key k (a fast no) */
  /* By (type, user, client): a client inventing client ids cannot make
   * each lookup walk all the others. */
  sensor *sensors[SENSOR_BUCKETS];
  size_t nsensors;
  int64_t last_sweep_ms;
} quota_state;

static quota_state *qs(broker *b) {
  kafka_state *k = b->kafka;
  return k ? k->quotas : NULL;
}

static int str_eq_null(const char *a, const char *b) {
  return (!a && !b) || (a && b && !strcmp(a, b));
}

static int entity_same(const qentity *a, const qentity *b) {
  for (int p = 0; p < NPARTS; p++)
    if (a->has[p] != b->has[p] ||
        (a->has[p] && !str_eq_null(a->name[p], b->name[p])))
      return 0;
  return 1;
}

static void entity_free(qentity *e) {
  for (int p = 0; p < NPARTS; p++)
    free(e->name[p]);
}

static void keys_any_update(quota_state *q) {
  q->keys_any = 0;
  for (size_t i = 0; i < q->n; i++)
    q->keys_any |= q->e[i].set;
}

static qentity *entity_find(quota_state *q, const qentity *want) {
  for (size_t i = 0; i < q->n; i++)
    if (entity_same(&q->e[i], want))
      return &q->e[i];
  return NULL;
}

/* ---- the file ----------------------------------------------------------- */

static int quota_path(broker *b, char *buf, size_t n) {
  int w = snprintf(buf, n, "%s/" QUOTA_FILE,
                   b->cfg.data_dir ? b->cfg.data_dir : ".");
  return w > 0 && (size_t)w < n ? 0 : -ENAMETOOLONG;
}

/* One line per entity: "user=NAME client-id=<default> : key=value ...",
 * names percent-encoded ('<' included, so <default> is unambiguous). */
static int quota_save(broker *b, const quota_state *q) {
  char path[4096];
  int rc = quota_path(b, path, sizeof path);
  if (rc)
    return rc;
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f)
    return -ENOMEM;
  fputs(QUOTA_HEADER ", written by nodata serve (docs/limits.md)\n", f);
  for (size_t i = 0; i < q->n; i++) {
    const qentity *e = &q->e[i];
    for (int p = 0; p < NPARTS; p++) {
      if (!e->has[p])
        continue;
      fprintf(f, "%s=", part_name[p]);
      if (!e->name[p]) {
        fputs("<default>", f);
      } else {
        /* '<' too, so that a user named "<default>" stays one. */
        for (const char *c = e->name[p]; *c; c++) {
          if (*c == '<' || *c == ':')
            fprintf(f, "%%%02X", (unsigned char)*c);
          else {
            char one[2] = {*c, 0};
            kafka_conf_put_enc(f, one);
          }
        }
      }
      fputc(' ', f);
    }
    fputc(':', f);
    for (int k = 0; k < NKEYS; k++)
      if (e->set & (1u << k))
        fprintf(f, " %s=%.17g", keys[k].name, e->values[k]);
    fputc('\n', f);
  }
  if (fclose(f) != 0 || !text) {
    free(text);
    return -ENOMEM;
  }
  rc = broker_write_atomic(path, text, len);
  free(text);
  return rc;
}

static int add_entity(quota_state *q, const qentity *e) {
  if (q->n == q->cap) {
    size_t cap = q->cap ? q->cap * 2 : 16;
    qentity *ne = realloc(q->e, cap * sizeof *ne);
    if (!ne)
      return -ENOMEM;
    q->e = ne;
    q->cap = cap;
  }
  q->e[q->n++] = *e;
  return 0;
}

/* Parse one line into *e (names malloc'ed). NULL, or why it is wrong. */
static const char *parse_line(char *line, qentity *e) {
  memset(e, 0, sizeof *e);
  char *colon = strstr(line, " :");
  if (!colon)
    return "no ' :' between the entity and its quotas";
  *colon = 0;
  char *save = NULL;
  int parts = 0;
  for (char *tok = strtok_r(line, " ", &save); tok;
       tok = strtok_r(NULL, " ", &save)) {
    char *eq = strchr(tok, '=');
    if (!eq)
      return "an entity part is not TYPE=NAME";
    *eq = 0;
    int p = 0;
    while (p < NPARTS && strcmp(part_name[p], tok))
      p++;
    if (p == NPARTS)
      return "unknown entity type";
    if (e->has[p])
      return "an entity type twice";
    e->has[p] = 1;
    parts++;
    if (strcmp(eq + 1, "<default>") != 0) {
      if (kafka_conf_decode(eq + 1) != 0 || !eq[1])
        return "bad entity name";
      if (!(e->name[p] = strdup(eq + 1)))
        return "out of memory";
    }
  }
  if (!parts || (e->has[P_IP] && (e->has[P_USER] || e->has[P_CLIENT])))
    return "not a valid entity";
  for (char *tok = strtok_r(colon + 2, " ", &save); tok;
       tok = strtok_r(NULL, " ", &save)) {
    char *eq = strchr(tok, '='), *end = NULL;
    if (!eq)
      return "a quota is not KEY=VALUE";
    *eq = 0;
    int k = 0;
    while (k < NKEYS && strcmp(keys[k].name, tok))
      k++;
    if (k == NKEYS || keys[k].ip != e->has[P_IP])
      return "unknown quota key";
    double v = strtod(eq + 1, &end);
    if (end == eq + 1 || *end || !isfinite(v) || v <= 0)
      return "bad quota value";
    e->set |= 1u << k;
    e->values[k] = v;
  }
  return e->set ? NULL : "an entity without quotas";
}

int quota_init(broker *b) {
  kafka_state *k = b->kafka;
  quota_state *q = calloc(1, sizeof *q);
  if (!q)
    return -ENOMEM;
  k->quotas = q;
  char path[4096];
  int rc = quota_path(b, path, sizeof path);
  if (rc)
    return rc;
  FILE *f = fopen(path, "r");
  if (!f)
    return errno == ENOENT ? 0 : -errno;
  char *line = NULL;
  size_t cap = 0;
  ssize_t got;
  int lineno = 0;
  while ((got = getline(&line, &cap, f)) >= 0) {
    lineno++;
    if (got && line[got - 1] == '\n')
      line[--got] = 0;
    if (lineno == 1) {
      if (strncmp(line, QUOTA_HEADER, strlen(QUOTA_HEADER)) != 0) {
        blog_error("quota",
                   "%s line 1: not a nodata client quotas file "
                   "(no '" QUOTA_HEADER "' header)",
                   path);
        rc = ND_ECORRUPT;
        break;
      }
      continue;
    }
    if (!line[0] || line[0] == '#')
      continue;
    qentity e;
    const char *why = parse_line(line, &e);
    if (!why && entity_find(q, &e))
      why = "the same entity twice";
    if (!why && add_entity(q, &e) != 0)
      why = "out of memory";
    if (why) {
      entity_free(&e);
      blog_error("quota", "%s line %d: %s", path, lineno, why);
      rc = ND_ECORRUPT;
      break;
    }
  }
  free(line);
  fclose(f);
  keys_any_update(q);
  return rc;
}

void quota_fini(broker *b) {
  quota_state *q = qs(b);
  if (!q)
    return;
  for (size_t i = 0; i < q->n; i++)
    entity_free(&q->e[i]);
  free(q->e);
  for (size_t i = 0; i < SENSOR_BUCKETS; i++)
    for (sensor *s = q->sensors[i], *next; s; s = next) {
      next = s->next;
      free(s->user);
      free(s->client);
      free(s);
    }
  free(q);
  ((kafka_state *)b->kafka)->quotas = NULL;
}

/* ---- DescribeClientQuotas ----------------------------------------------- */

/* Does component c (match type 0 exact, 1 default, 2 any) match e? */
static int component_match(const qentity *e, int p, int8_t mtype,
                           kf_str match) {
  if (!e->has[p])
    return 0;
  if (mtype == 1)
    return e->name[p] == NULL;
  if (mtype == 2)
    return 1;
  return e->name[p] && (size_t)match.len == strlen(e->name[p]) &&
         !memcmp(e->name[p], match.ptr, (size_t)match.len);
}

static int16_t describe_error(kafka_req *r,
                              const kafka_describe_client_quotas_request *req,
                              int *part_of, kf_str *msg) {
  int seen[NPARTS] = {0};
  char buf[300];
  for (int32_t i = 0; i < req->components.count; i++) {
    const kafka_describe_client_quotas_request_component_data *c =
        &req->components.items[i];
    int p = 0;
    while (p < NPARTS && !kafka_str_eq(c->entity_type, kf_s(part_name[p])))
      p++;
    int tl = c->entity_type.len > 200 ? 200 : c->entity_type.len;
    if (p == NPARTS) {
      snprintf(buf, sizeof buf, "Unsupported entity type %.*s", tl,
               c->entity_type.ptr ? c->entity_type.ptr : "");
      *msg = kafka_str(r, buf);
      return KERR_UNSUPPORTED_VERSION;
    }
    if (seen[p]) {
      snprintf(buf, sizeof buf,
               "Entity type %s cannot appear more than once in the filter.",
               part_name[p]);
      *msg = kafka_str(r, buf);
      return KERR_INVALID_REQUEST;
    }
    seen[p] = 1;
    part_of[i] = p;
    if (c->match_type < 0 || c->match_type > 2) {
      snprintf(buf, sizeof buf, "Unknown match type %d", c->match_type);
      *msg = kafka_str(r, buf);
      return KERR_INVALID_REQUEST;
    }
    if (c->match_type == 0 && !c->match.ptr) {
      *msg = kafka_str(r, "Request specified MATCH_TYPE_EXACT, but set match "
                          "string to null.");
      return KERR_INVALID_REQUEST;
    }
  }
  if (seen[P_IP] && (seen[P_USER] || seen[P_CLIENT])) {
    *msg = kafka_str(r, "Invalid entity filter component combination. IP "
                        "filter component should not be used with user or "
                        "clientId filter component.");
    return KERR_INVALID_REQUEST;
  }
  return KERR_NONE;
}

int handle_describe_client_quotas(kafka_req *r) {
  const kafka_describe_client_quotas_request *req = r->body;
  kafka_describe_client_quotas_response *resp =
      kf_new(&r->arena, &kafka_describe_client_quotas_response_desc);
  quota_state *q = qs(r->b);
  int *part_of =
      kf_alloc(&r->arena, sizeof(int) * (size_t)(req->components.count + 1));
  if (!resp || !q || !part_of)
    return -1;
  kf_str msg = kf_null_str();
  int16_t err = describe_error(r, req, part_of, &msg);
  if (err) {
    resp->error_code = err;
    resp->error_message = msg;
    resp->entries.count = -1;
    kafka_respond(r, resp);
    return 0;
  }
  /* Kafka answers "" rather than null when all is well. */
  resp->error_message = kf_s("");
  kafka_describe_client_quotas_response_entry_data *out =
      q->n
          ? kf_new_array(&r->arena,
                         &kafka_describe_client_quotas_response_entry_data_desc,
                         (int32_t)q->n)
          : NULL;
  if (q->n && !out)
    return -1;
  int32_t n = 0;
  for (size_t i = 0; i < q->n; i++) {
    const qentity *e = &q->e[i];
    int ok = 1, parts = 0;
    for (int32_t c = 0; ok && c < req->components.count; c++)
      ok = component_match(e, part_of[c], req->components.items[c].match_type,
                           req->components.items[c].match);
    for (int p = 0; p < NPARTS; p++)
      parts += e->has[p];
    /* strict: the entity has no part the filter does not name. */
    if (!ok || (req->strict && parts != req->components.count))
      continue;
    kafka_describe_client_quotas_response_entry_data *o = &out[n++];
    o->entity.items = kf_new_array(
        &r->arena, &kafka_describe_client_quotas_response_entity_data_desc,
        parts);
    int nv = __builtin_popcount(e->set);
    o->values.items = kf_new_array(
        &r->arena, &kafka_describe_client_quotas_response_value_data_desc, nv);
    if (!o->entity.items || !o->values.items)
      return -1;
    for (int p = 0; p < NPARTS; p++) {
      if (!e->has[p])
        continue;
      kafka_describe_client_quotas_response_entity_data *d =
          &o->entity.items[o->entity.count++];
      d->entity_type = kf_s(part_name[p]);
      d->entity_name = kafka_str(r, e->name[p]);
    }
    for (int k = 0; k < NKEYS; k++) {
      if (!(e->set & (1u << k)))
        continue;
      kafka_describe_client_quotas_response_value_data *v =
          &o->values.items[o->values.count++];
      v->key = kf_s(keys[k].name);
      v->value = e->values[k];
    }
  }
  resp->entries.items = out;
  resp->entries.count = n;
  kafka_respond(r, resp);
  return 0;
}

/* ---- AlterClientQuotas -------------------------------------------------- */

/* Kafka's text for the entity (its ClientQuotaEntity.toString): parts in
 * name order, a default as "null". */
static void entity_text(const qentity *e, char *buf, size_t n) {
  size_t w = (size_t)snprintf(buf, n, "ClientQuotaEntity(entries={");
  const char *sep = "";
  for (int p = 0; p < NPARTS && w < n; p++) {
    if (!e->has[p])
      continue;
    w += (size_t)snprintf(buf + w, n - w, "%s%s=%s", sep, part_name[p],
                          e->name[p] ? e->name[p] : "null");
    sep = ", ";
  }
  if (w < n)
    snprintf(buf + w, n - w, "})");
}

/* Read an entry's entity into *e (names pointing into the request).
 * KERR_NONE, or the error with *msg. */
static int16_t
entry_entity(kafka_req *r,
             const kafka_alter_client_quotas_request_entry_data *x, qentity *e,
             kf_str *msg) {
  char buf[400];
  memset(e, 0, sizeof *e);
  for (int32_t i = 0; i < x->entity.count; i++) {
    const kafka_alter_client_quotas_request_entity_data *d =
        &x->entity.items[i];
    int p = 0;
    while (p < NPARTS && !kafka_str_eq(d->entity_type, kf_s(part_name[p])))
      p++;
    if (p == NPARTS) {
      int tl = d->entity_type.len > 200 ? 200 : d->entity_type.len;
      snprintf(buf, sizeof buf, "Unhandled client quota entity type: %.*s",
               tl < 0 ? 0 : tl, d->entity_type.ptr ? d->entity_type.ptr : "");
      *msg = kafka_str(r, buf);
      return KERR_INVALID_REQUEST;
    }
    if (d->entity_name.ptr && !kafka_cstr_ok(d->entity_name)) {
      *msg = kafka_str(r, "Invalid entity name");
      return KERR_INVALID_REQUEST;
    }
    /* A type twice: the later wins, as Kafka's map of them does. */
    e->has[p] = 1;
    e->name[p] = (char *)d->entity_name.ptr;
  }
  if (x->entity.count == 0) {
    *msg = kafka_str(r, "Invalid empty client quota entity");
    return KERR_INVALID_REQUEST;
  }
  if (e->has[P_IP] && (e->has[P_USER] || e->has[P_CLIENT])) {
    /* Kafka's words, its missing space included. */
    *msg = kafka_str(r, "Invalid quota entity combination, IP entity should"
                        "not be combined with User or ClientId");
    return KERR_INVALID_REQUEST;
  }
  for (int p = 0; p < NPARTS; p++) {
    if (e->has[p] && e->name[p] && !e->name[p][0] && p != P_IP) {
      snprintf(buf, sizeof buf, "Empty %s not supported", part_name[p]);
      *msg = kafka_str(r, buf);
      return KERR_INVALID_REQUEST;
    }
  }
  if (e->has[P_IP] && e->name[P_IP]) {
    /* Kafka also accepts a host name it can resolve; resolving here would
     * stall the loop, so only addresses are (docs/limits.md). */
    unsigned char a[16];
    if (inet_pton(AF_INET, e->name[P_IP], a) != 1 &&
        inet_pton(AF_INET6, e->name[P_IP], a) != 1) {
      snprintf(buf, sizeof buf, "%.300s is not a valid IP or resolvable host.",
               e->name[P_IP]);
      *msg = kafka_str(r, buf);
      return KERR_INVALID_REQUEST;
    }
  }
  return KERR_NONE;
}

/* Check one op: its key for the entity, its value. */
static int16_t check_op(kafka_req *r, const qentity *e,
                        const kafka_alter_client_quotas_request_op_data *op,
                        int *key, kf_str *msg) {
  char buf[300];
  int k = 0;
  while (k < NKEYS && !kafka_str_eq(op->key, kf_s(keys[k].name)))
    k++;
  if (k == NKEYS || keys[k].ip != e->has[P_IP]) {
    int kl = op->key.len > 200 ? 200 : op->key.len < 0 ? 0 : op->key.len;
    snprintf(buf, sizeof buf, "Invalid configuration key %.*s", kl,
             op->key.ptr ? op->key.ptr : "");
    *msg = kafka_str(r, buf);
    return KERR_INVALID_REQUEST;
  }
  *key = k;
  if (op->remove)
    return KERR_NONE;
  double v = op->value;
  const char *name = keys[k].name;
  if (!isfinite(v))
    snprintf(buf, sizeof buf, "Quota %s must be a finite number", name);
  else if (v <= 0)
    snprintf(buf, sizeof buf, "Quota %s must be greater than 0", name);
  else if (keys[k].integral == 1 && v > 9223372036854775807.0)
    snprintf(buf, sizeof buf, "Proposed value for %s is too large for a LONG.",
             name);
  else if (keys[k].integral == 2 && v > 2147483647.0)
    snprintf(buf, sizeof buf, "Proposed value for %s is too large for an INT.",
             name);
  /* From 2^52 on every double is whole (and a cast past 2^63 would not
   * be defined). */
  else if (keys[k].integral && v < 4503599627370496.0 &&
           v != (double)(int64_t)v)
    snprintf(buf, sizeof buf, "%s cannot be a fractional value.", name);
  else
    return KERR_NONE;
  *msg = kafka_str(r, buf);
  return KERR_INVALID_REQUEST;
}

/* Apply an entry's ops to the stored entity (made, or dropped once it has
 * no quota left). 0 or -ENOMEM. */
static int apply_entry(quota_state *q, const qentity *want,
                       const kafka_alter_client_quotas_request_entry_data *x,
                       const int *keyof) {
  qentity *e = entity_find(q, want);
  if (!e) {
    qentity n = {0};
    for (int p = 0; p < NPARTS; p++) {
      n.has[p] = want->has[p];
      if (want->name[p] && !(n.name[p] = strdup(want->name[p]))) {
        entity_free(&n);
        return -ENOMEM;
      }
    }
    if (add_entity(q, &n) != 0) {
      entity_free(&n);
      return -ENOMEM;
    }
    e = &q->e[q->n - 1];
  }
  for (int32_t i = 0; i < x->ops.count; i++) {
    int k = keyof[i];
    if (x->ops.items[i].remove) {
      e->set &= ~(1u << k);
    } else {
      e->set |= 1u << k;
      e->values[k] = x->ops.items[i].value;
    }
  }
  if (!e->set) {
    entity_free(e);
    *e = q->e[--q->n];
  }
  return 0;
}

static void
copy_entity_out(kafka_req *r, kafka_alter_client_quotas_response_entry_data *o,
                const kafka_alter_client_quotas_request_entry_data *x,
                const qentity *e, int16_t err) {
  /* Answered with the entity as Kafka's map of it: one part per type
   * (for an invalid type, as the request said it). */
  int n = 0;
  for (int p = 0; p < NPARTS; p++)
    n += e->has[p];
  if (err == KERR_NONE || n == x->entity.count) {
    o->entity.items = kf_new_array(
        &r->arena, &kafka_alter_client_quotas_response_entity_data_desc, n);
    for (int p = 0; o->entity.items && p < NPARTS; p++) {
      if (!e->has[p])
        continue;
      kafka_alter_client_quotas_response_entity_data *d =
          &o->entity.items[o->entity.count++];
      d->entity_type = kf_s(part_name[p]);
      d->entity_name = kafka_str(r, e->name[p]);
    }
    return;
  }
  o->entity.items = kf_new_array(
      &r->arena, &kafka_alter_client_quotas_response_entity_data_desc,
      x->entity.count);
  for (int32_t i = 0; o->entity.items && i < x->entity.count; i++) {
    o->entity.items[i].entity_type = x->entity.items[i].entity_type;
    o->entity.items[i].entity_name = x->entity.items[i].entity_name;
  }
  if (o->entity.items)
    o->entity.count = x->entity.count;
}

int handle_alter_client_quotas(kafka_req *r) {
  const kafka_alter_client_quotas_request *req = r->body;
  quota_state *q = qs(r->b);
  kafka_alter_client_quotas_response *resp =
      kf_new(&r->arena, &kafka_alter_client_quotas_response_desc);
  int32_t n = req->entries.count > 0 ? req->entries.count : 0;
  kafka_alter_client_quotas_response_entry_data *out =
      n ? kf_new_array(&r->arena,
                       &kafka_alter_client_quotas_response_entry_data_desc, n)
        : NULL;
  qentity *ents = kf_alloc(&r->arena, sizeof *ents * (size_t)(n + 1));
  int32_t *slot_of = kf_alloc(&r->arena, sizeof *slot_of * (size_t)(n + 1));
  if (!resp || !q || (n && !out) || !ents || !slot_of)
    return -1;
  int changed = 0;
  int32_t nout = 0;
  for (int32_t i = 0; i < n; i++) {
    const kafka_alter_client_quotas_request_entry_data *x =
        &req->entries.items[i];
    qentity *e = &ents[i];
    kf_str msg = kf_null_str();
    int16_t err = entry_entity(r, x, e, &msg);
    /* An entity named twice, in two entries or by one key twice, is
     * answered once, with Kafka's error; its first entry still applies,
     * as Kafka's does. */
    int dup = -1;
    for (int32_t j = 0; !err && j < i; j++)
      if (entity_same(&ents[j], e))
        dup = j;
    int *keyof = kf_alloc(&r->arena, sizeof(int) * (size_t)(x->ops.count + 1));
    if (!keyof)
      return -1;
    unsigned seen = 0;
    int dup_key = 0;
    for (int32_t j = 0; !err && dup < 0 && j < x->ops.count; j++) {
      err = check_op(r, e, &x->ops.items[j], &keyof[j], &msg);
      if (!err && (seen & (1u << keyof[j])))
        dup_key = 1;
      if (!err)
        seen |= 1u << keyof[j];
    }
    if (dup >= 0 || (!err && dup_key)) {
      char buf[700], text[600];
      entity_text(e, text, sizeof text);
      snprintf(buf, sizeof buf, "Ignoring duplicate entity %s", text);
      /* The earlier entry's answer becomes the error (Kafka answers by
       * entity), or a key twice is answered so now. */
      int32_t slot = dup >= 0 ? slot_of[dup] : nout;
      if (slot == nout)
        copy_entity_out(r, &out[nout++], x, e, KERR_NONE);
      slot_of[i] = slot;
      out[slot].error_code = KERR_INVALID_REQUEST;
      out[slot].error_message = kafka_str(r, buf);
      continue;
    }
    slot_of[i] = nout;
    if (!err && !req->validate_only) {
      if (apply_entry(q, e, x, keyof) != 0)
        return -1;
      changed = 1;
    }
    kafka_alter_client_quotas_response_entry_data *o = &out[nout++];
    copy_entity_out(r, o, x, e, err);
    o->error_code = err;
    o->error_message = msg;
  }
  if (changed) {
    keys_any_update(q);
    int rc = quota_save(r->b, q);
    if (rc != 0) {
      char buf[300];
      snprintf(buf, sizeof buf, "cannot write %s/" QUOTA_FILE ": %s",
               r->b->cfg.data_dir ? r->b->cfg.data_dir : ".", strerror(-rc));
      kafka_log(r, BLOG_ERROR, "%s", buf);
      for (int32_t j = 0; j < nout; j++)
        if (!out[j].error_code) {
          out[j].error_code = KERR_KAFKA_STORAGE_ERROR;
          out[j].error_message = kafka_str(r, buf);
        }
    } else {
      kafka_log(r, BLOG_INFO, "client quotas altered (%d entr%s)", (int)n,
                n == 1 ? "y" : "ies");
    }
  }
  resp->entries.items = out;
  resp->entries.count = nout;
  kafka_respond(r, resp);
  return 0;
}

/* ---- throttling --------------------------------------------------------- */

/* The quota key a type is limited by. */
static int type_key(int type) {
  return type == QUOTA_PRODUCE ? K_PRODUCE
         : type == QUOTA_FETCH ? K_CONSUME
                               : K_REQUEST;
}

/* The entity at Kafka's level (1-8) for user u and client c. */
static const qentity *level_entity(quota_state *q, int level, const char *u,
                                   const char *c) {
  static const struct {
    int user, client; /* 0 absent, 1 named, 2 default */
  } lv[8] = {{1, 1}, {1, 2}, {1, 0}, {2, 1}, {2, 2}, {2, 0}, {0, 1}, {0, 2}};
  qentity want = {0};
  want.has[P_USER] = lv[level].user != 0;
  want.name[P_USER] = lv[level].user == 1 ? (char *)u : NULL;
  want.has[P_CLIENT] = lv[level].client != 0;
  want.name[P_CLIENT] = lv[level].client == 1 ? (char *)c : NULL;
  return entity_find(q, &want);
}

/* The quota for key k of user u, client c, and which parts key its rate. */
static double quota_for(quota_state *q, int k, const char *u, const char *c,
                        int *by_user, int *by_client) {
  for (int level = 0; level < 8; level++) {
    const qentity *e = level_entity(q, level, u, c);
    if (e && (e->set & (1u << k))) {
      *by_user = e->has[P_USER];
      *by_client = e->has[P_CLIENT];
      return e->values[k];
    }
  }
  return 0;
}

static void sensor_free(sensor *s) {
  free(s->user);
  free(s->client);
  free(s);
}

/* Drop sensors idle for an hour, as Kafka expires its quota sensors. */
static void sweep(quota_state *q, int64_t now) {
  if (now - q->last_sweep_ms < 60000)
    return;
  q->last_sweep_ms = now;
  for (size_t i = 0; i < SENSOR_BUCKETS; i++)
    for (sensor **pp = &q->sensors[i]; *pp;) {
      sensor *s = *pp;
      if (now - s->last_ms > SENSOR_IDLE_MS) {
        *pp = s->next;
        sensor_free(s);
        q->nsensors--;
      } else {
        pp = &s->next;
      }
    }
}

static sensor *sensor_get(quota_state *q, int type, const char *u,
                          const char *c, int64_t now) {
  uint64_t h = 1469598103934665603ULL ^ (uint64_t)type; /* FNV-1a */
  for (const char *t = u; *t; t++)
    h = (h ^ (unsigned char)*t) * 1099511628211ULL;
  h = (h ^ 0xff) * 1099511628211ULL; /* "ab"+"c" is not "a"+"bc" */
  for (const char *t = c; *t; t++)
    h = (h ^ (unsigned char)*t) * 1099511628211ULL;
  sensor **bucket = &q->sensors[h % SENSOR_BUCKETS];
  for (sensor *s = *bucket; s; s = s->next)
    if (s->type == type && !strcmp(s->user, u) && !strcmp(s->client, c))
      return s;
  sensor *s = calloc(1, sizeof *s);
  if (!s || !(s->user = strdup(u)) || !(s->client = strdup(c))) {
    if (s)
      sensor_free(s);
    return NULL;
  }
  s->type = type;
  s->start[0] = now;
  s->next = *bucket;
  *bucket = s;
  q->nsensors++;
  return s;
}

/* Kafka's SampledStat: samples older than the whole span count nothing. */
static void purge(sensor *s, int64_t now) {
  for (int i = 0; i < SAMPLES; i++)
    if (now - s->start[i] >= (int64_t)SAMPLES * WINDOW_MS) {
      s->start[i] = now - (int64_t)SAMPLES * WINDOW_MS; /* mark obsolete */
      s->value[i] = 0;
    }
}

static void sensor_add(sensor *s, double v, int64_t now) {
  if (now - s->start[s->cur] >= WINDOW_MS) {
    s->cur = (s->cur + 1) % SAMPLES;
    s->start[s->cur] = now;
    s->value[s->cur] = 0;
  }
  s->value[s->cur] += v;
  s->last_ms = now;
}

/* Kafka's Rate.windowSize: from the oldest live sample to now, but at
 * least SAMPLES - 1 whole windows, so a new client is not judged on its
 * first instant. */
static double window_ms(sensor *s, int64_t now) {
  purge(s, now);
  int64_t oldest = now;
  for (int i = 0; i < SAMPLES; i++)
    if (s->value[i] != 0 || i == s->cur)
      if (s->start[i] < oldest)
        oldest = s->start[i];
  int64_t elapsed = now - oldest;
  int64_t full = elapsed / WINDOW_MS;
  if (full < SAMPLES - 1)
    elapsed += (SAMPLES - 1 - full) * WINDOW_MS;
  return elapsed > 0 ? (double)elapsed : 1;
}

static double sensor_sum(const sensor *s) {
  double t = 0;
  for (int i = 0; i < SAMPLES; i++)
    t += s->value[i];
  return t;
}

static sensor *sensor_for(kafka_req *r, int type, double *bound) {
  quota_state *q = qs(r->b);
  if (!q || !(q->keys_any & (1u << type_key(type))))
    return NULL;
  const char *principal = r->session->principal;
  const char *u = strncmp(principal, "User:", 5) ? principal : principal + 5;
  char c[256];
  int cl = r->client_id.ptr && r->client_id.len > 0
               ? (r->client_id.len > 255 ? 255 : r->client_id.len)
               : 0;
  memcpy(c, cl ? r->client_id.ptr : "", (size_t)cl);
  c[cl] = 0;
  int by_user = 0, by_client = 0;
  *bound = quota_for(q, type_key(type), u, c, &by_user, &by_client);
  if (*bound <= 0)
    return NULL;
  int64_t now = net_now_ms();
  sweep(q, now);
  return sensor_get(q, type, by_user ? u : "", by_client ? c : "", now);
}

int32_t quota_record(kafka_req *r, int type, double value) {
  double bound;
  sensor *s = sensor_for(r, type, &bound);
  if (!s)
    return 0;
  int64_t now = net_now_ms();
  sensor_add(s, value, now);
  double win = window_ms(s, now);
  double rate = sensor_sum(s) / (win / 1000.0);
  if (rate <= bound)
    return 0;
  double t = (rate - bound) / bound * win;
  double most = (double)SAMPLES * WINDOW_MS;
  /* Math.round, without libm. */
  return (int32_t)((t < most ? t : most) + 0.5);
}

void quota_unrecord(kafka_req *r, int type, double value) {
  double bound;
  sensor *s = sensor_for(r, type, &bound);
  if (s)
    sensor_add(s, -value, net_now_ms());
}

void quota_request_done(kafka_req *r, void *resp) {
  if (r->quota_timed) {
    r->quota_timed = 0;
    /* Kafka's unit: percent of one thread over the window. */
    double pct = (double)(metrics_now_ns() - r->start_ns) * 100.0 / 1e9;
    int32_t t = quota_record(r, QUOTA_REQUEST, pct);
    if (t > 0) {
      quota_mute(r, QUOTA_REQUEST, t);
      if (t > r->quota_throttle_ms)
        r->quota_throttle_ms = t;
    }
  }
  if (!resp || r->quota_throttle_ms <= 0)
    return;
  const kf_struct *body = r->api->resp->body;
  int v = r->version;
  for (uint32_t i = 0; i < body->nfields; i++) {
    const kf_field *f = &body->fields[i];
    if (f->type == KF_INT32 && v >= f->vmin && v <= f->vmax &&
        !strcmp(f->name, "throttle_time_ms")) {
      int32_t *p = (int32_t *)((char *)resp + f->offset);
      if (*p < r->quota_throttle_ms)
        *p = r->quota_throttle_ms;
      return;
    }
  }
}

void quota_mute(kafka_req *r, int type, int32_t ms) {
  if (ms <= 0 || r->dead)
    return;
  net_conn_mute(r->conn, ms);
  metrics_throttle(type, ms);
}
