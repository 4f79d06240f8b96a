/* SPDX-License-Identifier: Apache-2.0 */
/* sasl_oauth.c — OAUTHBEARER (placeholder until JWT validation lands). */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "sasl.h"

int64_t sasl_wall_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

int sasl_oauth_configure(const broker_props *props, const char *listener,
                         sasl_oauth_config *c, char *why, size_t wl) {
  (void)props;
  (void)listener;
  memset(c, 0, sizeof *c);
  snprintf(why, wl, "OAUTHBEARER is not supported yet");
  return -1;
}

void sasl_oauth_config_free(sasl_oauth_config *c) {
  (void)c;
}

int sasl_oauth(const sasl_oauth_config *c, const uint8_t *tok, size_t n,
               char *user, size_t ul, int64_t *expiry_ms, uint8_t **out,
               size_t *outlen, char *msg, size_t ml) {
  (void)c, (void)tok, (void)n, (void)user, (void)ul, (void)expiry_ms;
  (void)out, (void)outlen;
  snprintf(msg, ml, "OAUTHBEARER is not supported");
  return SASL_FAIL;
}
