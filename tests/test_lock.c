/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One writer per data directory, even when nodata.lock is deleted under it
 * (a cleanup script, systemd-tmpfiles, a restore). The lock used to be an
 * flock on that file: once it was unlinked a second process locked a new
 * file of the same name and both wrote the same logs (issue 15: 1,000
 * acks=all records lost and a corrupted log). Two real processes here.
 */
#include "test.h"

#include <sys/file.h>
#include <sys/wait.h>

/* A child that holds the store in dir until its stdin (the pipe) closes. */
static pid_t hold_in_child(const char *dir, int *release_fd) {
  int ready[2], release[2];
  if (pipe(ready) || pipe(release))
    return -1;
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    close(ready[0]);
    close(release[1]);
    nd_store *s = NULL;
    char ok = nd_open(dir, NULL, &s) == 0 ? 'y' : 'n';
    if (write(ready[1], &ok, 1) != 1)
      _exit(1);
    char c;
    while (read(release[0], &c, 1) > 0) {
    }
    _exit(s && nd_close(s) == 0 ? 0 : 1);
  }
  close(ready[1]);
  close(release[0]);
  char ok = 'n';
  if (pid < 0 || read(ready[0], &ok, 1) != 1 || ok != 'y') {
    close(ready[0]);
    close(release[1]);
    return -1;
  }
  close(ready[0]);
  *release_fd = release[1];
  return pid;
}

static int release_child(pid_t pid, int release_fd) {
  close(release_fd);
  int st = 0;
  return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && !WEXITSTATUS(st);
}

static void lock_file_removed(void) {
  char *dir = tmpdir_make("lock");
  int rel;
  pid_t child = hold_in_child(dir, &rel);
  CHECK(child > 0);
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/nodata.lock", dir);
  CHECK(unlink(path) == 0);
  /* The second writer is refused and told who holds the store: the pid is
   * found in the kernel's lock table now that the file is gone. */
  nd_store *s = NULL;
  CHECK_RC(nd_open(dir, NULL, &s), ND_ELOCKED);
  char want[64];
  snprintf(want, sizeof want, "in use by pid %d", (int)child);
  CHECK(strstr(nd_errmsg(), want) != NULL);
  pid_t holder = 0;
  CHECK_OK(nd_lock_holder(dir, &holder));
  CHECK_EQ_I64(holder, child);
  CHECK(release_child(child, rel));
  /* Free again once the holder is gone. */
  CHECK_OK(nd_lock_holder(dir, &holder));
  CHECK_EQ_I64(holder, 0);
  CHECK_OK(nd_open(dir, NULL, &s));
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* An older nodata locks only nodata.lock: that still keeps us out. */
static void older_writer_holds_the_file(void) {
  char *dir = tmpdir_make("lockold");
  nd_store *s = NULL;
  CHECK_OK(nd_open(dir, NULL, &s));
  CHECK_OK(nd_close(s));
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/nodata.lock", dir);
  int fd = open(path, O_RDWR | O_CLOEXEC);
  CHECK(fd >= 0);
  /* A separate open file description: flock conflicts with our own. */
  CHECK(flock(fd, LOCK_EX | LOCK_NB) == 0);
  CHECK_RC(nd_open(dir, NULL, &s), ND_ELOCKED);
  pid_t holder = 0;
  CHECK_OK(nd_lock_holder(dir, &holder));
  CHECK(holder != 0);
  close(fd);
  CHECK_OK(nd_open(dir, NULL, &s));
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

int main(void) {
  RUN(lock_file_removed);
  RUN(older_writer_holds_the_file);
  TEST_MAIN_END();
}
