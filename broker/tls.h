/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tls.h — a TLS listener's context (OpenSSL): its certificate and key,
 * the certificates it trusts for client authentication, the protocol
 * versions and ciphers it allows. net.c runs the handshake and the
 * encrypted reads and writes of connections accepted on such a listener.
 *
 * CONTRACT (issue 21): the tls part implements this; serve.c makes one
 * per SSL or SASL_SSL listener from the Kafka properties:
 *   ssl.keystore.type=PEM, ssl.keystore.location (one PEM file: the
 *   private key and the certificate chain), ssl.key.password (the key's
 *   passphrase, if encrypted), ssl.keystore.key / ssl.keystore.certificate.chain
 *   (inline PEM, as Kafka allows), ssl.truststore.type=PEM,
 *   ssl.truststore.location, ssl.client.auth=none|requested|required,
 *   ssl.enabled.protocols (TLSv1.2,TLSv1.3), ssl.cipher.suites;
 * each also as listener.name.<listener>.ssl.* (lower-case listener name),
 * which wins, as Kafka's per-listener overrides do.
 */
#ifndef ND_BROKER_TLS_H
#define ND_BROKER_TLS_H

#include <stddef.h>

#include "security.h"

typedef struct net_tls net_tls;

/* A context for listener `listener` (its name, for the per-listener
 * overrides) from props. Returns 0, or -1 with why[] naming the property
 * or file at fault. */
int net_tls_new(const broker_props *props, const char *listener, net_tls **out,
                char *why, size_t whylen);

/* Read the certificate, key and trust files again: connections accepted
 * from now on use them, those open keep theirs. On failure the old
 * context stays and -1 comes back with why[] set. Loop thread. */
int net_tls_reload(net_tls *t, char *why, size_t whylen);

void net_tls_free(net_tls *t);

#endif
