/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_topic_conf.c — topic.conf parsing (topic_conf_read) and the
 * setting parser behind it (nd_topic_config_set) on arbitrary text.
 *
 * Input: the bytes of a topic.conf. The same bytes are also read as
 * key=value lines for nd_topic_config_set, one after another on one
 * config.
 *
 * Checked: a file that parses names the topic its directory is named
 * after, a partition count in range and a config that nd_test_config_validate()
 * accepts, and writing it back with nd_test_topic_conf_write() and reading that
 * gives the same topic; every value nd_topic_config_set accepts leaves a
 * valid config; nd_topic_config_get never overruns a small buffer, and
 * its text sets the same value again; config_format's text parses back to
 * a config that formats identically.
 */
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "nodata_testing.h"

static char topic_dir[PATH_MAX];
static char conf_path[PATH_MAX];

static void setup(void) {
  if (topic_dir[0])
    return;
  /* topic_conf_read insists the directory is named by the topic's hash,
   * so inputs naming topic "t" can parse all the way through. */
  char hex[65];
  nd_topic_dirname("t", hex);
  snprintf(topic_dir, sizeof topic_dir, "%s/%s", fuzz_scratch_dir("conf"), hex);
  FUZZ_CHECK(mkdir(topic_dir, 0755) == 0);
  snprintf(conf_path, sizeof conf_path, "%s/topic.conf", topic_dir);
}

static void format(const nd_topic_config *cfg, char *buf, size_t cap) {
  int n = nd_test_config_format(cfg, buf, cap);
  FUZZ_CHECK(n > 0 && (size_t)n < cap && strlen(buf) == (size_t)n);
}

static void check_conf_file(const uint8_t *data, size_t size) {
  fuzz_write_file(conf_path, data, size);
  char name[ND_TOPIC_NAME_MAX + 1];
  uint8_t id[16];
  int32_t parts = 0;
  nd_topic_config cfg;
  int rc = nd_test_topic_conf_read(topic_dir, name, id, &parts, &cfg);
  if (rc) {
    FUZZ_CHECK(rc == ND_ECORRUPT || rc < 0);
    FUZZ_CHECK(*nd_errmsg() != '\0');
    return;
  }
  FUZZ_CHECK(strcmp(name, "t") == 0);
  FUZZ_CHECK(parts >= 1 && parts <= 1000000);
  FUZZ_CHECK(nd_test_config_validate(&cfg) == 0);
  FUZZ_CHECK(nd_test_topic_conf_write(topic_dir, name, id, parts, &cfg) == 0);
  char name2[ND_TOPIC_NAME_MAX + 1];
  uint8_t id2[16];
  int32_t parts2 = 0;
  nd_topic_config cfg2;
  FUZZ_CHECK(nd_test_topic_conf_read(topic_dir, name2, id2, &parts2, &cfg2) ==
             0);
  FUZZ_CHECK(!strcmp(name, name2) && !memcmp(id, id2, 16) && parts == parts2);
  char a[2048], b[2048];
  format(&cfg, a, sizeof a);
  format(&cfg2, b, sizeof b);
  FUZZ_CHECK(!strcmp(a, b));
}

static void check_get(const nd_topic_config *cfg, size_t small) {
  for (const char *const *n = nd_topic_config_names(); *n; n++) {
    char buf[80];
    /* A canary after the buffer handed out shows an overrun. */
    size_t cap = small < sizeof buf - 1 ? small : sizeof buf - 1;
    memset(buf, 0x5a, sizeof buf);
    int rc = nd_topic_config_get(cfg, *n, buf, cap);
    FUZZ_CHECK(buf[cap] == 0x5a);
    if (rc) {
      FUZZ_CHECK(rc == ND_EINVAL);
      continue;
    }
    FUZZ_CHECK(memchr(buf, 0, cap) != NULL);
    nd_topic_config copy = *cfg;
    FUZZ_CHECK(nd_topic_config_set(&copy, *n, buf) == 0);
    char a[2048], b[2048];
    format(cfg, a, sizeof a);
    format(&copy, b, sizeof b);
    FUZZ_CHECK(!strcmp(a, b));
  }
}

static void check_settings(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  FUZZ_CHECK(text != NULL);
  memcpy(text, data, size);
  text[size] = 0;
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  FUZZ_CHECK(nd_test_config_validate(&cfg) == 0);
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    char *eq = strchr(line, '=');
    if (!eq)
      continue;
    *eq = 0;
    char before[2048], after[2048];
    format(&cfg, before, sizeof before);
    int64_t interval = cfg.fsync_interval_ms;
    int rc = nd_topic_config_set(&cfg, line, eq + 1);
    if (rc) {
      FUZZ_CHECK(rc == ND_ECONFIG);
      /* A refused value changes nothing. */
      format(&cfg, after, sizeof after);
      FUZZ_CHECK(!strcmp(before, after) && cfg.fsync_interval_ms == interval);
    }
    FUZZ_CHECK(nd_test_config_validate(&cfg) == 0);
  }
  free(text);
  check_get(&cfg, size ? data[0] % 40 + 1 : 64);
  check_get(&cfg, 64);
  char a[2048], b[2048];
  format(&cfg, a, sizeof a);
  nd_topic_config back;
  nd_topic_config_init(&back);
  char *save2 = NULL;
  char copy[2048];
  memcpy(copy, a, sizeof copy);
  for (char *line = strtok_r(copy, "\n", &save2); line;
       line = strtok_r(NULL, "\n", &save2)) {
    char *eq = strchr(line, '=');
    FUZZ_CHECK(eq != NULL);
    *eq = 0;
    FUZZ_CHECK(nd_topic_config_set(&back, line, eq + 1) == 0);
  }
  format(&back, b, sizeof b);
  FUZZ_CHECK(!strcmp(a, b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  setup();
  check_conf_file(data, size);
  check_settings(data, size);
  return 0;
}
