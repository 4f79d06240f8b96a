/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_codecs.c — libnodata_codecs against batches written by real clients
 * (tests/fixtures/, captured by tools/capture_fixtures.c), round trips,
 * hostile input and the decompression-bomb cap.
 */
#include "test.h"

#include "nodata_codecs.h"

#define N_CODECS 5
static const char *const codec_names[N_CODECS] = {"none", "gzip", "snappy",
                                                  "lz4", "zstd"};
static const char *const clients[] = {"rdkafka", "kafka-python"};
#define N_CLIENTS 2

/* ---- helpers ----------------------------------------------------------- */

static uint32_t get_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

static uint64_t get_be64(const uint8_t *p) {
  return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static void set_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static void fill_random(uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t)(rng() >> 24);
}

/* Text-like data with repeats and some noise: compresses, but not to
 * nothing, so every codec exercises its real paths. */
static void fill_mixed(uint8_t *p, size_t n) {
  static const char *words[] = {"event",  "user",  "login",   "nodata", "kafka",
                                "offset", "batch", "{\"k\":", "},",     " "};
  size_t i = 0;
  while (i < n) {
    if (rng() % 16 == 0) {
      p[i++] = (uint8_t)rng();
      continue;
    }
    const char *w = words[rng() % 10];
    for (size_t j = 0; w[j] && i < n; j++)
      p[i++] = (uint8_t)w[j];
  }
}

static char *fixture_path(const char *name, const char *ext) {
  const char *dir = getenv("ND_FIXTURES");
  if (!dir || !*dir)
    dir = "tests/fixtures";
  char *path = malloc(PATH_MAX);
  if (path)
    snprintf(path, PATH_MAX, "%s/%s%s", dir, name, ext);
  return path;
}

static uint8_t *load_fixture(const char *name, size_t *len) {
  char *path = fixture_path(name, ".batch");
  uint8_t *b = path ? read_file(path, len) : NULL;
  if (!b)
    fprintf(stderr, "cannot read %s (set ND_FIXTURES)\n", path);
  free(path);
  return b;
}

/* ---- the .expect manifest ---------------------------------------------- */

typedef struct field {
  uint8_t *p; /* NULL = null */
  size_t len;
} field;

typedef struct exp_header {
  field key, value;
} exp_header;

typedef struct exp_record {
  int64_t delta, ts;
  field key, value;
  exp_header hdrs[8];
  size_t nhdrs;
} exp_record;

typedef struct manifest {
  char codec[16];
  exp_record recs[16];
  size_t n;
} manifest;

static int parse_field(const char *s, size_t n, field *f) {
  f->p = NULL;
  f->len = 0;
  if (n == 1 && s[0] == '-')
    return 0;
  f->p = malloc(n / 2 + 1);
  if (!f->p)
    return -1;
  if (n == 1 && s[0] == '.')
    return 0;
  if (n % 2)
    return -1;
  for (size_t i = 0; i < n / 2; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1)
      return -1;
    f->p[i] = (uint8_t)v;
  }
  f->len = n / 2;
  return 0;
}

static void manifest_free(manifest *m) {
  for (size_t i = 0; i < m->n; i++) {
    exp_record *r = &m->recs[i];
    free(r->key.p);
    free(r->value.p);
    for (size_t h = 0; h < r->nhdrs; h++) {
      free(r->hdrs[h].key.p);
      free(r->hdrs[h].value.p);
    }
  }
  m->n = 0;
}

/* Split a record line in place; returns -1 on a malformed line. */
static int parse_record_line(char *line, exp_record *r) {
  char *tok[12];
  size_t nt = 0;
  for (char *s = strtok(line, " \n"); s && nt < 12; s = strtok(NULL, " \n"))
    tok[nt++] = s;
  if (nt < 4 || nt - 4 > 8)
    return -1;
  r->delta = strtoll(tok[0], NULL, 10);
  r->ts = strtoll(tok[1], NULL, 10);
  if (parse_field(tok[2], strlen(tok[2]), &r->key) ||
      parse_field(tok[3], strlen(tok[3]), &r->value))
    return -1;
  for (size_t i = 4; i < nt; i++) {
    char *eq = strchr(tok[i], '=');
    if (!eq)
      return -1;
    exp_header *h = &r->hdrs[r->nhdrs++];
    if (parse_field(tok[i], (size_t)(eq - tok[i]), &h->key) ||
        parse_field(eq + 1, strlen(eq + 1), &h->value))
      return -1;
  }
  return 0;
}

static int manifest_load(const char *name, manifest *m) {
  memset(m, 0, sizeof *m);
  char *path = fixture_path(name, ".expect");
  FILE *f = path ? fopen(path, "r") : NULL;
  free(path);
  if (!f)
    return -1;
  /* Lines hold hex of a 4 KiB value: 8 KiB and change. */
  size_t cap = 64 * 1024;
  char *line = malloc(cap);
  int rc = line ? 0 : -1;
  while (rc == 0 && fgets(line, (int)cap, f)) {
    if (line[0] == '#' || line[0] == '\n')
      continue;
    if (strncmp(line, "@codec ", 7) == 0) {
      snprintf(m->codec, sizeof m->codec, "%s", line + 7);
      m->codec[strcspn(m->codec, "\n")] = '\0';
      continue;
    }
    if (line[0] == '@')
      continue;
    if (m->n == 16) {
      rc = -1;
      break;
    }
    exp_record *r = &m->recs[m->n++];
    memset(r, 0, sizeof *r);
    rc = parse_record_line(line, r);
  }
  free(line);
  fclose(f);
  if (rc)
    manifest_free(m);
  return rc;
}

static int same_field(const uint8_t *p, size_t len, const field *f) {
  if (!f->p)
    return p == NULL;
  return p != NULL && len == f->len && (len == 0 || memcmp(p, f->p, len) == 0);
}

/* Iterate `batches` and compare every record with the manifest. Returns
 * the number of mismatches (printed) or -1 on an iterator error. */
static int compare_records(const uint8_t *batches, size_t len,
                           const manifest *m, const char *what) {
  nd_iter it;
  nd_record_view rv;
  nd_iter_init(&it, batches, len, 0, nd_codecs_decompress);
  int64_t base = (int64_t)get_be64(batches);
  size_t i = 0;
  int bad = 0, rc;
  while ((rc = nd_iter_next(&it, &rv)) == 1) {
    if (i >= m->n) {
      fprintf(stderr, "%s: more records than the manifest's %zu\n", what, m->n);
      bad++;
      break;
    }
    const exp_record *e = &m->recs[i];
    int ok = rv.offset == base + e->delta && rv.timestamp == e->ts &&
             same_field(rv.key, rv.key_len, &e->key) &&
             same_field(rv.value, rv.value_len, &e->value) &&
             rv.header_count == e->nhdrs;
    for (size_t h = 0; ok && h < e->nhdrs; h++)
      ok = same_field((const uint8_t *)rv.headers[h].key, rv.headers[h].key_len,
                      &e->hdrs[h].key) &&
           same_field(rv.headers[h].value, rv.headers[h].value_len,
                      &e->hdrs[h].value);
    if (!ok) {
      fprintf(stderr,
              "%s: record %zu differs (offset %" PRId64 " ts %" PRId64
              " key_len %zu value_len %zu headers %zu)\n",
              what, i, rv.offset, rv.timestamp, rv.key_len, rv.value_len,
              rv.header_count);
      bad++;
    }
    i++;
  }
  nd_iter_close(&it);
  if (rc < 0) {
    fprintf(stderr, "%s: iterator error %s: %s\n", what, nd_errname(rc),
            nd_errmsg());
    return -1;
  }
  if (i != m->n) {
    fprintf(stderr, "%s: %zu records, manifest has %zu\n", what, i, m->n);
    bad++;
  }
  return bad;
}

static int batch_crc_ok(const uint8_t *b, size_t len) {
  return len >= 61 && nd_crc32c(0, b + 21, len - 21) == get_be32(b + 17);
}

/* ---- fixtures ---------------------------------------------------------- */

static void test_fixture_headers_and_crc(void) {
  for (int c = 0; c < N_CLIENTS; c++)
    for (int k = 0; k < N_CODECS; k++) {
      char name[64];
      snprintf(name, sizeof name, "%s-%s", clients[c], codec_names[k]);
      size_t len;
      uint8_t *b = load_fixture(name, &len);
      CHECK(b != NULL);
      int ok = len > 61 && get_be32(b + 8) + 12 == len && b[16] == 2 &&
               (b[22] & 7) == k && batch_crc_ok(b, len);
      if (!ok)
        fprintf(stderr, "fixture %s: bad header or CRC\n", name);
      free(b);
      CHECK(ok);
    }
}

static void test_fixture_records(void) {
  for (int c = 0; c < N_CLIENTS; c++)
    for (int k = 0; k < N_CODECS; k++) {
      char name[64];
      snprintf(name, sizeof name, "%s-%s", clients[c], codec_names[k]);
      manifest m;
      CHECK(manifest_load(name, &m) == 0);
      size_t len;
      uint8_t *b = load_fixture(name, &len);
      int bad = b ? compare_records(b, len, &m, name) : -1;
      int codec_ok = strcmp(m.codec, codec_names[k]) == 0;
      free(b);
      manifest_free(&m);
      CHECK(codec_ok);
      CHECK(bad == 0);
    }
}

/* Both clients encode the records identically whatever the codec (the
 * timestamps are explicit), so each compressed record area must inflate to
 * exactly the bytes of the uncompressed fixture. This checks the codecs
 * without going through the record iterator. */
static void test_fixture_payloads(void) {
  for (int c = 0; c < N_CLIENTS; c++) {
    char name[64];
    snprintf(name, sizeof name, "%s-none", clients[c]);
    size_t plain_len;
    uint8_t *plain = load_fixture(name, &plain_len);
    CHECK(plain != NULL);
    for (int k = 1; k < N_CODECS; k++) {
      snprintf(name, sizeof name, "%s-%s", clients[c], codec_names[k]);
      size_t len;
      uint8_t *b = load_fixture(name, &len);
      void *out = NULL;
      size_t out_len = 0;
      int rc = b ? nd_codecs_decompress(k, b + 61, len - 61, &out, &out_len)
                 : ND_ENOTFOUND;
      int same = rc == 0 && out_len == plain_len - 61 &&
                 memcmp(out, plain + 61, out_len) == 0;
      if (!same)
        fprintf(stderr, "%s: rc %s, %zu bytes: %s\n", name, nd_errname(rc),
                out_len, nd_errmsg());
      /* The fixtures must really cover both snappy framings. */
      int xerial = b && len > 69 && memcmp(b + 61, "\x82SNAPPY", 8) == 0;
      int framing_ok = k != ND_CODEC_SNAPPY || xerial == (c == 1);
      free(out);
      free(b);
      if (!same || !framing_ok)
        free(plain);
      CHECK(same);
      CHECK(framing_ok);
    }
    free(plain);
  }
}

/* librdkafka streams zstd, so its frames carry no content size; make sure
 * the fixture still does, or the no-content-size path goes untested. */
static void test_fixture_zstd_without_size(void) {
  size_t len;
  uint8_t *b = load_fixture("rdkafka-zstd", &len);
  CHECK(b != NULL);
  int no_size = len > 66 && get_be32(b + 61) == 0x28b52ffd &&
                (b[65] & 0xc0) == 0 && (b[65] & 0x20) == 0;
  free(b);
  CHECK(no_size);
}

/* ---- round trips ------------------------------------------------------- */

static void roundtrip(int codec, const uint8_t *data, size_t n) {
  void *z = NULL, *out = NULL;
  size_t zlen = 0, out_len = 0;
  CHECK_OK(nd_codecs_compress(codec, data, n, &z, &zlen));
  CHECK(z != NULL);
  int rc = nd_codecs_decompress(codec, z, zlen, &out, &out_len);
  free(z);
  CHECK_OK(rc);
  int same = out != NULL && out_len == n && (n == 0 || !memcmp(out, data, n));
  free(out);
  if (!same)
    fprintf(stderr, "round trip %s of %zu bytes differs\n",
            nd_codecs_name(codec), n);
  CHECK(same);
}

static void test_roundtrip(void) {
  size_t big = 1 << 20;
  uint8_t *mixed = malloc(big), *noise = malloc(big), *zeros = calloc(1, big);
  CHECK(mixed && noise && zeros);
  fill_mixed(mixed, big);
  fill_random(noise, big);
  for (int k = 0; k < N_CODECS && !nd_test_current_failed; k++) {
    roundtrip(k, (const uint8_t *)"", 0);
    roundtrip(k, NULL, 0);
    roundtrip(k, (const uint8_t *)"x", 1);
    roundtrip(k, mixed, 1000);
    roundtrip(k, mixed, big);
    roundtrip(k, noise, big);
    roundtrip(k, zeros, big);
    /* Just over snappy's and lz4's 64 KiB block size. */
    roundtrip(k, mixed, 65537);
  }
  free(mixed);
  free(noise);
  free(zeros);
}

/* Compression must actually shrink repetitive data in the expected wire
 * format (the magic bytes the protocol doc lists for each codec). */
static void test_compress_format(void) {
  uint8_t data[8192];
  memset(data, 'a', sizeof data);
  static const uint8_t magic[N_CODECS][4] = {{0},
                                             {0x1f, 0x8b},
                                             {0},
                                             {0x04, 0x22, 0x4d, 0x18},
                                             {0x28, 0xb5, 0x2f, 0xfd}};
  static const size_t magic_len[N_CODECS] = {0, 2, 0, 4, 4};
  for (int k = 1; k < N_CODECS; k++) {
    void *z;
    size_t zlen;
    CHECK_OK(nd_codecs_compress(k, data, sizeof data, &z, &zlen));
    int ok = zlen < sizeof data / 4 && memcmp(z, magic[k], magic_len[k]) == 0;
    /* Raw snappy (librdkafka's) starts with the length varint, not xerial. */
    if (k == ND_CODEC_SNAPPY)
      ok = ok && ((uint8_t *)z)[0] == 0x80 && ((uint8_t *)z)[1] == 0x40;
    /* lz4 as librdkafka: FLG 0x60 (independent blocks), BD 0x40 (64 KiB). */
    if (k == ND_CODEC_LZ4)
      ok = ok && ((uint8_t *)z)[4] == 0x60 && ((uint8_t *)z)[5] == 0x40;
    free(z);
    CHECK(ok);
  }
}

static void concat_check(int codec, const uint8_t *a, size_t alen,
                         const uint8_t *b, size_t blen) {
  void *za, *zb, *out;
  size_t zalen, zblen, out_len;
  CHECK_OK(nd_codecs_compress(codec, a, alen, &za, &zalen));
  CHECK_OK(nd_codecs_compress(codec, b, blen, &zb, &zblen));
  uint8_t *cat = malloc(zalen + zblen);
  CHECK(cat != NULL);
  memcpy(cat, za, zalen);
  memcpy(cat + zalen, zb, zblen);
  free(za);
  free(zb);
  int rc = nd_codecs_decompress(codec, cat, zalen + zblen, &out, &out_len);
  free(cat);
  CHECK_OK(rc);
  int ok = out_len == alen + blen && !memcmp(out, a, alen) &&
           !memcmp((uint8_t *)out + alen, b, blen);
  free(out);
  CHECK(ok);
}

/* gzip members and lz4/zstd frames may follow each other; the decoders
 * read them all, as Java's streams do. */
static void test_concatenated(void) {
  uint8_t a[3000], b[70000];
  fill_mixed(a, sizeof a);
  fill_mixed(b, sizeof b);
  concat_check(ND_CODEC_GZIP, a, sizeof a, b, sizeof b);
  concat_check(ND_CODEC_LZ4, a, sizeof a, b, sizeof b);
  concat_check(ND_CODEC_ZSTD, a, sizeof a, b, sizeof b);
  concat_check(ND_CODEC_ZSTD, a, 0, b, sizeof b);
}

/* Build xerial framing by hand from two raw blocks. */
static void test_snappy_xerial(void) {
  uint8_t a[5000], b[100];
  fill_mixed(a, sizeof a);
  fill_mixed(b, sizeof b);
  void *za, *zb, *out;
  size_t zalen, zblen, out_len;
  CHECK_OK(nd_codecs_compress(ND_CODEC_SNAPPY, a, sizeof a, &za, &zalen));
  CHECK_OK(nd_codecs_compress(ND_CODEC_SNAPPY, b, sizeof b, &zb, &zblen));
  size_t n = 16 + 4 + zalen + 4 + zblen;
  uint8_t *x = malloc(n);
  CHECK(x != NULL);
  memcpy(x, "\x82SNAPPY\0", 8);
  set_be32(x + 8, 1);
  set_be32(x + 12, 1);
  set_be32(x + 16, (uint32_t)zalen);
  memcpy(x + 20, za, zalen);
  set_be32(x + 20 + zalen, (uint32_t)zblen);
  memcpy(x + 24 + zalen, zb, zblen);
  free(za);
  free(zb);
  int rc = nd_codecs_decompress(ND_CODEC_SNAPPY, x, n, &out, &out_len);
  int ok = rc == 0 && out_len == sizeof a + sizeof b &&
           !memcmp(out, a, sizeof a) &&
           !memcmp((uint8_t *)out + sizeof a, b, sizeof b);
  free(out);
  /* Header only: a valid empty stream. */
  rc = nd_codecs_decompress(ND_CODEC_SNAPPY, x, 16, &out, &out_len);
  int empty_ok = rc == 0 && out_len == 0 && out != NULL;
  free(out);
  /* Every other shorter cut is an error, never a crash or a short read
   * (a cut between chunks is itself a valid stream). */
  int cuts_ok = 1;
  for (size_t cut = 0; cut < n; cut++) {
    if (cut == 16 || cut == 20 + zalen)
      continue;
    rc = nd_codecs_decompress(ND_CODEC_SNAPPY, x, cut, &out, &out_len);
    if (rc != ND_ECORRUPT || out != NULL) {
      fprintf(stderr, "xerial cut at %zu: %s\n", cut, nd_errname(rc));
      cuts_ok = 0;
      free(out);
      break;
    }
  }
  free(x);
  CHECK(ok);
  CHECK(empty_ok);
  CHECK(cuts_ok);
}

/* A zstd frame without a content size, made by hand: no FCS, a window
 * descriptor, one raw last block. */
static void test_zstd_handmade(void) {
  uint8_t f[64] = {0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00};
  const char *msg = "hello, nodata";
  size_t n = strlen(msg);
  uint32_t bh = 1u | (0u << 1) | ((uint32_t)n << 3); /* last, raw, size */
  f[6] = (uint8_t)bh;
  f[7] = (uint8_t)(bh >> 8);
  f[8] = (uint8_t)(bh >> 16);
  memcpy(f + 9, msg, n);
  void *out;
  size_t out_len;
  CHECK_OK(nd_codecs_decompress(ND_CODEC_ZSTD, f, 9 + n, &out, &out_len));
  int ok = out_len == n && !memcmp(out, msg, n);
  free(out);
  CHECK(ok);
  /* The same frame claiming a 1 TiB content size must neither allocate it
   * nor succeed. */
  uint8_t g[64] = {0x28, 0xb5, 0x2f, 0xfd, 0xc0, 0x00};
  /* FHD 0xc0: 8-byte FCS, not single segment: window byte, then FCS. */
  uint64_t claim = (uint64_t)1 << 40;
  for (int i = 0; i < 8; i++)
    g[6 + i] = (uint8_t)(claim >> (8 * i));
  memcpy(g + 14, f + 6, 3 + n);
  CHECK_RC(nd_codecs_decompress(ND_CODEC_ZSTD, g, 17 + n, &out, &out_len),
           ND_ECORRUPT);
  CHECK(out == NULL && out_len == 0);
}

/* ---- hostile input ------------------------------------------------------ */

static void test_errors(void) {
  void *out = (void *)1;
  size_t out_len = 1;
  uint8_t junk[64];
  fill_random(junk, sizeof junk);
  CHECK_RC(nd_codecs_decompress(5, junk, sizeof junk, &out, &out_len),
           ND_ECODEC);
  CHECK(out == NULL && out_len == 0);
  CHECK_RC(nd_codecs_decompress(-1, junk, sizeof junk, &out, &out_len),
           ND_ECODEC);
  CHECK_RC(nd_codecs_compress(7, junk, sizeof junk, &out, &out_len), ND_ECODEC);
  CHECK(strstr(nd_errmsg(), "7") != NULL);
  CHECK_RC(nd_codecs_decompress(1, NULL, 10, &out, &out_len), ND_EINVAL);
  CHECK_RC(nd_codecs_decompress(1, junk, 10, NULL, &out_len), ND_EINVAL);
  CHECK_RC(nd_codecs_compress(1, junk, 10, &out, NULL), ND_EINVAL);
  for (int k = 1; k < N_CODECS; k++) {
    CHECK_RC(nd_codecs_decompress(k, junk, 0, &out, &out_len), ND_ECORRUPT);
    CHECK_RC(nd_codecs_decompress(k, NULL, 0, &out, &out_len), ND_ECORRUPT);
    CHECK(nd_errmsg()[0] != '\0');
  }
  /* ND_CODEC_NONE decompresses to a copy. */
  CHECK_OK(nd_codecs_decompress(0, junk, sizeof junk, &out, &out_len));
  int same = out_len == sizeof junk && !memcmp(out, junk, sizeof junk);
  free(out);
  CHECK(same);
}

/* Every truncation of a valid stream fails cleanly (ASan and the leak
 * checker watch), and random flips or garbage never crash. */
static void test_truncated_and_garbage(void) {
  size_t n = 20000;
  uint8_t *data = malloc(n);
  CHECK(data != NULL);
  fill_mixed(data, n);
  for (int k = 1; k < N_CODECS && !nd_test_current_failed; k++) {
    void *z, *out;
    size_t zlen, out_len;
    int rc = nd_codecs_compress(k, data, n, &z, &zlen);
    if (rc) {
      free(data);
      CHECK_OK(rc);
    }
    uint8_t *zz = z;
    int bad = 0;
    for (size_t cut = 0; cut < zlen; cut += cut < 300 ? 1 : zlen / 97 + 1) {
      /* Copy the prefix so ASan sees any read past it. */
      uint8_t *pre = malloc(cut ? cut : 1);
      memcpy(pre, zz, cut);
      rc = nd_codecs_decompress(k, pre, cut, &out, &out_len);
      free(pre);
      if (rc == 0) {
        fprintf(stderr, "%s: prefix of %zu/%zu bytes decoded\n",
                nd_codecs_name(k), cut, zlen);
        free(out);
        bad = 1;
        break;
      }
      if (rc != ND_ECORRUPT || out != NULL) {
        fprintf(stderr, "%s: prefix %zu: %s\n", nd_codecs_name(k), cut,
                nd_errname(rc));
        bad = 1;
        break;
      }
    }
    /* Flip random bytes: any outcome but a crash, a leak or a wrong
     * success length is fine. */
    for (int t = 0; t < 300 && !bad; t++) {
      uint8_t *m = malloc(zlen);
      memcpy(m, zz, zlen);
      for (int f = 0; f < 1 + t % 4; f++)
        m[rng() % zlen] ^= (uint8_t)(1 + rng() % 255);
      rc = nd_codecs_decompress(k, m, zlen, &out, &out_len);
      free(m);
      if (rc == 0)
        free(out);
      else if (rc != ND_ECORRUPT && rc != ND_ETOOLARGE) {
        fprintf(stderr, "%s: flipped input gave %s\n", nd_codecs_name(k),
                nd_errname(rc));
        bad = 1;
      }
    }
    /* Pure garbage, with and without the right magic in front. */
    for (int t = 0; t < 300 && !bad; t++) {
      size_t glen = 1 + rng() % 2000;
      uint8_t *g = malloc(glen + 16);
      fill_random(g, glen + 16);
      size_t mlen = 0;
      if (t % 2 && k != ND_CODEC_SNAPPY) {
        mlen = k == ND_CODEC_GZIP ? 3 : 4;
        memcpy(g, zz, mlen);
      } else if (t % 2) {
        memcpy(g, "\x82SNAPPY\0\0\0\0\1\0\0\0\1", 16);
        mlen = 16;
      }
      rc = nd_codecs_decompress(k, g, glen + mlen, &out, &out_len);
      free(g);
      if (rc == 0)
        free(out);
      else if (rc != ND_ECORRUPT && rc != ND_ETOOLARGE) {
        fprintf(stderr, "%s: garbage gave %s\n", nd_codecs_name(k),
                nd_errname(rc));
        bad = 1;
      }
    }
    /* Trailing bytes after a complete stream are not silently dropped. */
    uint8_t *tail = malloc(zlen + 7);
    memcpy(tail, zz, zlen);
    memcpy(tail + zlen, "garbage", 7);
    rc = nd_codecs_decompress(k, tail, zlen + 7, &out, &out_len);
    free(tail);
    if (rc == 0) {
      free(out);
      /* Raw snappy has no end marker; its length header decides. */
      if (k != ND_CODEC_SNAPPY) {
        fprintf(stderr, "%s: trailing garbage accepted\n", nd_codecs_name(k));
        bad = 1;
      }
    }
    free(z);
    if (bad)
      free(data);
    CHECK(!bad);
  }
  free(data);
}

/* ---- the bomb cap ------------------------------------------------------- */

/* `copies` concatenated streams of 16 MiB of zeros each. */
static uint8_t *zero_bomb(int codec, int copies, size_t *len) {
  size_t chunk = (size_t)16 << 20;
  uint8_t *zeros = calloc(1, chunk);
  void *z = NULL;
  size_t zlen = 0;
  if (!zeros || nd_codecs_compress(codec, zeros, chunk, &z, &zlen)) {
    free(zeros);
    return NULL;
  }
  free(zeros);
  uint8_t *cat = malloc(zlen * (size_t)copies);
  for (int i = 0; cat && i < copies; i++)
    memcpy(cat + (size_t)i * zlen, z, zlen);
  free(z);
  *len = zlen * (size_t)copies;
  return cat;
}

static void test_bomb(void) {
  CHECK(ND_CODECS_MAX_OUTPUT == (size_t)256 << 20);
  static const int codecs[] = {ND_CODEC_GZIP, ND_CODEC_LZ4, ND_CODEC_ZSTD};
  for (size_t i = 0; i < 3; i++) {
    size_t len;
    void *out = NULL;
    size_t out_len = 0;
    uint8_t *bomb = zero_bomb(codecs[i], 17, &len);
    CHECK(bomb != NULL);
    int rc = nd_codecs_decompress(codecs[i], bomb, len, &out, &out_len);
    free(bomb);
    if (rc != ND_ETOOLARGE)
      free(out);
    CHECK_RC(rc, ND_ETOOLARGE);
    CHECK(out == NULL && strstr(nd_errmsg(), "limit") != NULL);
  }
  /* Exactly at the cap is allowed. */
  size_t len;
  void *out = NULL;
  size_t out_len = 0;
  uint8_t *bomb = zero_bomb(ND_CODEC_ZSTD, 16, &len);
  CHECK(bomb != NULL);
  int rc = nd_codecs_decompress(ND_CODEC_ZSTD, bomb, len, &out, &out_len);
  free(bomb);
  free(out);
  CHECK_OK(rc);
  CHECK(out_len == ND_CODECS_MAX_OUTPUT);

  /* snappy states its size up front: refused before any allocation, raw
   * or inside an xerial chunk. 300 MiB as a varint: */
  uint32_t claim = 300u << 20;
  uint8_t raw[16];
  size_t n = 0;
  for (uint32_t v = claim; v >= 0x80; v >>= 7)
    raw[n++] = (uint8_t)(v | 0x80), claim = v >> 7;
  raw[n++] = (uint8_t)claim;
  raw[n++] = 0x00; /* a 1-byte literal tag */
  raw[n++] = 'x';
  CHECK_RC(nd_codecs_decompress(ND_CODEC_SNAPPY, raw, n, &out, &out_len),
           ND_ETOOLARGE);
  uint8_t x[64];
  memcpy(x, "\x82SNAPPY\0\0\0\0\1\0\0\0\1", 16);
  set_be32(x + 16, (uint32_t)n);
  memcpy(x + 20, raw, n);
  CHECK_RC(nd_codecs_decompress(ND_CODEC_SNAPPY, x, 20 + n, &out, &out_len),
           ND_ETOOLARGE);
}

/* ---- nd_codecs_compress_batch ------------------------------------------ */

static void test_compress_batch(void) {
  manifest m;
  CHECK(manifest_load("rdkafka-none", &m) == 0);
  size_t len;
  uint8_t *plain = load_fixture("rdkafka-none", &len);
  if (!plain)
    manifest_free(&m);
  CHECK(plain != NULL);
  int bad = 0;
  for (int k = 0; k < N_CODECS && !bad; k++) {
    void *outv = NULL;
    size_t out_len = 0;
    int rc = nd_codecs_compress_batch(plain, len, k, &outv, &out_len);
    uint8_t *out = outv;
    if (rc) {
      fprintf(stderr, "compress_batch %s: %s %s\n", nd_codecs_name(k),
              nd_errname(rc), nd_errmsg());
      bad = 1;
      break;
    }
    int ok = out_len >= 61 && get_be32(out + 8) + 12 == out_len &&
             out[16] == 2 && (out[22] & 7) == k && out[21] == plain[21] &&
             (out[22] & ~7) == (plain[22] & ~7) && batch_crc_ok(out, out_len) &&
             !memcmp(out, plain, 8) && !memcmp(out + 12, plain + 12, 5) &&
             !memcmp(out + 23, plain + 23, 61 - 23);
    if (k == 0)
      ok = ok && out_len == len && !memcmp(out, plain, len);
    else
      ok = ok && out_len < len;
    /* The record area inflates back to the original bytes... */
    void *inflated = NULL;
    size_t inflated_len = 0;
    if (ok && k) {
      ok = nd_codecs_decompress(k, out + 61, out_len - 61, &inflated,
                                &inflated_len) == 0 &&
           inflated_len == len - 61 && !memcmp(inflated, plain + 61, len - 61);
      free(inflated);
    }
    /* ...and the records read back as the client sent them. */
    if (ok && compare_records(out, out_len, &m, nd_codecs_name(k)) != 0)
      ok = 0;
    if (!ok)
      fprintf(stderr, "compress_batch %s: output wrong\n", nd_codecs_name(k));
    free(out);
    bad = !ok;
  }
  manifest_free(&m);

  /* The input CRC is ignored: a caller may leave it zero. */
  uint8_t *nocrc = malloc(len);
  if (nocrc) {
    memcpy(nocrc, plain, len);
    memset(nocrc + 17, 0, 4);
  }
  void *o = NULL;
  size_t olen = 0;
  int rc = nocrc
               ? nd_codecs_compress_batch(nocrc, len, ND_CODEC_ZSTD, &o, &olen)
               : ND_ENOMEM;
  int crc_ok = rc == 0 && batch_crc_ok(o, olen);
  free(o);

  /* Malformed input. */
  int errs_ok =
      nd_codecs_compress_batch(plain, 60, 1, &o, &olen) == ND_EBATCH &&
      o == NULL &&
      nd_codecs_compress_batch(plain, len - 1, 1, &o, &olen) == ND_EBATCH &&
      nd_codecs_compress_batch(plain, len, 8, &o, &olen) == ND_ECODEC &&
      nd_codecs_compress_batch(NULL, len, 1, &o, &olen) == ND_EINVAL;
  nocrc[16] = 1; /* magic */
  errs_ok = errs_ok &&
            nd_codecs_compress_batch(nocrc, len, 1, &o, &olen) == ND_EBATCH;
  free(nocrc);
  free(plain);
  size_t glen;
  uint8_t *gz = load_fixture("rdkafka-gzip", &glen);
  errs_ok = errs_ok && gz &&
            nd_codecs_compress_batch(gz, glen, ND_CODEC_ZSTD, &o, &olen) ==
                ND_EBATCH &&
            strstr(nd_errmsg(), "already compressed") != NULL;
  free(gz);
  CHECK(!bad);
  CHECK_OK(rc);
  CHECK(crc_ok);
  CHECK(errs_ok);
}

/* nd_append_batch looks inside compressed client batches when the store
 * has a decompressor: a record claiming an offset outside its batch, or a
 * record area that does not decompress, is refused (the CRC is right in
 * both, so only the look inside can tell); good ones of every codec are
 * stored verbatim. Without a decompressor they are taken unopened, as the
 * header documents. */
static void test_append_checks_compressed_records(void) {
  char *dir = tmpdir_make("compressed-append");
  nd_options o = {.no_background = 1, .decompress = nd_codecs_decompress};
  nd_store *s = NULL;
  CHECK_OK(nd_open(dir, &o, &s));
  CHECK_OK(nd_topic_create(s, "c", 1, NULL));
  nd_record recs[3] = {{NULL, 0, "one", 3, NULL, 0, 1000},
                       {NULL, 0, "two", 3, NULL, 0, 1001},
                       {NULL, 0, "three", 5, NULL, 0, 1002}};
  void *enc = NULL;
  size_t enc_len = 0;
  CHECK_OK(nd_batch_encode(recs, 3, 0, 1000, 0, &enc, &enc_len));
  uint8_t *plain = enc;
  int64_t n = (int64_t)enc_len;
  CHECK(n > 61);
  for (int codec = ND_CODEC_GZIP; codec <= ND_CODEC_ZSTD; codec++) {
    void *z;
    size_t zlen;
    CHECK_OK(nd_codecs_compress_batch(plain, (size_t)n, codec, &z, &zlen));
    nd_append_info info;
    CHECK_OK(nd_append_batch(s, "c", 0, z, zlen, 0, &info));
    CHECK_EQ_I64(info.last_offset - info.base_offset, 2);
    free(z);
  }
  /* Record 1 (after 1-byte length, attributes and timestamp delta) claims
   * offset delta 5. */
  uint8_t *bad = malloc((size_t)n);
  CHECK(bad);
  memcpy(bad, plain, (size_t)n);
  size_t rec1 = 61 + 1 + (size_t)plain[61] / 2;
  CHECK_EQ_I64(bad[rec1 + 3], 2); /* zigzag(1) */
  bad[rec1 + 3] = 10;
  void *z;
  size_t zlen;
  CHECK_OK(nd_codecs_compress_batch(bad, (size_t)n, ND_CODEC_LZ4, &z, &zlen));
  int64_t hw0, hw1;
  CHECK_OK(nd_offsets(s, "c", 0, NULL, &hw0));
  CHECK_RC(nd_append_batch(s, "c", 0, z, zlen, 0, NULL), ND_EBATCH);
  CHECK(strstr(nd_errmsg(), "compressed") && strstr(nd_errmsg(), "offset"));
  /* Garbage where the zstd frame should be, CRC recomputed. */
  void *g;
  size_t glen;
  CHECK_OK(
      nd_codecs_compress_batch(plain, (size_t)n, ND_CODEC_ZSTD, &g, &glen));
  memset((uint8_t *)g + 61, 0x5a, glen - 61);
  uint32_t crc = nd_crc32c(0, (uint8_t *)g + 21, glen - 21);
  set_be32((uint8_t *)g + 17, crc);
  CHECK_RC(nd_append_batch(s, "c", 0, g, glen, 0, NULL), ND_ECORRUPT);
  CHECK(strstr(nd_errmsg(), "zstd") != NULL);
  CHECK_OK(nd_offsets(s, "c", 0, NULL, &hw1));
  CHECK_EQ_I64(hw1, hw0); /* nothing of either was stored */
  CHECK_OK(nd_close(s));
  /* No decompressor: compressed batches go in unopened. */
  nd_options bare = {.no_background = 1};
  CHECK_OK(nd_open(dir, &bare, &s));
  free(z);
  CHECK_OK(nd_codecs_compress_batch(bad, (size_t)n, ND_CODEC_LZ4, &z, &zlen));
  CHECK_OK(nd_append_batch(s, "c", 0, z, zlen, 0, NULL));
  CHECK_OK(nd_close(s));
  free(z);
  free(g);
  free(bad);
  nd_free(plain);
  tmpdir_remove(dir);
}

/* A copy of a batch with its header maxTimestamp set to ts (CRC fixed), as
 * a producer that leaves the field at -1 sends it. */
static uint8_t *with_max_ts(const void *batch, size_t len, int64_t ts) {
  uint8_t *b = malloc(len);
  if (!b)
    return NULL;
  memcpy(b, batch, len);
  for (int i = 0; i < 8; i++)
    b[35 + i] = (uint8_t)((uint64_t)ts >> (56 - 8 * i));
  set_be32(b + 17, nd_crc32c(0, b + 21, len - 21));
  return b;
}

/* The stored batch at `offset`: its header maxTimestamp and CRC. */
static int stored_max_ts(nd_store *s, int64_t offset, int64_t *ts) {
  nd_batches b;
  if (nd_read(s, "m", 0, offset, 1, &b) != 0 || b.len < 61)
    return -1;
  *ts = (int64_t)get_be64(b.data + 35);
  int ok = batch_crc_ok(b.data, b.len);
  nd_free(b.data);
  return ok ? 0 : -1;
}

/* A client's maxTimestamp is recomputed from the records (Kafka does; Sarama
 * 1.22 sends -1), for plain and compressed batches, so time lookups see the
 * real maximum. The largest timestamp is not the last record's here. */
static void test_append_fixes_max_timestamp(void) {
  char *dir = tmpdir_make("max-ts");
  nd_options o = {.no_background = 1, .decompress = nd_codecs_decompress};
  nd_store *s = NULL;
  CHECK_OK(nd_open(dir, &o, &s));
  CHECK_OK(nd_topic_create(s, "m", 1, NULL));
  nd_record recs[3] = {{NULL, 0, "a", 1, NULL, 0, 5000},
                       {NULL, 0, "b", 1, NULL, 0, 5010},
                       {NULL, 0, "c", 1, NULL, 0, 5005}};
  void *enc = NULL;
  size_t enc_len = 0;
  CHECK_OK(nd_batch_encode(recs, 3, 0, 0, 0, &enc, &enc_len));
  uint8_t *plain = enc;
  int64_t n = (int64_t)enc_len;
  CHECK(n > 61);
  int64_t ts, off, found_ts;
  for (int codec = ND_CODEC_NONE; codec <= ND_CODEC_ZSTD; codec++) {
    void *z;
    size_t zlen;
    CHECK_OK(nd_codecs_compress_batch(plain, (size_t)n, codec, &z, &zlen));
    uint8_t *b = with_max_ts(z, zlen, -1);
    free(z);
    CHECK(b);
    nd_append_info info;
    CHECK_OK(nd_append_batch(s, "m", 0, b, zlen, 0, &info));
    free(b);
    CHECK_OK(stored_max_ts(s, info.base_offset, &ts));
    CHECK_EQ_I64(ts, 5010);
    /* The first record at or after 5006 is the batch's second. */
    CHECK_OK(nd_offset_for_time(s, "m", 0, 5006, &off, &found_ts));
    CHECK_EQ_I64(off, 1);
    CHECK_EQ_I64(found_ts, 5010);
    /* A too-large maxTimestamp is brought down too. */
    CHECK_OK(nd_codecs_compress_batch(plain, (size_t)n, codec, &z, &zlen));
    b = with_max_ts(z, zlen, 9999999);
    free(z);
    CHECK(b);
    CHECK_OK(nd_append_batch(s, "m", 0, b, zlen, 0, &info));
    free(b);
    CHECK_OK(stored_max_ts(s, info.base_offset, &ts));
    CHECK_EQ_I64(ts, 5010);
  }
  nd_partition_info pi;
  CHECK_OK(nd_partition_describe(s, "m", 0, &pi));
  CHECK_EQ_I64(pi.max_timestamp, 5010);
  CHECK_OK(nd_close(s));
  /* Without a decompressor a compressed batch cannot be looked into: its
   * own maxTimestamp is kept. */
  nd_options bare = {.no_background = 1};
  CHECK_OK(nd_open(dir, &bare, &s));
  void *z;
  size_t zlen;
  CHECK_OK(nd_codecs_compress_batch(plain, (size_t)n, ND_CODEC_LZ4, &z, &zlen));
  uint8_t *b = with_max_ts(z, zlen, -1);
  free(z);
  CHECK(b);
  nd_append_info info;
  CHECK_OK(nd_append_batch(s, "m", 0, b, zlen, 0, &info));
  free(b);
  CHECK_OK(stored_max_ts(s, info.base_offset, &ts));
  CHECK_EQ_I64(ts, -1);
  CHECK_OK(nd_close(s));
  nd_free(plain);
  tmpdir_remove(dir);
}

/* nd_codecs_recompress_batch takes a client batch of any codec to any
 * other: header fields other than attributes' codec bits, batchLength and
 * CRC unchanged, CRC right, every record as the client sent it. */
static void test_recompress_batch(void) {
  int bad = 0;
  for (int c = 0; c < N_CLIENTS && !bad; c++)
    for (int from = 0; from < N_CODECS && !bad; from++) {
      char name[64];
      snprintf(name, sizeof name, "%s-%s", clients[c], codec_names[from]);
      manifest m;
      if (manifest_load(name, &m) != 0) {
        bad = 1;
        break;
      }
      size_t len;
      uint8_t *in = load_fixture(name, &len);
      for (int to = 0; in && to < N_CODECS && !bad; to++) {
        void *outv = NULL;
        size_t olen = 0;
        int level = to == ND_CODEC_GZIP ? 9 : to == ND_CODEC_LZ4 ? 9 : 0;
        int rc = nd_codecs_recompress_batch(in, len, to, level, &outv, &olen);
        uint8_t *out = outv;
        int ok = rc == 0 && olen >= 61 && get_be32(out + 8) + 12 == olen &&
                 (out[22] & 7) == to && (out[22] & ~7) == (in[22] & ~7) &&
                 out[21] == in[21] && batch_crc_ok(out, olen) &&
                 !memcmp(out, in, 8) && !memcmp(out + 12, in + 12, 5) &&
                 !memcmp(out + 23, in + 23, 61 - 23);
        char what[96];
        snprintf(what, sizeof what, "%s -> %s", name, codec_names[to]);
        if (ok && compare_records(out, olen, &m, what) != 0)
          ok = 0;
        if (!ok) {
          fprintf(stderr, "recompress %s: rc %s, output wrong\n", what,
                  nd_errname(rc));
          bad = 1;
        }
        free(out);
      }
      if (!in)
        bad = 1;
      free(in);
      manifest_free(&m);
    }
  CHECK(!bad);

  /* Levels are the codec's: gzip -1 or 1-9, zstd up to 22; a higher level
   * gives output no larger on compressible data. */
  size_t len;
  uint8_t *plain = load_fixture("rdkafka-none", &len);
  CHECK(plain);
  void *a = NULL, *z = NULL;
  size_t alen = 0, zlen = 0;
  CHECK_OK(nd_codecs_recompress_batch(plain, len, ND_CODEC_ZSTD, 1, &a, &alen));
  CHECK_OK(
      nd_codecs_recompress_batch(plain, len, ND_CODEC_ZSTD, 19, &z, &zlen));
  CHECK(zlen <= alen);
  free(a);
  free(z);
  CHECK_OK(
      nd_codecs_recompress_batch(plain, len, ND_CODEC_GZIP, -1, &a, &alen));
  free(a);
  CHECK_OK(nd_codecs_recompress_batch(plain, len, ND_CODEC_LZ4, 17, &a, &alen));
  free(a);
  CHECK_RC(nd_codecs_recompress_batch(plain, len, ND_CODEC_GZIP, 0, &a, &alen),
           ND_EINVAL);
  CHECK(a == NULL);
  CHECK_RC(nd_codecs_recompress_batch(plain, len, ND_CODEC_ZSTD, 23, &a, &alen),
           ND_EINVAL);
  CHECK_RC(nd_codecs_recompress_batch(plain, len, 7, 0, &a, &alen), ND_ECODEC);
  CHECK_RC(
      nd_codecs_recompress_batch(plain, len - 1, ND_CODEC_GZIP, -1, &a, &alen),
      ND_EBATCH);
  /* A record area that does not decompress. */
  void *g = NULL;
  size_t glen = 0;
  CHECK_OK(nd_codecs_compress_batch(plain, len, ND_CODEC_ZSTD, &g, &glen));
  memset((uint8_t *)g + 61, 0x5a, glen - 61);
  CHECK_RC(nd_codecs_recompress_batch(g, glen, ND_CODEC_GZIP, -1, &a, &alen),
           ND_ECORRUPT);
  free(g);
  free(plain);
}

/* The codec of every batch in a partition, as stored. */
static int stored_codecs(nd_store *s, const char *topic, int *codecs, int max) {
  nd_batches nb;
  if (nd_read(s, topic, 0, 0, 1 << 20, &nb) != 0)
    return -1;
  int n = 0;
  for (size_t q = 0; q + 61 <= nb.len && n < max;
       q += (size_t)get_be32(nb.data + q + 8) + 12)
    codecs[n++] = nb.data[q + 22] & 7;
  nd_free(nb.data);
  return n;
}

/* A topic's compression.type makes the store re-encode appended batches
 * whose codec differs (Kafka's broker-side recompression), through
 * nd_options.recompress; producer keeps them as given; offsets and
 * records are unchanged; a store without a recompressor refuses such an
 * append with ND_ECODEC rather than store the wrong codec. */
static void test_append_recompresses(void) {
  char *dir = tmpdir_make("recompress");
  nd_options o = {.no_background = 1,
                  .decompress = nd_codecs_decompress,
                  .recompress = nd_codecs_recompress_batch};
  nd_store *s = NULL;
  CHECK_OK(nd_open(dir, &o, &s));
  const char *types[] = {"gzip", "uncompressed", "producer"};
  for (int t = 0; t < 3; t++) {
    nd_topic_config cfg;
    nd_topic_config_init(&cfg);
    CHECK_OK(nd_topic_config_set(&cfg, "compression.type", types[t]));
    CHECK_OK(nd_topic_create(s, types[t], 1, &cfg));
  }
  manifest m;
  CHECK(manifest_load("rdkafka-lz4", &m) == 0);
  size_t len;
  uint8_t *lz4 = load_fixture("rdkafka-lz4", &len);
  CHECK(lz4);
  for (int t = 0; t < 3; t++) {
    uint8_t *copy = malloc(len);
    CHECK(copy);
    memcpy(copy, lz4, len);
    nd_append_info info;
    CHECK_OK(nd_append_batch(s, types[t], 0, copy, len, 0, &info));
    CHECK_EQ_I64(info.base_offset, 0);
    free(copy);
    nd_record r = {"k", 1, "plain", 5, NULL, 0, 1234};
    CHECK_OK(nd_append(s, types[t], 0, &r, 1, 0, &info));
    CHECK_EQ_I64(info.base_offset, (int64_t)m.n);
    int codecs[4];
    CHECK(stored_codecs(s, types[t], codecs, 4) == 2);
    int want0 = t == 0 ? ND_CODEC_GZIP : t == 1 ? ND_CODEC_NONE : ND_CODEC_LZ4;
    int want1 = t == 0 ? ND_CODEC_GZIP : ND_CODEC_NONE;
    CHECK_EQ_I64(codecs[0], want0);
    CHECK_EQ_I64(codecs[1], want1);
    nd_batches nb;
    CHECK_OK(nd_read(s, types[t], 0, 0, 1 << 20, &nb));
    size_t first = (size_t)get_be32(nb.data + 8) + 12;
    CHECK(compare_records(nb.data, first, &m, types[t]) == 0);
    nd_free(nb.data);
  }
  CHECK_OK(nd_close(s));

  /* Without a recompressor: refused, nothing stored; producer topics and
   * same-codec batches need none. */
  nd_options bare = {.no_background = 1, .decompress = nd_codecs_decompress};
  CHECK_OK(nd_open(dir, &bare, &s));
  int64_t hw0, hw1;
  CHECK_OK(nd_offsets(s, "gzip", 0, NULL, &hw0));
  CHECK_RC(nd_append_batch(s, "gzip", 0, lz4, len, 0, NULL), ND_ECODEC);
  CHECK(strstr(nd_errmsg(), "compression.type=gzip") != NULL);
  nd_record r = {NULL, 0, "x", 1, NULL, 0, 1};
  CHECK_RC(nd_append(s, "gzip", 0, &r, 1, 0, NULL), ND_ECODEC);
  CHECK_OK(nd_offsets(s, "gzip", 0, NULL, &hw1));
  CHECK_EQ_I64(hw1, hw0);
  CHECK_OK(nd_append(s, "uncompressed", 0, &r, 1, 0, NULL));
  CHECK_OK(nd_append_batch(s, "producer", 0, lz4, len, 0, NULL));
  CHECK_OK(nd_close(s));
  free(lz4);
  manifest_free(&m);
  tmpdir_remove(dir);
}

static void test_names(void) {
  for (int k = 0; k < N_CODECS; k++) {
    CHECK(strcmp(nd_codecs_name(k), codec_names[k]) == 0);
    CHECK(nd_codecs_parse(codec_names[k]) == k);
  }
  CHECK(nd_codecs_parse("ZSTD") == ND_CODEC_ZSTD);
  CHECK(nd_codecs_name(5) == NULL && nd_codecs_name(-1) == NULL);
  CHECK_RC(nd_codecs_parse("brotli"), ND_ECODEC);
  CHECK(strstr(nd_errmsg(), "brotli") != NULL);
  CHECK_RC(nd_codecs_parse(NULL), ND_ECODEC);
}

int main(void) {
  RUN(test_fixture_headers_and_crc);
  RUN(test_fixture_records);
  RUN(test_fixture_payloads);
  RUN(test_fixture_zstd_without_size);
  RUN(test_roundtrip);
  RUN(test_compress_format);
  RUN(test_concatenated);
  RUN(test_snappy_xerial);
  RUN(test_zstd_handmade);
  RUN(test_errors);
  RUN(test_truncated_and_garbage);
  RUN(test_bomb);
  RUN(test_compress_batch);
  RUN(test_append_checks_compressed_records);
  RUN(test_append_fixes_max_timestamp);
  RUN(test_recompress_batch);
  RUN(test_append_recompresses);
  RUN(test_names);
  TEST_MAIN_END();
}
