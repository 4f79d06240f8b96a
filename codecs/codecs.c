/* SPDX-License-Identifier: Apache-2.0 */
/*
 * codecs.c — gzip, snappy, lz4 and zstd for the record area of Kafka
 * RecordBatch v2, on top of Debian's zlib, libsnappy, liblz4 and libzstd.
 *
 * Decompression treats its input as hostile (it comes off the network and
 * off disk): every decoder runs in streaming mode into a buffer that grows
 * by doubling up to ND_CODECS_MAX_OUTPUT + 1 bytes, so a small input that
 * claims or expands to a huge output is refused with ND_ETOOLARGE before
 * it can exhaust memory, and a size announced in a header is only a hint
 * for the first allocation. Each loop stops when no byte of input or
 * output moves, so no input can make it spin.
 */
#include "nodata_codecs.h"

#include <limits.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#define BATCH_HEADER_SIZE 61
#define OFF_BATCH_LENGTH 8
#define OFF_MAGIC 16
#define OFF_CRC 17
#define OFF_ATTRIBUTES 21
#define CODEC_MASK 0x07

/* The first allocation for a stream of unknown output size. Kafka batches
 * are mostly small, and doubling reaches any size in a few steps. */
#define INITIAL_GUESS ((size_t)64 * 1024)

/* ------------------------------------------------------------------------ */
/* Growing output buffer                                                    */
/* ------------------------------------------------------------------------ */

typedef struct obuf {
  uint8_t *p;
  size_t len; /* bytes written */
  size_t cap; /* bytes allocated, at most ND_CODECS_MAX_OUTPUT + 1 */
} obuf;

/* The extra byte above the cap lets a stream that ends at exactly the cap
 * finish, while one that goes past it is caught by obuf_check_cap(). */
#define OBUF_LIMIT (ND_CODECS_MAX_OUTPUT + 1)

static int obuf_init(obuf *b, size_t guess) {
  if (guess < 64)
    guess = 64;
  if (guess > OBUF_LIMIT)
    guess = OBUF_LIMIT;
  b->p = malloc(guess);
  b->len = 0;
  b->cap = guess;
  if (!b->p)
    return nd_set_error(ND_ENOMEM, "codecs: cannot allocate %zu bytes", guess);
  return 0;
}

/* Make room for at least `need` more bytes (or, with need 0, at least one
 * more byte, doubling). */
static int obuf_reserve(obuf *b, size_t need, const char *codec) {
  size_t want = b->len + (need ? need : 1);
  if (want <= b->cap)
    return 0;
  if (need > OBUF_LIMIT - b->len || b->cap >= OBUF_LIMIT)
    return nd_set_error(ND_ETOOLARGE,
                        "%s: decompressed data exceeds the limit of %zu bytes",
                        codec, ND_CODECS_MAX_OUTPUT);
  size_t ncap = b->cap;
  while (ncap < want)
    ncap = ncap > OBUF_LIMIT / 2 ? OBUF_LIMIT : ncap * 2;
  uint8_t *np = realloc(b->p, ncap);
  if (!np)
    return nd_set_error(ND_ENOMEM, "%s: cannot allocate %zu bytes", codec,
                        ncap);
  b->p = np;
  b->cap = ncap;
  return 0;
}

static int obuf_check_cap(const obuf *b, const char *codec) {
  if (b->len > ND_CODECS_MAX_OUTPUT)
    return nd_set_error(ND_ETOOLARGE,
                        "%s: decompressed data exceeds the limit of %zu bytes",
                        codec, ND_CODECS_MAX_OUTPUT);
  return 0;
}

static size_t min_size(size_t a, size_t b) {
  return a < b ? a : b;
}

static size_t guess_from_input(size_t src_len) {
  return src_len > INITIAL_GUESS / 4 ? src_len * 4 : INITIAL_GUESS;
}

/* ------------------------------------------------------------------------ */
/* gzip                                                                     */
/* ------------------------------------------------------------------------ */

static int gzip_decompress(const uint8_t *src, size_t len, obuf *o) {
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  /* 15 + 16: gzip wrapper only. Kafka's gzip codec is always RFC 1952. */
  int zr = inflateInit2(&zs, 15 + 16);
  if (zr != Z_OK)
    return zr == Z_MEM_ERROR
               ? nd_set_error(ND_ENOMEM, "gzip: out of memory")
               : nd_set_error(ND_ECORRUPT, "gzip: inflateInit2: %d", zr);
  size_t ipos = 0;
  int rc = 0;
  for (;;) {
    if (o->len == o->cap && (rc = obuf_reserve(o, 0, "gzip")) != 0)
      break;
    /* zlib counts in uInt; feed windows of at most UINT_MAX bytes. */
    uInt in_n = (uInt)min_size(len - ipos, UINT_MAX);
    uInt out_n = (uInt)min_size(o->cap - o->len, UINT_MAX);
    zs.next_in = (Bytef *)(uintptr_t)(src + ipos);
    zs.avail_in = in_n;
    zs.next_out = o->p + o->len;
    zs.avail_out = out_n;
    zr = inflate(&zs, Z_NO_FLUSH);
    ipos += in_n - zs.avail_in;
    o->len += out_n - zs.avail_out;
    if (zr == Z_STREAM_END) {
      if (ipos == len)
        break;
      /* Another member follows: gzip files may be concatenated, and the
       * Java client's GZIPInputStream reads them all. */
      inflateReset(&zs);
      continue;
    }
    if (zr == Z_OK)
      continue;
    if (zr == Z_BUF_ERROR) {
      if (o->len == o->cap)
        continue; /* only out of room: grow and go on */
      rc = nd_set_error(
          ND_ECORRUPT, "gzip: truncated input (%zu bytes, stream not finished)",
          len);
      break;
    }
    if (zr == Z_MEM_ERROR)
      rc = nd_set_error(ND_ENOMEM, "gzip: out of memory");
    else
      rc = nd_set_error(ND_ECORRUPT, "gzip: %s at input byte %zu of %zu",
                        zs.msg ? zs.msg : "invalid data", ipos, len);
    break;
  }
  inflateEnd(&zs);
  return rc ? rc : obuf_check_cap(o, "gzip");
}

static int gzip_compress(const uint8_t *src, size_t len, int level, obuf *o) {
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  /* librdkafka's settings: gzip wrapper, 32 KiB window; level -1 is
   * zlib's default. */
  int zr = deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  if (zr != Z_OK)
    return nd_set_error(zr == Z_MEM_ERROR ? ND_ENOMEM : ND_EINVAL,
                        "gzip: deflateInit2: %d", zr);
  int rc = 0;
  size_t bound = deflateBound(&zs, (uLong)len);
  free(o->p);
  o->p = malloc(bound);
  o->cap = bound;
  o->len = 0;
  if (!o->p) {
    deflateEnd(&zs);
    return nd_set_error(ND_ENOMEM, "gzip: cannot allocate %zu bytes", bound);
  }
  size_t ipos = 0;
  for (;;) {
    uInt in_n = (uInt)min_size(len - ipos, UINT_MAX);
    uInt out_n = (uInt)min_size(o->cap - o->len, UINT_MAX);
    int flush = ipos + in_n == len ? Z_FINISH : Z_NO_FLUSH;
    zs.next_in = (Bytef *)(uintptr_t)(src + ipos);
    zs.avail_in = in_n;
    zs.next_out = o->p + o->len;
    zs.avail_out = out_n;
    zr = deflate(&zs, flush);
    ipos += in_n - zs.avail_in;
    o->len += out_n - zs.avail_out;
    if (zr == Z_STREAM_END)
      break;
    if (zr != Z_OK && zr != Z_BUF_ERROR) {
      rc = nd_set_error(ND_EINVAL, "gzip: deflate: %d", zr);
      break;
    }
    if (o->len == o->cap) {
      /* deflateBound is an upper bound; this cannot happen. */
      rc = nd_set_error(ND_EINVAL, "gzip: output exceeded deflateBound");
      break;
    }
  }
  deflateEnd(&zs);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* snappy                                                                   */
/* ------------------------------------------------------------------------ */

/* xerial snappy-java's stream header, written by the Java client and by
 * kafka-python: magic, then int32 version and int32 compatible version. A
 * raw snappy block cannot start with these bytes: after the length varint
 * 82 53 the next tag byte 'N' (0x4e) would be a copy, and a valid block
 * must start with a literal. So the check is unambiguous. */
static const uint8_t xerial_magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
#define XERIAL_HEADER_SIZE 16

/* Append the raw snappy block src[0..len) to o. */
static int snappy_raw_append(const uint8_t *src, size_t len, obuf *o,
                             size_t where) {
  size_t n;
  if (snappy_uncompressed_length((const char *)src, len, &n) != SNAPPY_OK)
    return nd_set_error(ND_ECORRUPT,
                        "snappy: bad block length header at input byte %zu",
                        where);
  if (n > ND_CODECS_MAX_OUTPUT - o->len)
    return nd_set_error(ND_ETOOLARGE,
                        "snappy: block at input byte %zu claims %zu bytes; the "
                        "limit is %zu",
                        where, n, ND_CODECS_MAX_OUTPUT);
  /* Validate before allocating, so a 5-byte block claiming 256 MiB costs
   * nothing. */
  if (snappy_validate_compressed_buffer((const char *)src, len) != SNAPPY_OK)
    return nd_set_error(ND_ECORRUPT, "snappy: invalid block at input byte %zu",
                        where);
  int rc = obuf_reserve(o, n, "snappy");
  if (rc)
    return rc;
  size_t out_n = n;
  if (snappy_uncompress((const char *)src, len, (char *)o->p + o->len,
                        &out_n) != SNAPPY_OK ||
      out_n != n)
    return nd_set_error(ND_ECORRUPT, "snappy: invalid block at input byte %zu",
                        where);
  o->len += n;
  return 0;
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         (uint32_t)p[3];
}

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static int snappy_decompress(const uint8_t *src, size_t len, obuf *o) {
  if (len < sizeof xerial_magic || memcmp(src, xerial_magic, 8) != 0)
    return snappy_raw_append(src, len, o, 0);
  if (len < XERIAL_HEADER_SIZE)
    return nd_set_error(ND_ECORRUPT,
                        "snappy: xerial header truncated (%zu of %d bytes)",
                        len, XERIAL_HEADER_SIZE);
  size_t pos = XERIAL_HEADER_SIZE;
  while (pos < len) {
    if (len - pos < 4)
      return nd_set_error(ND_ECORRUPT,
                          "snappy: xerial chunk length truncated at byte %zu",
                          pos);
    uint32_t clen = be32(src + pos);
    pos += 4;
    if (clen > len - pos)
      return nd_set_error(
          ND_ECORRUPT,
          "snappy: xerial chunk at byte %zu claims %u bytes, %zu "
          "left",
          pos - 4, clen, len - pos);
    int rc = snappy_raw_append(src + pos, clen, o, pos);
    if (rc)
      return rc;
    pos += clen;
  }
  return 0;
}

static int snappy_compress_raw(const uint8_t *src, size_t len, obuf *o) {
  /* The block format stores the length as a 32-bit varint. */
  if (len > UINT32_MAX)
    return nd_set_error(ND_ETOOLARGE,
                        "snappy: input of %zu bytes exceeds 4 GiB", len);
  size_t bound = snappy_max_compressed_length(len);
  free(o->p);
  o->p = malloc(bound);
  o->cap = bound;
  o->len = 0;
  if (!o->p)
    return nd_set_error(ND_ENOMEM, "snappy: cannot allocate %zu bytes", bound);
  size_t out_n = bound;
  if (snappy_compress((const char *)src, len, (char *)o->p, &out_n) !=
      SNAPPY_OK)
    return nd_set_error(ND_EINVAL, "snappy: compression failed");
  o->len = out_n;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* lz4                                                                      */
/* ------------------------------------------------------------------------ */

static int lz4_decompress(const uint8_t *src, size_t len, obuf *o) {
  LZ4F_dctx *dctx = NULL;
  LZ4F_errorCode_t e = LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION);
  if (LZ4F_isError(e))
    return nd_set_error(ND_ENOMEM, "lz4: %s", LZ4F_getErrorName(e));
  size_t ipos = 0;
  size_t hint = 1;
  int rc = 0;
  for (;;) {
    if (hint == 0 && ipos == len)
      break; /* every frame complete and all input used */
    if (o->len == o->cap && (rc = obuf_reserve(o, 0, "lz4")) != 0)
      break;
    size_t out_n = o->cap - o->len;
    size_t in_n = len - ipos;
    hint =
        LZ4F_decompress(dctx, o->p + o->len, &out_n, src + ipos, &in_n, NULL);
    if (LZ4F_isError(hint)) {
      rc = nd_set_error(ND_ECORRUPT, "lz4: %s near input byte %zu of %zu",
                        LZ4F_getErrorName(hint), ipos, len);
      break;
    }
    ipos += in_n;
    o->len += out_n;
    /* hint 0 means a frame ended; the context then expects a new frame,
     * which is how concatenated frames are read. */
    if (hint != 0 && in_n == 0 && out_n == 0 && o->len < o->cap) {
      rc =
          ipos == len
              ? nd_set_error(
                    ND_ECORRUPT,
                    "lz4: truncated input (%zu bytes, frame not finished)", len)
              : nd_set_error(ND_ECORRUPT, "lz4: no progress at input byte %zu",
                             ipos);
      break;
    }
  }
  LZ4F_freeDecompressionContext(dctx);
  return rc ? rc : obuf_check_cap(o, "lz4");
}

static int lz4_compress(const uint8_t *src, size_t len, int level, obuf *o) {
  /* As librdkafka 2.0.2 writes it (FLG 0x60, BD 0x40): independent 64 KiB
   * blocks, since the Java client's KafkaLZ4BlockInputStream cannot read
   * linked ones; no content size and no checksums. */
  LZ4F_preferences_t prefs;
  memset(&prefs, 0, sizeof prefs);
  prefs.frameInfo.blockSizeID = LZ4F_max64KB;
  prefs.frameInfo.blockMode = LZ4F_blockIndependent;
  /* Kafka's lz4 levels are 1-17; LZ4 itself stops at 12 (LZ4HC_CLEVEL_MAX)
   * and treats higher ones as 12. Below 3 is the fast compressor. */
  prefs.compressionLevel = level < 3 ? 0 : level;
  size_t bound = LZ4F_compressFrameBound(len, &prefs);
  free(o->p);
  o->p = malloc(bound);
  o->cap = bound;
  o->len = 0;
  if (!o->p)
    return nd_set_error(ND_ENOMEM, "lz4: cannot allocate %zu bytes", bound);
  size_t n = LZ4F_compressFrame(o->p, bound, src, len, &prefs);
  if (LZ4F_isError(n))
    return nd_set_error(ND_EINVAL, "lz4: %s", LZ4F_getErrorName(n));
  o->len = n;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* zstd                                                                     */
/* ------------------------------------------------------------------------ */

static int zstd_error(size_t ret, size_t ipos, size_t len) {
  switch (ZSTD_getErrorCode(ret)) {
  case ZSTD_error_memory_allocation:
    return nd_set_error(ND_ENOMEM, "zstd: out of memory");
  case ZSTD_error_frameParameter_windowTooLarge:
    return nd_set_error(ND_ETOOLARGE,
                        "zstd: frame at input byte %zu needs a window above "
                        "the decoder's limit",
                        ipos);
  default:
    return nd_set_error(ND_ECORRUPT, "zstd: %s near input byte %zu of %zu",
                        ZSTD_getErrorName(ret), ipos, len);
  }
}

static int zstd_decompress(const uint8_t *src, size_t len, obuf *o) {
  ZSTD_DCtx *dctx = ZSTD_createDCtx();
  if (!dctx)
    return nd_set_error(ND_ENOMEM, "zstd: cannot create a context");
  ZSTD_inBuffer in = {src, len, 0};
  size_t ret = 1;
  int rc = 0;
  for (;;) {
    if (ret == 0 && in.pos == in.size)
      break;
    if (o->len == o->cap && (rc = obuf_reserve(o, 0, "zstd")) != 0)
      break;
    ZSTD_outBuffer out = {o->p, o->cap, o->len};
    size_t in_before = in.pos, out_before = out.pos;
    ret = ZSTD_decompressStream(dctx, &out, &in);
    o->len = out.pos;
    if (ZSTD_isError(ret)) {
      rc = zstd_error(ret, in.pos, len);
      break;
    }
    /* ret 0: a frame ended and was flushed; the context then starts on the
     * next frame by itself, so concatenated frames need nothing more. */
    if (ret != 0 && in.pos == in_before && out.pos == out_before &&
        o->len < o->cap) {
      rc = in.pos == in.size
               ? nd_set_error(ND_ECORRUPT,
                              "zstd: truncated input (%zu bytes, frame not "
                              "finished)",
                              len)
               : nd_set_error(ND_ECORRUPT,
                              "zstd: no progress at input byte %zu", in.pos);
      break;
    }
  }
  ZSTD_freeDCtx(dctx);
  return rc ? rc : obuf_check_cap(o, "zstd");
}

static size_t zstd_guess(const uint8_t *src, size_t len) {
  /* A declared content size is only a hint: trusting it blindly would let
   * a 20-byte frame make us allocate the whole cap. */
  unsigned long long n = ZSTD_getFrameContentSize(src, len);
  if (n == ZSTD_CONTENTSIZE_UNKNOWN || n == ZSTD_CONTENTSIZE_ERROR)
    return guess_from_input(len);
  /* +1 so that a frame of exactly the declared size completes without a
   * realloc (the loop wants a free byte before it stops). */
  return n < 16u * 1024 * 1024 ? (size_t)n + 1 : 16u * 1024 * 1024;
}

static int zstd_compress(const uint8_t *src, size_t len, int level, obuf *o) {
  size_t bound = ZSTD_compressBound(len);
  if (ZSTD_isError(bound))
    return nd_set_error(ND_ETOOLARGE, "zstd: input of %zu bytes is too large",
                        len);
  free(o->p);
  o->p = malloc(bound ? bound : 1);
  o->cap = bound;
  o->len = 0;
  if (!o->p)
    return nd_set_error(ND_ENOMEM, "zstd: cannot allocate %zu bytes", bound);
  size_t n = ZSTD_compress(o->p, bound, src, len, level);
  if (ZSTD_isError(n))
    return nd_set_error(ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation
                            ? ND_ENOMEM
                            : ND_EINVAL,
                        "zstd: %s", ZSTD_getErrorName(n));
  o->len = n;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Public API                                                               */
/* ------------------------------------------------------------------------ */

static const char *const codec_names[] = {"none", "gzip", "snappy", "lz4",
                                          "zstd"};

const char *nd_codecs_name(int codec) {
  if (codec < 0 || codec > ND_CODEC_ZSTD)
    return NULL;
  return codec_names[codec];
}

int nd_codecs_parse(const char *name) {
  nd_set_error(0, NULL);
  if (name)
    for (int i = 0; i <= ND_CODEC_ZSTD; i++)
      if (strcasecmp(name, codec_names[i]) == 0)
        return i;
  return nd_set_error(ND_ECODEC,
                      "unknown compression codec '%s' (none, gzip, snappy, lz4 "
                      "or zstd)",
                      name ? name : "(null)");
}

/* Hand o's bytes to the caller, shrinking the allocation when the guess
 * was far too big. */
static void obuf_give(obuf *o, void **dst, size_t *dst_len) {
  if (o->cap > 4096 && o->len < o->cap / 2) {
    uint8_t *np = realloc(o->p, o->len ? o->len : 1);
    if (np)
      o->p = np;
  }
  *dst = o->p;
  *dst_len = o->len;
  o->p = NULL;
}

int nd_codecs_decompress(int codec, const void *src, size_t src_len, void **dst,
                         size_t *dst_len) {
  nd_set_error(0, NULL);
  if (!dst || !dst_len || (!src && src_len))
    return nd_set_error(ND_EINVAL, "codecs: NULL argument");
  *dst = NULL;
  *dst_len = 0;
  if (codec < 0 || codec > ND_CODEC_ZSTD)
    return nd_set_error(ND_ECODEC, "unknown compression codec %d", codec);
  /* The decoders do pointer arithmetic on src even when it is empty. */
  static const uint8_t empty[1];
  const uint8_t *in = src_len ? src : empty;
  obuf o;
  size_t guess = codec == ND_CODEC_ZSTD   ? zstd_guess(in, src_len)
                 : codec == ND_CODEC_NONE ? src_len
                                          : guess_from_input(src_len);
  /* snappy sizes its buffer itself from the block header. */
  int rc = obuf_init(&o, codec == ND_CODEC_SNAPPY ? 64 : guess);
  if (rc)
    return rc;
  switch (codec) {
  case ND_CODEC_NONE:
    /* A copy, so callers need not special-case uncompressed data. */
    if (src_len > ND_CODECS_MAX_OUTPUT)
      rc = nd_set_error(ND_ETOOLARGE,
                        "codecs: %zu bytes exceed the limit of %zu", src_len,
                        ND_CODECS_MAX_OUTPUT);
    else if (src_len) {
      memcpy(o.p, in, src_len);
      o.len = src_len;
    }
    break;
  case ND_CODEC_GZIP:
    rc = gzip_decompress(in, src_len, &o);
    break;
  case ND_CODEC_SNAPPY:
    rc = snappy_decompress(in, src_len, &o);
    break;
  case ND_CODEC_LZ4:
    rc = lz4_decompress(in, src_len, &o);
    break;
  case ND_CODEC_ZSTD:
    rc = zstd_decompress(in, src_len, &o);
    break;
  }
  if (rc) {
    free(o.p);
    return rc;
  }
  obuf_give(&o, dst, dst_len);
  return 0;
}

/* librdkafka's default levels; lz4 at 0 is its fast compressor. */
static int default_level(int codec) {
  return codec == ND_CODEC_GZIP   ? Z_DEFAULT_COMPRESSION
         : codec == ND_CODEC_ZSTD ? ZSTD_CLEVEL_DEFAULT
                                  : 0;
}

int nd_codecs_compress(int codec, const void *src, size_t len, void **dst,
                       size_t *dst_len) {
  return nd_codecs_compress_level(codec, default_level(codec), src, len, dst,
                                  dst_len);
}

int nd_codecs_compress_level(int codec, int level, const void *src, size_t len,
                             void **dst, size_t *dst_len) {
  nd_set_error(0, NULL);
  if (!dst || !dst_len || (!src && len))
    return nd_set_error(ND_EINVAL, "codecs: NULL argument");
  *dst = NULL;
  *dst_len = 0;
  if (codec < 0 || codec > ND_CODEC_ZSTD)
    return nd_set_error(ND_ECODEC, "unknown compression codec %d", codec);
  /* A valid pointer for the libraries even when len is 0. */
  static const uint8_t empty[1];
  const uint8_t *in = len ? src : empty;
  obuf o = {NULL, 0, 0};
  int rc = 0;
  switch (codec) {
  case ND_CODEC_NONE:
    o.p = malloc(len ? len : 1);
    if (!o.p)
      return nd_set_error(ND_ENOMEM, "codecs: cannot allocate %zu bytes", len);
    memcpy(o.p, in, len);
    o.len = o.cap = len;
    break;
  case ND_CODEC_GZIP:
    if (level != Z_DEFAULT_COMPRESSION && (level < 1 || level > 9))
      return nd_set_error(ND_EINVAL, "gzip: level %d (want -1 or 1-9)", level);
    rc = gzip_compress(in, len, level, &o);
    break;
  case ND_CODEC_SNAPPY:
    rc = snappy_compress_raw(in, len, &o);
    break;
  case ND_CODEC_LZ4:
    rc = lz4_compress(in, len, level, &o);
    break;
  case ND_CODEC_ZSTD:
    if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
      return nd_set_error(ND_EINVAL, "zstd: level %d (want %d-%d)", level,
                          ZSTD_minCLevel(), ZSTD_maxCLevel());
    rc = zstd_compress(in, len, level, &o);
    break;
  }
  if (rc) {
    free(o.p);
    return rc;
  }
  obuf_give(&o, dst, dst_len);
  return 0;
}

/* The batch whose header is hdr's with the record area z[0..zlen) encoded
 * with codec: batchLength, attributes and CRC-32C rewritten. Takes z
 * (freed here). */
static int wrap_records(const uint8_t *hdr, void *z, size_t zlen, int codec,
                        void **out, size_t *out_len) {
  if (zlen > (size_t)INT32_MAX - (BATCH_HEADER_SIZE - 12)) {
    free(z);
    return nd_set_error(ND_ETOOLARGE,
                        "compressed batch of %zu bytes is too large", zlen);
  }
  size_t total = BATCH_HEADER_SIZE + zlen;
  uint8_t *nb = malloc(total);
  if (!nb) {
    free(z);
    return nd_set_error(ND_ENOMEM, "codecs: cannot allocate %zu bytes", total);
  }
  memcpy(nb, hdr, BATCH_HEADER_SIZE);
  memcpy(nb + BATCH_HEADER_SIZE, z, zlen);
  free(z);
  put_be32(nb + OFF_BATCH_LENGTH, (uint32_t)(total - 12));
  /* attributes is a big-endian int16; the codec lives in its low byte. */
  nb[OFF_ATTRIBUTES + 1] =
      (uint8_t)((nb[OFF_ATTRIBUTES + 1] & ~CODEC_MASK) | codec);
  put_be32(nb + OFF_CRC,
           nd_crc32c(0, nb + OFF_ATTRIBUTES, total - OFF_ATTRIBUTES));
  *out = nb;
  *out_len = total;
  return 0;
}

int nd_codecs_compress_batch(const void *batch, size_t len, int codec,
                             void **out, size_t *out_len) {
  nd_set_error(0, NULL);
  if (!batch || !out || !out_len)
    return nd_set_error(ND_EINVAL, "codecs: NULL argument");
  *out = NULL;
  *out_len = 0;
  const uint8_t *b = batch;
  if (len < BATCH_HEADER_SIZE)
    return nd_set_error(ND_EBATCH,
                        "batch of %zu bytes is shorter than the %d-byte "
                        "header",
                        len, BATCH_HEADER_SIZE);
  if (b[OFF_MAGIC] != 2)
    return nd_set_error(ND_EBATCH, "batch magic is %u, want 2", b[OFF_MAGIC]);
  uint32_t blen = be32(b + OFF_BATCH_LENGTH);
  if ((uint64_t)blen + 12 != len)
    return nd_set_error(
        ND_EBATCH, "batchLength %u does not match %zu bytes given", blen, len);
  int have = b[OFF_ATTRIBUTES + 1] & CODEC_MASK;
  if (have != ND_CODEC_NONE)
    return nd_set_error(ND_EBATCH, "batch is already compressed (%s)",
                        nd_codecs_name(have) ? nd_codecs_name(have)
                                             : "unknown");
  if (codec < 0 || codec > ND_CODEC_ZSTD)
    return nd_set_error(ND_ECODEC, "unknown compression codec %d", codec);

  return nd_codecs_recompress_batch(batch, len, codec, default_level(codec),
                                    out, out_len);
}

int nd_codecs_recompress_batch(const void *batch, size_t len, int codec,
                               int level, void **out, size_t *out_len) {
  nd_set_error(0, NULL);
  if (!batch || !out || !out_len)
    return nd_set_error(ND_EINVAL, "codecs: NULL argument");
  *out = NULL;
  *out_len = 0;
  const uint8_t *b = batch;
  if (len < BATCH_HEADER_SIZE || b[OFF_MAGIC] != 2 ||
      (uint64_t)be32(b + OFF_BATCH_LENGTH) + 12 != len)
    return nd_set_error(ND_EBATCH, "not one whole RecordBatch v2 (%zu bytes)",
                        len);
  if (codec < 0 || codec > ND_CODEC_ZSTD)
    return nd_set_error(ND_ECODEC, "unknown compression codec %d", codec);
  /* Decode the record area (a copy when uncompressed), then build the new
   * batch around it. The records' own bytes (offset and timestamp deltas,
   * keys, values, headers) are the same whatever the codec, so the header's
   * offsets and timestamps stay valid. */
  int have = b[OFF_ATTRIBUTES + 1] & CODEC_MASK;
  void *plain = NULL;
  size_t plain_len = 0;
  int rc = nd_codecs_decompress(have, b + BATCH_HEADER_SIZE,
                                len - BATCH_HEADER_SIZE, &plain, &plain_len);
  if (rc)
    return rc;
  void *z = NULL;
  size_t zlen = 0;
  rc = nd_codecs_compress_level(codec, level, plain, plain_len, &z, &zlen);
  free(plain);
  if (rc)
    return rc;
  return wrap_records(b, z, zlen, codec, out, out_len);
}
