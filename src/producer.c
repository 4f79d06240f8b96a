/* SPDX-License-Identifier: Apache-2.0 */
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

producer_entry *producer_find(const producer_state *ps, int64_t pid) {
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
  const producer_entry *e = producer_find(ps, pid);
  if (!e)
    return PRODUCER_OK;
  if (epoch < e->epoch)
    return PRODUCER_FENCED;
  if (e->n == 0) /* a marker bumped the epoch: sequences start again */
    return PRODUCER_OK;
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

/* A new entry for pid: a free slot, or the least recently active
 * producer's without an open transaction. */
static producer_entry *entry_new(producer_state *ps, int64_t pid) {
  producer_entry *e = NULL;
  if (ps->count >= PRODUCERS_MAX) {
    for (size_t i = 0; i < ps->count; i++)
      if (ps->entries[i].txn_first < 0 &&
          (!e || ps->entries[i].last_offset < e->last_offset))
        e = &ps->entries[i];
  }
  if (!e) {
    /* Under the bound, or every producer has a transaction open: those
     * are never forgotten, so the state grows past the bound. */
    if (ps->count == ps->cap) {
      size_t cap = ps->cap ? ps->cap * 2 : 4;
      producer_entry *n = realloc(ps->entries, cap * sizeof *n);
      if (!n)
        return NULL;
      ps->entries = n;
      ps->cap = cap;
    }
    e = &ps->entries[ps->count++];
  }
  memset(e, 0, sizeof *e);
  e->pid = pid;
  e->txn_first = -1;
  e->last_offset = -1;
  e->coord_epoch = -1;
  return e;
}

int producer_record(producer_state *ps, int64_t pid, int16_t epoch,
                    int32_t first_seq, int32_t last_seq, int64_t base,
                    int64_t last, int64_t ts) {
  producer_entry *e = producer_find(ps, pid);
  if (!e && !(e = entry_new(ps, pid)))
    return ND_ENOMEM;
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
  e->last_offset = last;
  return 0;
}

int producer_txn_batch(producer_state *ps, int64_t pid, int16_t epoch,
                       int64_t base, int64_t last) {
  producer_entry *e = producer_find(ps, pid);
  if (!e) {
    /* A transactional batch without sequence numbers (Kafka refuses
     * those; a log written otherwise still gets its LSO right). */
    if (!(e = entry_new(ps, pid)))
      return -1;
    e->epoch = epoch;
    e->last_offset = last;
  }
  if (e->txn_first >= 0)
    return 0;
  e->txn_first = base;
  return 1;
}

int producer_txn_end(producer_state *ps, int64_t pid, int16_t epoch,
                     int32_t coord_epoch, int64_t offset, int64_t ts,
                     int64_t *first) {
  producer_entry *e = producer_find(ps, pid);
  *first = -1;
  if (!e && !(e = entry_new(ps, pid)))
    return ND_ENOMEM;
  *first = e->txn_first;
  e->txn_first = -1;
  if (epoch != e->epoch)
    e->n = 0; /* Kafka's maybeUpdateProducerEpoch */
  e->epoch = epoch;
  e->coord_epoch = coord_epoch;
  e->last_offset = offset;
  e->last_ts = ts; /* Kafka's appendEndTxnMarker sets it too */
  return 0;
}

int64_t producer_first_open(const producer_state *ps, int64_t skip_pid) {
  int64_t m = INT64_MAX;
  for (size_t i = 0; i < ps->count; i++)
    if (ps->entries[i].txn_first >= 0 && ps->entries[i].pid != skip_pid &&
        ps->entries[i].txn_first < m)
      m = ps->entries[i].txn_first;
  return m;
}

void producer_state_free(producer_state *ps) {
  free(ps->entries);
  memset(ps, 0, sizeof *ps);
}

int producer_state_save(const producer_state *ps, const char *dir, int64_t upto,
                        const producer_txn_count *counts, size_t ncounts,
                        producer_text *written) {
  size_t cap =
      64 + ps->count * (96 + PRODUCER_BATCHES_KEPT * 96) + ncounts * 64;
  char *text = malloc(cap);
  if (!text)
    return ND_ENOMEM;
  size_t used =
      (size_t)snprintf(text, cap, "producer-state 5 %" PRId64 "\n", upto);
  size_t lines = ps->count + ncounts;
  for (size_t i = 0; i < ps->count; i++) {
    const producer_entry *e = &ps->entries[i];
    used += (size_t)snprintf(text + used, cap - used,
                             "%" PRId64 " %d %" PRId64 " %" PRId64 " %" PRId64
                             " %" PRId32 " %d",
                             e->pid, (int)e->epoch, e->last_ts, e->txn_first,
                             e->last_offset, e->coord_epoch, e->n);
    for (int j = 0; j < e->n; j++)
      used += (size_t)snprintf(text + used, cap - used,
                               " %" PRId32 " %" PRId32 " %" PRId64 " %" PRId64,
                               e->batches[j].first_seq, e->batches[j].last_seq,
                               e->batches[j].base_offset,
                               e->batches[j].last_offset);
    used += (size_t)snprintf(text + used, cap - used, "\n");
  }
  for (size_t i = 0; i < ncounts; i++)
    used += (size_t)snprintf(text + used, cap - used,
                             "txnindex %" PRId64 " %" PRId64 "\n",
                             counts[i].base, counts[i].count);
  /* The file is written without fsync (a hint): after a power cut it can
   * be a prefix of itself. The count tells a whole file from one. */
  used += (size_t)snprintf(text + used, cap - used, "end %zu\n", lines);
  /* What the file holds already is not written again: an idle partition
   * costs no file replacement at each close (10,000 of them took seconds). */
  if (written && written->text && written->len == used &&
      !memcmp(written->text, text, used)) {
    free(text);
    return 0;
  }
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/" LAYOUT_PRODUCER_STATE, dir);
  /* Derived data: a lost or torn file is rebuilt from the log. */
  int rc = file_write_replace(path, text, used);
  if (written) {
    producer_text_free(written);
    if (!rc)
      *written = (producer_text){text, used};
    else
      free(text);
  } else {
    free(text);
  }
  return rc ? nd_fail_os(-rc, "cannot write %s", path) : 0;
}

void producer_text_free(producer_text *t) {
  free(t->text);
  t->text = NULL;
  t->len = 0;
}

int producer_state_load(producer_state *ps, const char *dir, int64_t *upto,
                        producer_txn_count **counts, size_t *ncounts,
                        producer_text *file) {
  char path[PATH_MAX], *text;
  size_t len;
  snprintf(path, sizeof path, "%s/" LAYOUT_PRODUCER_STATE, dir);
  *upto = -1;
  *counts = NULL;
  *ncounts = 0;
  size_t ccap = 0;
  if (file_read_all(path, &text, &len) != 0)
    return 0; /* missing: rebuilt from the log */
  if (file) {
    producer_text_free(file);
    if ((file->text = malloc(len ? len : 1)) != NULL) {
      memcpy(file->text, text, len);
      file->len = len;
    }
  }
  char *save = NULL;
  char *line = strtok_r(text, "\n", &save);
  long long v;
  /* Version 3 lacks the coordinator epochs: read, with -1 for them until
   * each producer's next marker (only DescribeProducers shows them; a
   * rebuild of the whole log for that is not worth it). Another version (an
   * older build's, without transactions) is rebuilt from the log. */
  int version = 0;
  int ok = line && sscanf(line, "producer-state %d %lld", &version, &v) == 2 &&
           version >= 3 && version <= 5 && v >= 0;
  int64_t valid = ok ? v : -1;
  size_t lines = 0;
  int ended = 0;
  while (ok && (line = strtok_r(NULL, "\n", &save)) != NULL) {
    long long pid, ts, first, lastoff, coord = -1;
    int epoch, n, used, fields;
    unsigned long long end_lines;
    char tail;
    if (ended) {
      ok = 0; /* nothing follows the end line */
      break;
    }
    if (version >= 5 && sscanf(line, "end %llu%c", &end_lines, &tail) == 1) {
      ok = end_lines == lines;
      ended = 1;
      continue;
    }
    lines++;
    if (sscanf(line, "txnindex %lld %lld", &first, &lastoff) == 2) {
      if (*ncounts == ccap) {
        ccap = ccap ? ccap * 2 : 8;
        producer_txn_count *c = realloc(*counts, ccap * sizeof *c);
        if (!c) {
          ok = 0;
          break;
        }
        *counts = c;
      }
      (*counts)[(*ncounts)++] = (producer_txn_count){first, lastoff};
      continue;
    }
    if (version == 3)
      fields = sscanf(line, "%lld %d %lld %lld %lld %d%n", &pid, &epoch, &ts,
                      &first, &lastoff, &n, &used) == 6;
    else
      fields = sscanf(line, "%lld %d %lld %lld %lld %lld %d%n", &pid, &epoch,
                      &ts, &first, &lastoff, &coord, &n, &used) == 7;
    if (!fields || coord < INT32_MIN || coord > INT32_MAX || n < 0 ||
        n > PRODUCER_BATCHES_KEPT || epoch < INT16_MIN || epoch > INT16_MAX ||
        pid < 0 || first < -1 || producer_find(ps, pid)) {
      ok = 0;
      break;
    }
    producer_entry *e = entry_new(ps, pid);
    if (!e) {
      ok = 0;
      break;
    }
    e->epoch = (int16_t)epoch;
    e->last_ts = ts;
    e->txn_first = first;
    e->last_offset = lastoff;
    e->coord_epoch = (int32_t)coord;
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
      e->batches[e->n++] =
          (producer_batch){(int32_t)fs, (int32_t)ls, base, last};
    }
  }
  free(text);
  if (version >= 5 && !ended)
    ok = 0; /* a prefix of the file a power cut left */
  if (!ok) {
    /* Another version, or damaged: derived data, rebuilt from the log. */
    producer_state_free(ps);
    free(*counts);
    *counts = NULL;
    *ncounts = 0;
    if (file)
      producer_text_free(file);
    return 1;
  }
  *upto = valid;
  return 0;
}
