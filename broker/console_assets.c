/* SPDX-License-Identifier: Apache-2.0 */
/*
 * console_assets.c — the console's built pages. None are built in yet.
 */
#include "console.h"

int console_asset(const char *path, const uint8_t **data, size_t *len,
                  const char **content_type, int *immutable) {
  (void)path;
  (void)data;
  (void)len;
  (void)content_type;
  (void)immutable;
  return 0;
}
