/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The broker's log flood limit (broker/logline.c): a line repeated
 * thousands of times (issue 15: 1,048 "No space left" lines in 20 s) is
 * printed LOGLINE_BURST times per window, the rest are counted and the
 * count is told with the next line of that shape; other lines are not
 * held back by the flood. And the line's two forms (logline_format): text
 * with an RFC 3339 UTC timestamp, level and component, and JSON that stays
 * one valid object per line whatever a client put in its client id.
 */
#include "test.h"

#include "logline.h"

#include <string.h>

static void flood_is_held_back(void) {
  static logline_limiter l;
  long held = -1;
  char line[128];
  int printed = 0;
  /* 1,000 "No space left" lines within one window, each at another byte. */
  for (int i = 0; i < 1000; i++) {
    snprintf(line, sizeof line,
             "127.0.0.1:%d: Produce v7: append to t/0 failed: at byte %d: No "
             "space left on device",
             40000 + i % 7, 7563 + i * 1070);
    printed += logline_admit(&l, line, 1000 + i, &held);
    CHECK(held == 0);
  }
  CHECK_EQ_I64(printed, LOGLINE_BURST);
  /* Another kind of line still gets through during the flood. */
  CHECK(logline_admit(&l, "127.0.0.1:1: Metadata v9: created topic x", 1500,
                      &held) == 1);
  CHECK(held == 0);
  /* After the window, the next one is printed with the count held back. */
  CHECK(logline_admit(&l, line, 1000 + LOGLINE_WINDOW_MS + 1000, &held) == 1);
  CHECK_EQ_I64(held, 1000 - LOGLINE_BURST);
  /* And the count starts again. */
  CHECK(logline_admit(&l, line, 1000 + LOGLINE_WINDOW_MS + 1001, &held) == 1);
  CHECK_EQ_I64(held, 0);
}

static void distinct_lines_pass(void) {
  static logline_limiter l;
  long held;
  /* Lines that differ in words, not numbers, are different shapes. */
  CHECK(logline_admit(&l, "created topic alpha", 0, &held) == 1);
  CHECK(logline_admit(&l, "created topic beta", 0, &held) == 1);
  for (int i = 0; i < LOGLINE_BURST - 1; i++)
    CHECK(logline_admit(&l, "created topic alpha", 0, &held) == 1);
  CHECK(logline_admit(&l, "created topic alpha", 0, &held) == 0);
  CHECK(logline_admit(&l, "created topic beta", 0, &held) == 1);
}

/* 2026-12-05T16:50:01.123Z */
#define TS_MS 1796489401123ll

static void text_form(void) {
  char out[256];
  size_t n = logline_format(out, sizeof out, 0, TS_MS, BLOG_WARN, "net", NULL,
                            0, "peer: closing: bad\nline\x01");
  CHECK_EQ_I64(n, strlen(out));
  /* Control characters are escaped: the line stays one line. */
  CHECK(!strcmp(out, "2026-12-05T16:50:01.123Z WARN  net: peer: closing: "
                     "bad\\x0aline\\x01\n"));
  logline_format(out, sizeof out, 0, 5, BLOG_DEBUG, "serve", NULL, 0, "x");
  CHECK(!strcmp(out, "1970-01-01T00:00:00.005Z DEBUG serve: x\n"));
}

static void json_form(void) {
  char out[512];
  blog_field f[3] = {BLOG_STR("topic", "t\"1"), BLOG_NUM("partition", -3),
                     BLOG_STRN("client_id", "ab\ncd\xff", 6)};
  logline_format(out, sizeof out, 1, TS_MS, BLOG_INFO, "admin", f, 3,
                 "created \"t\\1\"");
  CHECK(!strcmp(out, "{\"ts\":\"2026-12-05T16:50:01.123Z\",\"level\":\"INFO\","
                     "\"component\":\"admin\",\"msg\":\"created "
                     "\\\"t\\\\1\\\"\",\"topic\":\"t\\\"1\",\"partition\":-3,"
                     "\"client_id\":\"ab\\u000acd\\ufffd\"}\n"));
  /* Too long for the buffer: cut, but still an object on one line. */
  char big[600];
  memset(big, '"', sizeof big - 1);
  big[sizeof big - 1] = 0;
  size_t n = logline_format(out, 200, 1, TS_MS, BLOG_ERROR, "store", f, 3, big);
  CHECK(n < 200 && out[n - 1] == '\n' && out[n - 2] == '}');
  CHECK(strstr(out, ",\"truncated\":true}") != NULL);
  CHECK(strstr(out, "\"topic\"") == NULL); /* no half field */
  /* The message is cut between escapes, never inside one. */
  const char *m = strstr(out, "\"msg\":\"") + 7;
  size_t bs = 0;
  while (m[bs] == '\\' || m[bs] == '"') {
    if (m[bs] == '"' && (bs % 2 == 0))
      break;
    bs++;
  }
  CHECK(bs % 2 == 0);
}

static void levels(void) {
  CHECK(blog_parse_level("error") == BLOG_ERROR);
  CHECK(blog_parse_level("WARN") == BLOG_WARN);
  CHECK(blog_parse_level("warning") == BLOG_WARN);
  CHECK(blog_parse_level("info") == BLOG_INFO);
  CHECK(blog_parse_level("debug") == BLOG_DEBUG);
  CHECK(blog_parse_level("trace") == -1);
  blog_setup(BLOG_WARN, 0);
  CHECK(blog_enabled(BLOG_ERROR) && blog_enabled(BLOG_WARN));
  CHECK(!blog_enabled(BLOG_INFO) && !blog_enabled(BLOG_DEBUG));
  blog_setup(BLOG_INFO, 0);
}

int main(void) {
  RUN(flood_is_held_back);
  RUN(text_form);
  RUN(json_form);
  RUN(levels);
  RUN(distinct_lines_pass);
  TEST_MAIN_END();
}
