/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kafka error table (kafka_errors.h): every code's name and default
 * text, codes not in it. And which Kafka error a library failure becomes
 * (kafka_err). Clients retry
 * retriable codes and give up on the others, so a failure that will pass
 * by itself must not be UNKNOWN_SERVER_ERROR: issue 15 found a permission
 * error at a segment roll and an mmap ENOMEM answered that way.
 */
#include "test.h"

#include <stdio.h>
#include <string.h>

#include "kafka.h"

/* Every row of the table is found by its code, under its own name and
 * text: a row the lookups missed, or two rows sharing a code (the second
 * would be shadowed), fails here. */
static void every_code_has_its_name_and_text(void) {
  int rows = 0;
#define ROW(name, code, text)                                                  \
  do {                                                                         \
    rows++;                                                                    \
    CHECK(KERR_##name == (code));                                              \
    const char *n = kafka_err_name(code), *t = kafka_err_text(code);           \
    if (!n || strcmp(n, #name) != 0 || !t || strcmp(t, text) != 0)             \
      fprintf(stderr, "code %d: %s / %s\n", (int)(code), n ? n : "NULL",       \
              t ? t : "NULL");                                                 \
    CHECK(n &&strcmp(n, #name) == 0);                                          \
    CHECK(t &&strcmp(t, text) == 0);                                           \
  } while (0);
  KAFKA_ERRORS(ROW)
#undef ROW
  /* Kafka 4.4's Errors lists 138, UNKNOWN_SERVER_ERROR (-1) to 136. */
  CHECK(rows == 138);
}

/* Spot checks written out by hand, so a table edit that renames or
 * renumbers a code the broker answers with is caught. */
static void known_codes(void) {
  CHECK(KERR_NONE == 0);
  CHECK(strcmp(kafka_err_text(KERR_NONE), "") == 0);
  CHECK(KERR_UNKNOWN_TOPIC_OR_PARTITION == 3);
  CHECK(strcmp(kafka_err_name(3), "UNKNOWN_TOPIC_OR_PARTITION") == 0);
  CHECK(strcmp(kafka_err_text(3),
               "This server does not host this topic-partition.") == 0);
  CHECK(KERR_KAFKA_STORAGE_ERROR == 56);
  CHECK(strcmp(kafka_err_text(56),
               "Disk error when trying to access log file on the disk.") == 0);
  CHECK(KERR_FETCH_SESSION_ID_NOT_FOUND == 70);
  CHECK(KERR_FENCED_LEADER_EPOCH == 74);
  CHECK(KERR_UNKNOWN_LEADER_EPOCH == 75);
  CHECK(KERR_REBOOTSTRAP_REQUIRED == 129);
  CHECK(strcmp(kafka_err_name(-1), "UNKNOWN_SERVER_ERROR") == 0);
}

static void unknown_codes(void) {
  static const int16_t codes[] = {-2, 137, 1000, INT16_MAX, INT16_MIN};
  for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
    CHECK(kafka_err_name(codes[i]) == NULL);
    CHECK(kafka_err_text(codes[i]) == NULL);
  }
}

/* Log lines name an error NAME(code), UNKNOWN(code) when not in the table. */
static void log_format(void) {
  char buf[64];
  snprintf(buf, sizeof buf, KAFKA_ERR_FMT,
           KAFKA_ERR_ARGS(KERR_KAFKA_STORAGE_ERROR));
  CHECK(strcmp(buf, "KAFKA_STORAGE_ERROR(56)") == 0);
  int16_t odd = 999;
  snprintf(buf, sizeof buf, KAFKA_ERR_FMT, KAFKA_ERR_ARGS(odd));
  CHECK(strcmp(buf, "UNKNOWN(999)") == 0);
}

static void transient_failures_are_retriable(void) {
  static const int rcs[] = {-ENOSPC, -EIO,      -EDQUOT,   -EROFS,
                            -EACCES, -EPERM,    -ENOMEM,   -EMFILE,
                            -ENFILE, ND_ENOMEM, ND_EFAILED};
  for (size_t i = 0; i < sizeof rcs / sizeof *rcs; i++) {
    if (kafka_err(rcs[i]) != KERR_KAFKA_STORAGE_ERROR)
      fprintf(stderr, "rc %d -> %d\n", rcs[i], kafka_err(rcs[i]));
    CHECK(kafka_err(rcs[i]) == KERR_KAFKA_STORAGE_ERROR);
  }
}

static void request_errors_stay_what_they_are(void) {
  CHECK(kafka_err(0) == KERR_NONE);
  CHECK(kafka_err(ND_ECORRUPT) == KERR_CORRUPT_MESSAGE);
  CHECK(kafka_err(ND_ETOOLARGE) == KERR_MESSAGE_TOO_LARGE);
  CHECK(kafka_err(ND_ENOTOPIC) == KERR_UNKNOWN_TOPIC_OR_PARTITION);
  CHECK(kafka_err(-EINVAL) == KERR_UNKNOWN_SERVER_ERROR);
}

int main(void) {
  RUN(every_code_has_its_name_and_text);
  RUN(known_codes);
  RUN(unknown_codes);
  RUN(log_format);
  RUN(transient_failures_are_retriable);
  RUN(request_errors_stay_what_they_are);
  TEST_MAIN_END();
}
