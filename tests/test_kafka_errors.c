/*
 * Which Kafka error a library failure becomes (kafka_err). Clients retry
 * retriable codes and give up on the others, so a failure that will pass
 * by itself must not be UNKNOWN_SERVER_ERROR: issue 15 found a permission
 * error at a segment roll and an mmap ENOMEM answered that way.
 */
#include "test.h"

#include "kafka.h"

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
  RUN(transient_failures_are_retriable);
  RUN(request_errors_stay_what_they_are);
  TEST_MAIN_END();
}
