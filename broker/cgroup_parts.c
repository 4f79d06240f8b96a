/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cgroup_parts.c — sets of topic partitions for consumer groups: sorted
 * arrays, so that the set operations of reconciliation are merges.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"

int cg_tp_cmp(const cg_tp *a, const cg_tp *b) {
  int c = memcmp(a->topic.b, b->topic.b, sizeof a->topic.b);
  if (c)
    return c;
  return (a->partition > b->partition) - (a->partition < b->partition);
}

static int cmp_void(const void *a, const void *b) {
  return cg_tp_cmp(a, b);
}

void cg_parts_normalize(cg_parts *s) {
  if (s->count <= 1)
    return;
  qsort(s->items, (size_t)s->count, sizeof *s->items, cmp_void);
  int32_t w = 1;
  for (int32_t i = 1; i < s->count; i++)
    if (cg_tp_cmp(&s->items[i], &s->items[w - 1]))
      s->items[w++] = s->items[i];
  s->count = w;
}

/* The position of (topic, partition), or where it would go. */
static int32_t lower_bound(const cg_parts *s, const cg_tp *k) {
  int32_t lo = 0, hi = s->count;
  while (lo < hi) {
    int32_t mid = lo + (hi - lo) / 2;
    if (cg_tp_cmp(&s->items[mid], k) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

int cg_parts_contains(const cg_parts *s, const kf_uuid *topic,
                      int32_t partition) {
  cg_tp k = {*topic, partition};
  int32_t i = lower_bound(s, &k);
  return i < s->count && !cg_tp_cmp(&s->items[i], &k);
}

int cg_parts_add(cg_parts *s, const kf_uuid *topic, int32_t partition) {
  cg_tp k = {*topic, partition};
  int32_t i = lower_bound(s, &k);
  if (i < s->count && !cg_tp_cmp(&s->items[i], &k))
    return 0;
  cg_tp *n = realloc(s->items, ((size_t)s->count + 1) * sizeof *n);
  if (!n)
    return -ENOMEM;
  memmove(n + i + 1, n + i, (size_t)(s->count - i) * sizeof *n);
  n[i] = k;
  s->items = n;
  s->count++;
  return 0;
}

int cg_parts_equal(const cg_parts *a, const cg_parts *b) {
  return a->count == b->count &&
         (a->count == 0 ||
          !memcmp(a->items, b->items, (size_t)a->count * sizeof *a->items));
}

/* One merge for the three operations: keep an element of a only, of b
 * only, of both, as the flags say. */
enum { ONLY_A = 1, ONLY_B = 2, BOTH = 4 };

static int merge(const cg_parts *a, const cg_parts *b, int keep,
                 cg_parts *out) {
  out->items = NULL;
  out->count = 0;
  size_t cap = (size_t)a->count + ((keep & ONLY_B) ? (size_t)b->count : 0);
  if (cap == 0)
    return 0;
  out->items = malloc(cap * sizeof *out->items);
  if (!out->items)
    return -ENOMEM;
  int32_t i = 0, j = 0, n = 0;
  while (i < a->count || j < b->count) {
    int c = i == a->count   ? 1
            : j == b->count ? -1
                            : cg_tp_cmp(&a->items[i], &b->items[j]);
    if (c < 0) {
      if (keep & ONLY_A)
        out->items[n++] = a->items[i];
      i++;
    } else if (c > 0) {
      if (keep & ONLY_B)
        out->items[n++] = b->items[j];
      j++;
    } else {
      if (keep & BOTH)
        out->items[n++] = a->items[i];
      i++, j++;
    }
  }
  out->count = n;
  if (n == 0) {
    free(out->items);
    out->items = NULL;
  }
  return 0;
}

int cg_parts_intersect(const cg_parts *a, const cg_parts *b, cg_parts *out) {
  return merge(a, b, BOTH, out);
}

int cg_parts_minus(const cg_parts *a, const cg_parts *b, cg_parts *out) {
  return merge(a, b, ONLY_A, out);
}

int cg_parts_union(const cg_parts *a, const cg_parts *b, cg_parts *out) {
  return merge(a, b, ONLY_A | ONLY_B | BOTH, out);
}

int cg_parts_copy(const cg_parts *a, cg_parts *out) {
  static const cg_parts empty;
  return merge(a, &empty, ONLY_A, out);
}

void cg_parts_free(cg_parts *s) {
  free(s->items);
  s->items = NULL;
  s->count = 0;
}
