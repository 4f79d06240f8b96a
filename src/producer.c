/*
 * producer.c — idempotent-producer sequence state (see producer.h).
 */
#include "producer.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "file.h"
#include "layout.h"

/* Beyond this many producers the least recently active one is forgotten,
 * as Kafka expires idle producer ids; a forgotten producer's next batch is
 * simply accepted. */
#define PRODUCERS_MAX 4096

static producer_entry *find(const producer_state *ps, int64_t pid) {
  for (size_t i = 0; i < ps->count; i++)
    if (ps->entries[i].pid == pid)
      return &ps->entries[i];
  return NULL;
}

static int32_t next_seq(int32_t seq) {
  return seq == INT32_MAX ? 0 : seq + 1;
}

enum producer_verdict producer_check(const producer_state *ps, int64_t pid,
                                     int16_t epoch, int32_t first_seq,
                                     int32_t last_seq, producer_batch *dup) {
  const producer_entry *e = find(ps, pid);
  if (!e || e->n == 0)
    return PRODUCER_OK;
  if (epoch < e->epoch)
    return PRODUCER_FENCED;
  if (epoch > e->epoch)
    return first_seq == 0 ? PRODUCER_OK : PRODUCER_OUT_OF_ORDER;
  for (int i = 0; i < e->n; i++) {
    if (e->batches[i].first_seq == first_seq &&
        e->batches[i].last_seq == last_seq) {
      *dup = e->batches[i];
      return PRODUCER_DUPLICATE;
    }
  }
  if (first_seq != next_seq(e->batches[e->n - 1].last_seq))
    return PRODUCER_OUT_OF_ORDER;
  return PRODUCER_OK;
}

int producer_record(producer_state *ps, int64_t pid, int16_t epoch,
                    int32_t first_seq, int32_t last_seq, int64_t base,
                    int64_t last, int64_t ts) {
  producer_entry *e = find(ps, pid);
  if (!e) {
    if (ps->count == PRODUCERS_MAX) {
      size_t oldest = 0;
      for (size_t i = 1; i < ps->count; i++)
        if (ps->entries[i].batches[ps->entries[i].n - 1].last_offset <
            ps->entries[oldest].batches[ps->entries[oldest].n - 1].last_offset)
          oldest = i;
      e = &ps->entries[oldest];
    } else {
      if (ps->count == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 4;
        producer_entry *n = realloc(ps->entries, cap * sizeof *n);
        if (!n)
          return ND_ENOMEM;
        ps->entries = n;
        ps->cap = cap;
      }
      e = &ps->entries[ps->count++];
    }
    memset(e, 0, sizeof *e);
    e->pid = pid;
  }
  if (epoch != e->epoch)
    e->n = 0;
  e->epoch = epoch;
  if (e->n == PRODUCER_BATCHES_KEPT) {
    memmove(e->batches, e->batches + 1,
            (PRODUCER_BATCHES_KEPT - 1) * sizeof e->batches[0]);
    e->n--;
  }
  e->batches[e->n++] = (producer_batch){first_seq, last_seq, base, last};
  e->last_ts = ts;
  return 0;
}

void producer_state_free(producer_state *ps) {
  free(ps->entries);
  memset(ps, 0, sizeof *ps);
}

int producer_state_save(const producer_state *ps, const char *dir,
                        int64_t upto) {
  size_t cap = 64 + ps->count * (48 + PRODUCER_BATCHES_KEPT * 96);
  char *text = malloc(cap);
  if (!text)
    return ND_ENOMEM;
  size_t used =
      (size_t)snprintf(text, cap, "producer-state 2 %" PRId64 "\n", upto);
  for (size_t i = 0; i < ps->count; i++) {
    const producer_entry *e = &ps->entries[i];
    used += (size_t)snprintf(text + used, cap - used,
                             "%" PRId64 " %d %" PRId64 " %d", e->pid,
                             (int)e->epoch, e->last_ts, e->n);
    for (int j = 0; j < e->n; j++)
      used += (size_t)snprintf(text + used, cap - used,
                               " %" PRId32 " %" PRId32 " %" PRId64 " %" PRId64,
                               e->batches[j].first_seq, e->batches[j].last_seq,
                               e->batches[j].base_offset,
                               e->batches[j].last_offset);
    used += (size_t)snprintf(text + used, cap - used, "\n");
  }
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/" LAYOUT_PRODUCER_STATE, dir);
  /* Derived data: a lost or torn file is rebuilt from the log. */
  int rc = file_write_replace(path, text, used);
  free(text);
  return rc ? nd_fail_os(-rc, "cannot write %s", path) : 0;
}

int producer_state_load(producer_state *ps, const char *dir, int64_t *upto) {
  char path[PATH_MAX], *text;
  snprintf(path, sizeof path, "%s/" LAYOUT_PRODUCER_STATE, dir);
  *upto = -1;
  if (file_read_all(path, &text, NULL) != 0)
    return 0; /* missing: rebuilt from the log */
  char *save = NULL;
  char *line = strtok_r(text, "\n", &save);
  long long v;
  /* Another version (an older build's) is simply rebuilt from the log. */
  int ok = line && sscanf(line, "producer-state 2 %lld", &v) == 1 && v >= 0;
  int64_t valid = ok ? v : -1;
  while (ok && (line = strtok_r(NULL, "\n", &save)) != NULL) {
    long long pid, ts;
    int epoch, n, used;
    if (sscanf(line, "%lld %d %lld %d%n", &pid, &epoch, &ts, &n, &used) != 4 ||
        n < 1 || n > PRODUCER_BATCHES_KEPT || epoch < INT16_MIN ||
        epoch > INT16_MAX) {
      ok = 0;
      break;
    }
    const char *p = line + used;
    for (int j = 0; ok && j < n; j++) {
      long long fs, ls, base, last;
      int k;
      if (sscanf(p, " %lld %lld %lld %lld%n", &fs, &ls, &base, &last, &k) !=
              4 ||
          fs < 0 || fs > INT32_MAX || ls < 0 || ls > INT32_MAX) {
        ok = 0;
        break;
      }
      p += k;
      if (producer_record(ps, pid, (int16_t)epoch, (int32_t)fs, (int32_t)ls,
                          base, last, ts) != 0)
        ok = 0;
    }
  }
  free(text);
  if (!ok) {
    /* A damaged file is derived data: drop it and rebuild from the log. */
    producer_state_free(ps);
    return 0;
  }
  *upto = valid;
  return 0;
}
