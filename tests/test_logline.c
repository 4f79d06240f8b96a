/*
 * The broker's log flood limit (broker/logline.c): a line repeated
 * thousands of times (issue 15: 1,048 "No space left" lines in 20 s) is
 * printed LOGLINE_BURST times per window, the rest are counted and the
 * count is told with the next line of that shape; other lines are not
 * held back by the flood.
 */
#include "test.h"

#include "logline.h"

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

int main(void) {
  RUN(flood_is_held_back);
  RUN(distinct_lines_pass);
  TEST_MAIN_END();
}
