/* SPDX-License-Identifier: Apache-2.0 */
/*
 * props.c — Kafka broker properties (`nodata serve --config FILE`) and
 * listeners.
 *
 * The file is a Java properties file, read as java.util.Properties reads
 * one, since that is what a Kafka user's server.properties is: a line is
 * `key=value`, `key:value` or `key value` (the first unescaped '=', ':' or
 * white space ends the key; white space around the separator is skipped);
 * lines starting with '#' or '!' are comments; a line ending in an odd
 * number of backslashes continues on the next (whose leading white space
 * is dropped); \t \n \r \f \uXXXX and \<any> are escapes in keys and
 * values. A key given twice keeps its last value, as Java does.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "security.h"

struct broker_props {
  char **names, **values;
  size_t n, cap;
};

static const char *const protocol_names[] = {"PLAINTEXT", "SSL",
                                             "SASL_PLAINTEXT", "SASL_SSL"};

const char *sec_protocol_name(sec_protocol p) {
  return (unsigned)p < 4 ? protocol_names[p] : "?";
}

int sec_protocol_parse(const char *s) {
  for (int i = 0; i < 4; i++)
    if (!strcasecmp(s, protocol_names[i]))
      return i;
  return -1;
}

broker_props *broker_props_new(void) {
  return calloc(1, sizeof(broker_props));
}

void broker_props_free(broker_props *p) {
  if (!p)
    return;
  for (size_t i = 0; i < p->n; i++) {
    free(p->names[i]);
    free(p->values[i]);
  }
  free(p->names);
  free(p->values);
  free(p);
}

const char *broker_props_get(const broker_props *p, const char *name) {
  if (!p)
    return NULL;
  for (size_t i = 0; i < p->n; i++)
    if (!strcmp(p->names[i], name))
      return p->values[i];
  return NULL;
}

int broker_props_at(const broker_props *p, size_t i, const char **name,
                    const char **value) {
  if (!p || i >= p->n)
    return 0;
  *name = p->names[i];
  *value = p->values[i];
  return 1;
}

int broker_props_set(broker_props *p, const char *name, const char *value) {
  char *v = strdup(value);
  if (!v)
    return -1;
  for (size_t i = 0; i < p->n; i++) {
    if (!strcmp(p->names[i], name)) {
      free(p->values[i]);
      p->values[i] = v;
      return 0;
    }
  }
  if (p->n == p->cap) {
    size_t cap = p->cap ? 2 * p->cap : 16;
    char **nn = realloc(p->names, cap * sizeof *nn);
    if (nn)
      p->names = nn;
    char **nv = nn ? realloc(p->values, cap * sizeof *nv) : NULL;
    if (!nv) {
      free(v);
      return -1;
    }
    p->values = nv;
    p->cap = cap;
  }
  char *k = strdup(name);
  if (!k) {
    free(v);
    return -1;
  }
  p->names[p->n] = k;
  p->values[p->n] = v;
  p->n++;
  return 0;
}

/* Append the UTF-8 encoding of code point cp to out. */
static size_t put_utf8(char *out, unsigned cp) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | cp >> 6);
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  out[0] = (char)(0xE0 | cp >> 12);
  out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[2] = (char)(0x80 | (cp & 0x3F));
  return 3;
}

/* Unescape s[0, n) into out (at least n + 1 bytes: no escape grows). */
static int unescape(const char *s, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '\\' || i + 1 == n) {
      out[o++] = s[i];
      continue;
    }
    char c = s[++i];
    switch (c) {
    case 't':
      out[o++] = '\t';
      break;
    case 'n':
      out[o++] = '\n';
      break;
    case 'r':
      out[o++] = '\r';
      break;
    case 'f':
      out[o++] = '\f';
      break;
    case 'u': {
      if (n - i - 1 < 4)
        return -1;
      unsigned cp = 0;
      for (int k = 1; k <= 4; k++) {
        int ch = s[i + k];
        if (!isxdigit(ch))
          return -1;
        cp =
            cp * 16 + (unsigned)(isdigit(ch) ? ch - '0' : (ch | 32) - 'a' + 10);
      }
      i += 4;
      if (cp == 0)
        return -1; /* not representable in a C string */
      o += put_utf8(out + o, cp);
      break;
    }
    default:
      out[o++] = c;
    }
  }
  out[o] = 0;
  return 0;
}

/* Does the line end in an odd number of backslashes (a continuation)? */
static int continues(const char *s, size_t n) {
  size_t k = 0;
  while (k < n && s[n - 1 - k] == '\\')
    k++;
  return k % 2 == 1;
}

static int is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\f';
}

/* One logical line (continuations joined) into p. */
static int parse_line(broker_props *p, const char *s, size_t n, char *tmp,
                      char *why, size_t whylen, const char *path, int lineno) {
  size_t i = 0;
  while (i < n && is_ws(s[i]))
    i++;
  if (i == n || s[i] == '#' || s[i] == '!')
    return 0;
  size_t ks = i;
  while (i < n && !(s[i] == '=' || s[i] == ':' || is_ws(s[i]))) {
    if (s[i] == '\\')
      i++;
    i++;
  }
  if (i > n)
    i = n;
  size_t ke = i;
  while (i < n && is_ws(s[i]))
    i++;
  if (i < n && (s[i] == '=' || s[i] == ':')) {
    i++;
    while (i < n && is_ws(s[i]))
      i++;
  }
  char *key = tmp, *val = tmp + (ke - ks) + 1;
  if (unescape(s + ks, ke - ks, key) < 0 || unescape(s + i, n - i, val) < 0) {
    snprintf(why, whylen, "%s:%d: malformed \\u escape", path, lineno);
    return -1;
  }
  if (broker_props_set(p, key, val) < 0) {
    snprintf(why, whylen, "%s: out of memory", path);
    return -1;
  }
  return 0;
}

int broker_props_load(const char *path, broker_props **out, char *why,
                      size_t whylen) {
  *out = NULL;
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(why, whylen, "cannot read config file %s: %s", path,
             strerror(errno));
    return -1;
  }
  broker_props *p = broker_props_new();
  char *line = NULL, *logical = NULL, *tmp = NULL;
  size_t cap = 0, llen = 0, lcap = 0;
  ssize_t got;
  int lineno = 0, start = 0, rc = 0;
  if (!p)
    rc = -1;
  while (rc == 0 && (got = getline(&line, &cap, f)) >= 0) {
    lineno++;
    size_t n = (size_t)got;
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
      n--;
    const char *s = line;
    if (llen > 0) { /* a continuation: leading white space goes */
      while (n > 0 && is_ws(*s)) {
        s++;
        n--;
      }
    } else {
      start = lineno;
    }
    int more = continues(s, n);
    if (llen + n + 1 > lcap) {
      size_t nc = (llen + n + 1) * 2;
      char *nl = realloc(logical, nc);
      char *nt = nl ? realloc(tmp, nc + 2) : NULL;
      if (nl)
        logical = nl;
      if (!nt) {
        snprintf(why, whylen, "%s: out of memory", path);
        rc = -1;
        break;
      }
      tmp = nt;
      lcap = nc;
    }
    /* A comment line never continues (Java checks comments first). */
    size_t lead = 0;
    while (lead < n && is_ws(s[lead]))
      lead++;
    if (llen == 0 && lead < n && (s[lead] == '#' || s[lead] == '!'))
      more = 0;
    memcpy(logical + llen, s, more ? n - 1 : n);
    llen += more ? n - 1 : n;
    if (more)
      continue;
    rc = parse_line(p, logical, llen, tmp, why, whylen, path, start);
    llen = 0;
  }
  if (rc == 0 && llen > 0)
    rc = parse_line(p, logical, llen, tmp, why, whylen, path, start);
  if (rc == 0 && ferror(f)) {
    snprintf(why, whylen, "cannot read config file %s: %s", path,
             strerror(errno));
    rc = -1;
  }
  if (!p)
    snprintf(why, whylen, "%s: out of memory", path);
  free(line);
  free(logical);
  free(tmp);
  fclose(f);
  if (rc < 0) {
    broker_props_free(p);
    return -1;
  }
  *out = p;
  return 0;
}

/* ---- known names -------------------------------------------------------- */

/* Properties a part of the broker reads from --config beyond those
 * serve.c maps to its flags (serve.c, kafka_names) and the broker configs
 * DescribeConfigs knows (dynconfig.c): one list, so that a name no part
 * reads gets Kafka's "supplied but isn't a known config" warning. A part
 * that reads a new property adds it here. */
static const char *const known_names[] = {
    /* listeners (props.c, serve.c) */
    "listeners", "advertised.listeners", "listener.security.protocol.map",
    "allow.insecure",
    /* TLS (tls.h) */
    "ssl.keystore.type", "ssl.keystore.location", "ssl.keystore.password",
    "ssl.key.password", "ssl.keystore.key", "ssl.keystore.certificate.chain",
    "ssl.truststore.type", "ssl.truststore.location", "ssl.truststore.password",
    "ssl.truststore.certificates", "ssl.client.auth", "ssl.enabled.protocols",
    "ssl.protocol", "ssl.cipher.suites", "ssl.principal.mapping.rules",
    "ssl.endpoint.identification.algorithm",
    /* SASL */
    "sasl.enabled.mechanisms", "sasl.jaas.config",
    "sasl.server.max.receive.size", "sasl.mechanism.inter.broker.protocol",
    "connections.max.reauth.ms", "principal.builder.class",
    /* ACLs */
    "authorizer.class.name", "super.users", "allow.everyone.if.no.acl.found",
    /* quotas */
    "quota.window.num", "quota.window.size.seconds",
    "client.quota.callback.class",
    /* Kafka's, meaningless for one process that is its own controller:
     * a server.properties copied from Kafka keeps them without a warning
     * per line. */
    "controller.quorum.voters", "controller.quorum.bootstrap.servers",
    "controller.listener.names", "inter.broker.listener.name",
    "socket.send.buffer.bytes", "socket.receive.buffer.bytes",
    "log.retention.check.interval.ms", "transaction.state.log.min.isr",
    "transaction.state.log.replication.factor",
    "share.coordinator.state.topic.replication.factor",
    "share.coordinator.state.topic.min.isr", "log.flush.interval.messages",
    "log.flush.interval.ms", "group.coordinator.rebalance.protocols"};

/* Families read by prefix: per-listener overrides
 * (listener.name.<listener>.<property>) and the OAUTHBEARER settings. */
static const char *const known_prefixes[] = {"listener.name.",
                                             "sasl.oauthbearer."};

int broker_prop_known(const char *name) {
  for (size_t i = 0; i < sizeof known_names / sizeof known_names[0]; i++)
    if (!strcmp(name, known_names[i]))
      return 1;
  for (size_t i = 0; i < sizeof known_prefixes / sizeof known_prefixes[0]; i++)
    if (!strncmp(name, known_prefixes[i], strlen(known_prefixes[i])))
      return 1;
  return 0;
}

const char *broker_props_listener(const broker_props *p, const char *listener,
                                  const char *name) {
  char key[320];
  int n = snprintf(key, sizeof key, "listener.name.");
  for (size_t i = 0; listener[i] && (size_t)n + 1 < sizeof key; i++)
    key[n++] = (char)tolower((unsigned char)listener[i]);
  snprintf(key + n, sizeof key - (size_t)n, ".%s", name);
  const char *v = broker_props_get(p, key);
  return v ? v : broker_props_get(p, name);
}

/* ---- listeners ---------------------------------------------------------- */

/* Split "NAME://HOST:PORT" (HOST may be empty or [v6]). */
static int split_listener(const char *item, size_t n, char *name,
                          size_t namelen, char *host, size_t hostlen,
                          int *port) {
  const char *sep = NULL;
  for (size_t i = 0; i + 2 < n; i++)
    if (item[i] == ':' && item[i + 1] == '/' && item[i + 2] == '/') {
      sep = item + i;
      break;
    }
  if (!sep || sep == item || (size_t)(sep - item) >= namelen)
    return -1;
  memcpy(name, item, (size_t)(sep - item));
  name[sep - item] = 0;
  const char *h = sep + 3, *end = item + n;
  const char *colon = NULL;
  if (h < end && *h == '[') {
    const char *rb = memchr(h, ']', (size_t)(end - h));
    if (!rb || rb + 1 >= end || rb[1] != ':')
      return -1;
    if ((size_t)(rb - h - 1) >= hostlen)
      return -1;
    memcpy(host, h + 1, (size_t)(rb - h - 1));
    host[rb - h - 1] = 0;
    colon = rb + 1;
  } else {
    for (const char *q = end; q > h; q--)
      if (q[-1] == ':') {
        colon = q - 1;
        break;
      }
    if (!colon || (size_t)(colon - h) >= hostlen)
      return -1;
    memcpy(host, h, (size_t)(colon - h));
    host[colon - h] = 0;
  }
  const char *ps = colon + 1;
  if (ps >= end)
    return -1;
  long v = 0;
  for (const char *q = ps; q < end; q++) {
    if (*q < '0' || *q > '9')
      return -1;
    v = v * 10 + (*q - '0');
    if (v > 65535)
      return -1;
  }
  *port = (int)v;
  return 0;
}

/* Trimmed items of a comma-separated list: calls fn for each. */
static int each_item(const char *list,
                     int (*fn)(void *arg, const char *s, size_t n), void *arg) {
  const char *s = list;
  while (*s) {
    const char *e = strchr(s, ',');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    const char *a = s, *b = s + n;
    while (a < b && isspace((unsigned char)*a))
      a++;
    while (b > a && isspace((unsigned char)b[-1]))
      b--;
    if (b > a && fn(arg, a, (size_t)(b - a)) < 0)
      return -1;
    if (!e)
      break;
    s = e + 1;
  }
  return 0;
}

typedef struct lparse {
  broker_listener *out;
  size_t max, n;
  const char *map;
  char *why;
  size_t whylen;
} lparse;

/* The protocol of listener `name` under `map` ("NAME:PROTO,..."), or -1. */
static int map_lookup(const char *map, const char *name) {
  if (!map)
    return sec_protocol_parse(name);
  size_t nl = strlen(name);
  const char *s = map;
  while (*s) {
    while (*s == ' ' || *s == ',')
      s++;
    const char *colon = strchr(s, ':');
    if (!colon)
      return -1;
    const char *e = strchr(colon, ',');
    size_t klen = (size_t)(colon - s);
    while (klen > 0 && s[klen - 1] == ' ')
      klen--;
    if (klen == nl && !strncasecmp(s, name, nl)) {
      char proto[32];
      const char *v = colon + 1;
      while (*v == ' ')
        v++;
      size_t vl = e ? (size_t)(e - v) : strlen(v);
      while (vl > 0 && v[vl - 1] == ' ')
        vl--;
      if (vl >= sizeof proto)
        return -1;
      memcpy(proto, v, vl);
      proto[vl] = 0;
      return sec_protocol_parse(proto);
    }
    if (!e)
      break;
    s = e + 1;
  }
  return -1;
}

static int add_listener(void *arg, const char *s, size_t n) {
  lparse *lp = arg;
  broker_listener l;
  memset(&l, 0, sizeof l);
  if (split_listener(s, n, l.name, sizeof l.name, l.host, sizeof l.host,
                     &l.port) < 0) {
    snprintf(lp->why, lp->whylen, "listeners: '%.*s' is not NAME://HOST:PORT",
             (int)n, s);
    return -1;
  }
  for (char *c = l.name; *c; c++)
    *c = (char)toupper((unsigned char)*c);
  int proto = map_lookup(lp->map, l.name);
  if (proto < 0) {
    snprintf(lp->why, lp->whylen,
             "listeners: no security protocol for listener %s (add it to "
             "listener.security.protocol.map)",
             l.name);
    return -1;
  }
  l.protocol = (sec_protocol)proto;
  for (size_t i = 0; i < lp->n; i++) {
    if (!strcmp(lp->out[i].name, l.name)) {
      snprintf(lp->why, lp->whylen, "listeners: listener %s is named twice",
               l.name);
      return -1;
    }
    if (l.port != 0 && lp->out[i].port == l.port) {
      snprintf(lp->why, lp->whylen, "listeners: port %d is used by %s and %s",
               l.port, lp->out[i].name, l.name);
      return -1;
    }
  }
  if (lp->n == lp->max) {
    snprintf(lp->why, lp->whylen, "listeners: more than %zu listeners",
             lp->max);
    return -1;
  }
  lp->out[lp->n++] = l;
  return 0;
}

static int add_advertised(void *arg, const char *s, size_t n) {
  lparse *lp = arg;
  char name[64], host[256];
  int port;
  if (split_listener(s, n, name, sizeof name, host, sizeof host, &port) < 0 ||
      port == 0) {
    snprintf(lp->why, lp->whylen,
             "advertised.listeners: '%.*s' is not NAME://HOST:PORT (port "
             "1-65535)",
             (int)n, s);
    return -1;
  }
  for (char *c = name; *c; c++)
    *c = (char)toupper((unsigned char)*c);
  for (size_t i = 0; i < lp->n; i++) {
    if (!strcmp(lp->out[i].name, name)) {
      snprintf(lp->out[i].adv_host, sizeof lp->out[i].adv_host, "%s", host);
      lp->out[i].adv_port = port;
      return 0;
    }
  }
  snprintf(lp->why, lp->whylen,
           "advertised.listeners: %s is not one of the listeners", name);
  return -1;
}

int broker_listeners_parse(const char *listeners, const char *advertised,
                           const char *protocol_map, broker_listener *out,
                           size_t max, char *why, size_t whylen) {
  lparse lp = {out, max, 0, protocol_map, why, whylen};
  if (each_item(listeners, add_listener, &lp) < 0)
    return -1;
  if (lp.n == 0) {
    snprintf(why, whylen, "listeners: no listener given");
    return -1;
  }
  if (advertised && each_item(advertised, add_advertised, &lp) < 0)
    return -1;
  return (int)lp.n;
}
