/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_codecs.c — nd_codecs_decompress on arbitrary bytes, every codec.
 *
 * Input: one byte that picks the codec (value % 8 - 1: -1 and 5..6 are
 * not codecs and must fail with ND_ECODEC), then the compressed bytes.
 *
 * Checked: the documented contract (on failure *dst is NULL and *dst_len
 * 0; on success a buffer, never NULL, of *dst_len readable bytes at most
 * ND_CODECS_MAX_OUTPUT); the error is one of those documented; and what
 * decompresses, and the input itself, survive compress + decompress
 * unchanged with the same codec.
 */
#include <string.h>

#include "fuzz.h"
#include "nodata_codecs.h"

/* Round trips of larger outputs cost more than they find. */
#define ROUND_TRIP_MAX ((size_t)1 << 20)

static void round_trip(int codec, const void *src, size_t len) {
  void *z = NULL, *back = NULL;
  size_t zlen = 1, blen = 1;
  FUZZ_CHECK(nd_codecs_compress(codec, src, len, &z, &zlen) == 0);
  FUZZ_CHECK(z != NULL);
  fuzz_touch(z, zlen);
  FUZZ_CHECK(nd_codecs_decompress(codec, z, zlen, &back, &blen) == 0);
  FUZZ_CHECK(back != NULL && blen == len);
  FUZZ_CHECK(len == 0 || memcmp(back, src, len) == 0);
  free(z);
  free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  int codec = data[0] % 8 - 1;
  const uint8_t *src = data + 1;
  size_t len = size - 1;
  void *out = (void *)1;
  size_t out_len = 1;
  int rc = nd_codecs_decompress(codec, len ? src : NULL, len, &out, &out_len);
  if (codec < ND_CODEC_NONE || codec > ND_CODEC_ZSTD) {
    FUZZ_CHECK(rc == ND_ECODEC);
    FUZZ_CHECK(out == NULL && out_len == 0);
    return 0;
  }
  if (rc) {
    FUZZ_CHECK(rc == ND_ECORRUPT || rc == ND_ETOOLARGE || rc == ND_ENOMEM);
    FUZZ_CHECK(out == NULL && out_len == 0);
    FUZZ_CHECK(*nd_errmsg() != '\0');
  } else {
    FUZZ_CHECK(out != NULL);
    FUZZ_CHECK(out_len <= ND_CODECS_MAX_OUTPUT);
    fuzz_touch(out, out_len);
    if (codec == ND_CODEC_NONE)
      FUZZ_CHECK(out_len == len && (len == 0 || !memcmp(out, src, len)));
    else if (out_len <= ROUND_TRIP_MAX)
      round_trip(codec, out, out_len);
    free(out);
  }
  round_trip(codec, src, len);
  return 0;
}
