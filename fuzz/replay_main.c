/* SPDX-License-Identifier: Apache-2.0 */
/*
 * replay_main.c — the main of a fuzz target built without libFuzzer (gcc,
 * or a replay test): every file named on the command line, or found in a
 * directory named there, is fed once to LLVMFuzzerTestOneInput, in sorted
 * order so a failure reproduces the same way. A crash or a failed check
 * aborts, which fails the ctest entry; the file being run is printed first
 * so the log names the input.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path, int verbose) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
    return -1;
  }
  uint8_t *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len == cap) {
      cap = cap ? cap * 2 : 4096;
      uint8_t *nb = realloc(buf, cap);
      if (!nb) {
        fclose(f);
        free(buf);
        return -1;
      }
      buf = nb;
    }
    size_t n = fread(buf + len, 1, cap - len, f);
    if (n == 0)
      break;
    len += n;
  }
  int err = ferror(f);
  fclose(f);
  if (err) {
    free(buf);
    fprintf(stderr, "replay: cannot read %s\n", path);
    return -1;
  }
  if (verbose)
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
  /* A copy of exactly len bytes, so ASan catches a read one past the end
   * as libFuzzer's own buffers would. */
  uint8_t *exact = malloc(len ? len : 1);
  if (!exact) {
    free(buf);
    return -1;
  }
  if (len)
    memcpy(exact, buf, len);
  free(buf);
  LLVMFuzzerTestOneInput(exact, len);
  free(exact);
  return 0;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir, int verbose, size_t *count) {
  DIR *d = opendir(dir);
  if (!d) {
    /* A target may have no regression inputs yet. */
    return errno == ENOENT ? 0 : -1;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      char **nn = realloc(names, cap * sizeof *nn);
      if (!nn)
        break;
      names = nn;
    }
    names[n++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof *names, cmp_names);
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    struct stat st;
    if (!rc && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
      if (run_file(path, verbose))
        rc = -1;
      else
        (*count)++;
    }
    free(names[i]);
  }
  free(names);
  return rc;
}

int main(int argc, char **argv) {
  int verbose = getenv("FUZZ_VERBOSE") != NULL;
  size_t count = 0;
  int rc = 0;
  for (int i = 1; i < argc && !rc; i++) {
    struct stat st;
    if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
      rc = run_dir(argv[i], verbose, &count);
    } else if (stat(argv[i], &st) == 0) {
      rc = run_file(argv[i], 1);
      count++;
    } else if (errno != ENOENT) {
      fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
      rc = -1;
    }
    /* A missing path is a target without regression inputs yet. */
  }
  printf("replayed %zu inputs\n", count);
  return rc ? 1 : 0;
}
