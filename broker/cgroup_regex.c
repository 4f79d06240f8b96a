/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cgroup_regex.c — subscriptions by regular expression (KIP-848's
 * SubscribedTopicRegex). First version: POSIX ERE through regcomp,
 * anchored for a whole-name match; constructs ERE does not share with
 * RE2 are refused.
 */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"
#include "nodata.h"

struct cg_regex {
  regex_t re;
};

int cg_regex_compile(const char *pattern, cg_regex **out, char *err,
                     size_t errlen) {
  *out = NULL;
  if (err && errlen)
    err[0] = 0;
  for (const char *p = pattern; *p; p++)
    if (*p == '\\' && p[1] >= '1' && p[1] <= '9') {
      if (err)
        snprintf(err, errlen, "invalid escape sequence: `\\%c`", p[1]);
      return ND_EINVAL;
    } else if (*p == '\\' && p[1]) {
      p++;
    }
  size_t n = strlen(pattern);
  char *a = malloc(n + 7);
  cg_regex *re = malloc(sizeof *re);
  if (!a || !re) {
    free(a);
    free(re);
    return -ENOMEM;
  }
  snprintf(a, n + 7, "^(%s)$", pattern);
  int rc = regcomp(&re->re, a, REG_EXTENDED | REG_NOSUB);
  free(a);
  if (rc) {
    if (err) {
      char m[128];
      regerror(rc, &re->re, m, sizeof m);
      snprintf(err, errlen, "%s", m);
    }
    free(re);
    return rc == REG_ESPACE ? -ENOMEM : ND_EINVAL;
  }
  *out = re;
  return 0;
}

int cg_regex_match(const cg_regex *re, const char *topic) {
  return regexec(&re->re, topic, 0, NULL, 0) == 0;
}

void cg_regex_free(cg_regex *re) {
  if (!re)
    return;
  regfree(&re->re);
  free(re);
}
