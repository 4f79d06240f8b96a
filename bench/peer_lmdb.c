/* SPDX-License-Identifier: Apache-2.0 */
/*
 * peer_lmdb.c — LMDB as the B-tree-over-mmap peer (Debian's liblmdb, a
 * peer for comparison only: libnodata never links it). One database with
 * MDB_INTEGERKEY: the key is the record's offset as a native 64-bit
 * integer, the value its 100 bytes. Appends are one write transaction per
 * batch with MDB_APPEND (keys arrive in order, so pages fill without
 * splits in the middle); MDB_NOSYNC matches nodata's fsync=never. A lookup
 * is mdb_txn_renew + mdb_get + mdb_txn_reset on one reused read
 * transaction, as a tuned reader does, so each lookup sees the latest
 * commit as a nodata lookup sees the latest append. The sequential read
 * is one cursor walked with MDB_NEXT.
 */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_int.h"

struct lmdb_peer {
  MDB_env *env;
  MDB_dbi dbi;
  MDB_txn *rtxn; /* the reused read transaction, reset between lookups */
};

static int lmdb_fail(const char *what, int rc) {
  fprintf(stderr, "nodata-bench: error: lmdb %s: %s\n", what, mdb_strerror(rc));
  return -1;
}

int lmdb_peer_open(const char *dir, lmdb_peer **out) {
  *out = NULL;
  lmdb_peer *p = calloc(1, sizeof *p);
  if (!p)
    return bench_fail("lmdb peer", ND_ENOMEM);
  MDB_txn *txn = NULL;
  int rc = mdb_env_create(&p->env);
  if (!rc)
    rc = mdb_env_set_mapsize(p->env, (size_t)16 << 30);
  if (!rc)
    rc = mdb_env_open(p->env, dir, MDB_NOSYNC | MDB_NOMETASYNC, 0644);
  if (!rc)
    rc = mdb_txn_begin(p->env, NULL, 0, &txn);
  if (!rc)
    rc = mdb_dbi_open(txn, NULL, MDB_INTEGERKEY, &p->dbi);
  if (!rc)
    rc = mdb_txn_commit(txn);
  else if (txn)
    mdb_txn_abort(txn);
  if (!rc)
    rc = mdb_txn_begin(p->env, NULL, MDB_RDONLY, &p->rtxn);
  if (rc) {
    lmdb_peer_close(p);
    return lmdb_fail(dir, rc);
  }
  mdb_txn_reset(p->rtxn);
  *out = p;
  return 0;
}

int lmdb_peer_append(lmdb_peer *p, int64_t first, const nd_record *recs,
                     size_t n) {
  MDB_txn *txn;
  int rc = mdb_txn_begin(p->env, NULL, 0, &txn);
  if (rc)
    return lmdb_fail("txn_begin", rc);
  for (size_t i = 0; i < n && !rc; i++) {
    uint64_t k = (uint64_t)first + i;
    MDB_val key = {sizeof k, &k};
    MDB_val val = {recs[i].value_len, (void *)recs[i].value};
    rc = mdb_put(txn, p->dbi, &key, &val, MDB_APPEND);
  }
  if (rc) {
    mdb_txn_abort(txn);
    return lmdb_fail("put", rc);
  }
  rc = mdb_txn_commit(txn);
  return rc ? lmdb_fail("commit", rc) : 0;
}

int lmdb_peer_get(lmdb_peer *p, int64_t offset, size_t *len) {
  int rc = mdb_txn_renew(p->rtxn);
  if (rc)
    return lmdb_fail("txn_renew", rc);
  uint64_t k = (uint64_t)offset;
  MDB_val key = {sizeof k, &k}, val;
  rc = mdb_get(p->rtxn, p->dbi, &key, &val);
  *len = rc ? 0 : val.mv_size;
  mdb_txn_reset(p->rtxn);
  return rc ? lmdb_fail("get", rc) : 0;
}

int lmdb_peer_scan(lmdb_peer *p, uint64_t *records, uint64_t *bytes) {
  int rc = mdb_txn_renew(p->rtxn);
  if (rc)
    return lmdb_fail("txn_renew", rc);
  MDB_cursor *c;
  rc = mdb_cursor_open(p->rtxn, p->dbi, &c);
  if (rc) {
    mdb_txn_reset(p->rtxn);
    return lmdb_fail("cursor_open", rc);
  }
  MDB_val key, val;
  uint64_t n = 0, b = 0;
  for (rc = mdb_cursor_get(c, &key, &val, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
    n++;
    b += val.mv_size;
  }
  mdb_cursor_close(c);
  mdb_txn_reset(p->rtxn);
  if (rc != MDB_NOTFOUND)
    return lmdb_fail("cursor_get", rc);
  *records += n;
  *bytes += b;
  return 0;
}

void lmdb_peer_close(lmdb_peer *p) {
  if (!p)
    return;
  if (p->rtxn)
    mdb_txn_abort(p->rtxn);
  if (p->env)
    mdb_env_close(p->env);
  free(p);
}

const char *lmdb_peer_version(void) {
  return mdb_version(NULL, NULL, NULL);
}
