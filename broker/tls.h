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
 *   passphrase, if encrypted), ssl.keystore.key /
 * ssl.keystore.certificate.chain (inline PEM, as Kafka allows),
 * ssl.truststore.type=PEM, ssl.truststore.location,
 * ssl.client.auth=none|requested|required, ssl.enabled.protocols
 * (TLSv1.2,TLSv1.3), ssl.cipher.suites; each also as
 * listener.name.<listener>.ssl.* (lower-case listener name), which wins, as
 * Kafka's per-listener overrides do.
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

/* net.c's side (added by the tls part; OpenSSL types stay opaque here so
 * the rest of the broker need not include OpenSSL's headers). */
struct ssl_st;

/* A server SSL for a connection accepted on fd, in accept state, from the
 * current context. First, when a keystore or truststore file changed on
 * disk since it was loaded, the context is reloaded (new connections get
 * the new certificate; a file that fails to load keeps the old context,
 * with one warning per change). NULL when out of memory. Loop thread. */
struct ssl_st *net_tls_accept(net_tls *t, int fd);

/* The SHA-256 of the DER of the certificate the listener serves to the
 * connections it accepts now (after any reload), into out: what the local
 * console pins (serve.c, console.h's ck_target). Returns 0, or -1 when
 * there is none. Thread-safe: the console thread asks while the loop
 * thread may reload. */
int net_tls_fingerprint(net_tls *t, unsigned char out[32]);

/* The listener's name, for log lines. */
const char *net_tls_listener(const net_tls *t);

/* The verified peer certificate's subject, RFC 2253 as Java's
 * X500Principal.getName() writes it, into out; 0, or -1 when the peer
 * sent none or it was not verified. */
int net_tls_peer_subject(struct ssl_st *ssl, char *out, size_t outlen);

/* A certificate's subject, RFC 2253 as net_tls_peer_subject writes it,
 * into out; 0, or -1 when out of memory. Thread-safe. */
struct x509_st;
int net_tls_cert_subject(struct x509_st *x, char *out, size_t outlen);

/* OpenSSL's pem_password_cb for a key's passphrase: u is the passphrase
 * (a C string) or NULL, which reads as none, so OpenSSL never prompts on a
 * terminal for one. Thread-safe. */
int net_tls_password_cb(char *buf, int size, int rwflag, void *u);

/* 1 when OpenSSL turned kernel TLS on for sending on this connection
 * (SSL_sendfile then works), else 0. */
int net_tls_ktls_send(struct ssl_st *ssl);

/* A Kafka property for a listener: listener.name.<listener, lower
 * case>.<name> if set, else <name>; NULL when neither is. */
const char *net_tls_prop(const broker_props *props, const char *listener,
                         const char *name);

/* Kafka's ssl.principal.mapping.rules (NULL = "DEFAULT") applied to a
 * certificate subject (tls_principal.c says how): 0 with the principal's
 * name in out, or -1 with why[] set when no rule applies (the client
 * then fails authentication, as in Kafka) or a rule is malformed. With
 * subject NULL, only checks the rules (0 or -1). */
int net_tls_map_principal(const char *rules, const char *subject, char *out,
                          size_t outlen, char *why, size_t whylen);

/* The reason of OpenSSL's last error on this thread ("wrong version
 * number"), clearing the queue; "" when none. */
const char *net_tls_error(char *buf, size_t buflen);

#endif
