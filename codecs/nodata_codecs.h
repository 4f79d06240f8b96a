/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nodata_codecs.h — the compression codecs Kafka clients use for the record
 * area of a RecordBatch v2: gzip, snappy, lz4 and zstd.
 *
 * This is a separate library (libnodata_codecs) so that libnodata itself
 * depends on libc and pthreads only. Programs that need to look inside
 * compressed batches (the broker, the CLI, tests) link it and hand
 * nd_codecs_decompress to nd_iter_init() as its nd_decompress_fn.
 *
 * Wire formats accepted and produced (see docs/codecs.md):
 *   gzip    RFC 1952 members; concatenated members are decoded in turn.
 *   snappy  librdkafka's raw snappy block, or the xerial framing used by the
 *           Java client and kafka-python: 82 'SNAPPY' 00, int32 version,
 *           int32 compatible version, then chunks of int32 big-endian length
 *           + raw block. Decompression detects which one it was given;
 *           compression writes a raw block, as librdkafka does.
 *   lz4     LZ4 frame format (magic 04 22 4d 18), independent blocks.
 *   zstd    zstd frames, with or without the content size in the header.
 *
 * Conventions (those of nodata.h): 0 on success or a negative ND_E* code,
 * with the context in nd_errmsg(). Every function is reentrant and keeps no
 * global state, so any number of threads may call them at once. None of
 * them prints, aborts or reads past src_len, whatever the input bytes.
 */
#ifndef NODATA_CODECS_H
#define NODATA_CODECS_H

#include <stddef.h>

#include "nodata.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest output a decompression may produce. Kafka's own limit on a batch
 * is far below this, so anything larger is taken as a decompression bomb
 * and refused before it can exhaust memory. */
#define ND_CODECS_MAX_OUTPUT ((size_t)256 * 1024 * 1024)

/* Decompress src[0..src_len), compressed with `codec` (enum nd_codec), into
 * a new buffer. Same signature as nd_decompress_fn, so it can be passed to
 * nd_iter_init() directly.
 * On success *dst is malloc'ed, owned by the caller and released with
 * free() (or nd_free()); it is never NULL, even for *dst_len == 0.
 * On failure *dst is NULL and *dst_len 0. ND_CODEC_NONE returns a copy of
 * src, so callers need not special-case uncompressed data.
 * Errors: ND_ECODEC (codec is not one of enum nd_codec),
 * ND_ECORRUPT (malformed, truncated or checksum-failing data, or trailing
 * bytes that are not another frame), ND_ETOOLARGE (the output would exceed
 * ND_CODECS_MAX_OUTPUT), ND_ENOMEM, ND_EINVAL (NULL pointers).
 * Thread-safe. */
int nd_codecs_decompress(int codec, const void *src, size_t src_len, void **dst,
                         size_t *dst_len);

/* Compress src[0..len) with `codec` at the codec's default level, in the
 * format librdkafka sends: a gzip member, a raw snappy block, one lz4 frame
 * (64 KiB independent blocks), one zstd frame.
 * len may be 0. Ownership and errors as for nd_codecs_decompress, except
 * that ND_ECORRUPT cannot happen and ND_ETOOLARGE means len is beyond what
 * the codec can take (4 GiB for snappy). Thread-safe. */
int nd_codecs_compress(int codec, const void *src, size_t len, void **dst,
                       size_t *dst_len);

/* nd_codecs_compress at a given level, in the codec's own numbering:
 * gzip -1 (zlib's default, 6) or 1-9; lz4 below 3 is the fast compressor,
 * 3-12 LZ4 HC (Kafka's 13-17 act as 12, LZ4's maximum); zstd its whole
 * range (ZSTD_minCLevel()..22, Kafka's -131072..22); ignored for snappy
 * and none. Kafka's compression.<codec>.level values pass through as
 * they are. Errors as nd_codecs_compress, plus ND_EINVAL for a gzip or
 * zstd level out of range. Thread-safe. */
int nd_codecs_compress_level(int codec, int level, const void *src, size_t len,
                             void **dst, size_t *dst_len);

/* Take one uncompressed RecordBatch v2 (the 61-byte header followed by the
 * records, exactly batchLength + 12 bytes) and return a copy whose record
 * area is compressed with `codec`: attribute bits 0-2 set to the codec,
 * batchLength set to the new size and the CRC-32C (bytes 21..end)
 * recomputed. All other header fields are copied unchanged. The input CRC
 * is not checked, so a caller building a batch need not compute it first.
 * The batch is compressed even when that does not make it smaller. codec
 * ND_CODEC_NONE returns a copy with the CRC recomputed.
 * On success *out is malloc'ed, owned by the caller (free()).
 * Errors: ND_EBATCH (shorter than 61 bytes, magic not 2, batchLength not
 * len - 12, or already compressed), ND_ECODEC, ND_ETOOLARGE (the result
 * would not fit batchLength), ND_ENOMEM, ND_EINVAL. Thread-safe. */
int nd_codecs_compress_batch(const void *batch, size_t len, int codec,
                             void **out, size_t *out_len);

/* Re-encode one whole RecordBatch v2 (compressed or not) with `codec` at
 * `level` (as nd_codecs_compress_level): the record area is decompressed
 * and compressed again; attributes bits 0-2, batchLength and the CRC-32C
 * are rewritten, every other header field (offsets, timestamps, producer
 * id, epoch and sequence) is copied unchanged. This is Kafka's
 * broker-side recompression for a topic's compression.type, and its
 * signature is nd_options.recompress's. The input CRC is not checked (the
 * store has checked it). On success *out is malloc'ed, owned by the caller
 * (free()).
 * Errors: ND_EBATCH (not one whole batch of magic 2), ND_ECODEC,
 * ND_ECORRUPT (the record area does not decompress), ND_ETOOLARGE,
 * ND_ENOMEM, ND_EINVAL. Thread-safe. */
int nd_codecs_recompress_batch(const void *batch, size_t len, int codec,
                               int level, void **out, size_t *out_len);

/* Lowercase name of a codec ("none", "gzip", "snappy", "lz4", "zstd"), or
 * NULL for an unknown value. Static string. */
const char *nd_codecs_name(int codec);

/* The codec named `name` (as nd_codecs_name spells it, case-insensitive),
 * or ND_ECODEC. For command-line flags such as --compression. */
int nd_codecs_parse(const char *name);

#ifdef __cplusplus
}
#endif
#endif /* NODATA_CODECS_H */
