/* SPDX-License-Identifier: Apache-2.0 */
/* Idempotent producers: retries are stored once, gaps and stale epochs are
 * refused, and the state survives clean and unclean restarts. */
#include "test.h"

#include <glob.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "bytes.h"
#include "txn_batches.h"

static nd_store *open_store(const char *dir) {
  nd_options o = {.no_background = 1};
  nd_store *s = NULL;
  if (nd_open(dir, &o, &s) != 0)
    fprintf(stderr, "nd_open(%s): %s\n", dir, nd_errmsg());
  return s;
}

/* A 2-record batch from producer pid/epoch starting at sequence seq, as a
 * client would build it. */
static uint8_t *producer_batch(nd_store *s, int64_t pid, int16_t epoch,
                               int32_t seq, size_t *len) {
  nd_record r[2] = {{NULL, 0, "a", 1, NULL, 0, 1000},
                    {NULL, 0, "b", 1, NULL, 0, 1001}};
  /* Encode through a scratch topic, then stamp the producer fields. */
  nd_append_info ai;
  if (nd_append(s, "scratch", 0, r, 2, 0, &ai) != 0)
    return NULL;
  nd_batches b;
  if (nd_read(s, "scratch", 0, ai.base_offset, 1, &b) != 0)
    return NULL;
  put_be64(b.data + 43, (uint64_t)pid);
  put_be16(b.data + 51, (uint16_t)epoch);
  put_be32(b.data + 53, (uint32_t)seq);
  nd_batch_set_crc(b.data, b.len);
  *len = b.len;
  return b.data;
}

static int append_seq(nd_store *s, int64_t pid, int16_t epoch, int32_t seq,
                      nd_append_info *ai) {
  size_t len;
  uint8_t *b = producer_batch(s, pid, epoch, seq, &len);
  if (!b)
    return -1;
  int rc = nd_append_batch(s, "idem", 0, b, len, 0, ai);
  nd_free(b);
  return rc;
}

static void sequences(void) {
  char *dir = tmpdir_make("idem");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "idem", 1, NULL));
  CHECK_OK(nd_topic_create(s, "scratch", 1, NULL));
  nd_append_info ai;
  CHECK_OK(append_seq(s, 42, 0, 0, &ai));
  CHECK_EQ_I64(ai.base_offset, 0);
  CHECK_OK(append_seq(s, 42, 0, 2, &ai));
  CHECK_EQ_I64(ai.base_offset, 2);
  /* A retry of either of the last batches: acknowledged, not stored. */
  CHECK_RC(append_seq(s, 42, 0, 0, &ai), ND_EDUPSEQ);
  CHECK_EQ_I64(ai.base_offset, 0);
  CHECK_EQ_I64(ai.last_offset, 1);
  CHECK_RC(append_seq(s, 42, 0, 2, &ai), ND_EDUPSEQ);
  CHECK_EQ_I64(ai.base_offset, 2);
  int64_t hw;
  CHECK_OK(nd_offsets(s, "idem", 0, NULL, &hw));
  CHECK_EQ_I64(hw, 4);
  /* A gap, and an old epoch. */
  CHECK_RC(append_seq(s, 42, 0, 7, &ai), ND_ESEQUENCE);
  CHECK(strstr(nd_errmsg(), "out of order") != NULL);
  CHECK_OK(append_seq(s, 42, 1, 0, &ai)); /* new epoch starts at 0 */
  CHECK_RC(append_seq(s, 42, 0, 4, &ai), ND_EPRODUCERFENCED);
  CHECK_RC(append_seq(s, 42, 2, 5, &ai), ND_ESEQUENCE);
  /* Another producer is independent. */
  CHECK_OK(append_seq(s, 43, 0, 0, &ai));
  CHECK_OK(nd_offsets(s, "idem", 0, NULL, &hw));
  CHECK_EQ_I64(hw, 8);

  /* Listed for DescribeProducers: 42 at epoch 1 (seq 0..1 at offsets
   * 4..5), 43 at epoch 0 (seq 0..1 at offsets 6..7). */
  nd_producer_info *pl;
  size_t np;
  CHECK_OK(nd_partition_producers(s, "idem", 0, &pl, &np));
  CHECK_EQ_I64(np, 2);
  for (size_t i = 0; i < np; i++) {
    if (pl[i].producer_id == 42)
      CHECK(pl[i].producer_epoch == 1 && pl[i].last_sequence == 1 &&
            pl[i].last_offset == 5 && pl[i].last_timestamp == 1001);
    else
      CHECK(pl[i].producer_id == 43 && pl[i].last_offset == 7);
  }
  nd_free(pl);
  CHECK_OK(nd_partition_producers(s, "scratch", 0, &pl, &np));
  CHECK_EQ_I64(np, 0);
  CHECK_RC(nd_partition_producers(s, "idem", 3, &pl, &np), ND_ENOPARTITION);

  /* After a clean restart the state is loaded from its snapshot. */
  CHECK_OK(nd_close(s));
  s = open_store(dir);
  CHECK(s);
  CHECK_RC(append_seq(s, 42, 1, 0, &ai), ND_EDUPSEQ);
  CHECK_EQ_I64(ai.base_offset, 4);
  CHECK_OK(append_seq(s, 42, 1, 2, &ai));
  CHECK_EQ_I64(ai.base_offset, 8);
  CHECK_OK(nd_partition_producers(s, "idem", 0, &pl, &np));
  CHECK_EQ_I64(np, 2);
  nd_free(pl);
  CHECK_OK(nd_close(s));

  /* After a crash (no snapshot of the latest batches) it is rebuilt from
   * the batch headers in the log. */
  pid_t child = fork();
  if (child == 0) {
    nd_store *cs = open_store(dir);
    nd_append_info cai;
    _exit(cs && append_seq(cs, 42, 1, 4, &cai) == 0 ? 0 : 1);
  }
  int st;
  waitpid(child, &st, 0);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  s = open_store(dir);
  CHECK(s);
  CHECK_RC(append_seq(s, 42, 1, 4, &ai), ND_EDUPSEQ);
  CHECK_EQ_I64(ai.base_offset, 10);
  CHECK_OK(append_seq(s, 42, 1, 6, &ai));
  CHECK_EQ_I64(ai.base_offset, 12);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* A transaction marker is Kafka's EndTransactionMarker: one control
 * record, key version 0 + type (1 COMMIT, 0 ABORT), value version 0 +
 * coordinator epoch, in a batch of the producer's id and epoch. */
static void markers(void) {
  char *dir = tmpdir_make("marker");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "m", 1, NULL));
  int64_t off;
  /* A marker ends an open transaction: none is open yet, nothing is
   * written (markers are idempotent). */
  CHECK_OK(nd_txn_write_marker(s, "m", 0, 77, 3, 1, 9, ND_APPEND_SYNC, &off));
  CHECK_EQ_I64(off, -1);
  CHECK_OK(txn_append(s, "m", 0, 77, 3, 0, 1, "c", 1, &off));
  CHECK_EQ_I64(off, 0);
  CHECK_OK(nd_txn_write_marker(s, "m", 0, 77, 3, 1, 9, ND_APPEND_SYNC, &off));
  CHECK_EQ_I64(off, 1);
  CHECK_OK(txn_append(s, "m", 0, 77, 3, 1, 1, "a", 1, &off));
  CHECK_EQ_I64(off, 2);
  CHECK_OK(nd_txn_write_marker(s, "m", 0, 77, 3, 0, 9, 0, &off));
  CHECK_EQ_I64(off, 3);
  CHECK_RC(nd_txn_write_marker(s, "m", 0, -1, 0, 1, 0, 0, &off), ND_EINVAL);
  CHECK_EQ_I64(off, -1);
  nd_batches b;
  CHECK_OK(nd_read(s, "m", 0, 1, 1 << 20, &b));
  CHECK_EQ_I64(be16(b.data + 21), 0x30); /* transactional, control */
  CHECK_EQ_I64(be16(b.data + 51), 3);
  nd_free(b.data);
  nd_reader *r;
  CHECK_OK(nd_reader_open(s, "m", 0, 0, NULL, &r));
  static const uint8_t value[6] = {0, 0, 0, 0, 0, 9};
  for (int type = 1; type >= 0; type--) {
    nd_record_view v;
    CHECK_OK(nd_reader_get(r, type ? 1 : 3, &v));
    uint8_t key[4] = {0, 0, 0, (uint8_t)type};
    CHECK(v.is_control && v.producer_id == 77);
    CHECK(v.key_len == 4 && memcmp(v.key, key, 4) == 0);
    CHECK(v.value_len == 6 && memcmp(v.value, value, 6) == 0);
  }
  nd_reader_close(r);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* The coordinator epoch of pid's last marker in topic "ce" (DescribeProducers'
 * coordinatorEpoch), -2 when the partition does not list pid. */
static int64_t coord_epoch(nd_store *s, int64_t pid) {
  nd_producer_info *pl = NULL;
  size_t n = 0;
  if (nd_partition_producers(s, "ce", 0, &pl, &n) != 0)
    return -3;
  int64_t e = -2;
  for (size_t i = 0; i < n; i++)
    if (pl[i].producer_id == pid)
      e = pl[i].coordinator_epoch;
  nd_free(pl);
  return e;
}

/* Rewrite the partition's producer-state file by edit: 'j' junk, '3' the
 * version-3 form (no coordinator epoch column), as an older nodata wrote. */
static int edit_state(const char *dir, char how) {
  char pat[PATH_MAX], path[PATH_MAX];
  snprintf(pat, sizeof pat, "%s/topics/*/0/producer-state", dir);
  /* 't': cut after its first line, as a power cut can leave the file
   * (written without fsync). */
  glob_t g;
  if (glob(pat, 0, NULL, &g) != 0 || g.gl_pathc != 1) {
    globfree(&g);
    return -1;
  }
  snprintf(path, sizeof path, "%s", g.gl_pathv[0]);
  globfree(&g);
  size_t len;
  uint8_t *raw = read_file(path, &len);
  char *text = raw ? malloc(len + 1) : NULL; /* read_file adds no NUL */
  char *out = text ? malloc(len + 64) : NULL, *save = NULL;
  if (text)
    memcpy(text, raw, len), text[len] = 0;
  free(raw);
  if (!out)
    return free(text), -1;
  size_t used = 0;
  for (char *line = strtok_r(text, "\n", &save); line && how == '3';
       line = strtok_r(NULL, "\n", &save)) {
    long long upto;
    if (sscanf(line, "producer-state 5 %lld", &upto) == 1) {
      used += (size_t)sprintf(out + used, "producer-state 3 %lld\n", upto);
      continue;
    }
    if (strncmp(line, "end ", 4) == 0)
      continue; /* version 3 has no end line */
    if (strncmp(line, "txnindex ", 9) != 0) {
      /* Drop the sixth field, the coordinator epoch. */
      char *f = line;
      for (int k = 0; k < 5 && f; k++)
        f = strchr(f + 1, ' ');
      char *g6 = f ? strchr(f + 1, ' ') : NULL;
      if (!g6)
        return free(out), free(text), -1;
      used +=
          (size_t)sprintf(out + used, "%.*s%s\n", (int)(f - line), line, g6);
      continue;
    }
    used += (size_t)sprintf(out + used, "%s\n", line);
  }
  if (how == 'j')
    used = (size_t)sprintf(out, "producer-state 4 zz\n");
  if (how == 't') /* what a power cut can leave: the first line alone */
    used = (size_t)snprintf(out, len + 64, "%.*s\n", (int)strcspn(text, "\n"),
                            text);
  FILE *fp = fopen(path, "w");
  int rc = fp && fwrite(out, 1, used, fp) == used ? 0 : -1;
  if (fp)
    fclose(fp);
  free(out);
  free(text);
  return rc;
}

/* A producer's coordinator epoch is its last marker's (Kafka's
 * ProducerStateEntry.coordinatorEpoch): -1 before any marker, kept by
 * data batches after one, across a clean close (the producer-state file),
 * across a rebuild from the log (the markers replayed), and -1 from a
 * version-3 file, which has none, until the next marker. */
static void coordinator_epoch_kept(void) {
  char *dir = tmpdir_make("coordepoch");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "ce", 1, NULL));
  int64_t off;
  CHECK_OK(txn_append(s, "ce", 0, 42, 0, 0, 0, "i", 1, &off)); /* idempotent */
  CHECK_EQ_I64(coord_epoch(s, 42), -1);
  CHECK_OK(txn_append(s, "ce", 0, 77, 3, 0, 1, "a", 1, &off));
  CHECK_EQ_I64(coord_epoch(s, 77), -1); /* open, no marker yet */
  CHECK_OK(nd_txn_write_marker(s, "ce", 0, 77, 3, 1, 9, 0, &off));
  CHECK_EQ_I64(coord_epoch(s, 77), 9);
  CHECK_OK(txn_append(s, "ce", 0, 77, 3, 1, 1, "b", 1, &off));
  CHECK_EQ_I64(coord_epoch(s, 77), 9); /* a data batch keeps it */
  CHECK_OK(nd_txn_write_marker(s, "ce", 0, 77, 4, 0, 11, 0, &off));
  CHECK_EQ_I64(coord_epoch(s, 77), 11);
  CHECK_EQ_I64(coord_epoch(s, 42), -1);
  CHECK_OK(nd_close(s));

  s = open_store(dir); /* from the producer-state file */
  CHECK(s);
  CHECK_EQ_I64(coord_epoch(s, 77), 11);
  CHECK_EQ_I64(coord_epoch(s, 42), -1);
  CHECK_OK(nd_close(s));

  CHECK_OK(edit_state(dir, 'j')); /* unusable: rebuilt from the log */
  s = open_store(dir);
  CHECK(s);
  CHECK_EQ_I64(coord_epoch(s, 77), 11);
  CHECK_EQ_I64(coord_epoch(s, 42), -1);
  CHECK_OK(nd_close(s));

  CHECK_OK(edit_state(dir, '3')); /* read, without coordinator epochs */
  s = open_store(dir);
  CHECK(s);
  CHECK_EQ_I64(coord_epoch(s, 77), -1);
  CHECK_OK(txn_append(s, "ce", 0, 77, 4, 0, 1, "c", 1, &off));
  CHECK_OK(nd_txn_write_marker(s, "ce", 0, 77, 4, 1, 12, 0, &off));
  CHECK_EQ_I64(coord_epoch(s, 77), 12);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* A producer-state file that a power cut left shorter (its first line
 * alone) is no state "with no producers": it lacks its end line, so the
 * state is rebuilt from the log and the transaction open since offset 0
 * still holds the last stable offset. */
static void cut_state_file_rebuilt(void) {
  char *dir = tmpdir_make("cutstate");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "ce", 1, NULL));
  int64_t off;
  CHECK_OK(txn_append(s, "ce", 0, 5, 0, 0, 1, "open", 1, &off));
  CHECK_EQ_I64(off, 0);
  CHECK_OK(txn_append(s, "ce", 0, 6, 0, 0, 0, "plain", 2, &off));
  CHECK_OK(nd_close(s));
  CHECK_OK(edit_state(dir, 't'));
  s = open_store(dir);
  CHECK(s);
  nd_partition_info pi;
  CHECK_OK(nd_partition_describe(s, "ce", 0, &pi));
  CHECK_EQ_I64(pi.high_watermark, 3);
  CHECK_EQ_I64(pi.last_stable_offset, 0);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* The inode of a partition's producer-state (replaced, never rewritten
 * in place, so a new inode means a new write); 0 if there is none. */
static ino_t state_inode(const char *dir) {
  char pat[PATH_MAX];
  snprintf(pat, sizeof pat, "%s/topics/*/0/producer-state", dir);
  glob_t g;
  ino_t ino = 0;
  struct stat st;
  if (glob(pat, 0, NULL, &g) == 0 && g.gl_pathc == 1 &&
      stat(g.gl_pathv[0], &st) == 0)
    ino = st.st_ino;
  globfree(&g);
  return ino;
}

/* A snapshot already on disk is not written again: a store of idle
 * partitions closes without replacing a file per partition (10,000 of
 * them took 2.5 s at close). A changed state is written, and what is on
 * disk still reopens to the right state. */
static void unchanged_state_not_rewritten(void) {
  char *dir = tmpdir_make("samestate");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "q", 1, NULL));
  int64_t off;
  CHECK_OK(txn_append(s, "q", 0, 5, 0, 0, 1, "open", 1, &off));
  CHECK_OK(nd_close(s));
  ino_t first = state_inode(dir);
  CHECK(first != 0);
  /* Open and close with nothing appended: the same file. */
  s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_close(s));
  CHECK_EQ_I64(state_inode(dir), first);
  /* A new batch: a new snapshot, which the next open trusts. */
  s = open_store(dir);
  CHECK(s);
  CHECK_OK(txn_append(s, "q", 0, 6, 0, 0, 0, "plain", 2, &off));
  CHECK_OK(nd_close(s));
  ino_t second = state_inode(dir);
  CHECK(second != 0 && second != first);
  s = open_store(dir);
  CHECK(s);
  nd_partition_info pi;
  CHECK_OK(nd_partition_describe(s, "q", 0, &pi));
  CHECK_EQ_I64(pi.high_watermark, 3);
  CHECK_EQ_I64(pi.last_stable_offset, 0); /* pid 5's transaction is open */
  CHECK_OK(nd_close(s));
  CHECK_EQ_I64(state_inode(dir), second);
  tmpdir_remove(dir);
}

int main(void) {
  RUN(sequences);
  RUN(markers);
  RUN(coordinator_epoch_kept);
  RUN(cut_state_file_rebuilt);
  RUN(unchanged_state_not_rewritten);
  TEST_MAIN_END();
}
