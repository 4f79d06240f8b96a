/* SPDX-License-Identifier: Apache-2.0 */
/* hash.h — SHA-256 (topic directory names), murmur2 (Kafka's partitioner)
 * and random UUIDs (topic ids). */
#ifndef ND_HASH_H
#define ND_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "nodata.h"

void sha256(const void *data, size_t len, uint8_t out[32]);

/* A random version-4 UUID. Returns 0 or -errno if the kernel's random
 * source fails. */
int uuid_random(uint8_t out[16]);

/* Canonical 8-4-4-4-12 text form; out holds 37 bytes. */
void uuid_format(const uint8_t id[16], char out[37]);
/* Parse the text form. Returns 0 or -1. */
int uuid_parse(const char *s, uint8_t out[16]);

#endif
