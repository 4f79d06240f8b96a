/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cgroup_stub_classic.c — TEMPORARY, branch is22-classic only: the cgroup.c
 * functions cgroup_classic.c calls, as "no consumer groups", so this branch
 * builds before the core part (cgroup.c) is merged. Delete this file when
 * merging cgroup.c.
 */
#include <stddef.h>
#include <string.h>

#include "cgroup.h"

cgroup *cgroup_find(broker *b, const char *group_id) {
  (void)b;
  (void)group_id;
  return NULL;
}

cg_member *cgroup_member(const cgroup *g, const char *member_id) {
  for (cg_member *m = g->members; m; m = m->next)
    if (strcmp(m->id, member_id) == 0)
      return m;
  return NULL;
}

const char *cgroup_state_name(int state) {
  static const char *const names[] = {"Empty", "Assigning", "Reconciling",
                                      "Stable", "Dead"};
  return state >= 0 && state <= CG_DEAD ? names[state] : "Unknown";
}

void cgroup_forget(broker *b, cgroup *g) {
  (void)b;
  (void)g;
}
