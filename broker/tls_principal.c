/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tls_principal.c — Kafka's ssl.principal.mapping.rules: how an SSL
 * listener turns a client certificate's subject into the principal's
 * name (Kafka's SslPrincipalMapper, used by DefaultKafkaPrincipalBuilder).
 *
 * The value is a comma-separated list of rules, tried in order:
 *   DEFAULT                      the subject unchanged (RFC 2253)
 *   RULE:pattern/replacement/    when pattern matches the WHOLE subject,
 *   RULE:pattern/replacement/L   the replacement, $1..$9 standing for the
 *   RULE:pattern/replacement/U   pattern's groups; L or U lower- or
 *                                upper-cases the result
 * A subject that no rule matches fails authentication, as in Kafka ("No
 * rules apply to ..."). The default is "DEFAULT".
 *
 * Kafka's patterns are Java regular expressions; here they are POSIX
 * extended ones (glibc's regcomp), after turning the Java forms met in
 * Kafka's documentation into POSIX: lazy quantifiers (*?, +?, ??) become
 * greedy ones — the same result for the usual patterns, whose group
 * stops at a fixed ",OU=" or similar — and \d, \w, \s become classes.
 * Anything else Java-only (look-arounds, possessive quantifiers) is
 * refused at start with the rule named.
 */
#include "tls.h"

#include <ctype.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t whylen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, whylen, fmt, ap);
  va_end(ap);
  return -1;
}

/* One part of a RULE, up to an unescaped '/': copied to out (escapes
 * kept), *p moved past the '/'. -1 when no '/' ends it. */
static int rule_part(const char **p, char *out, size_t outlen) {
  size_t n = 0;
  const char *s = *p;
  while (*s && *s != '/') {
    if (*s == '\\' && s[1]) {
      if (n + 2 >= outlen)
        return -1;
      out[n++] = *s++;
    }
    if (n + 1 >= outlen)
      return -1;
    out[n++] = *s++;
  }
  if (*s != '/')
    return -1;
  out[n] = 0;
  *p = s + 1;
  return 0;
}

/* out[*n..] = src[0, l), NUL-terminated; -1 when it does not fit. */
static int append(char *out, size_t *n, size_t outlen, const char *src,
                  size_t l) {
  if (*n + l + 1 > outlen)
    return -1;
  memcpy(out + *n, src, l);
  *n += l;
  out[*n] = 0;
  return 0;
}

/* A Java pattern as a POSIX extended one (see the top); -1 for Java-only
 * constructs. */
static int java_to_posix(const char *in, char *out, size_t outlen) {
  size_t n = 0;
  out[0] = 0;
  for (const char *s = in; *s; s++) {
    const char *add = NULL;
    char one[3] = {0};
    if (*s == '\\' && s[1]) {
      s++;
      switch (*s) {
      case 'd':
        add = "[0-9]";
        break;
      case 'w':
        add = "[[:alnum:]_]";
        break;
      case 's':
        add = "[[:space:]]";
        break;
      case '/':
        add = "/";
        break;
      default:
        one[0] = '\\';
        one[1] = *s;
        add = one;
      }
    } else if ((*s == '*' || *s == '+' || *s == '?' || *s == '}') &&
               s[1] == '?') {
      one[0] = *s++; /* lazy: same as greedy for a whole-subject match */
      add = one;
    } else if ((*s == '*' || *s == '+' || *s == '?' || *s == '}') &&
               s[1] == '+') {
      return -1; /* possessive */
    } else if (*s == '(' && s[1] == '?') {
      return -1; /* look-around, non-capturing or flag groups */
    } else {
      one[0] = *s;
      add = one;
    }
    if (append(out, &n, outlen, add, strlen(add)) < 0)
      return -1;
  }
  return 0;
}

/* The replacement with $N expanded from subject's groups, \c as c. */
static int expand(const char *rep, const char *subject, const regmatch_t *m,
                  char *out, size_t outlen) {
  size_t n = 0;
  out[0] = 0;
  for (const char *s = rep; *s; s++) {
    const char *src = s;
    size_t l = 1;
    if (*s == '\\' && s[1]) {
      src = ++s;
    } else if (*s == '$' && isdigit((unsigned char)s[1])) {
      int g = *++s - '0';
      if (m[g].rm_so < 0)
        continue; /* an unmatched group is empty, as in Java */
      src = subject + m[g].rm_so;
      l = (size_t)(m[g].rm_eo - m[g].rm_so);
    }
    if (append(out, &n, outlen, src, l) < 0)
      return -1;
  }
  return 0;
}

/* Apply one RULE to subject: 1 with out set when it matches, 0 when not,
 * -1 when the rule is malformed (why set). */
static int apply_rule(const char *pat, const char *rep, char caseflag,
                      const char *subject, char *out, size_t outlen, char *why,
                      size_t whylen) {
  char posix[1024];
  if (java_to_posix(pat, posix, sizeof posix) < 0)
    return fail(why, whylen,
                "ssl.principal.mapping.rules: pattern '%s' uses a Java-only "
                "construct (look-around, possessive quantifier) or is too "
                "long",
                pat);
  regex_t re;
  int rc = regcomp(&re, posix, REG_EXTENDED);
  if (rc != 0) {
    char e[128];
    regerror(rc, &re, e, sizeof e);
    return fail(why, whylen, "ssl.principal.mapping.rules: pattern '%s': %s",
                pat, e);
  }
  regmatch_t m[10];
  int hit = subject && regexec(&re, subject, 10, m, 0) == 0 &&
            m[0].rm_so == 0 && (size_t)m[0].rm_eo == strlen(subject);
  if (hit) {
    for (int g = (int)re.re_nsub + 1; g < 10; g++)
      m[g].rm_so = m[g].rm_eo = -1;
  }
  regfree(&re);
  if (!hit)
    return 0;
  if (expand(rep, subject, m, out, outlen) < 0)
    return fail(why, whylen, "the principal mapped from %s is too long",
                subject);
  for (char *c = out; *c && caseflag; c++)
    *c = (char)(caseflag == 'L' ? tolower((unsigned char)*c)
                                : toupper((unsigned char)*c));
  return 1;
}

int net_tls_map_principal(const char *rules, const char *subject, char *out,
                          size_t outlen, char *why, size_t whylen) {
  if (!rules)
    rules = "DEFAULT";
  const char *p = rules;
  int any = 0;
  for (;;) {
    while (*p == ',' || isspace((unsigned char)*p))
      p++;
    if (!*p)
      break;
    any = 1;
    if (strncmp(p, "DEFAULT", 7) == 0) {
      p += 7;
      if (subject) {
        if (strlen(subject) + 1 > outlen)
          return fail(why, whylen, "the subject %s is too long", subject);
        snprintf(out, outlen, "%s", subject);
        return 0;
      }
      continue;
    }
    char pat[512], rep[512], caseflag = 0;
    if (strncmp(p, "RULE:", 5) != 0)
      return fail(why, whylen,
                  "ssl.principal.mapping.rules: unknown rule at '%.40s' "
                  "(DEFAULT or RULE:pattern/replacement/[LU])",
                  p);
    const char *start = p;
    p += 5;
    if (rule_part(&p, pat, sizeof pat) < 0 ||
        rule_part(&p, rep, sizeof rep) < 0)
      return fail(why, whylen,
                  "ssl.principal.mapping.rules: malformed rule '%.60s' "
                  "(RULE:pattern/replacement/[LU])",
                  start);
    if (*p == 'L' || *p == 'U')
      caseflag = *p++;
    if (*p && *p != ',' && !isspace((unsigned char)*p))
      return fail(why, whylen,
                  "ssl.principal.mapping.rules: malformed rule '%.60s' "
                  "(RULE:pattern/replacement/[LU])",
                  start);
    int rc = apply_rule(pat, rep, caseflag, subject, out, outlen, why, whylen);
    if (rc < 0)
      return -1;
    if (rc > 0)
      return 0;
  }
  if (!subject)
    return 0; /* only checking the rules */
  if (!any)
    return fail(why, whylen, "ssl.principal.mapping.rules is empty");
  return fail(why, whylen, "No rules apply to %s, rules [%s]", subject, rules);
}
