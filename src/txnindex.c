/* SPDX-License-Identifier: Apache-2.0 */
/*
 * txnindex.c — the aborted-transaction index of a segment (txnindex.h).
 */
#include "txnindex.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "file.h"
#include "layout.h"
#include "stats.h"

static void path_of(char *out, size_t cap, const char *seg_path) {
  snprintf(out, cap, "%s" LAYOUT_TXNINDEX, seg_path);
}

static void put64(uint8_t *p, int64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
}

static int64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | p[i];
  return (int64_t)v;
}

void txnindex_encode(uint8_t *p, const txn_aborted *e) {
  p[0] = p[1] = 0; /* version 0 */
  put64(p + 2, e->pid);
  put64(p + 10, e->first);
  put64(p + 18, e->last);
  put64(p + 26, e->lso);
}

int txnindex_decode(const uint8_t *p, txn_aborted *e) {
  e->pid = get64(p + 2);
  e->first = get64(p + 10);
  e->last = get64(p + 18);
  e->lso = get64(p + 26);
  /* Kafka's AbortedTxn.CURRENT_VERSION is 0 and it refuses others. */
  return p[0] == 0 && p[1] == 0 ? 0 : -1;
}

int txnindex_push(txn_list *l, const txn_aborted *e) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 4;
    txn_aborted *v = realloc(l->v, cap * sizeof *v);
    if (!v)
      return ND_ENOMEM;
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = *e;
  return 0;
}

int txnindex_write(const txn_list *l, const char *seg_path) {
  char path[PATH_MAX];
  path_of(path, sizeof path, seg_path);
  if (l->n == 0) {
    int rc = file_unlink(path);
    return rc && rc != -ENOENT ? nd_fail_os(-rc, "cannot remove %s", path) : 0;
  }
  uint8_t *buf = malloc(l->n * TXNINDEX_ENTRY_SIZE);
  if (!buf)
    return nd_fail(ND_ENOMEM, "out of memory");
  for (size_t i = 0; i < l->n; i++)
    txnindex_encode(buf + i * TXNINDEX_ENTRY_SIZE, &l->v[i]);
  int rc = file_write_replace(path, buf, l->n * TXNINDEX_ENTRY_SIZE);
  free(buf);
  return rc ? nd_fail_os(-rc, "cannot write %s", path) : 0;
}

int txnindex_load(txn_list *l, const char *seg_path, int64_t base,
                  int64_t next_offset, int readonly) {
  char path[PATH_MAX], *text = NULL;
  size_t len = 0;
  path_of(path, sizeof path, seg_path);
  if (file_read_all(path, &text, &len) != 0)
    return 0; /* none: no ABORT marker here, or rebuilt by recovery */
  const uint8_t *p = (const uint8_t *)text;
  size_t whole = len / TXNINDEX_ENTRY_SIZE;
  int64_t prev = -1;
  int rc = 0;
  for (size_t i = 0; i < whole; i++) {
    txn_aborted e;
    if (txnindex_decode(p + i * TXNINDEX_ENTRY_SIZE, &e) != 0 ||
        e.last < base || e.last >= next_offset || e.first >= e.last ||
        e.first < 0 || e.pid < 0 || e.last <= prev)
      break;
    if ((rc = txnindex_push(l, &e)) != 0)
      break;
    prev = e.last;
  }
  free(text);
  if (rc)
    return rc;
  if (l->n * TXNINDEX_ENTRY_SIZE != len && !readonly)
    (void)txnindex_write(l, seg_path); /* derived: best effort */
  return 0;
}

int txnindex_add(txn_list *l, const char *seg_path, const txn_aborted *e,
                 int readonly) {
  if (txnindex_push(l, e) != 0)
    return nd_fail(ND_ENOMEM, "out of memory");
  if (readonly)
    return 0;
  char path[PATH_MAX];
  path_of(path, sizeof path, seg_path);
  int fd = file_open(path, O_WRONLY | O_CREAT);
  if (fd < 0)
    return nd_fail_os(-fd, "cannot open %s", path);
  uint8_t buf[TXNINDEX_ENTRY_SIZE];
  txnindex_encode(buf, e);
  /* At the place the list says, not at the file's end: whatever a torn
   * write left past the last whole entry is overwritten. */
  int rc = file_pwrite_all(fd, buf, sizeof buf,
                           (off_t)((l->n - 1) * TXNINDEX_ENTRY_SIZE));
  file_close(fd);
  l->dirty = 1;
  return rc ? nd_fail_os(-rc, "cannot write %s", path) : 0;
}

int txnindex_truncate(txn_list *l, const char *seg_path, int64_t offset) {
  size_t n = l->n;
  while (n > 0 && l->v[n - 1].last >= offset)
    n--;
  if (n == l->n)
    return 0;
  l->n = n;
  return txnindex_write(l, seg_path);
}

int txnindex_sync(txn_list *l, const char *seg_path, const nd_logger *lg) {
  if (!l->dirty)
    return 0;
  char path[PATH_MAX];
  path_of(path, sizeof path, seg_path);
  int fd = file_open(path, O_RDONLY);
  if (fd == -ENOENT) {
    l->dirty = 0;
    return 0;
  }
  if (fd < 0)
    return nd_fail_os(-fd, "cannot open %s", path);
  int rc = stats_datasync(lg, fd, path);
  file_close(fd);
  if (rc)
    return nd_fail_os(-rc, "fdatasync %s", path);
  l->dirty = 0;
  return 0;
}

void txnindex_free(txn_list *l) {
  free(l->v);
  memset(l, 0, sizeof *l);
}
