/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A full disk, for real: small tmpfs and loop-mounted ext4 file systems,
 * filled until only a few KiB are left, then appended to until the store
 * runs out of space. Index files are sparse and written through shared
 * mappings; a store into a page without a block on a full file system is
 * a SIGBUS, which killed the process with nothing said (issue 15). So
 * every phase runs in a child process and must end by exiting, not by a
 * signal:
 *
 *   1. appends until they fail: the error is ENOSPC, later appends fail
 *      the same way, everything acknowledged reads back; the child then
 *      dies without closing (an unclean stop on a full disk);
 *   2. reopen on the still-full file system (recovery), append (fails or
 *      succeeds, never crashes), read everything back;
 *   3. space returns: appends succeed again, by themselves, and every
 *      record in the log is the one written at its offset.
 *
 * Leftover space varies from 0 to 64 KiB so the last block goes to the
 * .log, an index page or a new segment in turn. Mounting needs root (CI
 * runs as root); elsewhere the test skips.
 */
#include "test.h"

#include <sys/mount.h>
#include <sys/wait.h>

#define VALUE_LEN 1000
#define PER_BATCH 3

/* Every record's value is a function of its offset, so any record read
 * back can be checked. */
static void value_for(int64_t off, char *v) {
  int n = snprintf(v, VALUE_LEN, "offset %" PRId64 " ", off);
  for (int i = n; i < VALUE_LEN; i++)
    v[i] = (char)('a' + (off + i) % 26);
}

static nd_store *open_store(const char *data) {
  nd_options o = {.no_background = 1};
  nd_store *s = NULL;
  if (nd_open(data, &o, &s) != 0)
    fprintf(stderr, "nd_open(%s): %s\n", data, nd_errmsg());
  return s;
}

/* Append one batch of PER_BATCH records at the log end. */
static int append_one(nd_store *s) {
  int64_t hw;
  int rc = nd_offsets(s, "t", 0, NULL, &hw);
  if (rc)
    return rc;
  static char vals[PER_BATCH][VALUE_LEN];
  nd_record r[PER_BATCH];
  for (int i = 0; i < PER_BATCH; i++) {
    value_for(hw + i, vals[i]);
    r[i] = (nd_record){"k", 1, vals[i], VALUE_LEN, NULL, 0, ND_TIMESTAMP_NOW};
  }
  return nd_append(s, "t", 0, r, PER_BATCH, 0, NULL);
}

/* Every record in [0, hw) is the one written at its offset; returns the
 * number checked or -1. */
static int64_t check_all(nd_store *s) {
  int64_t hw, next = 0;
  if (nd_offsets(s, "t", 0, NULL, &hw))
    return -1;
  char want[VALUE_LEN];
  while (next < hw) {
    nd_batches b;
    if (nd_read(s, "t", 0, next, 1 << 16, &b)) {
      fprintf(stderr, "read at %" PRId64 ": %s\n", next, nd_errmsg());
      return -1;
    }
    nd_iter it;
    nd_iter_init(&it, b.data, b.len, next, NULL);
    nd_record_view v;
    int rc;
    while ((rc = nd_iter_next(&it, &v)) == 1) {
      value_for(v.offset, want);
      if (v.offset != next || v.value_len != VALUE_LEN ||
          memcmp(v.value, want, VALUE_LEN)) {
        fprintf(stderr, "record at %" PRId64 " is not offset %" PRId64 "'s\n",
                v.offset, next);
        rc = -1;
        break;
      }
      next++;
    }
    nd_iter_close(&it);
    nd_free(b.data);
    if (rc < 0)
      return -1;
  }
  return next;
}

/* Phase 1: append until the disk is full. Exit status 0 if everything
 * held; dies without nd_close, as a crash would. */
static int fill_phase(const char *data) {
  nd_store *s = open_store(data);
  if (!s)
    return 1;
  int rc = 0;
  for (int i = 0; i < 100000 && rc == 0; i++)
    rc = append_one(s);
  if (rc != -ENOSPC) {
    fprintf(stderr, "append on a full disk: %d %s\n", rc, nd_errmsg());
    return 1;
  }
  for (int i = 0; i < 20; i++)
    if ((rc = append_one(s)) != 0 && rc != -ENOSPC) {
      fprintf(stderr, "append again: %d %s\n", rc, nd_errmsg());
      return 1;
    }
  return check_all(s) < 0;
}

/* Phase 2: reopen on the still-full file system. */
static int full_reopen_phase(const char *data) {
  nd_store *s = open_store(data);
  if (!s)
    return 1;
  for (int i = 0; i < 20; i++) {
    int rc = append_one(s);
    if (rc != 0 && rc != -ENOSPC) {
      fprintf(stderr, "append after reopen: %d %s\n", rc, nd_errmsg());
      return 1;
    }
  }
  int bad = check_all(s) < 0;
  nd_close(s); /* may fail for want of space: the next open recovers */
  return bad;
}

/* Phase 3: space is back. */
static int space_back_phase(const char *data) {
  nd_store *s = open_store(data);
  if (!s)
    return 1;
  for (int i = 0; i < 200; i++) {
    int rc = append_one(s);
    if (rc) {
      fprintf(stderr, "append with space: %d %s\n", rc, nd_errmsg());
      return 1;
    }
  }
  int bad = check_all(s) < 0;
  if (nd_close(s)) {
    fprintf(stderr, "close with space: %s\n", nd_errmsg());
    bad = 1;
  }
  return bad;
}

/* Run fn in a child; 1 if it exited 0. */
static int in_child(int (*fn)(const char *), const char *data,
                    const char *what) {
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0)
    _exit(fn(data));
  int st = 0;
  if (pid < 0 || waitpid(pid, &st, 0) != pid)
    return 0;
  if (WIFSIGNALED(st)) {
    fprintf(stderr, "%s: killed by signal %d (%s)\n", what, WTERMSIG(st),
            strsignal(WTERMSIG(st)));
    return 0;
  }
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Fill the file system with `filler` until ENOSPC, then give back all but
 * `leftover` bytes of it. */
static int fill_fs(const char *filler, off_t leftover) {
  int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return -1;
  static char chunk[1 << 16];
  off_t size = 0;
  for (size_t n = sizeof chunk; n >= 512;) {
    ssize_t w = write(fd, chunk, n);
    if (w > 0)
      size += w;
    else
      n /= 2;
  }
  fsync(fd);
  int rc = ftruncate(fd, size > leftover ? size - leftover : 0);
  fsync(fd);
  close(fd);
  return rc;
}

typedef struct {
  const char *type;
  char dir[PATH_MAX];
  char img[PATH_MAX];
} small_fs;

static int fs_mount(small_fs *fs, const char *type, const char *base) {
  char cmd[3 * PATH_MAX];
  fs->type = type;
  snprintf(fs->dir, sizeof fs->dir, "%s/mnt", base);
  snprintf(fs->img, sizeof fs->img, "%s/fs.img", base);
  if (mkdir(fs->dir, 0755))
    return -1;
  if (!strcmp(type, "tmpfs"))
    return mount("tmpfs", fs->dir, "tmpfs", 0, "size=2m");
  snprintf(cmd, sizeof cmd,
           "truncate -s 8M '%s' && mkfs.ext4 -q -F '%s' >/dev/null 2>&1 && "
           "mount -o loop '%s' '%s'",
           fs->img, fs->img, fs->img, fs->dir);
  return system(cmd) == 0 ? 0 : -1;
}

static void fs_unmount(small_fs *fs) {
  if (umount2(fs->dir, MNT_DETACH))
    fprintf(stderr, "warning: umount %s: %s\n", fs->dir, strerror(errno));
  rmdir(fs->dir);
  unlink(fs->img);
}

static void full_disk_on(const char *type) {
  static const int leftover_kib[] = {0, 4, 8, 12, 16, 20, 24, 32, 48, 64};
  for (size_t i = 0; i < sizeof leftover_kib / sizeof *leftover_kib; i++) {
    char *base = tmpdir_make("diskfull");
    small_fs fs;
    CHECK(base && fs_mount(&fs, type, base) == 0);
    if (nd_test_current_failed) {
      tmpdir_remove(base);
      return;
    }
    char data[PATH_MAX + 8], filler[PATH_MAX + 8];
    snprintf(data, sizeof data, "%s/data", fs.dir);
    snprintf(filler, sizeof filler, "%s/filler", fs.dir);
    nd_store *s = open_store(data);
    CHECK(s);
    nd_topic_config cfg;
    nd_topic_config_init(&cfg);
    cfg.segment_bytes = 64 << 10; /* rolls happen near the end too */
    CHECK_OK(nd_topic_create(s, "t", 1, &cfg));
    CHECK_OK(nd_close(s));
    CHECK_OK(fill_fs(filler, (off_t)leftover_kib[i] << 10));

    int ok = in_child(fill_phase, data, "appending until full") &&
             in_child(full_reopen_phase, data, "reopening on a full disk");
    unlink(filler);
    ok = ok && in_child(space_back_phase, data, "appending with space back");
    if (!ok)
      fprintf(stderr, "  on %s with %d KiB left\n", type, leftover_kib[i]);
    CHECK(ok);
    fs_unmount(&fs);
    tmpdir_remove(base);
    if (!ok)
      return;
  }
}

static void full_tmpfs(void) {
  full_disk_on("tmpfs");
}
static void full_ext4(void) {
  full_disk_on("ext4");
}

int main(void) {
  if (geteuid() != 0)
    return test_skip("mounting small file systems needs root");
  RUN(full_tmpfs);
  RUN(full_ext4);
  TEST_MAIN_END();
}
