/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authorizer.c — the ACL set, its index and the decision (authorizer.h
 * says what Kafka semantics it keeps and how it answers fast).
 *
 * The ACLs live in one array in the set's order; every change rebuilds
 * the index from it (changes are rare, admin requests; checks are on
 * every request). The index is an open-addressing table of resource
 * patterns (type, pattern type, name), each with the positions of its
 * ACLs in a flat array, plus, per resource type, the distinct lengths of
 * its PREFIXED names, so a check looks up the literal name, the literal
 * "*" and one candidate prefix per length.
 */
#include "authorizer.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "broker.h"

#define ACL_RES_TYPES 8 /* codes 0..7 */

typedef struct acl_entry {
  acl_binding b; /* strings owned (one block: name, principal, host) */
  uint64_t seq;  /* insertion order, for a stable set order */
} acl_entry;

typedef struct acl_bucket {
  uint64_t hash;
  const char *name; /* an ACL's; NULL = empty slot */
  size_t len;
  int8_t res_type, pattern;
  uint32_t first, count; /* into idx[] */
} acl_bucket;

struct authorizer {
  acl_entry *acls;
  size_t n, cap;
  uint64_t next_seq;
  char **supers;
  size_t nsupers;
  int allow_everyone;
  /* The index. */
  acl_bucket *buckets;
  size_t nbuckets; /* a power of two, or 0 */
  uint32_t *idx;
  size_t *plens[ACL_RES_TYPES]; /* PREFIXED name lengths, ascending */
  size_t nplens[ACL_RES_TYPES];
};

static const char *const RES_NAMES[] = {
    "UNKNOWN",          "ANY", "TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID",
    "DELEGATION_TOKEN", "USER"};
static const char *const PAT_NAMES[] = {"UNKNOWN", "ANY", "MATCH", "LITERAL",
                                        "PREFIXED"};
static const char *const OP_NAMES[] = {"UNKNOWN",
                                       "ANY",
                                       "ALL",
                                       "READ",
                                       "WRITE",
                                       "CREATE",
                                       "DELETE",
                                       "ALTER",
                                       "DESCRIBE",
                                       "CLUSTER_ACTION",
                                       "DESCRIBE_CONFIGS",
                                       "ALTER_CONFIGS",
                                       "IDEMPOTENT_WRITE",
                                       "CREATE_TOKENS",
                                       "DESCRIBE_TOKENS"};
static const char *const PERM_NAMES[] = {"UNKNOWN", "ANY", "DENY", "ALLOW"};

#define NAMEOF(tab, c)                                                         \
  ((c) >= 0 && (size_t)(c) < sizeof(tab) / sizeof(tab[0]) ? tab[c] : "UNKNOWN")

const char *acl_res_name(int c) {
  return NAMEOF(RES_NAMES, c);
}
const char *acl_pat_name(int c) {
  return NAMEOF(PAT_NAMES, c);
}
const char *acl_op_name(int c) {
  return NAMEOF(OP_NAMES, c);
}
const char *acl_perm_name(int c) {
  return NAMEOF(PERM_NAMES, c);
}

/* s names tab[i] if they are equal ignoring case and '_' (kafka-acls.sh
 * spells operations "IdempotentWrite", the enums IDEMPOTENT_WRITE). */
static int parse_name(const char *const *tab, size_t n, const char *s) {
  if (!s)
    return -1;
  for (size_t i = 0; i < n; i++) {
    const char *a = tab[i], *b = s;
    for (;;) {
      while (*a == '_')
        a++;
      while (*b == '_' || *b == '-')
        b++;
      if (!*a || !*b ||
          toupper((unsigned char)*a) != toupper((unsigned char)*b))
        break;
      a++, b++;
    }
    if (!*a && !*b)
      return (int)i;
  }
  return -1;
}

#define PARSE(tab, s) parse_name(tab, sizeof(tab) / sizeof(tab[0]), s)
int acl_res_parse(const char *s) {
  return PARSE(RES_NAMES, s);
}
int acl_pat_parse(const char *s) {
  return PARSE(PAT_NAMES, s);
}
int acl_op_parse(const char *s) {
  return PARSE(OP_NAMES, s);
}
int acl_perm_parse(const char *s) {
  return PARSE(PERM_NAMES, s);
}

authorizer *authz_new(void) {
  return calloc(1, sizeof(authorizer));
}

static void free_index(authorizer *a) {
  free(a->buckets);
  free(a->idx);
  a->buckets = NULL;
  a->idx = NULL;
  a->nbuckets = 0;
  for (int t = 0; t < ACL_RES_TYPES; t++) {
    free(a->plens[t]);
    a->plens[t] = NULL;
    a->nplens[t] = 0;
  }
}

static void free_supers(authorizer *a) {
  for (size_t i = 0; i < a->nsupers; i++)
    free(a->supers[i]);
  free(a->supers);
  a->supers = NULL;
  a->nsupers = 0;
}

static void clear_acls(authorizer *a) {
  for (size_t i = 0; i < a->n; i++)
    free((char *)a->acls[i].b.name);
  a->n = 0;
}

void authz_free(authorizer *a) {
  if (!a)
    return;
  clear_acls(a);
  free(a->acls);
  free_index(a);
  free_supers(a);
  free(a);
}

int authz_configure(authorizer *a, const char *super_users,
                    int allow_everyone) {
  free_supers(a);
  a->allow_everyone = allow_everyone;
  if (!super_users)
    return 0;
  /* Kafka splits super.users on ';' and trims each. */
  const char *p = super_users;
  while (*p) {
    const char *e = strchr(p, ';');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    const char *s = p;
    size_t l = len;
    while (l && isspace((unsigned char)*s))
      s++, l--;
    while (l && isspace((unsigned char)s[l - 1]))
      l--;
    if (l) {
      char **ns = realloc(a->supers, (a->nsupers + 1) * sizeof(*ns));
      if (!ns)
        return -1;
      a->supers = ns;
      if (!(ns[a->nsupers] = strndup(s, l)))
        return -1;
      a->nsupers++;
    }
    p += len + (e ? 1 : 0);
  }
  return 0;
}

int authz_is_super(const authorizer *a, const char *principal) {
  for (size_t i = 0; i < a->nsupers; i++)
    if (strcmp(a->supers[i], principal) == 0)
      return 1;
  return 0;
}

/* FNV-1a over the pattern's identity. */
static uint64_t pattern_hash(int type, int pattern, const char *name,
                             size_t len) {
  uint64_t h = 1469598103934665603ull;
  h = (h ^ (uint8_t)type) * 1099511628211ull;
  h = (h ^ (uint8_t)pattern) * 1099511628211ull;
  for (size_t i = 0; i < len; i++)
    h = (h ^ (uint8_t)name[i]) * 1099511628211ull;
  return h;
}

static const acl_bucket *find_bucket(const authorizer *a, int type, int pattern,
                                     const char *name, size_t len) {
  if (!a->nbuckets)
    return NULL;
  uint64_t h = pattern_hash(type, pattern, name, len);
  size_t mask = a->nbuckets - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const acl_bucket *b = &a->buckets[i];
    if (!b->name)
      return NULL;
    if (b->hash == h && b->res_type == type && b->pattern == pattern &&
        b->len == len && memcmp(b->name, name, len) == 0)
      return b;
  }
}

static int cmp_size(const void *x, const void *y) {
  size_t a = *(const size_t *)x, b = *(const size_t *)y;
  return a < b ? -1 : a > b;
}

/* Build the index from a->acls; -1 when out of memory (the old index
 * stays then). */
static int build_index(authorizer *a) {
  size_t nb = 16;
  while (nb < a->n * 2)
    nb *= 2;
  acl_bucket *bk = calloc(nb, sizeof(*bk));
  uint32_t *where = malloc((a->n ? a->n : 1) * sizeof(*where));
  uint32_t *idx = malloc((a->n ? a->n : 1) * sizeof(*idx));
  size_t *pl[ACL_RES_TYPES] = {0};
  size_t npl[ACL_RES_TYPES] = {0};
  int ok = bk && where && idx;
  for (size_t i = 0; ok && i < a->n; i++) {
    const acl_binding *b = &a->acls[i].b;
    size_t len = strlen(b->name);
    uint64_t h = pattern_hash(b->res_type, b->pattern, b->name, len);
    size_t j = h & (nb - 1);
    for (;; j = (j + 1) & (nb - 1)) {
      acl_bucket *s = &bk[j];
      if (!s->name) {
        *s = (acl_bucket){h, b->name, len, b->res_type, b->pattern, 0, 0};
        if (b->pattern == ACL_PAT_PREFIXED) {
          int t = b->res_type;
          size_t *np = realloc(pl[t], (npl[t] + 1) * sizeof(*np));
          if (!np) {
            ok = 0;
            break;
          }
          pl[t] = np;
          np[npl[t]++] = len;
        }
        break;
      }
      if (s->hash == h && s->res_type == b->res_type &&
          s->pattern == b->pattern && s->len == len &&
          memcmp(s->name, b->name, len) == 0)
        break;
    }
    where[i] = (uint32_t)j;
    bk[j].count++;
  }
  if (!ok) {
    free(bk);
    free(where);
    free(idx);
    for (int t = 0; t < ACL_RES_TYPES; t++)
      free(pl[t]);
    return -1;
  }
  uint32_t at = 0;
  for (size_t j = 0; j < nb; j++) {
    bk[j].first = at;
    at += bk[j].count;
    bk[j].count = 0;
  }
  for (size_t i = 0; i < a->n; i++) {
    acl_bucket *s = &bk[where[i]];
    idx[s->first + s->count++] = (uint32_t)i;
  }
  free(where);
  free_index(a);
  a->buckets = bk;
  a->nbuckets = nb;
  a->idx = idx;
  for (int t = 0; t < ACL_RES_TYPES; t++) {
    /* Distinct lengths, ascending. */
    if (npl[t])
      qsort(pl[t], npl[t], sizeof(size_t), cmp_size);
    size_t k = 0;
    for (size_t i = 0; i < npl[t]; i++)
      if (!k || pl[t][k - 1] != pl[t][i])
        pl[t][k++] = pl[t][i];
    a->plens[t] = pl[t];
    a->nplens[t] = k;
  }
  return 0;
}

static int str_eq(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int same_acl(const acl_binding *x, const acl_binding *y) {
  return x->res_type == y->res_type && x->pattern == y->pattern &&
         x->op == y->op && x->perm == y->perm && str_eq(x->name, y->name) &&
         str_eq(x->principal, y->principal) && str_eq(x->host, y->host);
}

/* The set's order: resource type, name, pattern type, then insertion. */
static int acl_cmp(const void *x, const void *y) {
  const acl_entry *a = x, *b = y;
  if (a->b.res_type != b->b.res_type)
    return a->b.res_type - b->b.res_type;
  int c = strcmp(a->b.name, b->b.name);
  if (c)
    return c;
  if (a->b.pattern != b->b.pattern)
    return a->b.pattern - b->b.pattern;
  return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Append a copy of b to the array (not sorted, not indexed): the entry, or
 * NULL when out of memory. */
static acl_entry *append(authorizer *a, const acl_binding *b) {
  if (a->n == a->cap) {
    size_t nc = a->cap ? a->cap * 2 : 16;
    acl_entry *na = realloc(a->acls, nc * sizeof(*na));
    if (!na)
      return NULL;
    a->acls = na;
    a->cap = nc;
  }
  size_t ln = strlen(b->name), lp = strlen(b->principal), lh = strlen(b->host);
  char *block = malloc(ln + lp + lh + 3);
  if (!block)
    return NULL;
  memcpy(block, b->name, ln + 1);
  memcpy(block + ln + 1, b->principal, lp + 1);
  memcpy(block + ln + lp + 2, b->host, lh + 1);
  acl_entry *e = &a->acls[a->n++];
  e->b = *b;
  e->b.name = block;
  e->b.principal = block + ln + 1;
  e->b.host = block + ln + lp + 2;
  e->seq = a->next_seq++;
  return e;
}

int authz_add(authorizer *a, const acl_binding *b) {
  for (size_t i = 0; i < a->n; i++)
    if (same_acl(&a->acls[i].b, b))
      return 0;
  acl_entry *e = append(a, b);
  if (!e)
    return -1;
  char *block = (char *)e->b.name;
  qsort(a->acls, a->n, sizeof(*a->acls), acl_cmp);
  if (build_index(a) < 0) {
    /* Take it out again: the index must describe the array. */
    for (size_t i = 0; i < a->n; i++)
      if (a->acls[i].b.name == block) {
        memmove(&a->acls[i], &a->acls[i + 1],
                (a->n - i - 1) * sizeof(*a->acls));
        break;
      }
    a->n--;
    free(block);
    return -1;
  }
  return 1;
}

int authz_filter_matches(const acl_filter *f, const acl_binding *b) {
  /* ResourcePatternFilter.matches */
  if (f->res_type != ACL_RES_ANY && f->res_type != b->res_type)
    return 0;
  if (f->pattern != ACL_PAT_ANY && f->pattern != ACL_PAT_MATCH &&
      f->pattern != b->pattern)
    return 0;
  if (f->name) {
    if (f->pattern == ACL_PAT_ANY || f->pattern == b->pattern) {
      if (strcmp(f->name, b->name) != 0)
        return 0;
    } else if (b->pattern == ACL_PAT_LITERAL) {
      if (strcmp(f->name, b->name) != 0 && strcmp(b->name, ACL_WILDCARD) != 0)
        return 0;
    } else if (strncmp(f->name, b->name, strlen(b->name)) != 0) {
      return 0;
    }
  }
  /* AccessControlEntryFilter.matches */
  if (f->principal && strcmp(f->principal, b->principal) != 0)
    return 0;
  if (f->host && strcmp(f->host, b->host) != 0)
    return 0;
  if (f->op != ACL_OP_ANY && f->op != b->op)
    return 0;
  if (f->perm != ACL_PERM_ANY && f->perm != b->perm)
    return 0;
  return 1;
}

int authz_remove(authorizer *a, const acl_filter *f,
                 void (*each)(void *arg, const acl_binding *acl), void *arg) {
  size_t keep = 0, gone = 0;
  char **freed = NULL;
  for (size_t i = 0; i < a->n; i++)
    gone += authz_filter_matches(f, &a->acls[i].b);
  if (!gone)
    return 0;
  if (!(freed = malloc(gone * sizeof(*freed))))
    return -1;
  /* Compact into a copy first: if the index cannot be rebuilt, nothing
   * changed. */
  acl_entry *old = a->acls;
  size_t oldn = a->n;
  acl_entry *na = malloc((a->cap ? a->cap : 1) * sizeof(*na));
  if (!na) {
    free(freed);
    return -1;
  }
  size_t k = 0;
  for (size_t i = 0; i < oldn; i++) {
    if (authz_filter_matches(f, &old[i].b))
      freed[k++] = (char *)old[i].b.name;
    else
      na[keep++] = old[i];
  }
  a->acls = na;
  a->n = keep;
  if (build_index(a) < 0) {
    a->acls = old;
    a->n = oldn;
    free(na);
    free(freed);
    return -1;
  }
  for (size_t i = 0; i < oldn; i++)
    if (each && authz_filter_matches(f, &old[i].b))
      each(arg, &old[i].b);
  free(old);
  for (size_t i = 0; i < k; i++)
    free(freed[i]);
  free(freed);
  return (int)gone;
}

void authz_list(const authorizer *a, const acl_filter *f,
                void (*each)(void *arg, const acl_binding *acl), void *arg) {
  for (size_t i = 0; i < a->n; i++)
    if (!f || authz_filter_matches(f, &a->acls[i].b))
      each(arg, &a->acls[i].b);
}

size_t authz_count(const authorizer *a) {
  return a->n;
}

enum { M_NONE, M_DENY, M_ALLOW };

/* StandardAuthorizerData.findResult: what acl says about (principal, host,
 * op). DENY takes its operation literally; ALLOW also grants the
 * operations its operation implies. */
static int acl_says(const acl_binding *b, const char *principal,
                    const char *host, int op) {
  if (strcmp(b->principal, principal) != 0 &&
      strcmp(b->principal, ACL_WILDCARD_PRINCIPAL) != 0)
    return M_NONE;
  if (strcmp(b->host, ACL_WILDCARD) != 0 && strcmp(b->host, host) != 0)
    return M_NONE;
  if (b->op != ACL_OP_ALL && b->op != op) {
    if (b->perm != ACL_PERM_ALLOW)
      return M_NONE;
    if (op == ACL_OP_DESCRIBE) {
      if (b->op != ACL_OP_READ && b->op != ACL_OP_WRITE &&
          b->op != ACL_OP_DELETE && b->op != ACL_OP_ALTER)
        return M_NONE;
    } else if (op == ACL_OP_DESCRIBE_CONFIGS) {
      if (b->op != ACL_OP_ALTER_CONFIGS)
        return M_NONE;
    } else {
      return M_NONE;
    }
  }
  return b->perm == ACL_PERM_ALLOW  ? M_ALLOW
         : b->perm == ACL_PERM_DENY ? M_DENY
                                    : M_NONE;
}

/* Fold the ACLs of one resource pattern into *state (M_DENY is final);
 * *seen notes that the resource has ACLs at all. */
static void check_bucket(const authorizer *a, const acl_bucket *bk,
                         const char *principal, const char *host, int op,
                         int *state, int *seen) {
  if (!bk)
    return;
  *seen = 1;
  for (uint32_t i = 0; i < bk->count && *state != M_DENY; i++) {
    int m = acl_says(&a->acls[a->idx[bk->first + i]].b, principal, host, op);
    if (m != M_NONE && (m == M_DENY || *state == M_NONE))
      *state = m;
  }
}

int authz_authorize(const authorizer *a, const char *principal,
                    const char *host, int res_type, const char *name,
                    size_t name_len, int op) {
  if (authz_is_super(a, principal))
    return 1;
  if (res_type < 0 || res_type >= ACL_RES_TYPES)
    return 0;
  int state = M_NONE, seen = 0;
  check_bucket(a, find_bucket(a, res_type, ACL_PAT_LITERAL, name, name_len),
               principal, host, op, &state, &seen);
  if (state != M_DENY)
    check_bucket(a, find_bucket(a, res_type, ACL_PAT_LITERAL, ACL_WILDCARD, 1),
                 principal, host, op, &state, &seen);
  for (size_t i = 0; i < a->nplens[res_type] && state != M_DENY; i++) {
    size_t l = a->plens[res_type][i];
    if (l > name_len)
      break;
    check_bucket(a, find_bucket(a, res_type, ACL_PAT_PREFIXED, name, l),
                 principal, host, op, &state, &seen);
  }
  if (state == M_DENY)
    return 0;
  if (state == M_ALLOW)
    return 1;
  return !seen && a->allow_everyone;
}

int authz_authorize_any(const authorizer *a, const char *principal,
                        const char *host, int res_type, int op) {
  /* Kafka's Authorizer.authorizeByResourceType: first a literal resource
   * named "hardcode" (super users, a literal "*" ALLOW,
   * allow.everyone.if.no.acl.found); then some ALLOW of op (or ALL) for
   * the caller that no DENY of op (or ALL) for the caller covers: a DENY
   * on the literal "*", on the same literal name, or PREFIXED on a prefix
   * of the ALLOW's name (a literal or prefixed ALLOW alike). */
  if (authz_authorize(a, principal, host, res_type, "hardcode", 8, op))
    return 1;
  for (size_t i = 0; i < a->n; i++) {
    const acl_binding *al = &a->acls[i].b;
    if (al->res_type != res_type || al->perm != ACL_PERM_ALLOW ||
        (al->op != op && al->op != ACL_OP_ALL) ||
        acl_says(al, principal, host, op) != M_ALLOW)
      continue;
    int denied = 0;
    for (size_t j = 0; j < a->n && !denied; j++) {
      const acl_binding *d = &a->acls[j].b;
      if (d->res_type != res_type || d->perm != ACL_PERM_DENY ||
          acl_says(d, principal, host, op) != M_DENY)
        continue;
      if (d->pattern == ACL_PAT_LITERAL)
        denied =
            strcmp(d->name, ACL_WILDCARD) == 0 ||
            (al->pattern == ACL_PAT_LITERAL && strcmp(d->name, al->name) == 0);
      else
        denied = strncmp(al->name, d->name, strlen(d->name)) == 0;
    }
    if (!denied)
      return 1;
  }
  return 0;
}

int32_t authz_allowed_ops(const authorizer *a, const char *principal,
                          const char *host, int res_type, const char *name,
                          size_t name_len, int32_t ops_mask) {
  int32_t out = 0;
  for (int op = ACL_OP_READ; op <= ACL_OP_MAX; op++)
    if ((ops_mask & (1 << op)) &&
        authz_authorize(a, principal, host, res_type, name, name_len, op))
      out |= 1 << op;
  return out;
}

int authz_codes_known(const acl_binding *b) {
  return b->res_type > ACL_RES_UNKNOWN && b->res_type <= ACL_RES_USER &&
         b->pattern > ACL_PAT_UNKNOWN && b->pattern <= ACL_PAT_PREFIXED &&
         b->op > ACL_OP_UNKNOWN && b->op <= ACL_OP_MAX &&
         b->perm > ACL_PERM_UNKNOWN && b->perm <= ACL_PERM_ALLOW;
}

int authz_validate(const acl_binding *b, char *why, size_t whylen) {
  /* Kafka 4.4's answers to each (tests/compat/test_acl_matrix.py looks):
   * ANY or MATCH where a binding needs a concrete value makes its
   * ResourcePattern/AccessControlEntry constructors throw, which it
   * answers as UNKNOWN_SERVER_ERROR without a message; the rest are
   * InvalidRequestException with these texts. */
  if (!authz_codes_known(b) || b->res_type == ACL_RES_ANY ||
      (b->pattern != ACL_PAT_LITERAL && b->pattern != ACL_PAT_PREFIXED) ||
      b->op == ACL_OP_ANY || b->perm == ACL_PERM_ANY) {
    if (whylen)
      *why = 0;
    return -1;
  }
  if (!b->name || !*b->name) {
    snprintf(why, whylen, "Invalid empty resource name");
    return -2;
  }
  if (b->res_type == ACL_RES_CLUSTER &&
      strcmp(b->name, ACL_CLUSTER_NAME) != 0) {
    snprintf(why, whylen,
             "The only valid name for the CLUSTER resource is kafka-cluster");
    return -2;
  }
  if (!b->principal || !strchr(b->principal, ':')) {
    snprintf(why, whylen,
             "Could not parse principal from `%s` (no colon is present "
             "separating the principal type from the principal name)",
             b->principal ? b->principal : "null");
    return -2;
  }
  if (!b->host || !*b->host) {
    snprintf(why, whylen, "Host pattern cannot be null or empty");
    return -2;
  }
  return 0;
}

/* The file. */

#define ACL_FILE_HEADER "# nodata acls v1"

/* Escape s (tab, newline, CR, '%', bytes below 0x20 or 0x7f) as %XX. */
static int put_field(FILE *f, const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p < 0x20 || *p == 0x7f || *p == '%') {
      if (fprintf(f, "%%%02X", *p) < 0)
        return -1;
    } else if (fputc(*p, f) == EOF) {
      return -1;
    }
  }
  return 0;
}

void authz_file_path(const char *data_dir, char *out, size_t cap) {
  snprintf(out, cap, "%s/%s", data_dir ? data_dir : ".", ACL_FILE_NAME);
}

int authz_save(const authorizer *a, const char *path) {
  /* The directory first: the broker may never have written one. */
  const char *slash = strrchr(path, '/');
  if (slash) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
      return -errno;
  }
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f)
    return -ENOMEM;
  int bad = fprintf(f, "%s\n", ACL_FILE_HEADER) < 0;
  for (size_t i = 0; !bad && i < a->n; i++) {
    const acl_binding *b = &a->acls[i].b;
    bad |= fprintf(f, "%s\t%s\t", acl_res_name(b->res_type),
                   acl_pat_name(b->pattern)) < 0;
    bad |= put_field(f, b->name) < 0 || fputc('\t', f) == EOF;
    bad |= put_field(f, b->principal) < 0 || fputc('\t', f) == EOF;
    bad |= put_field(f, b->host) < 0;
    bad |= fprintf(f, "\t%s\t%s\n", acl_op_name(b->op),
                   acl_perm_name(b->perm)) < 0;
  }
  if (fclose(f) != 0 || bad) {
    free(buf);
    return -ENOMEM;
  }
  int rc = broker_write_atomic(path, buf, len);
  free(buf);
  return rc;
}

static int unescape(char *s) {
  char *o = s;
  for (char *p = s; *p; p++) {
    if (*p == '%') {
      unsigned v;
      if (!isxdigit((unsigned char)p[1]) || !isxdigit((unsigned char)p[2]) ||
          sscanf(p + 1, "%2x", &v) != 1 || v == 0)
        return -1;
      *o++ = (char)v;
      p += 2;
    } else {
      *o++ = *p;
    }
  }
  *o = 0;
  return 0;
}

int authz_load(authorizer *a, const char *path, char *why, size_t whylen) {
  FILE *f = fopen(path, "r");
  if (!f) {
    if (errno == ENOENT) {
      clear_acls(a);
      build_index(a);
      return 1;
    }
    snprintf(why, whylen, "%s: %s", path, strerror(errno));
    return -1;
  }
  authorizer *n = authz_new();
  char *line = NULL;
  size_t cap = 0;
  ssize_t got;
  int lineno = 0, rc = 0;
  if (!n) {
    snprintf(why, whylen, "%s: out of memory", path);
    rc = -1;
  }
  while (rc == 0 && (got = getline(&line, &cap, f)) >= 0) {
    lineno++;
    if (got > 0 && line[got - 1] == '\n')
      line[--got] = 0;
    if (lineno == 1) {
      if (strcmp(line, ACL_FILE_HEADER) != 0) {
        snprintf(why, whylen,
                 "%s:1: not a nodata ACL file (its first line must be "
                 "\"%s\")",
                 path, ACL_FILE_HEADER);
        rc = -1;
      }
      continue;
    }
    if (!*line || line[0] == '#')
      continue;
    char *fld[8];
    int nf = 0;
    for (char *p = line; nf < 8;) {
      fld[nf++] = p;
      char *t = strchr(p, '\t');
      if (!t)
        break;
      *t = 0;
      p = t + 1;
    }
    const char *bad = NULL;
    acl_binding b = {0};
    if (nf != 7)
      bad = "expected 7 tab-separated fields";
    else if ((b.res_type = (int8_t)acl_res_parse(fld[0])) <= ACL_RES_ANY)
      bad = "unknown resource type";
    else if ((b.pattern = (int8_t)acl_pat_parse(fld[1])) < ACL_PAT_LITERAL)
      bad = "unknown pattern type";
    else if (unescape(fld[2]) || unescape(fld[3]) || unescape(fld[4]))
      bad = "bad %-escape";
    else if ((b.op = (int8_t)acl_op_parse(fld[5])) <= ACL_OP_ANY)
      bad = "unknown operation";
    else if ((b.perm = (int8_t)acl_perm_parse(fld[6])) < ACL_PERM_DENY)
      bad = "unknown permission type";
    char v[512];
    b.name = fld[2];
    b.principal = nf > 3 ? fld[3] : "";
    b.host = nf > 4 ? fld[4] : "";
    if (!bad && authz_validate(&b, v, sizeof(v)) < 0)
      bad = *v ? v : "not a valid ACL";
    if (bad) {
      snprintf(why, whylen, "%s:%d: %s", path, lineno, bad);
      rc = -1;
    } else if (!append(n, &b)) {
      /* Appended in bulk, sorted and indexed once below: a file of many
       * thousands of ACLs loads in O(n log n). Only nodata writes it, so
       * it holds no duplicates to look for. */
      snprintf(why, whylen, "%s: out of memory", path);
      rc = -1;
    }
  }
  if (rc == 0 && ferror(f)) {
    snprintf(why, whylen, "%s: %s", path, strerror(errno));
    rc = -1;
  }
  if (rc == 0 && lineno == 0) {
    snprintf(why, whylen, "%s:1: empty (a nodata ACL file starts \"%s\")", path,
             ACL_FILE_HEADER);
    rc = -1;
  }
  free(line);
  fclose(f);
  if (rc == 0) {
    if (n->n) /* a file of no ACLs leaves acls NULL: qsort's UB */
      qsort(n->acls, n->n, sizeof(*n->acls), acl_cmp);
    if (n->n && build_index(n) < 0) {
      snprintf(why, whylen, "%s: out of memory", path);
      rc = -1;
    }
  }
  if (rc == 0) {
    /* Take n's ACLs; keep a's configuration. */
    clear_acls(a);
    free(a->acls);
    free_index(a);
    a->acls = n->acls;
    a->n = n->n;
    a->cap = n->cap;
    a->next_seq = n->next_seq;
    a->buckets = n->buckets;
    a->nbuckets = n->nbuckets;
    a->idx = n->idx;
    for (int t = 0; t < ACL_RES_TYPES; t++) {
      a->plens[t] = n->plens[t];
      a->nplens[t] = n->nplens[t];
      n->plens[t] = NULL;
    }
    n->acls = NULL;
    n->n = 0;
    n->buckets = NULL;
    n->idx = NULL;
  }
  authz_free(n);
  return rc;
}
