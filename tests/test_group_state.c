/* SPDX-License-Identifier: Apache-2.0 */
/* A group coordinator's state kept in the offsets log (nd_group_set_state,
 * op 6): set, get, replace, forget; across a reopen, a checkpoint, a torn
 * tail and a damaged frame; refused arguments write nothing; deleting the
 * group forgets it. */
#include "test.h"

#include "bytes.h"

#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>

static void groups_path(char *out, const char *dir) {
  snprintf(out, PATH_MAX, "%s/groups/offsets.log", dir);
}

static long long file_size(const char *dir) {
  char path[PATH_MAX];
  groups_path(path, dir);
  struct stat st;
  return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* The group's state is exactly want[0..want_len) (want NULL: none kept,
 * which nd_group_state answers with ND_ENOTFOUND, *state NULL, *len 0). */
static int state_is(nd_store *s, const char *group, const void *want,
                    size_t want_len) {
  void *got = (void *)1;
  size_t len = 12345;
  int rc = nd_group_state(s, group, &got, &len);
  int ok =
      want ? rc == 0 && got && len == want_len && !memcmp(got, want, want_len)
           : rc == ND_ENOTFOUND && got == NULL && len == 0;
  if (!ok)
    fprintf(stderr, "state of %s: rc %s, %zu bytes; want %zu bytes%s\n", group,
            nd_errname(rc), len, want_len, want ? "" : " (none)");
  nd_free(rc == 0 ? got : NULL);
  return ok;
}

/* n bytes of a pattern that differs with seed, NULs included. */
static uint8_t *pattern(size_t n, unsigned seed) {
  uint8_t *p = malloc(n ? n : 1);
  for (size_t i = 0; p && i < n; i++)
    p[i] = (uint8_t)((i * 31 + seed * 7) % 251);
  return p;
}

static void set_get_replace_forget(void) {
  char *dir = tmpdir_make("gstate");
  nd_store *s = test_open_store(dir);
  CHECK(s);
  CHECK(state_is(s, "g", NULL, 0));
  static const char a[] = "epoch 1\0members\0"; /* NUL bytes are kept */
  CHECK_OK(nd_group_set_state(s, "g", a, sizeof a));
  CHECK(state_is(s, "g", a, sizeof a));
  CHECK(state_is(s, "other", NULL, 0));
  /* A state-only group is listed; it has no offsets; a type-only group is
   * still not listed. */
  CHECK_OK(nd_group_set_protocol_type(s, "typed", "consumer"));
  CHECK(test_groups_are(s, 1, (const char *const[]){"g"}));
  nd_committed *list = (nd_committed *)1;
  size_t n = 99;
  CHECK_OK(nd_group_offsets(s, "g", &list, &n));
  CHECK(n == 0);
  nd_committed_free(list, n);

  /* The same state again writes nothing; another replaces it. */
  long long size = file_size(dir);
  CHECK_OK(nd_group_set_state(s, "g", a, sizeof a));
  CHECK_EQ_I64(file_size(dir), size);
  static const char b[] = "epoch 2";
  CHECK_OK(nd_group_set_state(s, "g", b, sizeof b - 1));
  CHECK(state_is(s, "g", b, sizeof b - 1));
  CHECK(file_size(dir) > size);

  /* len 0 forgets (state may be NULL); forgetting none writes nothing. */
  CHECK_OK(nd_group_set_state(s, "g2", "x", 1));
  CHECK_OK(nd_group_set_state(s, "g2", NULL, 0));
  CHECK(state_is(s, "g2", NULL, 0));
  size = file_size(dir);
  CHECK_OK(nd_group_set_state(s, "g2", NULL, 0));
  CHECK_OK(nd_group_set_state(s, "never", "", 0));
  CHECK_EQ_I64(file_size(dir), size);
  CHECK(test_groups_are(s, 1, (const char *const[]){"g"}));
  CHECK_OK(nd_close(s));

  /* Replayed as left: replaced, forgotten. */
  s = test_open_store(dir);
  CHECK(s);
  CHECK(state_is(s, "g", b, sizeof b - 1));
  CHECK(state_is(s, "g2", NULL, 0));
  CHECK(test_groups_are(s, 1, (const char *const[]){"g"}));
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* Set by a process that never closes its store: the state is in the file
 * when the call returns (durable with the next sync, which nd_sync does). */
static void survives_process_exit(void) {
  char *dir = tmpdir_make("gstatexit");
  pid_t pid = fork();
  if (pid == 0) {
    nd_store *cs = test_open_store(dir);
    int ok = cs && nd_group_set_state(cs, "g", "one", 3) == 0 &&
             nd_group_set_state(cs, "h", "two", 3) == 0 && nd_sync(cs) == 0 &&
             nd_group_set_state(cs, "g", "three", 5) == 0;
    _exit(ok ? 0 : 1);
  }
  int st;
  CHECK(waitpid(pid, &st, 0) == pid);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  nd_store *s = test_open_store(dir);
  CHECK(s);
  CHECK(state_is(s, "g", "three", 5));
  CHECK(state_is(s, "h", "two", 3));
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

static void refused_arguments_write_nothing(void) {
  char *dir = tmpdir_make("gstatebad");
  nd_store *s = test_open_store(dir);
  CHECK(s);
  CHECK_OK(nd_group_set_state(s, "g", "kept", 4));
  long long size = file_size(dir);
  char name[ND_GROUP_NAME_MAX + 2];
  memset(name, 'n', sizeof name - 1);
  name[sizeof name - 1] = '\0';
  static const char small[8];
  CHECK_RC(nd_group_set_state(NULL, "g", "x", 1), ND_EINVAL);
  CHECK_RC(nd_group_set_state(s, NULL, "x", 1), ND_EINVAL);
  CHECK_RC(nd_group_set_state(s, "", "x", 1), ND_EINVAL);
  CHECK_RC(nd_group_set_state(s, name, "x", 1), ND_EINVAL);
  CHECK_RC(nd_group_set_state(s, "g", NULL, 1), ND_EINVAL);
  /* Refused by its length alone: the bytes are never read. */
  CHECK_RC(nd_group_set_state(s, "g", small, (size_t)ND_GROUP_STATE_MAX + 1),
           ND_EINVAL);
  CHECK_RC(nd_group_set_state(s, "g", small, SIZE_MAX), ND_EINVAL);
  CHECK_EQ_I64(file_size(dir), size);
  CHECK(state_is(s, "g", "kept", 4));
  void *p;
  size_t n;
  CHECK_RC(nd_group_state(s, "g", NULL, &n), ND_EINVAL);
  CHECK_RC(nd_group_state(s, "g", &p, NULL), ND_EINVAL);
  CHECK_RC(nd_group_state(s, "", &p, &n), ND_EINVAL);
  CHECK_RC(nd_group_state(s, name, &p, &n), ND_EINVAL);
  CHECK_RC(nd_group_state(NULL, "g", &p, &n), ND_EINVAL);
  /* The longest name is a name. */
  name[ND_GROUP_NAME_MAX] = '\0';
  CHECK_OK(nd_group_set_state(s, name, "long", 4));
  CHECK(state_is(s, name, "long", 4));
  CHECK_OK(nd_close(s));

  /* Read-only: refused, and the state still reads. */
  nd_options o = {.no_background = 1, .flags = ND_OPEN_READONLY};
  CHECK_OK(nd_open(dir, &o, &s));
  size = file_size(dir);
  CHECK_RC(nd_group_set_state(s, "g", "new", 3), ND_EREADONLY);
  CHECK_RC(nd_group_set_state(s, "g", NULL, 0), ND_EREADONLY);
  CHECK(state_is(s, "g", "kept", 4));
  CHECK(state_is(s, name, "long", 4));
  CHECK_OK(nd_close(s));
  CHECK_EQ_I64(file_size(dir), size);
  tmpdir_remove(dir);
}

/* The ops of each frame of a file of form-2 frames: ops[i] for frame i,
 * whose payload holds needle (or not) as says has[i]. */
static size_t frame_ops(const uint8_t *b, size_t len, uint32_t *ops,
                        size_t *plen, size_t max) {
  size_t n = 0, pos = 0;
  while (pos + 21 <= len && n < max && be32(b + pos) == 0x894F4653u) {
    plen[n] = be32(b + pos + 4);
    ops[n++] = be32(b + pos + 17);
    pos += 16 + be32(b + pos + 4);
  }
  return pos == len ? n : 0;
}

/* A checkpoint keeps every state, forgets forgotten ones, and gives a
 * state bigger than a checkpoint frame's 4 KiB a frame of its own. */
static void survives_checkpoint(void) {
  char *dir = tmpdir_make("gstateckpt");
  nd_store *s = test_open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 2, NULL));
  const size_t big_len = 100000;
  uint8_t *big = pattern(big_len, 1);
  CHECK(big);
  CHECK_OK(nd_group_set_state(s, "big", big, big_len));
  CHECK_OK(nd_commit_offset(s, "big", "t", 0, 7, "m"));
  CHECK_OK(nd_group_set_protocol_type(s, "big", "consumer"));
  CHECK_OK(nd_group_set_state(s, "small", "s1", 2));
  CHECK_OK(nd_group_set_state(s, "gone", "g", 1));
  CHECK_OK(nd_group_set_state(s, "gone", NULL, 0));
  /* Dead entries, so that maintenance rewrites the file. */
  for (int i = 0; i < 3000; i++)
    CHECK_OK(nd_commit_offset(s, "filler", "t", 1, i, "filler metadata"));
  for (unsigned i = 0; i < 6; i++) {
    uint8_t *old = pattern(big_len, 10 + i);
    CHECK(old);
    CHECK_OK(nd_group_set_state(s, "churn", old, big_len));
    free(old);
  }
  CHECK_OK(nd_group_set_state(s, "churn", "last", 4));
  long long before = file_size(dir);
  CHECK_OK(nd_maintain(s, 0));
  long long after = file_size(dir);
  CHECK(after < before / 4 && after > (long long)big_len);
  CHECK(state_is(s, "big", big, big_len));
  CHECK_OK(nd_close(s));

  char path[PATH_MAX];
  groups_path(path, dir);
  size_t len;
  uint8_t *file = read_file(path, &len);
  CHECK(file);
  uint32_t ops[16];
  size_t plen[16];
  size_t nf = frame_ops(file, len, ops, plen, 16);
  /* big: its state alone, then its commit and type; filler; small; churn
   * (one frame per group, the big state in one of its own). */
  int big_alone = 0;
  for (size_t i = 0; i < nf; i++)
    big_alone += plen[i] > big_len && ops[i] == 1;
  CHECK(nf == 5 && big_alone == 1);
  free(file);

  s = test_open_store(dir);
  CHECK(s);
  CHECK(state_is(s, "big", big, big_len));
  CHECK(state_is(s, "small", "s1", 2));
  CHECK(state_is(s, "churn", "last", 4));
  CHECK(state_is(s, "gone", NULL, 0));
  int64_t off;
  CHECK_OK(nd_committed_offset(s, "big", "t", 0, &off, NULL, NULL, NULL));
  CHECK_EQ_I64(off, 7);
  CHECK(test_groups_are(
      s, 4, (const char *const[]){"big", "churn", "filler", "small"}));
  CHECK_OK(nd_close(s));
  free(big);
  tmpdir_remove(dir);
}

/* ---- damage ------------------------------------------------------------- */

static int warnings, infos;
static char last_warning[1024];

static void capture_log(void *ctx, int level, const char *msg) {
  (void)ctx;
  if (level <= ND_LOG_WARN) {
    warnings++;
    snprintf(last_warning, sizeof last_warning, "%s", msg);
  } else if (level == ND_LOG_INFO) {
    infos++;
  }
}

static nd_store *open_logged(const char *dir) {
  nd_options o = {.no_background = 1, .on_log = capture_log};
  warnings = infos = 0;
  last_warning[0] = '\0';
  nd_store *s = NULL;
  if (nd_open(dir, &o, &s) != 0)
    fprintf(stderr, "nd_open(%s): %s\n", dir, nd_errmsg());
  return s;
}

static int write_bytes(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  int ok = f && fwrite(p, 1, n, f) == n;
  return (f ? fclose(f) == 0 : 0) && ok;
}

/* A torn write of a state (the file cut inside its frame) loses that state
 * only: the one before it is in effect, told at info level. A state frame
 * that fails its checksum is skipped and told as the state it held; the
 * frames after it count, and the next open finds the damage gone. */
static void torn_and_damaged_frames(void) {
  char *dir = tmpdir_make("gstatedmg");
  nd_store *s = test_open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 1, NULL));
  CHECK_OK(nd_group_set_state(s, "g", "first", 5));
  CHECK_OK(nd_close(s));
  long long one = file_size(dir);
  s = test_open_store(dir);
  CHECK(s);
  uint8_t *second = pattern(6000, 2);
  CHECK(second);
  CHECK_OK(nd_group_set_state(s, "g", second, 6000));
  CHECK_OK(nd_close(s));
  long long two = file_size(dir);
  s = test_open_store(dir);
  CHECK(s);
  CHECK_OK(nd_commit_offset(s, "g", "t", 0, 9, NULL));
  CHECK_OK(nd_close(s));
  char path[PATH_MAX];
  groups_path(path, dir);
  size_t len;
  uint8_t *orig = read_file(path, &len);
  CHECK(orig && (long long)len > two);

  /* Torn: the file ends inside the second state's frame. */
  CHECK(write_bytes(path, orig, (size_t)(one + (two - one) / 2)));
  s = open_logged(dir);
  CHECK(s);
  CHECK(warnings == 0 && infos > 0);
  CHECK(state_is(s, "g", "first", 5));
  CHECK_OK(nd_close(s));

  /* A flipped byte inside the second state. */
  uint8_t *b = malloc(len);
  CHECK(b);
  memcpy(b, orig, len);
  b[one + 16 + 3000] ^= 0x01;
  CHECK(write_bytes(path, b, len));
  s = open_logged(dir);
  CHECK(s);
  CHECK(warnings == 1);
  CHECK(strstr(last_warning, "state of group 'g' (6000 bytes) (now 5 bytes)") !=
        NULL);
  CHECK(strstr(last_warning, "a lost group state leaves the one before it") !=
        NULL);
  CHECK(state_is(s, "g", "first", 5));
  int64_t off;
  CHECK_OK(nd_committed_offset(s, "g", "t", 0, &off, NULL, NULL, NULL));
  CHECK_EQ_I64(off, 9);
  CHECK_OK(nd_close(s));
  s = open_logged(dir);
  CHECK(s);
  CHECK(warnings == 0);
  CHECK(state_is(s, "g", "first", 5));
  CHECK_OK(nd_close(s));

  /* A forgetting frame damaged: the state it forgot stays. */
  CHECK(write_bytes(path, orig, len));
  s = test_open_store(dir);
  CHECK(s);
  CHECK_OK(nd_group_set_state(s, "g", NULL, 0));
  CHECK(state_is(s, "g", NULL, 0));
  CHECK_OK(nd_close(s));
  size_t len2;
  uint8_t *forgot = read_file(path, &len2);
  CHECK(forgot && len2 > len);
  forgot[len2 - 5] ^= 0x01; /* the forget op's group: 'g' reads 'f' */
  CHECK(write_bytes(path, forgot, len2));
  s = open_logged(dir);
  CHECK(s);
  CHECK(warnings == 1 && strstr(last_warning, "state of group 'f' (0 bytes: "
                                              "forget it) (now none)"));
  CHECK(state_is(s, "g", second, 6000));
  CHECK_OK(nd_close(s));
  free(forgot);
  free(b);
  free(orig);
  free(second);
  tmpdir_remove(dir);
}

/* nd_group_delete forgets a group's state with its offsets and type, and
 * deletes a group that has only state; deleting a topic keeps states. */
static void delete_group(void) {
  char *dir = tmpdir_make("gstatedel");
  nd_store *s = test_open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 1, NULL));
  CHECK_OK(nd_group_set_state(s, "only", "o", 1));
  CHECK_OK(nd_group_set_state(s, "both", "b", 1));
  CHECK_OK(nd_commit_offset(s, "both", "t", 0, 3, NULL));
  CHECK_OK(nd_group_set_protocol_type(s, "both", "consumer"));
  CHECK_OK(nd_group_set_state(s, "stays", "s", 1));
  CHECK_OK(nd_commit_offset(s, "stays", "t", 0, 4, NULL));
  CHECK_OK(nd_topic_delete(s, "t"));
  CHECK(state_is(s, "stays", "s", 1));
  CHECK(test_groups_are(s, 3, (const char *const[]){"both", "only", "stays"}));
  CHECK_OK(nd_group_delete(s, "only"));
  CHECK_OK(nd_group_delete(s, "both"));
  CHECK_RC(nd_group_delete(s, "only"), ND_ENOTFOUND);
  CHECK(state_is(s, "only", NULL, 0));
  CHECK(state_is(s, "both", NULL, 0));
  char *type = NULL;
  CHECK_OK(nd_group_protocol_type(s, "both", &type));
  CHECK(type == NULL);
  CHECK(test_groups_are(s, 1, (const char *const[]){"stays"}));
  CHECK_OK(nd_close(s));
  s = test_open_store(dir);
  CHECK(s);
  CHECK(state_is(s, "only", NULL, 0));
  CHECK(state_is(s, "both", NULL, 0));
  CHECK(state_is(s, "stays", "s", 1));
  CHECK(test_groups_are(s, 1, (const char *const[]){"stays"}));
  /* A deleted group starts afresh. */
  CHECK_OK(nd_group_set_state(s, "only", "again", 5));
  CHECK_OK(nd_close(s));
  s = test_open_store(dir);
  CHECK(s);
  CHECK(state_is(s, "only", "again", 5));
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* ---- concurrency -------------------------------------------------------- */

#define SETTERS 4
#define ROUNDS 300

typedef struct setter {
  nd_store *s;
  int id, failed;
} setter;

/* Group sN gets states "N:0" .. "N:ROUNDS-1", with a commit now and then,
 * while the other setters and a compactor run. */
static void *set_states(void *arg) {
  setter *st = arg;
  char group[16], state[32];
  snprintf(group, sizeof group, "s%d", st->id);
  for (int i = 0; i < ROUNDS && !st->failed; i++) {
    int n = snprintf(state, sizeof state, "%d:%d", st->id, i);
    st->failed = nd_group_set_state(st->s, group, state, (size_t)n) != 0;
    if (!st->failed && i % 50 == 0)
      st->failed = nd_commit_offset(st->s, group, "t", 0, i, NULL) != 0;
  }
  return NULL;
}

static void *compact(void *arg) {
  setter *st = arg;
  for (int i = 0; i < 20 && !st->failed; i++)
    st->failed = nd_maintain(st->s, 0) < 0;
  return NULL;
}

/* Every setter's group has its last state. */
static int last_states(nd_store *s) {
  for (int i = 0; i < SETTERS; i++) {
    char group[16], want[32];
    snprintf(group, sizeof group, "s%d", i);
    int n = snprintf(want, sizeof want, "%d:%d", i, ROUNDS - 1);
    if (!state_is(s, group, want, (size_t)n))
      return 0;
  }
  return 1;
}

/* Concurrent setters and checkpoints: each group ends with its last state,
 * in memory and after a reopen. */
static void concurrent_setters(void) {
  char *dir = tmpdir_make("gstatethreads");
  nd_store *s = test_open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 1, NULL));
  /* Enough dead entries that maintenance rewrites the file. */
  for (int i = 0; i < 2000; i++)
    CHECK_OK(nd_commit_offset(s, "filler", "t", 0, i, "filler metadata"));
  pthread_t th[SETTERS + 1];
  setter st[SETTERS + 1];
  for (int i = 0; i <= SETTERS; i++) {
    st[i] = (setter){s, i, 0};
    CHECK(pthread_create(&th[i], NULL, i < SETTERS ? set_states : compact,
                         &st[i]) == 0);
  }
  int failed = 0;
  for (int i = 0; i <= SETTERS; i++) {
    pthread_join(th[i], NULL);
    failed += st[i].failed;
  }
  CHECK(failed == 0);
  CHECK(last_states(s));
  CHECK_OK(nd_close(s));
  s = test_open_store(dir);
  CHECK(s);
  CHECK(last_states(s));
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

int main(void) {
  RUN(set_get_replace_forget);
  RUN(survives_process_exit);
  RUN(refused_arguments_write_nothing);
  RUN(survives_checkpoint);
  RUN(torn_and_damaged_frames);
  RUN(delete_group);
  RUN(concurrent_setters);
  TEST_MAIN_END();
}
