/* SPDX-License-Identifier: Apache-2.0 */
/*
 * peer_sqlite.c — SQLite as the embedded-store peer: WAL mode, one row per
 * record with the offset as INTEGER PRIMARY KEY (the rowid, so a lookup is
 * one B-tree descent), one transaction per append batch. synchronous=OFF
 * matches nodata's fsync=never; FULL makes every commit fsync the WAL,
 * matching fsync=always. Statements are prepared once, as a tuned
 * application would.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench_int.h"

struct sqlite_peer {
  sqlite3 *db;
  sqlite3_stmt *begin, *commit, *insert, *select;
};

static int sql_fail(sqlite3 *db, const char *what) {
  fprintf(stderr, "nodata-bench: error: sqlite %s: %s\n", what,
          db ? sqlite3_errmsg(db) : "out of memory");
  return -1;
}

static int exec(sqlite3 *db, const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
    fprintf(stderr, "nodata-bench: error: sqlite \"%s\": %s\n", sql,
            err ? err : "?");
    sqlite3_free(err);
    return -1;
  }
  return 0;
}

int sqlite_peer_open(const char *path, int durable, sqlite_peer **out) {
  *out = NULL;
  sqlite_peer *p = calloc(1, sizeof *p);
  if (!p)
    return bench_fail("sqlite peer", ND_ENOMEM);
  if (sqlite3_open(path, &p->db) != SQLITE_OK) {
    sql_fail(p->db, path);
    sqlite_peer_close(p);
    return -1;
  }
  if (exec(p->db, "PRAGMA journal_mode=WAL") ||
      exec(p->db,
           durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=OFF") ||
      exec(p->db, "CREATE TABLE IF NOT EXISTS log("
                  "offset INTEGER PRIMARY KEY, value BLOB)")) {
    sqlite_peer_close(p);
    return -1;
  }
  if (sqlite3_prepare_v2(p->db, "BEGIN", -1, &p->begin, NULL) ||
      sqlite3_prepare_v2(p->db, "COMMIT", -1, &p->commit, NULL) ||
      sqlite3_prepare_v2(p->db, "INSERT INTO log(offset, value) VALUES(?, ?)",
                         -1, &p->insert, NULL) ||
      sqlite3_prepare_v2(p->db, "SELECT value FROM log WHERE offset = ?", -1,
                         &p->select, NULL)) {
    sql_fail(p->db, "prepare");
    sqlite_peer_close(p);
    return -1;
  }
  *out = p;
  return 0;
}

static int step_done(sqlite_peer *p, sqlite3_stmt *st, const char *what) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? 0 : sql_fail(p->db, what);
}

int sqlite_peer_append(sqlite_peer *p, int64_t first, const nd_record *recs,
                       size_t n) {
  if (step_done(p, p->begin, "BEGIN"))
    return -1;
  for (size_t i = 0; i < n; i++) {
    sqlite3_bind_int64(p->insert, 1, first + (int64_t)i);
    sqlite3_bind_blob(p->insert, 2, recs[i].value, (int)recs[i].value_len,
                      SQLITE_STATIC);
    if (step_done(p, p->insert, "INSERT")) {
      step_done(p, p->commit, "COMMIT");
      return -1;
    }
  }
  return step_done(p, p->commit, "COMMIT");
}

int sqlite_peer_get(sqlite_peer *p, int64_t offset, size_t *len) {
  sqlite3_bind_int64(p->select, 1, offset);
  int rc = sqlite3_step(p->select);
  if (rc != SQLITE_ROW) {
    sqlite3_reset(p->select);
    return rc == SQLITE_DONE ? bench_fail("sqlite lookup", ND_ENOTFOUND)
                             : sql_fail(p->db, "SELECT");
  }
  /* Touch the value as a reader would: the blob pointer is the result. */
  const void *v = sqlite3_column_blob(p->select, 0);
  *len = v ? (size_t)sqlite3_column_bytes(p->select, 0) : 0;
  sqlite3_reset(p->select);
  return 0;
}

int sqlite_peer_scan(sqlite_peer *p, uint64_t *records, uint64_t *bytes) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(p->db, "SELECT offset, value FROM log ORDER BY offset",
                         -1, &st, NULL))
    return sql_fail(p->db, "prepare scan");
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const void *v = sqlite3_column_blob(st, 1);
    *bytes += v ? (uint64_t)sqlite3_column_bytes(st, 1) : 0;
    (*records)++;
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : sql_fail(p->db, "scan");
}

void sqlite_peer_close(sqlite_peer *p) {
  if (!p)
    return;
  sqlite3_finalize(p->begin);
  sqlite3_finalize(p->commit);
  sqlite3_finalize(p->insert);
  sqlite3_finalize(p->select);
  sqlite3_close(p->db);
  free(p);
}

void sqlite_peer_remove(const char *path) {
  char buf[PATH_MAX + 8];
  unlink(path);
  snprintf(buf, sizeof buf, "%s-wal", path);
  unlink(buf);
  snprintf(buf, sizeof buf, "%s-shm", path);
  unlink(buf);
}

const char *sqlite_peer_version(void) {
  return sqlite3_libversion();
}
