/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_cgroup_epochs.c — KIP-1251's per-partition rule for commits with an
 * older member epoch (cgroup_commit_partition, cgroup_assignment_epoch):
 * a partition the member holds, assigned or pending revocation, is taken
 * at the epoch it was given at or later, refused before it; a partition it
 * does not hold is refused whatever the epoch (even one the epoch list
 * still names); a partition held but not listed (a state from before the
 * list) is taken at the member's current epoch only. The refusal is the
 * caller's error. test_cgroup_admin.py checks the same against Kafka 4.4
 * over the wire.
 */
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"
#include "test.h"

#define STALE KERR_STALE_MEMBER_EPOCH

static kf_uuid topic(int n) {
  kf_uuid u;
  memset(u.b, n, sizeof u.b);
  return u;
}

static void test_rule(void) {
  cg_member m = {0};
  m.epoch = 9;
  kf_uuid a = topic(1), b = topic(2);
  cg_parts_add(&m.assigned, &a, 0);           /* given at 3 */
  cg_parts_add(&m.assigned, &a, 1);           /* given at 9 */
  cg_parts_add(&m.assigned, &a, 2);           /* not listed */
  cg_parts_add(&m.pending_revocation, &b, 0); /* given at 5 */
  /* Sorted by (topic bytes, partition); b-1 is listed but not held. */
  cg_part_epoch pe[] = {
      {{a, 0}, 3},
      {{a, 1}, 9},
      {{b, 0}, 5},
      {{b, 1}, 2},
  };
  m.part_epochs = pe;
  m.npart_epochs = 4;

  CHECK(cgroup_assignment_epoch(&m, &(cg_tp){a, 0}) == 3);
  CHECK(cgroup_assignment_epoch(&m, &(cg_tp){a, 2}) == 9);
  CHECK(cgroup_assignment_epoch(&m, &(cg_tp){b, 0}) == 5);
  CHECK(cgroup_assignment_epoch(&m, &(cg_tp){b, 1}) == -1);
  CHECK(cgroup_assignment_epoch(&m, &(cg_tp){a, 3}) == -1);

  /* Assigned at 3: any epoch from 3 on. */
  CHECK(cgroup_commit_partition(&m, 3, a.b, 0, STALE) == 0);
  CHECK(cgroup_commit_partition(&m, 8, a.b, 0, STALE) == 0);
  CHECK(cgroup_commit_partition(&m, 2, a.b, 0, STALE) == STALE);
  /* Assigned at 9, the current epoch: nothing older. */
  CHECK(cgroup_commit_partition(&m, 8, a.b, 1, STALE) == STALE);
  /* Pending revocation, given at 5. */
  CHECK(cgroup_commit_partition(&m, 5, b.b, 0, STALE) == 0);
  CHECK(cgroup_commit_partition(&m, 4, b.b, 0, STALE) == STALE);
  /* Listed but given up: refused, with the caller's error. */
  CHECK(cgroup_commit_partition(&m, 8, b.b, 1, KERR_ILLEGAL_GENERATION) ==
        KERR_ILLEGAL_GENERATION);
  /* Held, not listed: the current epoch stands in. */
  CHECK(cgroup_commit_partition(&m, 8, a.b, 2, STALE) == STALE);
  CHECK(cgroup_commit_partition(&m, 9, a.b, 2, STALE) == 0);
  /* Never held. */
  CHECK(cgroup_commit_partition(&m, 8, a.b, 3, STALE) == STALE);

  /* No list at all. */
  m.part_epochs = NULL;
  m.npart_epochs = 0;
  CHECK(cgroup_assignment_epoch(&m, &(cg_tp){a, 0}) == 9);
  CHECK(cgroup_commit_partition(&m, 8, a.b, 0, STALE) == STALE);
  cg_parts_free(&m.assigned);
  cg_parts_free(&m.pending_revocation);
}

int main(void) {
  RUN(test_rule);
  TEST_MAIN_END();
}
