/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kafka_errors.c — lookups in the Kafka error table (kafka_errors.h) and
 * which Kafka error a libnodata failure is answered with.
 */
#include <errno.h>
#include <stddef.h>

#include "kafka.h"

const char *kafka_err_name(int16_t code) {
  switch (code) {
#define KERR__NAME(name, c, text)                                              \
  case c:                                                                      \
    return #name;
    KAFKA_ERRORS(KERR__NAME)
#undef KERR__NAME
  default:
    return NULL;
  }
}

const char *kafka_err_text(int16_t code) {
  switch (code) {
#define KERR__TEXT(name, c, text)                                              \
  case c:                                                                      \
    return text;
    KAFKA_ERRORS(KERR__TEXT)
#undef KERR__TEXT
  default:
    return NULL;
  }
}

int16_t kafka_err(int rc) {
  switch (rc) {
  case 0:
    return KERR_NONE;
  case ND_ECORRUPT:
  case ND_EBATCH:
    return KERR_CORRUPT_MESSAGE;
  case ND_ETOOLARGE:
    return KERR_MESSAGE_TOO_LARGE;
  case ND_ETOPICNAME:
    return KERR_INVALID_TOPIC_EXCEPTION;
  case ND_ENOTOPIC:
  case ND_ENOPARTITION:
    return KERR_UNKNOWN_TOPIC_OR_PARTITION;
  case ND_ERANGE:
    return KERR_OFFSET_OUT_OF_RANGE;
  case ND_ETOPICEXISTS:
    return KERR_TOPIC_ALREADY_EXISTS;
  case ND_ECONFIG:
    return KERR_INVALID_CONFIG;
  case ND_ECODEC:
    return KERR_UNSUPPORTED_COMPRESSION_TYPE;
  case ND_ECONTROL:
  case ND_ENOKEY:
    return KERR_INVALID_RECORD;
  case ND_ETIMESTAMP:
    return KERR_INVALID_TIMESTAMP;
  case ND_ETOPICLIMIT:
    return KERR_INVALID_PARTITIONS;
  case ND_ESTORELIMIT:
    return KERR_POLICY_VIOLATION;
  case ND_ESEQUENCE:
    return KERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
  case ND_EPRODUCERFENCED:
    return KERR_INVALID_PRODUCER_EPOCH;
  case ND_ETXNSTATE:
    return KERR_INVALID_TXN_STATE;
  case ND_ETXNTIMEOUT:
    return KERR_INVALID_TRANSACTION_TIMEOUT;
  case ND_EPRODUCERID:
    return KERR_INVALID_PRODUCER_ID_MAPPING;
  case ND_ECONCURRENTTXN:
    return KERR_CONCURRENT_TRANSACTIONS;
  case ND_EFAILED:
  case ND_EREADONLY:
  case -ENOSPC:
  case -EIO:
  case -EDQUOT:
  case -EROFS:
  /* Storage the broker cannot reach right now: a permission changed under
   * it (a roll creates files), or the process is out of mappings,
   * descriptors or memory. Clients retry KAFKA_STORAGE_ERROR; they give
   * up on UNKNOWN_SERVER_ERROR, which these were answered with before. */
  case -EACCES:
  case -EPERM:
  case -ENOMEM:
  case -EMFILE:
  case -ENFILE:
  case ND_ENOMEM:
    return KERR_KAFKA_STORAGE_ERROR;
  default:
    return KERR_UNKNOWN_SERVER_ERROR;
  }
}
