/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cgroup_regex.c — subscriptions by regular expression (KIP-848's
 * SubscribedTopicRegex), in the syntax Kafka resolves them with: RE2/J's
 * (com.google.re2j 1.8, Pattern.compile with no flags, then
 * Matcher.matches(): the whole topic name).
 *
 * Why not regcomp: POSIX ERE and RE2 disagree on enough of the syntax
 * (\d, \w, \pL, (?i), (?:...), \Q...\E, {,n}, escapes in brackets, what is
 * an error) that a translation would need RE2's parser anyway, and the
 * parser decides acceptance and error messages, which must be RE2/J's.
 * Once parsed, matching is a small Thompson NFA simulation: linear in the
 * name's length, whatever the pattern (a client's pattern cannot make the
 * broker backtrack exponentially), as RE2 promises.
 *
 * The parser follows RE2/J's rules, so the same patterns are refused with
 * the same description (PatternSyntaxException.getDescription(), which is
 * what Kafka puts in its INVALID_REGULAR_EXPRESSION message), including its
 * quirks: ")" alone is "regexp/syntax: internal error", a '{' that does
 * not start a valid repeat is a literal but counts as a repetition for
 * "invalid nested repetition operator" ("a{*"), "(?)" is an empty flag
 * group, "(?P<1>x)" is a valid name, [[:foo:]] is refused, repeat counts
 * go to 1000, "a{01}" is literal text.
 *
 * What is not modelled, because topic names cannot contain it (Kafka's
 * topic names are ASCII letters, digits, '.', '_' and '-'): membership of
 * non-ASCII code points in classes (a class matches either every or no
 * code point above U+007F, decided as for the class's own contents), and
 * case folding beyond ASCII except the two foldings that reach ASCII
 * (U+017F ſ with s, U+212A Kelvin with k). Unicode classes (\pL,
 * \p{Greek}, \p{^Lu}, \PN) accept exactly RE2/J's names and match ASCII
 * as its tables do. Differences from RE2/J: a program above 1,000,000
 * instructions (nested counted repeats like (a{1000}){1000}) is refused
 * with "expression too large", where RE2/J builds it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"
#include "nodata.h"

/* RE2/J's error descriptions. */
#define E_INTERNAL "regexp/syntax: internal error"
#define E_CLASS_RANGE "invalid character class range"
#define E_ESCAPE "invalid escape sequence"
#define E_NAMED "invalid named capture"
#define E_PERL_OP "invalid or unsupported Perl syntax"
#define E_REPEAT_OP "invalid nested repetition operator"
#define E_REPEAT_SIZE "invalid repeat count"
#define E_BRACKET "missing closing ]"
#define E_PAREN "missing closing )"
#define E_REPEAT_ARG "missing argument to repetition operator"
#define E_BACKSLASH "trailing backslash at end of expression"
#define E_DUP_NAME "duplicate capture group name"
#define E_LARGE "expression too large"

#define MAX_RUNE 0x10ffff
#define MAX_PROG 1000000

/* Parser flags (RE2/J's names). */
enum { F_FOLD = 1, F_ONE_LINE = 2, F_DOT_NL = 4 };

/* A character class: the ASCII part exactly, the rest as one bit. */
typedef struct cls {
  uint64_t a[2];
  int high;
} cls;

static void cls_add(cls *c, uint32_t r) {
  if (r < 128)
    c->a[r >> 6] |= 1ull << (r & 63);
  else
    c->high = 1;
}

static int cls_has(const cls *c, uint32_t r) {
  return r < 128 ? (int)(c->a[r >> 6] >> (r & 63) & 1) : c->high;
}

static void cls_negate(cls *c) {
  c->a[0] = ~c->a[0];
  c->a[1] = ~c->a[1];
  c->high = !c->high;
}

static void cls_or(cls *c, const cls *d) {
  c->a[0] |= d->a[0];
  c->a[1] |= d->a[1];
  c->high |= d->high;
}

/* Simple case folding where it reaches ASCII. */
static uint32_t fold_canon(uint32_t r) {
  if (r >= 'A' && r <= 'Z')
    return r + 32;
  if (r == 0x17f)
    return 's';
  if (r == 0x212a)
    return 'k';
  return r;
}

/* Add every case variant of the ASCII letters already in c. */
static void cls_fold(cls *c) {
  for (uint32_t r = 'A'; r <= 'Z'; r++)
    if (cls_has(c, r) || cls_has(c, r + 32)) {
      cls_add(c, r);
      cls_add(c, r + 32);
    }
  if (cls_has(c, 'k'))
    c->high = 1; /* U+212A */
  if (cls_has(c, 's'))
    c->high = 1; /* U+017F */
}

static void cls_range(cls *c, uint32_t lo, uint32_t hi, int fold) {
  for (uint32_t r = lo; r <= hi && r < 128; r++)
    cls_add(c, r);
  if (hi >= 128)
    c->high = 1;
  if (fold) {
    for (uint32_t r = lo; r <= hi && r < 128; r++)
      if ((r | 32) >= 'a' && (r | 32) <= 'z') {
        cls_add(c, r | 32);
        cls_add(c, r & ~32u);
      }
    if (lo <= 0x17f && hi >= 0x17f) {
      cls_add(c, 's');
      cls_add(c, 'S');
    }
    if (lo <= 0x212a && hi >= 0x212a) {
      cls_add(c, 'k');
      cls_add(c, 'K');
    }
  }
}

static void cls_span(cls *c, const char *chars) {
  for (; *chars; chars++)
    cls_add(c, (unsigned char)*chars);
}

/* ---- named groups: Perl (\d), POSIX ([:alpha:]), Unicode (\pL) -------- */

static const char DIGIT[] = "0123456789";
static const char UPPER[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
static const char LOWER[] = "abcdefghijklmnopqrstuvwxyz";

/* The ASCII members of POSIX class `name` (without "[:" ":]"); 0 if the
 * name is not one. */
static int posix_class(const char *name, size_t n, cls *c) {
  static const char *const names[] = {
      "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph",
      "lower", "print", "punct", "space", "upper", "word",  "xdigit"};
  int k = -1;
  for (int i = 0; i < (int)(sizeof names / sizeof *names); i++)
    if (strlen(names[i]) == n && !memcmp(names[i], name, n))
      k = i;
  memset(c, 0, sizeof *c);
  switch (k) {
  case 0:
    cls_span(c, DIGIT);
    cls_span(c, UPPER);
    cls_span(c, LOWER);
    break;
  case 1:
    cls_span(c, UPPER);
    cls_span(c, LOWER);
    break;
  case 2:
    cls_range(c, 0, 127, 0);
    break;
  case 3:
    cls_span(c, " \t");
    break;
  case 4:
    cls_range(c, 0, 31, 0);
    cls_add(c, 127);
    break;
  case 5:
    cls_span(c, DIGIT);
    break;
  case 6:
    cls_range(c, '!', '~', 0);
    break;
  case 7:
    cls_span(c, LOWER);
    break;
  case 8:
    cls_range(c, ' ', '~', 0);
    break;
  case 9:
    cls_range(c, '!', '/', 0);
    cls_range(c, ':', '@', 0);
    cls_range(c, '[', '`', 0);
    cls_range(c, '{', '~', 0);
    break;
  case 10:
    cls_span(c, " \t\n\v\f\r");
    break;
  case 11:
    cls_span(c, UPPER);
    break;
  case 12:
    cls_span(c, DIGIT);
    cls_span(c, UPPER);
    cls_span(c, LOWER);
    cls_add(c, '_');
    break;
  case 13:
    cls_span(c, DIGIT);
    cls_span(c, "ABCDEFabcdef");
    break;
  default:
    return 0;
  }
  return 1;
}

/* RE2/J 1.8's Unicode category and script names (UnicodeTables). */
static const char *const UNICODE_NAMES[] = {"C",
                                            "Cc",
                                            "Cf",
                                            "Co",
                                            "Cs",
                                            "L",
                                            "Ll",
                                            "Lm",
                                            "Lo",
                                            "Lt",
                                            "Lu",
                                            "M",
                                            "Mc",
                                            "Me",
                                            "Mn",
                                            "N",
                                            "Nd",
                                            "Nl",
                                            "No",
                                            "P",
                                            "Pc",
                                            "Pd",
                                            "Pe",
                                            "Pf",
                                            "Pi",
                                            "Po",
                                            "Ps",
                                            "S",
                                            "Sc",
                                            "Sk",
                                            "Sm",
                                            "So",
                                            "Z",
                                            "Zl",
                                            "Zp",
                                            "Zs",
                                            "Arabic",
                                            "Armenian",
                                            "Avestan",
                                            "Balinese",
                                            "Bamum",
                                            "Batak",
                                            "Bengali",
                                            "Bopomofo",
                                            "Brahmi",
                                            "Braille",
                                            "Buginese",
                                            "Buhid",
                                            "Canadian_Aboriginal",
                                            "Carian",
                                            "Cham",
                                            "Cherokee",
                                            "Common",
                                            "Coptic",
                                            "Cuneiform",
                                            "Cypriot",
                                            "Cyrillic",
                                            "Deseret",
                                            "Devanagari",
                                            "Egyptian_Hieroglyphs",
                                            "Ethiopic",
                                            "Georgian",
                                            "Glagolitic",
                                            "Gothic",
                                            "Greek",
                                            "Gujarati",
                                            "Gurmukhi",
                                            "Han",
                                            "Hangul",
                                            "Hanunoo",
                                            "Hebrew",
                                            "Hiragana",
                                            "Imperial_Aramaic",
                                            "Inherited",
                                            "Inscriptional_Pahlavi",
                                            "Inscriptional_Parthian",
                                            "Javanese",
                                            "Kaithi",
                                            "Kannada",
                                            "Katakana",
                                            "Kayah_Li",
                                            "Kharoshthi",
                                            "Khmer",
                                            "Lao",
                                            "Latin",
                                            "Lepcha",
                                            "Limbu",
                                            "Linear_B",
                                            "Lisu",
                                            "Lycian",
                                            "Lydian",
                                            "Malayalam",
                                            "Mandaic",
                                            "Meetei_Mayek",
                                            "Mongolian",
                                            "Myanmar",
                                            "New_Tai_Lue",
                                            "Nko",
                                            "Ogham",
                                            "Ol_Chiki",
                                            "Old_Italic",
                                            "Old_Persian",
                                            "Old_South_Arabian",
                                            "Old_Turkic",
                                            "Oriya",
                                            "Osmanya",
                                            "Phags_Pa",
                                            "Phoenician",
                                            "Rejang",
                                            "Runic",
                                            "Samaritan",
                                            "Saurashtra",
                                            "Shavian",
                                            "Sinhala",
                                            "Sundanese",
                                            "Syloti_Nagri",
                                            "Syriac",
                                            "Tagalog",
                                            "Tagbanwa",
                                            "Tai_Le",
                                            "Tai_Tham",
                                            "Tai_Viet",
                                            "Tamil",
                                            "Telugu",
                                            "Thaana",
                                            "Thai",
                                            "Tibetan",
                                            "Tifinagh",
                                            "Ugaritic",
                                            "Unknown",
                                            "Vai",
                                            "Yi",
                                            "Any"};

/* The ASCII members of Unicode class `name` (RE2/J's tables), with
 * their fold tables' ASCII members under (?i). 0: no such name. */
static int unicode_class(const char *name, size_t n, int fold, cls *c) {
  int known = 0;
  for (size_t i = 0; i < sizeof UNICODE_NAMES / sizeof *UNICODE_NAMES; i++)
    if (strlen(UNICODE_NAMES[i]) == n && !memcmp(UNICODE_NAMES[i], name, n))
      known = 1;
  if (!known)
    return 0;
  memset(c, 0, sizeof *c);
  c->high = 1; /* every one of them has members above U+007F */
#define IS(s) (n == sizeof s - 1 && !memcmp(name, s, n))
  if (IS("Any")) {
    cls_range(c, 0, 127, 0);
  } else if (IS("C") || IS("Cc")) {
    cls_range(c, 0, 31, 0);
    cls_add(c, 127);
  } else if (IS("L") || IS("Latin")) {
    cls_span(c, UPPER);
    cls_span(c, LOWER);
  } else if (IS("Ll")) {
    cls_span(c, LOWER);
    if (fold)
      cls_span(c, "KS");
  } else if (IS("Lu")) {
    cls_span(c, UPPER);
    if (fold)
      cls_span(c, LOWER);
  } else if (IS("N") || IS("Nd")) {
    cls_span(c, DIGIT);
  } else if (IS("P")) {
    cls_span(c, "!\"#%&'()*,-./:;?@[\\]_{}");
  } else if (IS("Pc")) {
    cls_span(c, "_");
  } else if (IS("Pd")) {
    cls_span(c, "-");
  } else if (IS("Pe")) {
    cls_span(c, ")]}");
  } else if (IS("Po")) {
    cls_span(c, "!\"#%&'*,./:;?@\\");
  } else if (IS("Ps")) {
    cls_span(c, "([{");
  } else if (IS("S")) {
    cls_span(c, "$+<=>^`|~");
  } else if (IS("Sc")) {
    cls_span(c, "$");
  } else if (IS("Sk")) {
    cls_span(c, "^`");
  } else if (IS("Sm")) {
    cls_span(c, "+<=>|~");
  } else if (IS("Z") || IS("Zs")) {
    cls_span(c, " ");
  } else if (IS("Common")) {
    cls_range(c, 0, 64, 0);
    cls_range(c, '[', '`', 0);
    cls_range(c, '{', 127, 0);
  }
#undef IS
  return 1;
}

/* ---- the parse tree -------------------------------------------------- */

enum {
  N_EMPTY,
  N_RUNE,   /* r, fold */
  N_CLASS,  /* c */
  N_ASSERT, /* r: one of A_* */
  N_CAT,
  N_ALT,
  N_STAR,
  N_PLUS,
  N_QUEST,
  N_REPEAT, /* min, max (-1: none) */
};

enum { A_BEGIN_TEXT, A_END_TEXT, A_BEGIN_LINE, A_END_LINE, A_WORD, A_NOWORD };

typedef struct node {
  int op;
  uint32_t r;
  int fold;
  int min, max;
  cls c;
  int *kids;
  int nkids;
} node;

/* A group being parsed: its finished alternatives and the current one's
 * items (node indexes). */
typedef struct frame {
  int *alts, nalts, capalts;
  int *items, nitems, capitems;
  int saved_flags;
} frame;

typedef struct parser {
  const uint32_t *s; /* the pattern's code points */
  size_t n, pos;
  int flags;
  node *nodes;
  int nnodes, capnodes;
  frame *frames;
  int nframes, capframes;
  char **names; /* named groups seen */
  int nnames, capnames;
  const char *err; /* description when refused */
  int nomem;
} parser;

static int grow(void **p, int *cap, int need, size_t size) {
  if (need <= *cap)
    return 0;
  int c = *cap ? *cap * 2 : 8;
  while (c < need)
    c *= 2;
  void *q = realloc(*p, (size_t)c * size);
  if (!q)
    return -1;
  *p = q;
  *cap = c;
  return 0;
}

static int new_node(parser *p, int op) {
  if (grow((void **)&p->nodes, &p->capnodes, p->nnodes + 1, sizeof *p->nodes)) {
    p->nomem = 1;
    return -1;
  }
  node *nd = &p->nodes[p->nnodes];
  memset(nd, 0, sizeof *nd);
  nd->op = op;
  return p->nnodes++;
}

static int push_item(parser *p, int idx) {
  if (idx < 0)
    return -1;
  frame *f = &p->frames[p->nframes - 1];
  if (grow((void **)&f->items, &f->capitems, f->nitems + 1, sizeof(int))) {
    p->nomem = 1;
    return -1;
  }
  f->items[f->nitems++] = idx;
  return 0;
}

static int push_frame(parser *p) {
  if (grow((void **)&p->frames, &p->capframes, p->nframes + 1,
           sizeof *p->frames)) {
    p->nomem = 1;
    return -1;
  }
  frame *f = &p->frames[p->nframes++];
  memset(f, 0, sizeof *f);
  f->saved_flags = p->flags;
  return 0;
}

/* Node of a list of items (or alternatives): empty, the one, or op. */
static int make_list(parser *p, int op, int *items, int n) {
  if (n == 1)
    return items[0];
  int idx = new_node(p, n == 0 ? N_EMPTY : op);
  if (idx < 0 || n == 0)
    return idx;
  int *k = malloc((size_t)n * sizeof *k);
  if (!k) {
    p->nomem = 1;
    return -1;
  }
  memcpy(k, items, (size_t)n * sizeof *k);
  p->nodes[idx].kids = k;
  p->nodes[idx].nkids = n;
  return idx;
}

/* Close the current alternative of the top frame. */
static int end_alt(parser *p) {
  frame *f = &p->frames[p->nframes - 1];
  int cat = make_list(p, N_CAT, f->items, f->nitems);
  if (cat < 0)
    return -1;
  f->nitems = 0;
  if (grow((void **)&f->alts, &f->capalts, f->nalts + 1, sizeof(int))) {
    p->nomem = 1;
    return -1;
  }
  f->alts[f->nalts++] = cat;
  return 0;
}

/* Close the top frame: its node. */
static int end_frame(parser *p) {
  if (end_alt(p))
    return -1;
  frame *f = &p->frames[p->nframes - 1];
  int alt = make_list(p, N_ALT, f->alts, f->nalts);
  free(f->alts);
  free(f->items);
  p->flags = f->saved_flags;
  p->nframes--;
  return alt;
}

static int more(const parser *p) {
  return p->pos < p->n;
}

static int looking_at(const parser *p, const char *lit) {
  size_t k = 0;
  for (; lit[k]; k++)
    if (p->pos + k >= p->n || p->s[p->pos + k] != (unsigned char)lit[k])
      return 0;
  return 1;
}

static int fail(parser *p, const char *e) {
  if (!p->err)
    p->err = e;
  return -1;
}

static int is_alnum(uint32_t c) {
  return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z');
}

static int unhex(uint32_t c) {
  if (c >= '0' && c <= '9')
    return (int)c - '0';
  if ((c | 32) >= 'a' && (c | 32) <= 'f')
    return (int)(c | 32) - 'a' + 10;
  return -1;
}

/* An escape at "\\" standing for one character: its code point, or -1
 * (refused: p->err). */
static int64_t parse_escape(parser *p) {
  p->pos++; /* '\\' */
  if (!more(p))
    return fail(p, E_BACKSLASH);
  uint32_t c = p->s[p->pos++];
  switch (c) {
  case '1':
  case '2':
  case '3':
  case '4':
  case '5':
  case '6':
  case '7':
    if (!more(p) || p->s[p->pos] < '0' || p->s[p->pos] > '7')
      break;
    /* an octal escape, as \0 is */
    __attribute__((fallthrough));
  case '0': {
    uint32_t r = c - '0';
    for (int i = 1; i < 3; i++) {
      if (!more(p) || p->s[p->pos] < '0' || p->s[p->pos] > '7')
        break;
      r = r * 8 + p->s[p->pos++] - '0';
    }
    return r;
  }
  case 'x': {
    if (!more(p))
      break;
    c = p->s[p->pos++];
    if (c == '{') {
      int nhex = 0;
      uint32_t r = 0;
      for (;;) {
        if (!more(p))
          return fail(p, E_ESCAPE);
        c = p->s[p->pos++];
        if (c == '}')
          break;
        int v = unhex(c);
        if (v < 0)
          return fail(p, E_ESCAPE);
        r = r * 16 + (uint32_t)v;
        if (r > MAX_RUNE)
          return fail(p, E_ESCAPE);
        nhex++;
      }
      if (nhex == 0)
        break;
      return r;
    }
    int x = unhex(c);
    if (!more(p))
      break;
    int y = unhex(p->s[p->pos++]);
    if (x < 0 || y < 0)
      break;
    return x * 16 + y;
  }
  case 'a':
    return 7;
  case 'f':
    return '\f';
  case 'n':
    return '\n';
  case 'r':
    return '\r';
  case 't':
    return '\t';
  case 'v':
    return 11;
  default:
    if (!is_alnum(c))
      return c;
  }
  return fail(p, E_ESCAPE);
}

/* \d \D \s \S \w \W at pos: 1 (c set), 0 (not one; pos unchanged). */
static int perl_class(parser *p, cls *c) {
  if (p->pos + 1 >= p->n || p->s[p->pos] != '\\')
    return 0;
  uint32_t k = p->s[p->pos + 1];
  memset(c, 0, sizeof *c);
  switch (k | 32) {
  case 'd':
    cls_span(c, DIGIT);
    break;
  case 's':
    cls_span(c, " \t\n\f\r");
    break;
  case 'w':
    cls_span(c, DIGIT);
    cls_span(c, UPPER);
    cls_span(c, LOWER);
    cls_add(c, '_');
    break;
  default:
    return 0;
  }
  if (k < 'a') { /* upper case: the complement */
    if (p->flags & F_FOLD)
      cls_fold(c);
    cls_negate(c);
  }
  p->pos += 2;
  return 1;
}

/* \pX, \p{Name}, \PX, \p{^Name} at pos: 1 (c set), 0 (not one), -1. */
static int unicode_escape(parser *p, cls *c) {
  if (!looking_at(p, "\\p") && !looking_at(p, "\\P"))
    return 0;
  int neg = p->s[p->pos + 1] == 'P';
  p->pos += 2;
  if (!more(p))
    return fail(p, E_CLASS_RANGE);
  char name[64];
  size_t n = 0;
  uint32_t c0 = p->s[p->pos++];
  if (c0 != '{') {
    name[n++] = c0 < 128 ? (char)c0 : '?';
  } else {
    size_t end = p->pos;
    while (end < p->n && p->s[end] != '}')
      end++;
    if (end >= p->n)
      return fail(p, E_CLASS_RANGE);
    for (size_t i = p->pos; i < end; i++)
      if (n < sizeof name - 1)
        name[n++] = p->s[i] < 128 ? (char)p->s[i] : '?';
    if (end - p->pos >= sizeof name - 1)
      n = 0; /* too long for any known name */
    p->pos = end + 1;
  }
  const char *nm = name;
  if (n > 0 && name[0] == '^') {
    neg = !neg;
    nm++;
    n--;
  }
  if (!unicode_class(nm, n, p->flags & F_FOLD, c))
    return fail(p, E_CLASS_RANGE);
  if (neg)
    cls_negate(c);
  return 1;
}

static int64_t class_char(parser *p) {
  if (!more(p))
    return fail(p, E_BRACKET);
  if (p->s[p->pos] == '\\')
    return parse_escape(p);
  return p->s[p->pos++];
}

/* A bracketed class at '['. */
static int parse_class(parser *p) {
  int idx = new_node(p, N_CLASS);
  if (idx < 0)
    return -1;
  cls c = {{0, 0}, 0}, g;
  int fold = p->flags & F_FOLD, neg = 0, first = 1;
  p->pos++; /* '[' */
  if (more(p) && p->s[p->pos] == '^') {
    neg = 1;
    p->pos++;
  }
  while (!more(p) || p->s[p->pos] != ']' || first) {
    first = 0;
    size_t before = p->pos;
    if (looking_at(p, "[:")) {
      /* The name runs to the first ":]" anywhere after. */
      size_t e = p->pos + 1;
      while (e + 1 < p->n && !(p->s[e] == ':' && p->s[e + 1] == ']'))
        e++;
      if (e + 1 < p->n) {
        size_t s = p->pos + 2;
        if (e < s) /* "[:]": the name would overlap its own brackets */
          return fail(p, E_CLASS_RANGE);
        int gneg = s < e && p->s[s] == '^';
        char name[16];
        size_t n = 0;
        for (size_t i = s + gneg; i < e && n < sizeof name; i++)
          name[n++] = p->s[i] < 128 ? (char)p->s[i] : '?';
        if (e - s - gneg >= sizeof name || !posix_class(name, n, &g))
          return fail(p, E_CLASS_RANGE);
        if (fold)
          cls_fold(&g);
        if (gneg)
          cls_negate(&g);
        cls_or(&c, &g);
        p->pos = e + 2;
        continue;
      }
    }
    int u = unicode_escape(p, &g);
    if (u < 0)
      return -1;
    if (u > 0) {
      cls_or(&c, &g);
      continue;
    }
    if (perl_class(p, &g)) {
      cls_or(&c, &g);
      continue;
    }
    p->pos = before;
    int64_t lo = class_char(p), hi = lo;
    if (lo < 0)
      return -1;
    if (more(p) && p->s[p->pos] == '-') {
      p->pos++;
      if (more(p) && p->s[p->pos] == ']') {
        p->pos--; /* a '-' before ']' is itself */
      } else {
        hi = class_char(p);
        if (hi < 0)
          return -1;
        if (hi < lo)
          return fail(p, E_CLASS_RANGE);
      }
    }
    cls_range(&c, (uint32_t)lo, (uint32_t)hi, fold);
  }
  p->pos++; /* ']' */
  if (neg)
    cls_negate(&c);
  p->nodes[idx].c = c;
  return push_item(p, idx);
}

/* After "(?": a named group, flags, or a non-capturing group. */
static int parse_perl_flags(parser *p) {
  if (looking_at(p, "(?P<") || looking_at(p, "(?<")) {
    size_t begin = p->pos + (p->s[p->pos + 2] == 'P' ? 4 : 3), end = begin;
    while (end < p->n && p->s[end] != '>')
      end++;
    if (end >= p->n)
      return fail(p, E_NAMED);
    if (end == begin)
      return fail(p, E_NAMED);
    size_t n = end - begin;
    char *name = malloc(n + 1);
    if (!name) {
      p->nomem = 1;
      return -1;
    }
    for (size_t i = 0; i < n; i++) {
      uint32_t c = p->s[begin + i];
      if (c != '_' && !is_alnum(c)) {
        free(name);
        return fail(p, E_NAMED);
      }
      name[i] = (char)c;
    }
    name[n] = 0;
    for (int i = 0; i < p->nnames; i++)
      if (!strcmp(p->names[i], name)) {
        free(name);
        return fail(p, E_DUP_NAME);
      }
    if (grow((void **)&p->names, &p->capnames, p->nnames + 1,
             sizeof *p->names)) {
      free(name);
      p->nomem = 1;
      return -1;
    }
    p->names[p->nnames++] = name;
    p->pos = end + 1;
    return push_frame(p);
  }
  p->pos += 2; /* "(?" */
  int flags = p->flags, neg = 0, saw = 0;
  while (more(p)) {
    uint32_t c = p->s[p->pos++];
    int bit = c == 'i' ? F_FOLD : c == 's' ? F_DOT_NL : c == 'U' ? 0 : -1;
    if (c == 'm') {
      /* (?m) clears one-line mode, (?-m) sets it */
      flags = neg ? flags | F_ONE_LINE : flags & ~F_ONE_LINE;
      saw = 1;
    } else if (bit >= 0) {
      flags = neg ? flags & ~bit : flags | bit;
      saw = 1;
    } else if (c == '-') {
      if (neg)
        break;
      neg = 1;
      saw = 0;
    } else if (c == ':' || c == ')') {
      if (neg && !saw)
        break;
      if (c == ':') {
        if (push_frame(p)) /* saves the flags from before */
          return -1;
      }
      p->flags = flags;
      return 0;
    } else {
      break;
    }
  }
  return fail(p, E_PERL_OP);
}

/* {min}, {min,}, {min,max} at '{': 1 (set), 0 (not a repeat: the '{' is
 * literal), -1 (refused). */
static int parse_int(parser *p) {
  size_t start = p->pos;
  while (more(p) && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
    p->pos++;
  size_t n = p->pos - start;
  if (n == 0 || (n > 1 && p->s[start] == '0'))
    return -1;
  if (n > 8)
    return -2;
  int v = 0;
  for (size_t i = start; i < p->pos; i++)
    v = v * 10 + (int)(p->s[i] - '0');
  return v;
}

static int parse_repeat(parser *p, int *min, int *max) {
  p->pos++; /* '{' */
  int lo = parse_int(p), hi;
  if (lo == -1 || !more(p))
    return 0;
  if (p->s[p->pos] != ',') {
    hi = lo;
  } else {
    p->pos++;
    if (!more(p))
      return 0;
    if (p->s[p->pos] == '}')
      hi = -1;
    else if ((hi = parse_int(p)) == -1)
      return 0;
  }
  if (!more(p) || p->s[p->pos] != '}')
    return 0;
  p->pos++;
  if (lo < 0 || lo > 1000 || hi == -2 || hi > 1000 || (hi >= 0 && lo > hi))
    return fail(p, E_REPEAT_SIZE);
  *min = lo;
  *max = hi;
  return 1;
}

/* Apply a repetition to the last item. last_repeat: whether the item
 * before was itself a repetition operator. */
static int repeat(parser *p, int op, int min, int max, int last_repeat) {
  if (more(p) && p->s[p->pos] == '?')
    p->pos++; /* non-greedy: the same for a whole-name match */
  if (last_repeat)
    return fail(p, E_REPEAT_OP);
  frame *f = &p->frames[p->nframes - 1];
  if (f->nitems == 0)
    return fail(p, E_REPEAT_ARG);
  int idx = new_node(p, op);
  if (idx < 0)
    return -1;
  f = &p->frames[p->nframes - 1];
  int *k = malloc(sizeof *k);
  if (!k) {
    p->nomem = 1;
    return -1;
  }
  k[0] = f->items[f->nitems - 1];
  p->nodes[idx].kids = k;
  p->nodes[idx].nkids = 1;
  p->nodes[idx].min = min;
  p->nodes[idx].max = max;
  f->items[f->nitems - 1] = idx;
  return 0;
}

static int literal(parser *p, uint32_t r) {
  int idx = new_node(p, N_RUNE);
  if (idx < 0)
    return -1;
  p->nodes[idx].r = r;
  p->nodes[idx].fold = p->flags & F_FOLD;
  return push_item(p, idx);
}

static int assertion(parser *p, int kind) {
  int idx = new_node(p, N_ASSERT);
  if (idx < 0)
    return -1;
  p->nodes[idx].r = (uint32_t)kind;
  return push_item(p, idx);
}

static int class_item(parser *p, const cls *c) {
  int idx = new_node(p, N_CLASS);
  if (idx < 0)
    return -1;
  p->nodes[idx].c = *c;
  return push_item(p, idx);
}

/* The whole pattern: the root node's index, or -1. */
static int parse(parser *p) {
  p->flags = F_ONE_LINE;
  if (push_frame(p))
    return -1;
  int last_repeat = 0;
  while (more(p)) {
    int is_repeat = 0, rc = 0;
    uint32_t c = p->s[p->pos];
    cls g;
    switch (c) {
    case '(':
      if (looking_at(p, "(?")) {
        rc = parse_perl_flags(p);
      } else {
        p->pos++;
        rc = push_frame(p);
      }
      break;
    case '|':
      p->pos++;
      rc = end_alt(p);
      break;
    case ')':
      p->pos++;
      if (p->nframes < 2) {
        rc = fail(p, E_INTERNAL);
      } else {
        int g2 = end_frame(p);
        rc = g2 < 0 ? -1 : push_item(p, g2);
      }
      break;
    case '^':
      p->pos++;
      rc = assertion(p, p->flags & F_ONE_LINE ? A_BEGIN_TEXT : A_BEGIN_LINE);
      break;
    case '$':
      p->pos++;
      rc = assertion(p, p->flags & F_ONE_LINE ? A_END_TEXT : A_END_LINE);
      break;
    case '.':
      p->pos++;
      memset(&g, 0, sizeof g);
      cls_range(&g, 0, 127, 0);
      g.high = 1;
      if (!(p->flags & F_DOT_NL))
        g.a[0] &= ~(1ull << '\n');
      rc = class_item(p, &g);
      break;
    case '[':
      rc = parse_class(p);
      break;
    case '*':
    case '+':
    case '?':
      p->pos++;
      is_repeat = 1;
      rc = repeat(p,
                  c == '*'   ? N_STAR
                  : c == '+' ? N_PLUS
                             : N_QUEST,
                  0, 0, last_repeat);
      break;
    case '{': {
      size_t at = p->pos;
      int min = 0, max = 0, r = parse_repeat(p, &min, &max);
      is_repeat = 1; /* even as a literal, as RE2/J counts it */
      if (r < 0) {
        rc = -1;
      } else if (r == 0) {
        p->pos = at + 1;
        rc = literal(p, '{');
      } else {
        rc = repeat(p, N_REPEAT, min, max, last_repeat);
      }
      break;
    }
    case '\\': {
      size_t at = p->pos;
      uint32_t e = p->pos + 1 < p->n ? p->s[p->pos + 1] : 0;
      if (p->pos + 1 < p->n && (e == 'A' || e == 'z' || e == 'b' || e == 'B' ||
                                e == 'C' || e == 'Q')) {
        p->pos += 2;
        if (e == 'A' || e == 'z' || e == 'b' || e == 'B') {
          rc = assertion(p, e == 'A'   ? A_BEGIN_TEXT
                            : e == 'z' ? A_END_TEXT
                            : e == 'b' ? A_WORD
                                       : A_NOWORD);
        } else if (e == 'C') {
          rc = fail(p, E_ESCAPE);
        } else {
          /* \Q...\E: literal text up to \E or the end */
          while (more(p) && !looking_at(p, "\\E") && !rc)
            rc = literal(p, p->s[p->pos++]);
          if (looking_at(p, "\\E"))
            p->pos += 2;
        }
        break;
      }
      int u = unicode_escape(p, &g);
      if (u != 0) {
        rc = u < 0 ? -1 : class_item(p, &g);
        break;
      }
      if (perl_class(p, &g)) {
        rc = class_item(p, &g);
        break;
      }
      p->pos = at;
      int64_t r = parse_escape(p);
      rc = r < 0 ? -1 : literal(p, (uint32_t)r);
      break;
    }
    default:
      p->pos++;
      rc = literal(p, c);
    }
    if (rc)
      return -1;
    last_repeat = is_repeat;
  }
  if (p->nframes != 1)
    return fail(p, E_PAREN);
  return end_frame(p);
}

/* ---- the program: a Thompson NFA ------------------------------------- */

enum { I_RUNE, I_CLASS, I_SPLIT, I_JMP, I_ASSERT, I_MATCH };

typedef struct inst {
  uint8_t op, fold;
  uint32_t r;   /* I_RUNE's code point, I_ASSERT's kind, I_CLASS's index */
  int32_t x, y; /* I_SPLIT's two targets, I_JMP's x */
} inst;

struct cg_regex {
  inst *prog;
  int32_t n;
  cls *classes;
  int32_t nclasses;
};

typedef struct emitter {
  inst *prog;
  int32_t n, cap;
  cls *classes;
  int32_t nclasses, capclasses;
  const parser *p;
  int err; /* -ENOMEM or 1: too large */
} emitter;

static int32_t emit(emitter *e, int op) {
  if (e->err)
    return -1;
  if (e->n >= MAX_PROG) {
    e->err = 1;
    return -1;
  }
  if (grow((void **)&e->prog, &e->cap, e->n + 1, sizeof *e->prog)) {
    e->err = -ENOMEM;
    return -1;
  }
  memset(&e->prog[e->n], 0, sizeof *e->prog);
  e->prog[e->n].op = (uint8_t)op;
  return e->n++;
}

static void compile_node(emitter *e, int idx, int depth);

static void compile_star(emitter *e, int kid, int depth) {
  int32_t l = emit(e, I_SPLIT);
  if (l < 0)
    return;
  compile_node(e, kid, depth);
  int32_t j = emit(e, I_JMP);
  if (j < 0)
    return;
  e->prog[j].x = l;
  e->prog[l].x = l + 1;
  e->prog[l].y = e->n;
}

static void compile_quest(emitter *e, int kid, int depth) {
  int32_t l = emit(e, I_SPLIT);
  if (l < 0)
    return;
  compile_node(e, kid, depth);
  if (e->err)
    return;
  e->prog[l].x = l + 1;
  e->prog[l].y = e->n;
}

static void compile_node(emitter *e, int idx, int depth) {
  const node *nd = &e->p->nodes[idx];
  if (e->err)
    return;
  if (depth > 10000) { /* the parser's nesting bounds this; a guard */
    e->err = 1;
    return;
  }
  switch (nd->op) {
  case N_EMPTY:
    return;
  case N_RUNE: {
    int32_t i = emit(e, I_RUNE);
    if (i >= 0) {
      e->prog[i].r = nd->r;
      e->prog[i].fold = (uint8_t)nd->fold;
    }
    return;
  }
  case N_CLASS: {
    if (grow((void **)&e->classes, &e->capclasses, e->nclasses + 1,
             sizeof *e->classes)) {
      e->err = -ENOMEM;
      return;
    }
    int32_t i = emit(e, I_CLASS);
    if (i >= 0) {
      e->classes[e->nclasses] = nd->c;
      e->prog[i].r = (uint32_t)e->nclasses++;
    }
    return;
  }
  case N_ASSERT: {
    int32_t i = emit(e, I_ASSERT);
    if (i >= 0)
      e->prog[i].r = nd->r;
    return;
  }
  case N_CAT:
    for (int k = 0; k < nd->nkids; k++)
      compile_node(e, nd->kids[k], depth + 1);
    return;
  case N_ALT: {
    /* SPLIT a, next; a; JMP end; next: SPLIT b, ...; last */
    int32_t *jumps = malloc((size_t)nd->nkids * sizeof *jumps);
    if (!jumps) {
      e->err = -ENOMEM;
      return;
    }
    int nj = 0;
    for (int k = 0; k < nd->nkids && !e->err; k++) {
      int32_t s = -1;
      if (k + 1 < nd->nkids && (s = emit(e, I_SPLIT)) < 0)
        break;
      compile_node(e, nd->kids[k], depth + 1);
      if (k + 1 < nd->nkids) {
        int32_t j = emit(e, I_JMP);
        if (j < 0)
          break;
        jumps[nj++] = j;
        e->prog[s].x = s + 1;
        e->prog[s].y = e->n;
      }
    }
    for (int k = 0; k < nj && !e->err; k++)
      e->prog[jumps[k]].x = e->n;
    free(jumps);
    return;
  }
  case N_STAR:
    compile_star(e, nd->kids[0], depth + 1);
    return;
  case N_PLUS: {
    int32_t l = e->n;
    compile_node(e, nd->kids[0], depth + 1);
    int32_t s = emit(e, I_SPLIT);
    if (s >= 0) {
      e->prog[s].x = l;
      e->prog[s].y = s + 1;
    }
    return;
  }
  case N_QUEST:
    compile_quest(e, nd->kids[0], depth + 1);
    return;
  case N_REPEAT: {
    /* x{n,m}: n copies, then m−n nested optional ones (or a star). */
    for (int k = 0; k < nd->min && !e->err; k++)
      compile_node(e, nd->kids[0], depth + 1);
    if (nd->max < 0) {
      compile_star(e, nd->kids[0], depth + 1);
      return;
    }
    int32_t *splits =
        malloc(((size_t)(nd->max - nd->min) + 1) * sizeof(int32_t));
    if (!splits) {
      e->err = -ENOMEM;
      return;
    }
    int ns = 0;
    for (int k = nd->min; k < nd->max && !e->err; k++) {
      int32_t s = emit(e, I_SPLIT);
      if (s < 0)
        break;
      splits[ns++] = s;
      e->prog[s].x = s + 1;
      compile_node(e, nd->kids[0], depth + 1);
    }
    for (int k = 0; k < ns && !e->err; k++)
      e->prog[splits[k]].y = e->n;
    free(splits);
    return;
  }
  }
}

static void parser_free(parser *p) {
  for (int i = 0; i < p->nnodes; i++)
    free(p->nodes[i].kids);
  free(p->nodes);
  for (int i = 0; i < p->nframes; i++) {
    free(p->frames[i].alts);
    free(p->frames[i].items);
  }
  free(p->frames);
  for (int i = 0; i < p->nnames; i++)
    free(p->names[i]);
  free(p->names);
  free((void *)p->s);
}

uint32_t cg_utf8_next(const unsigned char **p) {
  const unsigned char *u = *p;
  uint32_t c = u[0];
  int extra = c < 0x80   ? 0
              : c < 0xc2 ? -1
              : c < 0xe0 ? 1
              : c < 0xf0 ? 2
              : c < 0xf5 ? 3
                         : -1;
  *p = u + 1;
  if (extra == 0)
    return c;
  if (extra < 0)
    return 0xfffd;
  uint32_t r = c & (0x3fu >> extra);
  for (int j = 1; j <= extra; j++) {
    if ((u[j] & 0xc0) != 0x80) /* also the terminating NUL */
      return 0xfffd;
    r = r << 6 | (u[j] & 0x3f);
  }
  *p = u + extra + 1;
  return r;
}

/* A NUL-terminated string's code points (malloc'ed; *n of them). */
static uint32_t *decode(const char *s, size_t *n) {
  uint32_t *out = malloc((strlen(s) + 1) * sizeof *out);
  if (!out)
    return NULL;
  const unsigned char *u = (const unsigned char *)s;
  size_t k = 0;
  while (*u)
    out[k++] = cg_utf8_next(&u);
  *n = k;
  return out;
}

int cg_regex_compile(const char *pattern, cg_regex **out, char *err,
                     size_t errlen) {
  *out = NULL;
  if (err && errlen)
    err[0] = 0;
  if (!pattern)
    return ND_EINVAL;
  parser p;
  memset(&p, 0, sizeof p);
  p.s = decode(pattern, &p.n);
  if (!p.s)
    return -ENOMEM;
  int root = parse(&p);
  if (root < 0) {
    int nomem = p.nomem && !p.err;
    if (err && errlen && p.err)
      snprintf(err, errlen, "%s", p.err);
    parser_free(&p);
    return nomem ? -ENOMEM : ND_EINVAL;
  }
  emitter e = {.p = &p};
  compile_node(&e, root, 0);
  emit(&e, I_MATCH);
  parser_free(&p);
  cg_regex *re = e.err ? NULL : malloc(sizeof *re);
  if (!re) {
    int rc = e.err == 1 ? ND_EINVAL : -ENOMEM;
    if (e.err == 1 && err && errlen)
      snprintf(err, errlen, "%s", E_LARGE);
    free(e.prog);
    free(e.classes);
    return rc;
  }
  re->prog = e.prog;
  re->n = e.n;
  re->classes = e.classes;
  re->nclasses = e.nclasses;
  *out = re;
  return 0;
}

/* ---- matching ---------------------------------------------------------- */

static int is_word(uint32_t c) {
  return c == '_' || is_alnum(c);
}

typedef struct threads {
  int32_t *pc;
  int32_t n;
} threads;

/* Follow jumps, splits and assertions from pc at position i (between
 * code points prev and next; -1 at either end), adding the instructions
 * that consume or match to t. mark[] holds the step number of each pc
 * already added in this step. */
static void add(const cg_regex *re, threads *t, int32_t *mark, int32_t step,
                int32_t *stack, int32_t pc, int64_t prev, int64_t next) {
  int32_t sp = 0;
  stack[sp++] = pc;
  while (sp > 0) {
    pc = stack[--sp];
    if (mark[pc] == step)
      continue;
    mark[pc] = step;
    const inst *in = &re->prog[pc];
    switch (in->op) {
    case I_JMP:
      stack[sp++] = in->x;
      break;
    case I_SPLIT:
      stack[sp++] = in->y;
      stack[sp++] = in->x;
      break;
    case I_ASSERT: {
      int ok;
      switch (in->r) {
      case A_BEGIN_TEXT:
        ok = prev < 0;
        break;
      case A_END_TEXT:
        ok = next < 0;
        break;
      case A_BEGIN_LINE:
        ok = prev < 0 || prev == '\n';
        break;
      case A_END_LINE:
        ok = next < 0 || next == '\n';
        break;
      default: {
        int w = (prev >= 0 && is_word((uint32_t)prev)) !=
                (next >= 0 && is_word((uint32_t)next));
        ok = in->r == A_WORD ? w : !w;
      }
      }
      if (ok)
        stack[sp++] = pc + 1;
      break;
    }
    default:
      t->pc[t->n++] = pc;
    }
  }
}

int cg_regex_match(const cg_regex *re, const char *topic) {
  size_t n;
  uint32_t *s = decode(topic, &n);
  /* Two thread lists, the marks, and the stack of add() (each pc pushes
   * at most two others once per step). */
  int32_t *buf = malloc(((size_t)re->n * 5 + 1) * sizeof *buf);
  if (!s || !buf) {
    free(s);
    free(buf);
    return 0; /* out of memory: no match (the caller cannot tell) */
  }
  threads cur = {buf, 0}, nxt = {buf + re->n, 0};
  int32_t *mark = buf + 2 * (size_t)re->n, *stack = buf + 3 * (size_t)re->n;
  for (int32_t i = 0; i < re->n; i++)
    mark[i] = -1;
  int32_t step = 0;
  add(re, &cur, mark, step, stack, 0, -1, n > 0 ? (int64_t)s[0] : -1);
  int matched = 0;
  for (size_t i = 0;; i++) {
    if (i == n) {
      for (int32_t k = 0; k < cur.n; k++)
        matched |= re->prog[cur.pc[k]].op == I_MATCH;
      break;
    }
    uint32_t c = s[i];
    int64_t next = i + 1 < n ? (int64_t)s[i + 1] : -1;
    step++;
    nxt.n = 0;
    for (int32_t k = 0; k < cur.n; k++) {
      const inst *in = &re->prog[cur.pc[k]];
      int ok =
          in->op == I_RUNE
              ? (c == in->r || (in->fold && fold_canon(c) == fold_canon(in->r)))
          : in->op == I_CLASS ? cls_has(&re->classes[in->r], c)
                              : 0;
      if (ok)
        add(re, &nxt, mark, step, stack, cur.pc[k] + 1, c, next);
    }
    threads t = cur;
    cur = nxt;
    nxt = t;
    if (cur.n == 0)
      break;
  }
  free(s);
  free(buf);
  return matched;
}

void cg_regex_free(cg_regex *re) {
  if (!re)
    return;
  free(re->prog);
  free(re->classes);
  free(re);
}
