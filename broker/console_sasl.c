/* SPDX-License-Identifier: Apache-2.0 */
/*
 * console_sasl.c — the client side of SASL for the console's logins
 * (console.h: ck_authenticate).
 */
#include <stdio.h>

#include "console.h"

int ck_authenticate(ck_conn *c, const char *mech, const char *user,
                    const char *password, char *why, size_t whylen) {
  (void)c;
  (void)user;
  (void)password;
  snprintf(why, whylen, "SASL %s: not supported yet", mech ? mech : "");
  return -1;
}
