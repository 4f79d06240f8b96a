/* SPDX-License-Identifier: Apache-2.0 */
/*
 * security.h — what the broker's security parts share: listeners and their
 * security protocols, Kafka broker properties from `--config FILE`, and
 * the identity of a connection (kafka_session, in kafka.h).
 *
 * The parts, each in files of its own:
 *  - props.c: `--config FILE` (Kafka's key=value properties) and lookups
 *    by Kafka property name; listeners, advertised.listeners and
 *    listener.security.protocol.map parsed into broker_listener;
 *  - tls.c + net.c: TLS on a listener (OpenSSL), the client certificate's
 *    subject for mTLS;
 *  - sasl*.c: SaslHandshake/SaslAuthenticate and the mechanisms, SCRAM
 *    credentials;
 *  - authorizer*.c: ACLs and the checks every handler makes;
 *  - quota*.c: client quotas and throttling.
 * Nothing here is in libnodata: the library stays libc + pthreads.
 */
#ifndef ND_BROKER_SECURITY_H
#define ND_BROKER_SECURITY_H

#include <stddef.h>

/* Kafka's SecurityProtocol. */
typedef enum sec_protocol {
  SEC_PLAINTEXT = 0,
  SEC_SSL = 1,
  SEC_SASL_PLAINTEXT = 2,
  SEC_SASL_SSL = 3,
} sec_protocol;

/* "PLAINTEXT", "SSL", "SASL_PLAINTEXT" or "SASL_SSL". */
const char *sec_protocol_name(sec_protocol p);
/* The protocol named s (case-insensitive, as Kafka reads the map), or -1. */
int sec_protocol_parse(const char *s);

#define BROKER_MAX_LISTENERS 8

/* One entry of `listeners` (NAME://HOST:PORT), its protocol from
 * listener.security.protocol.map (or its name when that is a protocol's
 * name, as Kafka defaults the map), and where clients are sent to reach
 * it (advertised.listeners, else the bind address; a wildcard bind
 * advertises the host name). */
typedef struct broker_listener {
  char name[64];
  sec_protocol protocol;
  char host[256]; /* bind address; "" = every address (Kafka's empty host) */
  int port;       /* 0 = any free port, resolved once bound */
  char adv_host[256];
  int adv_port;
} broker_listener;

/* Kafka broker properties: a `--config FILE`'s, then those set by a flag
 * or environment variable that has a Kafka name (which win). Owned by the
 * broker; read-only once serving starts, so any thread may read. */
typedef struct broker_props broker_props;

/* Read a Java properties file (key=value or key: value, # and ! comments,
 * backslash continuations and escapes) into *out (which the caller frees
 * with broker_props_free). Returns 0, or -1 with why[] naming the file
 * and line. */
int broker_props_load(const char *path, broker_props **out, char *why,
                      size_t whylen);
/* An empty set (for a broker started without --config); NULL when out of
 * memory. */
broker_props *broker_props_new(void);
/* Set (or replace) name=value. 0 or -1 when out of memory. */
int broker_props_set(broker_props *p, const char *name, const char *value);
/* The value of `name`, or NULL if unset. Valid until the set is freed. */
const char *broker_props_get(const broker_props *p, const char *name);
/* A listener's value of `name`: listener.name.<listener in lower
 * case>.<name>, Kafka's per-listener override, else <name>; NULL if
 * neither is set. */
const char *broker_props_listener(const broker_props *p, const char *listener,
                                  const char *name);
/* The i-th property in file order (for checks of unknown names); 0 past
 * the end. */
int broker_props_at(const broker_props *p, size_t i, const char **name,
                    const char **value);
void broker_props_free(broker_props *p);

/* Is `name` a property one of the security parts (or the listener code)
 * reads? Its list (props.c) is where a part adds the names it reads;
 * serve.c warns about a --config property no part knows. */
int broker_prop_known(const char *name);

/* Parse `listeners` (and `advertised.listeners`, NULL = none, and
 * `listener.security.protocol.map`, NULL = Kafka's default map) into
 * out[]. Returns the number of listeners (>= 1), or -1 with why[] set:
 * a name twice, a port twice, a name the map does not know, more than
 * BROKER_MAX_LISTENERS, an advertised name that no listener has. */
int broker_listeners_parse(const char *listeners, const char *advertised,
                           const char *protocol_map, broker_listener *out,
                           size_t max, char *why, size_t whylen);

#endif
