/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz.h — what the libFuzzer targets in fuzz/ share: the entry point,
 * scratch directories that never touch the repository, and checks that
 * abort (so libFuzzer and the replay runner both report them as crashes).
 */
#ifndef ND_FUZZ_H
#define ND_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property the code under test must keep; a violation is a finding. */
#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__,    \
              #cond);                                                          \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* A new empty directory under /dev/shm (tmpfs: recovery's fsyncs cost
 * nothing there), else $TMPDIR or /tmp. It is removed at exit, so a long
 * run leaves nothing behind; a crash leaves it for inspection. The result
 * is static and lives for the process. */
const char *fuzz_scratch_dir(const char *tag);

/* rm -rf; 0 or -errno. */
int fuzz_rm_rf(const char *path);

/* Create or replace path with data[0..n). Aborts on failure: the scratch
 * directory is ours, so a failure is the harness's fault, not an input's. */
void fuzz_write_file(const char *path, const void *data, size_t n);

/* Recompute the CRC-32C of every batch met walking data[0..n) batch by
 * batch from the start (stopping where a length does not fit), so the
 * fuzzer's mutations get past the CRC into the fields behind it. */
void fuzz_fix_batch_crcs(uint8_t *data, size_t n);

/* Touch every byte of p[0..n) so ASan sees a read past a buffer even where
 * the code under test only hands out pointers. */
uint32_t fuzz_touch(const void *p, size_t n);

#endif
