/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nodata.h — the public API of libnodata, an embeddable single-node event log.
 *
 * A store is a data directory holding topics; a topic is split into
 * partitions; a partition is an append-only log of records addressed by a
 * dense 64-bit offset. Records are kept as Kafka RecordBatch v2, so batches
 * written by Kafka clients are stored verbatim and served back unchanged.
 * The on-disk layout is described in docs/format.md.
 *
 * Conventions that hold for every function below unless its comment says
 * otherwise:
 *   - Return value: 0 on success or a negative error code: one of the ND_E*
 *     codes, or -errno for an operating-system error that has no better name.
 *     nd_strerror() names any of them. nd_errmsg() gives the calling thread's
 *     last failure with its context (file, offset, limit, errno text).
 *   - The library never prints, aborts or exits.
 *   - A NULL store is ND_EINVAL for every function that takes one, except
 *     nd_close(), for which it is a no-op.
 *   - Every function that writes answers ND_EREADONLY on a store opened
 *     with ND_OPEN_READONLY, and changes nothing.
 *   - Thread-safety: an nd_store may be used from any number of threads at
 *     once. Appends to one partition are serialised; reads run concurrently
 *     with appends and see only whole batches below the high watermark.
 *     Different partitions never contend on the hot path.
 *   - Memory handed to the caller is released with nd_free() unless stated.
 */
#ifndef NODATA_H
#define NODATA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with hidden visibility; everything declared here
 * is its exported interface. */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

#define ND_VERSION_STRING "0.1.0"
#define ND_FORMAT_VERSION 1

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/* X-macro: name, value, description. OS errors are returned as -errno and
 * never collide with these (all are <= -1000). */
#define ND_ERRORS(X)                                                           \
  X(ND_EINVAL, -1000, "invalid argument")                                      \
  X(ND_ENOTOPIC, -1001, "unknown topic")                                       \
  X(ND_ENOPARTITION, -1002, "unknown partition")                               \
  X(ND_ETOPICEXISTS, -1003, "topic already exists")                            \
  X(ND_ETOPICNAME, -1004, "invalid topic name")                                \
  X(ND_ELOCKED, -1005, "data directory in use by another process")             \
  X(ND_EFORMAT, -1006, "unknown or unsupported data format")                   \
  X(ND_ECORRUPT, -1007, "corrupt data")                                        \
  X(ND_ERANGE, -1008, "offset out of range")                                   \
  X(ND_ETOOLARGE, -1009, "record or batch too large")                          \
  X(ND_EREADONLY, -1010, "store opened read-only")                             \
  X(ND_ECONFIG, -1011, "invalid configuration")                                \
  X(ND_EFAILED, -1012, "partition failed after an I/O error")                  \
  X(ND_ECODEC, -1013, "unsupported compression codec")                         \
  X(ND_EBATCH, -1014, "invalid record batch")                                  \
  X(ND_ENOTFOUND, -1015, "not found")                                          \
  X(ND_ENOMEM, -1016, "out of memory")                                         \
  X(ND_EDUPSEQ, -1018, "duplicate producer sequence")                          \
  X(ND_ESEQUENCE, -1019, "out of order producer sequence")                     \
  X(ND_EPRODUCERFENCED, -1020, "producer epoch is stale")                      \
  X(ND_ETOPICLIMIT, -1021, "more partitions than a topic may have")            \
  X(ND_ESTORELIMIT, -1022, "more partitions than the store may hold")          \
  X(ND_ECONTROL, -1023, "control batch not allowed")                           \
  X(ND_ETIMESTAMP, -1024, "record timestamp out of range")                     \
  X(ND_EBUSY, -1025, "store still in use")                                     \
  X(ND_ENOKEY, -1026, "record without a key on a compacted topic")             \
  X(ND_ETXNSTATE, -1027, "invalid transaction state")                          \
  X(ND_ETXNTIMEOUT, -1028, "transaction timeout out of range")                 \
  X(ND_EPRODUCERID, -1029, "producer id not that of the transactional id")     \
  X(ND_ECONCURRENTTXN, -1030, "transaction being completed")

enum nd_error {
#define ND__ENUM(name, value, text) name = value,
  ND_ERRORS(ND__ENUM)
#undef ND__ENUM
      ND_OK = 0
};

/* Text for any code this library returns (ND_E* or -errno). Never NULL; the
 * string is static. Thread-safe. */
const char *nd_strerror(int err);

/* Symbolic name of an error code ("ND_ENOTOPIC", "ENOSPC"). Static string. */
const char *nd_errname(int err);

/* The calling thread's last error message, with context: the file, offset
 * or limit involved and the OS error text where there was one. Empty string
 * if no call on this thread has failed. Valid until the next nodata call on
 * the same thread. */
const char *nd_errmsg(void);

/* Set the calling thread's nd_errmsg() from a printf-style format and
 * return err, so that code extending the library (a decompressor given to
 * nd_iter_init or in nd_options, libnodata_codecs) reports failures as the
 * library does: `return nd_set_error(ND_ECORRUPT, "gzip: ...", ...);`.
 * fmt NULL clears the message. Messages longer than 1023 bytes are cut.
 * Thread-safe: each thread has its own message. */
int nd_set_error(int err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Release memory returned by this library. NULL is a no-op. */
void nd_free(void *p);

/* ------------------------------------------------------------------------ */
/* Topic configuration                                                      */
/* ------------------------------------------------------------------------ */

enum nd_fsync_policy {
  ND_FSYNC_NEVER = 0,    /* leave flushing to the OS */
  ND_FSYNC_INTERVAL = 1, /* background flush every fsync_interval_ms */
  ND_FSYNC_ALWAYS = 2,   /* every append returns after fdatasync */
};

/* compression.type: how the store keeps the batches it is given.
 * ND_COMPRESSION_PRODUCER keeps each batch as the producer compressed it;
 * any enum nd_codec value makes the store re-encode batches whose codec
 * differs (see nd_options.recompress). */
#define ND_COMPRESSION_PRODUCER (-1)

/* compression.gzip.level's default, as Kafka's (Deflater's
 * DEFAULT_COMPRESSION): zlib's own default level, 6. */
#define ND_COMPRESSION_GZIP_DEFAULT (-1)

enum nd_timestamp_type {
  ND_TS_CREATE_TIME = 0,     /* keep the producer's timestamps */
  ND_TS_LOG_APPEND_TIME = 1, /* stamp batches with the store's clock */
};

/* cleanup.policy: what happens to a partition's old segments. Delete
 * removes whole segments by retention.ms/retention.bytes; compact keeps
 * the latest record of each key (see nd_clean and docs/compaction.md);
 * both do both; neither (0, Kafka's empty list) keeps everything.
 * ND_CLEANUP_DELETE_FIRST changes no behaviour: it records that the text
 * listed delete before compact ("delete,compact"), so the setting reads
 * back in the order it was written, as Kafka keeps a list config's order.
 * Test the other two bits with &, never compare the whole value. */
enum nd_cleanup_policy {
  ND_CLEANUP_DELETE = 1,
  ND_CLEANUP_COMPACT = 2,
  ND_CLEANUP_DELETE_FIRST = 4,
};

/* Per-topic settings. Initialise with nd_topic_config_init() and change
 * fields directly or by Kafka-style name with nd_topic_config_set(). */
typedef struct nd_topic_config {
  int64_t segment_bytes;        /* segment.bytes, default 128 MiB */
  int64_t segment_ms;           /* segment.ms, default 7 days */
  int64_t segment_index_bytes;  /* segment.index.bytes, default 10 MiB */
  int64_t retention_ms;         /* retention.ms, default 7 days, -1 forever */
  int64_t retention_bytes;      /* retention.bytes, default -1; any
                                   negative: no limit */
  int32_t max_message_bytes;    /* max.message.bytes, default 1 MiB + 12 */
  int32_t index_interval_bytes; /* index.interval.bytes, default 4096 */
  int32_t fsync;                /* enum nd_fsync_policy, default INTERVAL */
  int64_t fsync_interval_ms;    /* for ND_FSYNC_INTERVAL, default 1000 */
  int32_t timestamp_type;       /* enum nd_timestamp_type */
  int32_t compression;          /* compression.type: ND_COMPRESSION_PRODUCER
                                   (default) or an enum nd_codec */
  int32_t gzip_level;           /* compression.gzip.level, 1-9, default -1 */
  int32_t lz4_level;            /* compression.lz4.level, 1-17, default 9 */
  int32_t zstd_level; /* compression.zstd.level, -131072..22, default 3 */
  /* delete.retention.ms, default 1 day: how long a compacted topic keeps
   * a tombstone (a record with a null value) once the cleaner has cleaned
   * past it. A delete-only topic ignores it, as Kafka's does. */
  int64_t delete_retention_ms;
  /* message.timestamp.before.max.ms / after.max.ms, defaults
   * 9223372036854775807 and 3600000 (1 hour), as Kafka 4's: on a CreateTime
   * topic an append fails with ND_ETIMESTAMP if a record's timestamp is
   * more than before_max_ms older or after_max_ms newer than the store's
   * clock (see nd_append_batch). Both >= 0. */
  int64_t timestamp_before_max_ms;
  int64_t timestamp_after_max_ms;
  /* cleanup.policy: a mask of enum nd_cleanup_policy, default DELETE;
   * text Kafka's list: "delete", "compact", "compact,delete",
   * "delete,compact" or "" (neither); items are trimmed and duplicates
   * dropped, as Kafka 4.4 does. A topic with COMPACT refuses records
   * without a key (ND_ENOKEY); records already stored stay. */
  int32_t cleanup_policy;
  /* min.cleanable.dirty.ratio, default 0.5, in [0, 1]: the cleaner
   * cleans a partition once its dirty bytes (written since the last
   * cleaning) are at least this share of its cleanable bytes. */
  double min_cleanable_dirty_ratio;
  /* min.compaction.lag.ms, default 0: a record stays uncompacted at
   * least this long after its timestamp. max.compaction.lag.ms, default
   * 9223372036854775807, >= 1: a record older than this is made
   * eligible whatever the dirty ratio (the active segment rolls for it
   * as for segment.ms). min <= max. */
  int64_t min_compaction_lag_ms;
  int64_t max_compaction_lag_ms;
  /* Which settings the topic sets itself (its overrides), one bit per
   * setting (nd_topic_config_bit). The others follow the store's topic
   * defaults (nd_options.topic_defaults, nd_store_set_topic_defaults),
   * live, as a Kafka topic follows its broker's defaults.
   * nd_topic_config_init clears it, nd_topic_config_set sets the bit of
   * what it sets (to any value, the default's included) and
   * nd_topic_config_unset clears one. Given to nd_topic_create or
   * nd_topic_set_config without ND_TOPIC_OVERRIDES_EXACT, every setting
   * whose value differs from the built-in defaults counts as set too, so
   * a field written directly after nd_topic_config_init is kept; with it,
   * exactly the bits count and the fields of the other settings are
   * ignored. nd_topic_describe returns it with ND_TOPIC_OVERRIDES_EXACT,
   * so a described config changed and given back keeps following. */
  uint64_t overrides;
} nd_topic_config;

/* nd_topic_config.overrides: the bits are the whole truth (see above). */
#define ND_TOPIC_OVERRIDES_EXACT (UINT64_C(1) << 63)

/* Fill cfg with the defaults listed above; no overrides. */
void nd_topic_config_init(nd_topic_config *cfg);

/* The bit of setting `name` in nd_topic_config.overrides, or 0 for a name
 * nd_topic_config_set does not know. flush.messages and flush.ms, Kafka's
 * views of the fsync policy, have bits of their own (so a topic says which
 * it was given); the policy follows the defaults only while none of the
 * three is set, and unsetting one view returns only that view to the
 * default's. Thread-safe. */
uint64_t nd_topic_config_bit(const char *name);

/* Make setting `name` follow the defaults again: its value is copied from
 * `defaults` (NULL: the built-in ones) and its bit cleared (Kafka's
 * DELETE of a topic config). Errors: ND_ECONFIG for an unknown name. */
int nd_topic_config_unset(nd_topic_config *cfg, const char *name,
                          const nd_topic_config *defaults);

/* Set one setting by its Kafka name ("retention.ms", "fsync", ...) from its
 * text form. "fsync" takes "always", "never", "interval" or "interval=<ms>";
 * "message.timestamp.type" takes "CreateTime" or "LogAppendTime";
 * "compression.type" takes Kafka's "producer", "uncompressed", "gzip",
 * "snappy", "lz4" or "zstd".
 * Kafka's own fsync settings are another view of the fsync policy (they
 * have no field of their own; see docs/format.md for the whole mapping):
 * "flush.messages" 1 is fsync=always and 9223372036854775807 (Kafka's
 * default, "never by count") leaves always for the time-based policy;
 * other counts are refused (nodata syncs every append or by time).
 * "flush.ms" N sets the interval (0 is taken as 1 ms) and, unless the
 * policy is always, makes it interval; 9223372036854775807 means never.
 * Under always, flush.ms only records what applies once flush.messages is
 * raised again, so the outcome does not depend on the order of the two.
 * Errors: ND_ECONFIG for an unknown name or a value out of range (the
 * message names the key, the value and the accepted range). */
int nd_topic_config_set(nd_topic_config *cfg, const char *name,
                        const char *value);

/* Text form of one setting into buf (NUL-terminated). Errors: ND_ECONFIG
 * for an unknown name; ND_EINVAL if buf is too small. */
int nd_topic_config_get(const nd_topic_config *cfg, const char *name, char *buf,
                        size_t buf_size);

/* The names accepted by nd_topic_config_set, NULL-terminated, static. */
const char *const *nd_topic_config_names(void);

/* ------------------------------------------------------------------------ */
/* Store                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct nd_store nd_store;

enum nd_open_flags {
  ND_OPEN_READONLY = 1 << 0, /* no writes; works beside a running writer */
  ND_OPEN_NOCREATE = 1 << 1, /* fail with -ENOENT if the store is missing */
};

/* Told that new records are visible in a partition; the broker uses it to
 * wake the fetches waiting there (Kafka's long poll).
 * When: once per successful nd_append or nd_append_batch (however many
 * records or batches it held), after the partition's new high watermark is
 * published, so a read from inside the hook already sees the records; for
 * an append that waits for fdatasync (ND_APPEND_SYNC, fsync=always) before
 * that wait, since readers see records before they are durable. Never for
 * a failed append (nothing of it is visible).
 * Parameters: ctx is nd_options.on_append_ctx; topic is the topic's name
 * (borrowed for the call); partition is where the records went (the one
 * chosen for partition -1); high_watermark is the next offset to be
 * written after this append.
 * Thread: called on the appending thread, so concurrently from several
 * threads when they append, and for one partition possibly out of order
 * (an older high watermark after a newer one).
 * Locks: no store lock is held (the partition's append lock is released),
 * so the hook may call the store's read functions (nd_offsets, nd_read...)
 * without deadlock. It must be quick (the append returns only after it),
 * must not append (it would recurse) and must not close the store or
 * delete the topic. */
typedef void (*nd_append_hook)(void *ctx, const char *topic, int32_t partition,
                               int64_t high_watermark);

#define ND_DEFAULT_MAX_TOPIC_PARTITIONS 100000
#define ND_DEFAULT_MAX_STORE_PARTITIONS 200000

/* How much a message from the store matters (nd_options.on_log). */
enum nd_log_level {
  ND_LOG_ERROR = 0, /* data is unavailable until someone acts */
  ND_LOG_WARN = 1,  /* damage worked around; the line says what it cost */
  ND_LOG_INFO = 2,  /* recovery and maintenance worth a line */
};

/* Receives what the store decides on its own that an operator must hear
 * about, one line (no newline) each, naming the file, the byte position
 * and the reason: a torn tail cut by recovery (WARN), a partition taken
 * offline for damage in synced data or a topic for a bad topic.conf
 * (ERROR), a missing FORMAT file accepted (WARN), an index entry found
 * wrong and worked around (WARN), damaged committed-offsets frames
 * skipped, with the commits they held (WARN; a torn last frame: INFO).
 * msg is valid only during the call. Called from whichever thread met the
 * event (nd_open, a caller's, or the background thread), possibly from
 * several at once and with store locks held: it must be thread-safe,
 * return promptly and not call back into the store. */
typedef void (*nd_log_fn)(void *ctx, int level, const char *msg);

typedef struct nd_options {
  unsigned flags;     /* enum nd_open_flags */
  int max_open_files; /* descriptor cache size, 0 = default */
  /* Bound on the index mappings the store keeps (each segment has two
   * index files, mapped while in use; idle ones are unmapped, least
   * recently used first). 0 = default: a quarter of the kernel's
   * vm.max_map_count (16382 under Linux's default 65530), at least 64. The
   * process's other mappings (malloc, thread stacks, libraries) share the
   * kernel's limit, so keep well below it. */
  int max_mapped_indexes;
  /* Partition limits, enforced when a topic is created or grown (an
   * existing store over a lowered limit still opens). Each partition
   * costs a directory, three files, about 10 KB of memory and, while in
   * use, a descriptor and two mappings. 0 = default:
   * ND_DEFAULT_MAX_TOPIC_PARTITIONS per topic (at most 1,000,000, the
   * most topic.conf accepts), ND_DEFAULT_MAX_STORE_PARTITIONS in the whole
   * store (all topics). */
  int32_t max_topic_partitions;
  int32_t max_store_partitions;
  nd_append_hook on_append; /* optional */
  void *on_append_ctx;
  nd_log_fn on_log; /* optional: NULL says nothing */
  void *on_log_ctx;
  /* The topic defaults: every setting a topic does not override follows
   * them (nd_topic_config.overrides); NULL = built-ins. Changed live by
   * nd_store_set_topic_defaults. Out of range: nd_open fails with
   * ND_ECONFIG. */
  const nd_topic_config *topic_defaults;
  /* Run the background flusher and retention thread (default on). Tests
   * set this to drive nd_maintain() by hand. */
  int no_background;
  /* Decompressor for the record lookups the store makes itself (offset by
   * timestamp inside a compressed batch). NULL: such lookups answer with
   * the batch's base offset. See nd_decompress_fn below. */
  int (*decompress)(int codec, const void *src, size_t src_len, void **dst,
                    size_t *dst_len);
  /* Re-encoder for topics whose compression.type names a codec (Kafka's
   * broker-side recompression): given one whole RecordBatch v2, return a
   * malloc'ed copy (released with free()) whose record area is encoded
   * with `codec` at `level` (the topic's compression.<codec>.level; 0 for
   * snappy and uncompressed, which have none), header fields other than
   * attributes, batchLength and CRC unchanged. nd_codecs_recompress_batch
   * fits. NULL: an append that would need it fails with ND_ECODEC. */
  int (*recompress)(const void *batch, size_t len, int codec, int level,
                    void **out, size_t *out_len);
  /* The log cleaner (nd_clean), Kafka's log.cleaner.* settings:
   * cleaner_threads: 0 = 1 thread, < 0 = none (nd_clean by hand; also
   * none with no_background or a read-only store);
   * cleaner_dedupe_buffer_bytes: memory for the key -> offset map of one
   * pass, 0 = 128 MiB (Kafka's default), allocated only as large as the
   * dirty part needs;
   * cleaner_io_max_bytes_per_second: read + write rate the cleaner keeps
   * under, 0 = unlimited;
   * cleaner_backoff_ms: how long the cleaner sleeps when no partition is
   * dirty enough, 0 = 15000 (Kafka's). */
  int cleaner_threads;
  int64_t cleaner_dedupe_buffer_bytes;
  int64_t cleaner_io_max_bytes_per_second;
  int64_t cleaner_backoff_ms;
  /* The transaction coordinator (nd_txn_*), Kafka's settings:
   * transaction_max_timeout_ms: the largest timeout nd_txn_init_producer
   * accepts (transaction.max.timeout.ms), 0 = 900000;
   * transactional_id_expiration_ms: a transactional id idle this long in
   * a completed state is forgotten (transactional.id.expiration.ms), 0 =
   * 604800000 (7 days);
   * transaction_abort_check_ms: how often the background thread aborts
   * timed-out transactions and forgets expired ids (Kafka's
   * transaction.abort.timed.out.transaction.cleanup.interval.ms), 0 =
   * 10000. */
  int64_t transaction_max_timeout_ms;
  int64_t transactional_id_expiration_ms;
  int64_t transaction_abort_check_ms;
  /* An fdatasync, directory fsync or syncfs of the store's files that
   * takes longer than this many milliseconds counts in
   * nd_store_stats.fsync_slow and is logged at ND_LOG_WARN naming the file
   * and the time (a failing disk shows here first). 0 = 1000; < 0 counts
   * and logs every sync (for tracing a disk's latency). */
  int slow_fsync_ms;
} nd_options;

/* Open (creating if needed) the store in directory dir. opts may be NULL.
 * A writable open takes an exclusive lock on DIR/nodata.lock and fails
 * with ND_ELOCKED naming the holder's pid if another process has it. After
 * an unclean shutdown every partition is recovered from its recovery point
 * (the torn, unsynced tail is truncated, indexes rebuilt). Damage the store
 * must not repair on its own does not fail the open: a partition with
 * invalid bytes in data that had been synced goes offline (nothing is cut
 * or deleted), a topic whose topic.conf does not parse goes offline
 * (nd_topic_info.offline, .offline_partitions; nd_options.on_log is
 * told). Damage in the committed offsets (DATA/groups/offsets.log) costs
 * only the damaged frames and is reported the same way.
 * A missing FORMAT file beside topic directories is written again when
 * every topic.conf there reads as this format. A read-only open
 * (ND_OPEN_READONLY) changes nothing, maps no file and may run beside a
 * writer: what the writer is still writing is not taken for damage.
 * On success *out owns the store; release it with nd_close().
 * Errors: ND_ELOCKED, ND_EFORMAT (unknown FORMAT file, or a missing one
 * beside topics that do not read as this format), -errno. */
int nd_open(const char *dir, const nd_options *opts, nd_store **out);

/* Sync every partition, stop background work, mark a clean shutdown and
 * free the store. Returns the first error met while syncing (the store is
 * freed regardless). NULL is a no-op. No other thread may be using it.
 * While any nd_reader of the store is open, nd_close refuses with
 * ND_EBUSY and changes nothing (as SQLite's close refuses while
 * statements are open): a reader's views point into the store's
 * mappings, so freeing them under it would be a use after free. */
int nd_close(nd_store *store);

/* The default data directory for quick use: $NODATA_DIR if set, else the
 * system temp dir ($TMPDIR or /tmp) + "/nodata". Written into buf. */
int nd_default_dir(char *buf, size_t buf_size);

/* fdatasync every partition with unsynced data, and the groups' log
 * (protocol types and states set since the last commit). Thread-safe. */
int nd_sync(nd_store *store);

/* Run one round of background work now: interval flushes that are due,
 * time-based segment rolls, retention. now_ms = 0 means the real clock.
 * The background thread calls this; tests call it directly. */
int nd_maintain(nd_store *store, int64_t now_ms);

/* Whether a process holds the store in DIR, for tools that want to say
 * who: *pid is 0 if none, the holder's pid (from DIR/nodata.lock, or from
 * the kernel's lock table if that file was removed), or -1 if it is held
 * by a process whose pid cannot be found. The lock is an flock on the
 * directory itself (and, for older versions, on nodata.lock), so deleting
 * nodata.lock does not free the store. Returns 0, or -errno if DIR cannot
 * be opened (a missing DIR is not held: 0). Thread-safe. */
int nd_lock_holder(const char *dir, pid_t *pid);

/* The longest topic name (Kafka's limit). */
#define ND_TOPIC_NAME_MAX 249

/* What recovery did to one partition when the store was opened: an entry
 * exists for every partition that needed more than a clean open's checks
 * (its tail was scanned, bytes were cut, an index was rebuilt, producer
 * state was read back from the log, or it went offline). */
typedef struct nd_recovery_partition {
  char topic[ND_TOPIC_NAME_MAX + 1];
  int32_t partition;
  /* Segments read batch by batch with CRC checks (after an unclean
   * shutdown: from the recovery point on). */
  int32_t segments_scanned;
  /* Segments whose offset and time indexes were rebuilt from the log
   * (scanned ones, and sealed ones whose index files were missing or
   * failed the plausibility check). */
  int32_t indexes_rebuilt;
  /* Bytes cut from the log: the torn tail of cut_file plus every later
   * segment, which was deleted whole (segments_deleted of them). */
  int64_t bytes_truncated;
  int32_t segments_deleted;
  /* Where the cut was made: the segment file's name in the partition
   * directory ("00000000000000000000.log"; "" if nothing was cut), the
   * byte position it now ends at, and the first offset no longer in the
   * log (the new high watermark). */
  char cut_file[32];
  int64_t cut_position;
  int64_t cut_offset;
  /* Why recovery cut there, or why the partition is offline ("" if
   * neither). */
  char reason[192];
  /* Batch headers read to bring the idempotent-producer state up to the
   * high watermark, and 1 if there was no usable producer-state snapshot,
   * so the state was rebuilt from the active segment alone. */
  int64_t producer_batches;
  int producer_state_rebuilt;
  /* 1 if the partition is offline: invalid bytes in data that had been
   * synced (nothing was cut; see nd_topic_info.offline_partitions). */
  int offline;
} nd_recovery_partition;

/* Totals over every partition the store opened (nd_open). */
typedef struct nd_recovery_stats {
  int clean_shutdown;           /* 1 if the last close was clean */
  int32_t partitions;           /* partitions opened */
  int32_t partitions_recovered; /* those recovery did work on */
  int32_t partitions_offline;
  int64_t segments_scanned;
  int64_t indexes_rebuilt;
  int64_t bytes_truncated;
  int32_t segments_deleted;
  int64_t producer_batches;
} nd_recovery_stats;

/* What the open of this store did to recover it, so an operator can be
 * told what a crash cost: totals in *stats, and if parts is not NULL one
 * entry per partition that needed work in *parts (a malloc'ed array owned
 * by the caller, nd_free; *count may be 0 with *parts NULL), in the order
 * the partitions were opened. The report is fixed when nd_open returns
 * (partitions added later are not in it); a clean open reports zeros and
 * no entries. The totals are complete; an entry that could not be
 * allocated during the open is left out of *parts (then *count <
 * partitions_recovered) rather than failing the open. stats, or parts with
 * count, may be NULL to skip them. Errors: ND_EINVAL (NULL store), ND_ENOMEM.
 * Thread-safe. */
int nd_recovery_report(nd_store *store, nd_recovery_stats *stats,
                       nd_recovery_partition **parts, size_t *count);

/* ------------------------------------------------------------------------ */
/* Statistics                                                               */
/* ------------------------------------------------------------------------ */

/* Histogram slots: ND_LATENCY_BUCKETS - 1 upper bounds (inclusive) and a
 * last slot for everything above them (+Inf). */
#define ND_LATENCY_BUCKETS 16
/* Upper bounds of the latency slots in microseconds: 50, 100, 250, 500,
 * 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000,
 * 2500000. */
extern const int64_t nd_latency_bounds_us[ND_LATENCY_BUCKETS - 1];
/* Upper bounds of the group-commit batch-size slots: 1, 2, 4, ..., 16384. */
extern const int64_t nd_batch_size_bounds[ND_LATENCY_BUCKETS - 1];

/* Observations of one quantity. buckets[i] counts those <= bound i and
 * above bound i - 1 (per slot, NOT cumulative: an exporter to Prometheus
 * sums them into `le` buckets); buckets[ND_LATENCY_BUCKETS - 1] those
 * above the last bound. The fields are read one by one without a lock, so
 * while observations go on, count, sum and the buckets' total may differ
 * by the few observations under way; each is exact once they stop. */
typedef struct nd_histogram {
  uint64_t count; /* observations */
  uint64_t sum;   /* their sum (microseconds, or appends) */
  uint64_t buckets[ND_LATENCY_BUCKETS];
} nd_histogram;

/* What the store did since nd_open (counters: monotonic, never reset, of
 * this open only) and what it holds now (gauges). */
typedef struct nd_store_stats {
  /* Every fdatasync of log segments, .txnindex files, offsets.log and
   * txn.log, every fsync of a partition's or the topics' directory, and
   * the syncfs of nd_close, with its latency in microseconds. Not in it:
   * the small files replaced atomically (topic.conf, the recovery point,
   * the cleaner checkpoint, FORMAT, clean-shutdown) and nd_verify's. */
  nd_histogram fsync_latency_us;
  uint64_t fsync_errors; /* of those, the ones that failed */
  uint64_t fsync_slow;   /* those over nd_options.slow_fsync_ms (each also
                            logged at ND_LOG_WARN with the file) */
  /* Group commit: for each sync of a partition's log that followed appends,
   * how many nd_append / nd_append_batch calls (on that partition) since
   * the previous sync it made durable; slots nd_batch_size_bounds. */
  nd_histogram group_commit_appends;
  /* nd_append / nd_append_batch calls that succeeded (a duplicate of an
   * idempotent producer's batch, answered without writing, counts), the
   * records they stored (offsets assigned) and the bytes of batches
   * written to the log (after any recompression), all partitions; and the
   * calls that failed for any reason. */
  uint64_t appends, appended_records, appended_bytes;
  uint64_t append_errors;
  /* New active segments made by size, segment.ms or an index filling up. */
  uint64_t segments_rolled;
  /* Whole segments deleted by retention.ms, retention.bytes, DeleteRecords
   * (nd_delete_records) or for lying below the log start, and their
   * .log bytes; each is logged at ND_LOG_INFO with the topic-partition,
   * base offset, bytes and reason. */
  uint64_t retention_segments_deleted, retention_bytes_deleted;
  uint64_t delete_records_calls; /* nd_delete_records on a partition */
  /* The cleaner (nd_clean and its threads): offset-map passes
   * (nd_clean_stats.passes), bytes of segments read and written, records
   * removed (read minus kept), and cleanings that failed (one stopped by
   * nd_close is not a failure). */
  uint64_t cleaner_passes, cleaner_bytes_read, cleaner_bytes_written,
      cleaner_records_removed, cleaner_errors;
  /* nd_open's recovery (nd_recovery_report's totals): partitions it did
   * work on, torn-tail bytes cut, indexes rebuilt; and how long the open
   * took to load and recover the topics, the committed offsets and the
   * transactions, in milliseconds (also for a clean open). */
  uint64_t recovery_partitions;
  uint64_t recovery_bytes_truncated;
  uint64_t recovery_indexes_rebuilt;
  int64_t recovery_ms;
  /* Gauges. topics and partitions include those offline;
   * partitions_offline counts partitions opened offline for damage, those
   * of an offline topic (as many as its topic.conf names) and those failed
   * after an I/O error. */
  int32_t topics, partitions, partitions_offline;
  int64_t log_bytes;         /* .log bytes of every segment open */
  int64_t open_files;        /* segment descriptors the store's cache holds
                                (nd_options.max_open_files bounds them) */
  int64_t mapped_indexes;    /* index mappings held (max_mapped_indexes) */
  int64_t transactions_open; /* transactions Ongoing or Prepare* */
} nd_store_stats;

/* Fill *out with the store's statistics. Cheap enough to call at every
 * scrape: atomic counters (the append path's sharded by thread), no I/O,
 * a walk of the topic map reading two words per partition for the
 * gauges, and of the transaction table under its lock. Thread-safe;
 * also on a read-only store. Errors: ND_EINVAL (NULL store or out). */
int nd_store_stats_get(nd_store *store, nd_store_stats *out);

/* ------------------------------------------------------------------------ */
/* Topics                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct nd_topic_info {
  char name[ND_TOPIC_NAME_MAX + 1];
  uint8_t id[16]; /* random UUID fixed at creation */
  int32_t partitions;
  nd_topic_config config;
  /* 1 if the topic could not be opened when the store was (its
   * topic.conf does not parse, or it ran out of descriptors, mappings or
   * disk): it is listed and can be deleted, every other use fails with
   * ND_EFAILED and the reason. */
  int offline;
  /* Partitions of an online topic that are offline: recovery found damage
   * in data that had been synced (docs/format.md, "Open, recovery,
   * close"). Each such partition answers every call with ND_EFAILED and a
   * message naming the file and byte; the others serve normally. */
  int32_t offline_partitions;
} nd_topic_info;

/* Check a topic name against Kafka's rule: 1-249 characters of
 * [a-zA-Z0-9._-], not "." or "..". Errors: ND_ETOPICNAME (message says why). */
int nd_topic_name_valid(const char *name);

/* Create a topic with `partitions` (>= 1) partitions. cfg may be NULL for
 * the store's defaults (no overrides); otherwise its overrides are taken
 * as nd_topic_config.overrides says. The topic directory and topic.conf are
 * complete before the topic becomes visible, and a create that fails leaves
 * nothing behind (now or after a restart).
 * Errors: ND_ETOPICNAME, ND_ETOPICEXISTS, ND_EINVAL (partitions < 1),
 * ND_ETOPICLIMIT / ND_ESTORELIMIT (over nd_options.max_topic_partitions /
 * max_store_partitions; the message names the limit), ND_ECONFIG,
 * ND_EREADONLY, -errno. */
int nd_topic_create(nd_store *store, const char *name, int32_t partitions,
                    const nd_topic_config *cfg);

/* Delete a topic and its data. Atomic with respect to crashes: the topic
 * directory is renamed away before anything is removed.
 * Appends and reads in flight on other threads finish or fail with
 * ND_ENOTOPIC. Errors: ND_ENOTOPIC, ND_EREADONLY, -errno. */
int nd_topic_delete(nd_store *store, const char *name);

/* Grow a topic to `partitions` partitions (never shrink). A grow that
 * fails leaves the topic as it was.
 * Errors: ND_ENOTOPIC, ND_EINVAL (not larger), ND_ETOPICLIMIT,
 * ND_ESTORELIMIT, ND_EFAILED (the topic is offline), ND_EREADONLY,
 * -errno. */
int nd_topic_add_partitions(nd_store *store, const char *name,
                            int32_t partitions);

/* Would creating topic `name` with `partitions` partitions, or growing it
 * to that many if it exists, stay within the store's partition limits?
 * Changes nothing (a Kafka CreateTopics with validateOnly asks this).
 * Returns 0, ND_EINVAL (partitions < 1), ND_ETOPICLIMIT or ND_ESTORELIMIT
 * with a message naming the limit. Thread-safe. */
int nd_partitions_allowed(nd_store *store, const char *name,
                          int32_t partitions);

/* Replace a topic's config, persisted atomically and applied to later
 * appends. Its overrides are taken as nd_topic_config.overrides says; the
 * other settings follow the store's defaults.
 * Errors: ND_ENOTOPIC, ND_ECONFIG, ND_EREADONLY, -errno. */
int nd_topic_set_config(nd_store *store, const char *name,
                        const nd_topic_config *cfg);

/* Replace the store's topic defaults (Kafka's dynamic broker defaults of
 * topic settings, log.retention.ms for retention.ms and so on): every
 * topic, now and later, takes them for each setting it does not override,
 * at once (its next append, retention and cleaning). Not persisted: the
 * store starts from nd_options.topic_defaults at each open, and its owner
 * keeps what it changed (nodata serve: broker.conf); topic.conf is not
 * rewritten. The overrides field of `defaults` is ignored. A topic whose
 * overrides conflict with the new defaults (its min.compaction.lag.ms
 * above their max.compaction.lag.ms) takes them all the same, as Kafka's
 * does, and nd_topic_set_config refuses its config until the conflict is
 * mended. Errors: ND_ECONFIG if a value is out of range (nothing
 * changes). Thread-safe; never waits for topic creation or I/O. */
int nd_store_set_topic_defaults(nd_store *store,
                                const nd_topic_config *defaults);

/* The store's current topic defaults into *out (overrides 0). Errors:
 * ND_EINVAL (NULL argument). Thread-safe. */
int nd_store_topic_defaults(nd_store *store, nd_topic_config *out);

/* Describe one topic into *info. Errors: ND_ENOTOPIC. */
int nd_topic_describe(nd_store *store, const char *name, nd_topic_info *info);

/* Find a topic by its 16-byte id. Errors: ND_ENOTOPIC. */
int nd_topic_by_id(nd_store *store, const uint8_t id[16], nd_topic_info *info);

/* All topics, sorted by name, in a malloc'ed array owned by the caller
 * (nd_free). *count may be 0, in which case *infos is NULL. */
int nd_topic_list(nd_store *store, nd_topic_info **infos, size_t *count);

/* ------------------------------------------------------------------------ */
/* Appending                                                                */
/* ------------------------------------------------------------------------ */

#define ND_TIMESTAMP_NOW INT64_MIN /* nd_record.timestamp: use the clock */

typedef struct nd_header {
  const char *key; /* not NULL */
  size_t key_len;
  const void *value; /* NULL = null value */
  size_t value_len;
} nd_header;

/* One record to append. All pointers are borrowed for the call. */
typedef struct nd_record {
  const void *key; /* NULL = null key */
  size_t key_len;
  const void *value; /* NULL = null value (a tombstone) */
  size_t value_len;
  const nd_header *headers;
  size_t header_count;
  int64_t timestamp; /* ms since the epoch, or ND_TIMESTAMP_NOW */
} nd_record;

enum nd_append_flags {
  ND_APPEND_SYNC = 1 << 0,   /* durable on return, whatever the policy */
  ND_APPEND_NOSYNC = 1 << 1, /* never wait for fdatasync (the caller will
                                call nd_sync_partition), even if the policy
                                is ND_FSYNC_ALWAYS */
  /* nd_append_batch only: the caller writes control batches (transaction
   * markers) on purpose. Without it a batch with the control attribute
   * (bit 5) is ND_ECONTROL: consumers treat such a batch as a marker, so
   * one written by a client or an embedder by mistake makes librdkafka stop
   * at its offset and kafka-python hand it out as a record. Nothing in
   * nodata passes it yet; the transactions work will, for its markers. */
  ND_APPEND_CONTROL = 1 << 2,
  /* nd_append_batch only: a transactional batch adds its partition to its
   * producer's transaction (Transactions V2, KIP-890) instead of requiring
   * that it was added (nd_txn_add_partitions). */
  ND_APPEND_TXN_ADD = 1 << 3,
};

typedef struct nd_append_info {
  int32_t partition;        /* where the records went */
  int64_t base_offset;      /* offset of the first record */
  int64_t last_offset;      /* offset of the last record */
  int64_t log_append_time;  /* -1 unless the topic uses LogAppendTime */
  int64_t log_start_offset; /* after the append */
} nd_append_info;

/* Append n >= 1 records to (topic, partition) as one RecordBatch v2.
 * partition -1 picks one: murmur2 of the first record's key modulo the
 * partition count (Kafka's default partitioner), or round robin without a
 * key. info may be NULL. Explicit timestamps are checked against the
 * topic's message.timestamp.{before,after}.max.ms as nd_append_batch's.
 * On a topic whose cleanup.policy has compact every record needs a key
 * (key != NULL; an empty key is a key), as Kafka requires.
 * Errors: ND_ENOTOPIC, ND_ENOPARTITION, ND_ETOOLARGE (the message names
 * the batch size and max.message.bytes), ND_ETIMESTAMP (see
 * nd_record_errors), ND_ENOKEY (a record without a key on a compacted
 * topic: nothing is written; the message names the topic, partition and
 * the first such record's index in the batch, nd_record_errors() lists
 * them all), ND_EFAILED, ND_EREADONLY, -ENOSPC/-EIO (nothing of the batch
 * is visible). */
int nd_append(nd_store *store, const char *topic, int32_t partition,
              const nd_record *records, size_t n, unsigned flags,
              nd_append_info *info);

/* Append one or more already-encoded RecordBatch v2 (as a Kafka client
 * sends them, compressed or not) back to back in buf[0..len). Each batch's
 * length, magic and CRC32C are checked; the base offsets are overwritten in
 * buf (so buf must be writable) and the bytes stored verbatim. A batch's
 * maxTimestamp is set to the largest record timestamp, as Kafka does (a
 * client may leave it at -1), and for LogAppendTime topics to the append
 * time; the CRC is rewritten when either changes. Inside a compressed
 * batch that needs nd_options.decompress; without it the client's
 * maxTimestamp is kept. For an
 * idempotent producer batch (producerId >= 0) the sequence is checked:
 * a retried batch returns ND_EDUPSEQ with info describing where the first
 * copy went; a gap returns ND_ESEQUENCE; an old epoch ND_EPRODUCERFENCED.
 * Every record's framing and offset delta is checked (a record cannot
 * claim an offset outside its batch); inside a compressed batch only when
 * the store was opened with nd_options.decompress, as the broker does.
 * A control batch (attribute bit 5: a transaction marker) is refused with
 * ND_ECONTROL unless flags has ND_APPEND_CONTROL, as Kafka refuses them
 * from clients. A transactional batch (bit 4, not a control batch) is
 * checked against the transaction coordinator (nd_txn_*) under the
 * transaction's lock, held until the batch is in the log (not across the
 * sync), so no batch can land after the transaction's marker: its producer
 * id must be the current one of a transactional id (else ND_EPRODUCERID),
 * with the current epoch (else ND_EPRODUCERFENCED), in an Ongoing
 * transaction to which this partition was added (else ND_ETXNSTATE);
 * with ND_APPEND_TXN_ADD the partition is added (and the transaction
 * begun) durably first, as Transactions V2 does. Every batch of one call
 * must then carry the same producer id and epoch (else ND_EBATCH).
 * On a CreateTime topic every record's timestamp (inside compressed
 * batches too, when nd_options.decompress is set) must lie within
 * [now - message.timestamp.before.max.ms, now + message.timestamp.after.
 * max.ms] by the store's clock, computed in wrapping 64-bit arithmetic as
 * Kafka's LogValidator does; -1 (no timestamp) is always accepted. If not,
 * nothing is stored, the call fails with ND_ETIMESTAMP, nd_errmsg() gives
 * Kafka's text for the first such record and nd_record_errors() lists them
 * all. LogAppendTime topics are not checked (the store stamps the time).
 * On a topic whose cleanup.policy has compact, every record must have a
 * key (key length >= 0), inside compressed batches too: else ND_ENOKEY,
 * nothing stored, nd_errmsg() names the topic, partition and the first
 * keyless record's index in its batch, nd_record_errors() lists them all
 * (a request with both keyless records and bad timestamps fails with
 * ND_ETIMESTAMP and lists both kinds, as Kafka answers). Looking into a
 * compressed batch needs nd_options.decompress: without it a compressed
 * batch for a compacted topic is refused with ND_ECODEC, since a keyless
 * record could not be seen (and the cleaner could not keep it).
 * Errors: ND_EBATCH / ND_ECORRUPT (message names the byte offset and what
 * is wrong; ND_ECORRUPT also for a record area that does not decompress),
 * ND_ECONTROL, ND_ETIMESTAMP, ND_ENOKEY, ND_ETOOLARGE, ND_ECODEC, and
 * those of nd_append. */
int nd_append_batch(nd_store *store, const char *topic, int32_t partition,
                    void *buf, size_t len, unsigned flags,
                    nd_append_info *info);

/* One record an append refused on its own (ND_ETIMESTAMP, ND_ENOKEY). */
typedef struct nd_record_error {
  int32_t batch_index; /* position of the record in its batch, from 0 */
  int64_t offset;      /* baseOffset + offsetDelta as the batch was given
                          (Kafka's "offset" in its message; 0-based for a
                          client's batch) */
  int64_t timestamp;   /* the record's timestamp */
  int32_t error;       /* why: ND_ETIMESTAMP (out of range) or ND_ENOKEY
                          (no key, on a compacted topic) */
} nd_record_error;

/* The records that made the calling thread's last nd_append or
 * nd_append_batch fail with ND_ETIMESTAMP or ND_ENOKEY, in order, each
 * with its own reason (a batch may have both kinds: the append fails with
 * ND_ETIMESTAMP then, as Kafka answers INVALID_TIMESTAMP; a record with
 * neither key nor a good timestamp is listed once, for its key), with the
 * range timestamps were checked against: [*min_timestamp,
 * *max_timestamp] (either pointer may be NULL; meaningless when the topic
 * is LogAppendTime). Returns their number and points *list at them (NULL
 * when 0); 0 after any other outcome. Should memory run out while listing
 * them the list is cut short; the append fails all the same. Ownership: the
 * array belongs to the calling thread, valid until its next nodata call. Never
 * fails. Thread-safety: per thread, like nd_errmsg(). */
size_t nd_record_errors(const nd_record_error **list, int64_t *min_timestamp,
                        int64_t *max_timestamp);

/* Make the partition durable up to and including `offset` (-1, or an
 * offset at or past the high watermark: everything appended so far).
 * Concurrent callers share one fdatasync (group commit).
 * Errors: ND_ENOTOPIC, ND_ENOPARTITION, ND_EFAILED, -EIO. */
int nd_sync_partition(nd_store *store, const char *topic, int32_t partition,
                      int64_t offset);

/* Write a transaction marker (a control batch: COMMIT when commit is
 * non-zero, else ABORT, in Kafka's EndTransactionMarker form, carrying
 * coordinator_epoch) for producer (producer_id, producer_epoch) to one
 * partition, ending the producer's transaction there. The marker is
 * fdatasync'd before return when flags has ND_APPEND_SYNC; otherwise the
 * caller syncs (nd_sync_partition), as a coordinator ending a transaction
 * on many partitions syncs each once. *offset (may be NULL) gets the
 * marker's offset. Idempotent: when the producer has no open transaction
 * in the partition nothing is written and *offset is -1 (a coordinator
 * finishing an ending after a crash writes markers again). The marker
 * carries producer_epoch, which may be above the producer's (Kafka's
 * Transactions V2 bump, or fencing): the producer's epoch becomes it. A
 * transaction coordinator's call (the broker's, or nd_txn_*); nothing
 * else should end a producer's transaction.
 * Errors: ND_EINVAL (negative producer id or epoch), ND_EPRODUCERFENCED
 * (producer_epoch below the producer's in this partition), and those of
 * nd_append_batch. Thread-safe. */
int nd_txn_write_marker(nd_store *store, const char *topic, int32_t partition,
                        int64_t producer_id, int16_t producer_epoch, int commit,
                        int32_t coordinator_epoch, unsigned flags,
                        int64_t *offset);

/* Kafka's default partitioner: murmur2(key) & 0x7fffffff % partitions. */
int32_t nd_partition_for_key(const void *key, size_t key_len,
                             int32_t partitions);

/* ------------------------------------------------------------------------ */
/* Reading                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct nd_partition_info {
  int64_t log_start_offset;
  int64_t high_watermark; /* next offset to be written */
  int64_t recovery_point; /* everything below is fdatasync'd */
  int64_t size_bytes;     /* sum of segment file sizes */
  int32_t segment_count;
  int64_t max_timestamp;      /* -1 when empty */
  int64_t last_stable_offset; /* LSO: first offset of the earliest open
                                 transaction, else the high watermark */
} nd_partition_info;

/* Offsets and sizes of one partition. Errors: ND_ENOTOPIC, ND_ENOPARTITION,
 * ND_EFAILED (the topic or the partition is offline; the message says
 * why, naming the file and byte). */
int nd_partition_describe(nd_store *store, const char *topic, int32_t partition,
                          nd_partition_info *info);

/* An idempotent producer the partition knows (Kafka DescribeProducers).
 * last_sequence is -1 when a transaction marker with a newer epoch was its
 * last write (its sequences start again). coordinator_epoch is the one its
 * last transaction marker carried (nd_txn_write_marker), -1 before any,
 * as Kafka's coordinatorEpoch; kept across close and open (where an
 * older nodata wrote the producer-state file, -1 until the producer's next
 * marker). */
typedef struct nd_producer_info {
  int64_t producer_id;
  int16_t producer_epoch;
  int32_t last_sequence;     /* of its newest stored batch */
  int64_t last_offset;       /* of its newest stored batch */
  int64_t last_timestamp;    /* maxTimestamp of its newest stored batch */
  int64_t txn_start_offset;  /* first offset of its open transaction, -1
                                (DescribeProducers' currentTxnStartOffset) */
  int32_t coordinator_epoch; /* of its last transaction marker, -1 */
} nd_producer_info;

/* The idempotent producers whose sequences the partition tracks, in a
 * malloc'ed array owned by the caller (nd_free); *count may be 0 with
 * *list NULL. Errors: ND_ENOTOPIC, ND_ENOPARTITION, ND_ENOMEM. */
int nd_partition_producers(nd_store *store, const char *topic,
                           int32_t partition, nd_producer_info **list,
                           size_t *count);

/* Log start offset and high watermark (the next offset to be written). */
int nd_offsets(nd_store *store, const char *topic, int32_t partition,
               int64_t *log_start, int64_t *high_watermark);

/* First offset whose record timestamp is >= ts_ms (Kafka's ListOffsets by
 * time): of a record that exists, on a compacted log whose batches may
 * still carry the timestamps of records cleaned away (docs/format.md).
 * *offset and *timestamp get -1 when no record is that late.
 * Errors: ND_ENOTOPIC, ND_ENOPARTITION, -EIO, ND_ECORRUPT. */
int nd_offset_for_time(nd_store *store, const char *topic, int32_t partition,
                       int64_t ts_ms, int64_t *offset, int64_t *timestamp);

/* Whole batches read from a partition. */
typedef struct nd_batches {
  uint8_t *data;          /* malloc'ed, caller frees with nd_free() */
  size_t len;             /* bytes of whole RecordBatch v2, back to back */
  int64_t high_watermark; /* at the time of the read */
  int64_t log_start_offset;
  int64_t next_offset;        /* offset after the last batch returned */
  int64_t last_stable_offset; /* at the time of the read */
} nd_batches;

/* Read whole batches starting with the one that holds `offset`, up to
 * max_bytes (at least one batch is returned even if it is larger, so a
 * reader always makes progress). On a compacted log an offset in a hole
 * reads from the first batch whose last offset is >= it (the batch
 * holding the next existing offset, as Kafka's Fetch answers), which may
 * hold no record at all (docs/format.md); nothing but holes up to the
 * high watermark reads as zero bytes, as offset == high watermark does. Errors:
 * ND_ERANGE when offset is below the log start or above the high watermark (the
 * message gives both bounds), ND_ENOTOPIC, ND_ENOPARTITION, -EIO, ND_ECORRUPT.
 */
int nd_read(nd_store *store, const char *topic, int32_t partition,
            int64_t offset, size_t max_bytes, nd_batches *out);

/* Transactions at the partition level. A transactional batch (attribute
 * bit 4) of producer P opens P's transaction in the partition if none is
 * open; a transaction marker (nd_txn_write_marker) closes it. The last
 * stable offset (LSO) is the first offset of the earliest open
 * transaction, else the high watermark: below it every transactional
 * record is decided (Kafka's read_committed isolation reads only there).
 * The state is derived from the log and rebuilt at open after a crash. */

/* nd_read ending at the last stable offset (Kafka's read_committed
 * Fetch): no batch at or past the LSO is returned, and offset >= LSO (up
 * to the high watermark) reads zero bytes. Records of aborted
 * transactions below the LSO are returned as stored: the reader drops
 * them with the list nd_aborted_txns gives, as a Kafka consumer does
 * (or use nd_reader with ND_READER_COMMITTED). out->last_stable_offset is
 * the LSO the read obeyed. Errors: those of nd_read. Thread-safe. */
int nd_read_committed(nd_store *store, const char *topic, int32_t partition,
                      int64_t offset, size_t max_bytes, nd_batches *out);

/* An aborted transaction in a partition (Kafka's FetchResponse
 * AbortedTransaction and .txnindex entry). */
typedef struct nd_aborted_txn {
  int64_t producer_id;
  int64_t first_offset; /* its first batch in this partition */
  int64_t last_offset;  /* its ABORT marker */
} nd_aborted_txn;

/* The aborted transactions of a partition with last_offset >= from and
 * first_offset < upto (what a read_committed Fetch from `from` whose
 * answer ends before `upto` must return: Kafka's
 * collectAbortedTransactions), sorted by first_offset, from the
 * per-segment aborted-transaction index (.txnindex, kept in memory: no
 * log scan). *list is malloc'ed, owned by the caller (nd_free); NULL when
 * *count is 0. Errors: ND_EINVAL (NULL list or count), ND_ENOTOPIC,
 * ND_ENOPARTITION, ND_EFAILED (offline), ND_ENOMEM. Thread-safe. */
int nd_aborted_txns(nd_store *store, const char *topic, int32_t partition,
                    int64_t from, int64_t upto, nd_aborted_txn **list,
                    size_t *count);

/* Move the log start offset forward to `offset` (Kafka DeleteRecords):
 * whole segments below it are deleted, reads below it fail with ND_ERANGE.
 * Persisted. offset -1 means the high watermark.
 * Errors: ND_ERANGE (above the high watermark), ND_EREADONLY, -errno. */
int nd_delete_records(nd_store *store, const char *topic, int32_t partition,
                      int64_t offset, int64_t *new_log_start);

/* ------------------------------------------------------------------------ */
/* Log compaction (cleanup.policy=compact; docs/compaction.md)              */
/* ------------------------------------------------------------------------ */

/* What one cleaning of one partition did (nd_clean). */
typedef struct nd_clean_stats {
  int cleaned;                /* 0 if there was nothing (cleanable) to do */
  int32_t passes;             /* offset-map passes (a large dirty part takes
                                 several when the dedupe buffer is full) */
  int32_t segments_in;        /* sealed segments rewritten */
  int32_t segments_out;       /* segments they became (small ones grouped) */
  int64_t bytes_in;           /* bytes of the segments rewritten */
  int64_t bytes_out;          /* bytes of the segments that replaced them */
  int64_t records_in;         /* records read in the rewritten segments */
  int64_t records_kept;       /* records written back */
  int64_t keys;               /* distinct keys in the dirty part */
  int64_t tombstones_removed; /* tombstones past delete.retention.ms */
  int64_t first_dirty_before; /* the cleaner checkpoint before... */
  int64_t first_dirty_after;  /* ...and after (everything below is clean) */
  int64_t duration_us;
} nd_clean_stats;

enum nd_clean_flags {
  /* Clean even if the dirty ratio is below min.cleanable.dirty.ratio
   * (still never the active segment, nor records younger than
   * min.compaction.lag.ms). */
  ND_CLEAN_FORCE = 1 << 0,
};

/* Compact one partition of a topic whose cleanup.policy has COMPACT, now,
 * on the caller's thread: in the sealed segments (never the active one),
 * keep only the latest record of each key, drop tombstones whose
 * delete.retention.ms has passed since they were first cleaned, keep
 * transaction markers and the last batch of each idempotent producer
 * (empty if need be) so its sequence state survives. Offsets never
 * change: the log gets holes. Rewritten segments replace the old ones
 * crash-safely (docs/format.md, "Cleaning"): after a crash at any point
 * the partition holds either the old or the new segments. Readers are
 * never blocked and a reader positioned in an old segment keeps reading
 * it. The store's cleaner thread calls this for the dirtiest partition;
 * an embedder with nd_options.no_background or cleaner_threads < 0 calls
 * it by hand. now_ms = 0 means the real clock. stats may be NULL.
 * A compressed batch is cleaned through nd_options.decompress and
 * recompress, in its own codec; without them (or for a codec they do not
 * know) it is kept whole, and that is logged once.
 * Returns 0 (stats->cleaned 0 when the partition was not due, not
 * compacted, or had nothing cleanable), or ND_ENOTOPIC, ND_ENOPARTITION,
 * ND_EREADONLY, ND_EFAILED (the partition failed, or the store is
 * closing), ND_ECORRUPT (a batch that does not decode), ND_ENOMEM,
 * -errno, each with a message naming the file. On an error before the
 * swap's commit nothing on disk changed; after it the partition serves
 * the cleaned segments and the next open finishes the swap.
 * Thread-safe: one cleaning of a partition at a time (a second waits). */
int nd_clean(nd_store *store, const char *topic, int32_t partition,
             int64_t now_ms, unsigned flags, nd_clean_stats *stats);

/* The cleaner's view of one partition (nodata topics describe). */
typedef struct nd_clean_status {
  int compacted;              /* cleanup.policy has COMPACT */
  int64_t first_dirty_offset; /* the cleaner checkpoint: below it clean */
  int64_t clean_bytes;        /* sealed bytes below first_dirty_offset */
  int64_t dirty_bytes;        /* sealed bytes from it on */
  double dirty_ratio;         /* dirty / (clean + dirty), 0 when empty */
  int64_t last_clean_ms;      /* when it was last cleaned (the now_ms the
                                 cleaning ran with), 0 never; kept in the
                                 cleaner checkpoint, so also for a store
                                 opened read-only beside the cleaner */
  nd_clean_stats last;        /* what the last cleaning of this process
                                 did (zeros if none) */
} nd_clean_status;

/* Describe the cleaner's state of one partition. Errors: ND_ENOTOPIC,
 * ND_ENOPARTITION, ND_EFAILED. Thread-safe. */
int nd_clean_describe(nd_store *store, const char *topic, int32_t partition,
                      nd_clean_status *status);

/* ------------------------------------------------------------------------ */
/* Committed consumer offsets                                               */
/* ------------------------------------------------------------------------ */

/* Where a consumer group has got to in one partition. */
typedef struct nd_offset_commit {
  const char *topic;
  int32_t partition;
  int64_t offset;       /* the next offset the group will read */
  int32_t leader_epoch; /* as the client sent it; -1 if none */
  const char *metadata; /* client's bytes, may be NULL */
  /* Bytes of metadata, which may hold NUL bytes (Kafka keeps them). 0 with
   * a non-NULL metadata means strlen(metadata), so a C string needs no
   * length. */
  size_t metadata_len;
} nd_offset_commit;

#define ND_GROUP_NAME_MAX 1024
#define ND_OFFSET_METADATA_MAX 4096

/* Durably record n commits of `group` (all or none): one append and one
 * fdatasync (shared by concurrent committers) before it returns. Commits
 * for topics or partitions that do not exist are refused. Kept in
 * DATA/groups/ as an append-only log, compacted in the background.
 * Errors: ND_EINVAL (empty group name, name or metadata over the limits),
 * ND_ENOTOPIC, ND_ENOPARTITION, ND_EREADONLY, -ENOSPC/-EIO (nothing of the
 * call is recorded). */
int nd_commit_offsets(nd_store *store, const char *group,
                      const nd_offset_commit *commits, size_t n);

/* One commit: nd_commit_offsets with n = 1. */
int nd_commit_offset(nd_store *store, const char *group, const char *topic,
                     int32_t partition, int64_t offset, const char *metadata);

/* The committed offset of (group, topic, partition): *offset = -1 (and
 * *metadata NULL) if the group never committed one. metadata may be NULL;
 * otherwise *metadata is a malloc'ed copy (nd_free) of the bytes committed,
 * with a NUL after them, or NULL if none were. *metadata_len (metadata_len
 * may be NULL) is their length, NUL bytes inside included. leader_epoch
 * may be NULL. Thread-safe. */
int nd_committed_offset(nd_store *store, const char *group, const char *topic,
                        int32_t partition, int64_t *offset,
                        int32_t *leader_epoch, char **metadata,
                        size_t *metadata_len);

/* One committed offset, as listed by nd_group_offsets. */
typedef struct nd_committed {
  char *topic;
  int32_t partition;
  int64_t offset;
  int32_t leader_epoch;
  char *metadata;      /* may be NULL; NUL-terminated, may hold NULs */
  size_t metadata_len; /* bytes of metadata, before the terminating NUL */
  /* When the store recorded this commit: milliseconds since the Unix
   * epoch, by the writer's wall clock at nd_commit_offsets (or when a
   * transaction's offsets were committed). Kept in the offsets log with
   * the commit, so a reopen and a checkpoint keep it; a broker expires
   * offsets by it (Kafka's offsets.retention.minutes). */
  int64_t commit_time_ms;
} nd_committed;

/* Every committed offset of a group, sorted by topic then partition, each
 * with its commit time. Release with nd_committed_free(list, count). An
 * unknown group gives count 0. Errors: ND_EINVAL (bad group name, NULL
 * list or count), ND_ENOMEM (*list NULL, *count 0). Thread-safe. */
int nd_group_offsets(nd_store *store, const char *group, nd_committed **list,
                     size_t *count);
void nd_committed_free(nd_committed *list, size_t count);

/* Names of the groups with committed offsets or state
 * (nd_group_set_state), sorted; release with
 * nd_names_free(names, count). */
int nd_group_list(nd_store *store, char ***names, size_t *count);
void nd_names_free(char **names, size_t count);

/* Remember the protocol type of a group's members (Kafka's "consumer",
 * "connect", …; 1 to ND_GROUP_NAME_MAX bytes), so that a group which is
 * empty after a restart still says what it is. Setting the type it already
 * has writes nothing, so a coordinator may call this at every rebalance.
 * Recorded in the offsets log without an fdatasync of its own: it is
 * durable with the group's next commit, nd_sync or nd_close. Forgotten by
 * nd_group_delete. Errors: ND_EINVAL (bad group or type), ND_EREADONLY,
 * -ENOSPC/-EIO. Thread-safe. */
int nd_group_set_protocol_type(nd_store *store, const char *group,
                               const char *type);

/* The protocol type last set for `group`: *type is a malloc'ed copy
 * (nd_free), or NULL if none was set. Errors: ND_EINVAL. Thread-safe. */
int nd_group_protocol_type(nd_store *store, const char *group, char **type);

/* The most bytes of state one group may keep (nd_group_set_state). */
#define ND_GROUP_STATE_MAX (64u << 20)

/* Keep `len` bytes of a group coordinator's state for `group` beside its
 * committed offsets, replacing what was kept before (len 0 forgets it;
 * state may then be NULL; forgetting a state that is not kept is no
 * error). Setting the state the group already has writes nothing, so a
 * coordinator may save at every change. The bytes are opaque to the
 * library: the broker keeps a KIP-848 consumer group's epochs, members and
 * assignments here so that a restart does not make every member rejoin.
 * Recorded as one frame of the offsets log, whole or not at all, without an
 * fdatasync of its own: durable with the group's next commit, nd_sync or
 * nd_close (a power cut may lose the last states set, never tear one). Kept
 * across the log's checkpoints; forgotten by nd_group_delete (which now also
 * deletes a group that has only state). A group with state is listed by
 * nd_group_list. Errors: ND_EINVAL (bad group, len over ND_GROUP_STATE_MAX,
 * NULL state with len > 0), ND_EREADONLY, -ENOSPC/-EIO (nothing recorded;
 * the previous state stays). Thread-safe. */
int nd_group_set_state(nd_store *store, const char *group, const void *state,
                       size_t len);

/* The state last kept for `group`: *state is a malloc'ed copy (nd_free)
 * of *len bytes. Errors: ND_ENOTFOUND if none is kept (*state NULL, *len
 * 0), ND_EINVAL. Thread-safe. */
int nd_group_state(nd_store *store, const char *group, void **state,
                   size_t *len);

/* A partition named by topic and number. */
typedef struct nd_topic_partition {
  const char *topic;
  int32_t partition;
} nd_topic_partition;

/* Forget the committed offsets of n partitions of `group` (Kafka's
 * OffsetDelete), durably: one record and one fdatasync before it returns,
 * all or none. Partitions the group has no offset for are skipped, so
 * deleting twice is not an error; nothing is written if none had one.
 * The topics need not exist any more.
 * Errors: ND_EINVAL (bad group name, NULL topic, topic name too long),
 * ND_EREADONLY, -ENOSPC/-EIO (nothing recorded). Thread-safe. */
int nd_delete_offsets(nd_store *store, const char *group,
                      const nd_topic_partition *parts, size_t n);

/* Forget a group's offsets (and protocol type and state), durably.
 * Errors: ND_ENOTFOUND if it has none of them, ND_EREADONLY, -errno.
 * Deleting a topic forgets its offsets in every group. */
int nd_group_delete(nd_store *store, const char *group);

/* ---- the transaction coordinator ----------------------------------------
 * Kafka's transaction protocol (KIP-98, KIP-360, KIP-447, KIP-890) on one
 * node: the coordinator's state lives in DATA/transactions/txn.log, each
 * transition fdatasync'd before the call returns. Completion is
 * synchronous: nd_txn_end returns once every marker (and, for a commit,
 * the transaction's group offsets) is durable. docs/transactions.md has
 * the design. Every call is thread-safe; calls for one transactional id
 * are serialised by its lock, which an append of its producer's
 * transactional batch also takes (see nd_append_batch). Times are ms since
 * the epoch; now_ms 0 = the store's clock. */

/* A new producer id from the store's durable counter: never repeats, also
 * across restarts (reserved in blocks of 1000, each block durable before
 * its first id is handed out; the first block starts above the value in
 * DATA/broker-producer-ids, the broker's earlier counter, if that file
 * exists). For idempotent producers; nd_txn_init_producer takes its ids
 * here too. Errors: ND_EINVAL (NULL argument), ND_EREADONLY, ND_EFAILED,
 * -errno. */
int nd_producer_id_new(nd_store *store, int64_t *producer_id);

/* A transaction's state (Kafka's TransactionState). */
enum nd_txn_state {
  ND_TXN_EMPTY = 0,
  ND_TXN_ONGOING = 1,
  ND_TXN_PREPARE_COMMIT = 2,
  ND_TXN_PREPARE_ABORT = 3,
  ND_TXN_COMPLETE_COMMIT = 4,
  ND_TXN_COMPLETE_ABORT = 5,
  ND_TXN_DEAD = 6,
  ND_TXN_PREPARE_EPOCH_FENCE = 7,
};

/* Kafka's name of a state ("Empty", "Ongoing", "PrepareCommit", ...);
 * "Unknown" for a value outside the enum. Static string. */
const char *nd_txn_state_name(int state);

enum nd_txn_flags {
  /* The client speaks Transactions V2 (KIP-890): nd_txn_end bumps the
   * epoch (the markers carry the new one), an abort of an Empty
   * transaction is allowed, nd_txn_commit_offsets adds its group. */
  ND_TXN_V2 = 1 << 0,
  /* nd_txn_add_partitions only checks that the partitions are in the
   * Ongoing transaction (KIP-890 part 1 verification), adding none. */
  ND_TXN_VERIFY_ONLY = 1 << 1,
};

/* InitProducerId with a transactional id (Kafka's
 * TransactionCoordinator.handleInitProducerId): a new id gets a new
 * producer id, epoch 0; a known one gets its epoch bumped (its Ongoing
 * transaction is aborted first, with the epoch bumped for the markers, so
 * the earlier holder is fenced everywhere); an exhausted epoch (32766)
 * gets a new producer id, epoch 0. expected_pid/expected_epoch (KIP-360;
 * -1 when the client sends none): the current identity is bumped, the
 * one before it (a retry whose answer was lost) gets the current one
 * back, anything else is ND_EPRODUCERFENCED. flags: ND_TXN_V2 records
 * the client's transaction version. *producer_id and *producer_epoch: the
 * producer's identity from now on. Errors: ND_EINVAL (empty id or NULL
 * out-pointers), ND_ETXNTIMEOUT (timeout_ms <= 0 or above
 * transaction_max_timeout_ms), ND_EPRODUCERFENCED, ND_ECONCURRENTTXN (a
 * transaction of this id could not be completed: an earlier I/O error),
 * ND_EREADONLY, ND_EFAILED, -errno. */
int nd_txn_init_producer(nd_store *store, const char *transactional_id,
                         int32_t timeout_ms, int64_t expected_pid,
                         int16_t expected_epoch, unsigned flags, int64_t now_ms,
                         int64_t *producer_id, int16_t *producer_epoch);

/* AddPartitionsToTxn: the n partitions join the transaction (begun if it
 * was not Ongoing), all or none, durably before return (atomicity rule:
 * a partition is listed before any of the transaction's data reaches
 * it). With ND_TXN_VERIFY_ONLY nothing is added: every partition must be
 * in the Ongoing transaction already. Errors: ND_EINVAL, ND_ENOTFOUND
 * (unknown transactional id), ND_EPRODUCERID (not its producer id),
 * ND_EPRODUCERFENCED (not its epoch), ND_ECONCURRENTTXN (the transaction
 * is being completed, as Kafka answers CONCURRENT_TRANSACTIONS),
 * ND_ETXNSTATE (ND_TXN_VERIFY_ONLY and a partition not in it),
 * ND_ENOTOPIC, ND_ENOPARTITION, ND_EREADONLY, ND_EFAILED, -errno. */
int nd_txn_add_partitions(nd_store *store, const char *transactional_id,
                          int64_t producer_id, int16_t producer_epoch,
                          const nd_topic_partition *parts, size_t n,
                          unsigned flags, int64_t now_ms);

/* AddOffsetsToTxn: group's offsets (nd_txn_commit_offsets) will be
 * committed with the transaction; begins it if it was not Ongoing.
 * Errors: as nd_txn_add_partitions (ND_EINVAL for a bad group name). */
int nd_txn_add_offsets(nd_store *store, const char *transactional_id,
                       int64_t producer_id, int16_t producer_epoch,
                       const char *group, int64_t now_ms);

/* TxnOffsetCommit: the n offsets are pending until the transaction
 * commits (invisible to nd_committed_offset; dropped on abort), durable
 * with the transaction's state before return; a later one for the same
 * partition replaces the earlier. The group must have been added with
 * nd_txn_add_offsets (else ND_ETXNSTATE), unless flags has ND_TXN_V2,
 * which adds it. Errors: those of nd_txn_add_offsets, ND_ETXNSTATE (not
 * Ongoing), and nd_commit_offsets' argument checks. */
int nd_txn_commit_offsets(nd_store *store, const char *transactional_id,
                          int64_t producer_id, int16_t producer_epoch,
                          const char *group, const nd_offset_commit *commits,
                          size_t n, unsigned flags, int64_t now_ms);

/* 1 if (group, topic, partition) has offsets pending in a transaction not
 * yet complete (OffsetFetch with require_stable answers
 * UNSTABLE_OFFSET_COMMIT), 0 if not. topic NULL asks about every
 * partition of the group (partition is then ignored): 1 if any has
 * offsets pending (a broker keeps such a group when its committed offsets
 * expire, as Kafka does). ND_EINVAL for a NULL store or group.
 * Thread-safe. */
int nd_txn_offsets_pending(nd_store *store, const char *group,
                           const char *topic, int32_t partition);

/* EndTxn: commit (commit != 0) or abort the transaction. In order, each
 * durable before the next: the state PrepareCommit/PrepareAbort (the
 * commit point), a marker on every partition of the transaction
 * (nd_txn_write_marker, synced), for a commit the pending group offsets
 * (nd_commit_offsets), then CompleteCommit/CompleteAbort. A crash after
 * the commit point is finished by the next nd_open; before it the
 * transaction is still Ongoing (and times out). With ND_TXN_V2 the epoch
 * is bumped (markers carry the new one; an exhausted epoch gives a new
 * producer id) and an Empty or completed transaction may be aborted;
 * *new_pid and *new_epoch (either may be NULL) get the producer's identity
 * from now on. A retried end of a completed transaction with the same
 * result succeeds (V2: the retry names the epoch before the bump), as
 * does one of a transaction left Prepare* by an I/O error (it is
 * completed now). Errors: ND_EINVAL, ND_ENOTFOUND, ND_EPRODUCERID,
 * ND_EPRODUCERFENCED, ND_ETXNSTATE (e.g. commit of an aborted or Empty
 * transaction), ND_EREADONLY, ND_EFAILED, -errno (the transaction then
 * stays Prepare*, finished by a retry, nd_txn_expire or the next open). */
int nd_txn_end(nd_store *store, const char *transactional_id,
               int64_t producer_id, int16_t producer_epoch, int commit,
               unsigned flags, int64_t now_ms, int64_t *new_pid,
               int16_t *new_epoch);

/* A transactional id's state, as DescribeTransactions tells it. */
typedef struct nd_txn_info {
  char *transactional_id;
  int state; /* enum nd_txn_state */
  int64_t producer_id;
  int16_t producer_epoch;
  int32_t timeout_ms;
  int64_t start_ms;               /* start of the open transaction, or of
                                     the last one after its end (as Kafka);
                                     -1 before the first, after an init */
  int64_t last_update_ms;         /* the last transition */
  nd_topic_partition *partitions; /* topic names malloc'ed inside */
  size_t partition_count;
  char **groups; /* groups added (AddOffsetsToTxn) */
  size_t group_count;
  int version; /* transaction version: 1 or 2 */
} nd_txn_info;

/* DescribeTransactions: *info gets a copy (free with
 * nd_txn_info_free(info, 1); the struct itself stays the caller's).
 * Errors: ND_EINVAL, ND_ENOTFOUND (unknown id), ND_ENOMEM. */
int nd_txn_describe(nd_store *store, const char *transactional_id,
                    nd_txn_info *info);
/* ListTransactions: every known transactional id, sorted by id (the
 * broker filters by state, producer id, duration). *list malloc'ed
 * (nd_txn_info_free(*list, *count)), NULL when *count is 0. */
int nd_txn_list(nd_store *store, nd_txn_info **list, size_t *count);
/* Frees what the count entries hold, and the array itself when it is one
 * nd_txn_list gave (the library remembers those): pass nd_txn_list's
 * array and count, or a struct filled by nd_txn_describe and 1 (the
 * struct stays the caller's, emptied). NULL is a no-op. Thread-safe. */
void nd_txn_info_free(nd_txn_info *list, size_t count);

/* Abort every Ongoing transaction older than its timeout (with an epoch
 * bump: its producer is fenced), finish transactions left Prepare* by an
 * I/O error, and forget ids idle in a completed state longer than
 * transactional_id_expiration_ms, now. The background thread does this
 * every transaction_abort_check_ms; for embedders with no_background and
 * for tests. *aborted (may be NULL): transactions aborted. Errors: the
 * first failure (the rest are still tried), ND_EREADONLY is not one (a
 * read-only store has nothing to do: 0). */
int nd_txn_expire(nd_store *store, int64_t now_ms, int *aborted);

/* ---- the embedder's transactions over the calls above ----
 * A handle is used by one thread at a time. */
typedef struct nd_txn nd_txn;

/* Become the producer of transactional_id (Transactions V2), fencing any
 * earlier holder and aborting its open transaction. The first
 * nd_txn_append or nd_txn_send_offsets begins a transaction. timeout_ms
 * 0 = 60000 (Kafka's producer default). *out: free with nd_txn_close.
 * Errors: those of nd_txn_init_producer, ND_ENOMEM. */
int nd_txn_open(nd_store *store, const char *transactional_id,
                int32_t timeout_ms, nd_txn **out);
/* Append n >= 1 records to (topic, partition) in the transaction as one
 * batch (sequence numbers kept by the handle; the partition joins the
 * transaction). info may be NULL. Errors: those of nd_append_batch;
 * ND_EPRODUCERFENCED once another nd_txn_open (or the timeout) fenced
 * this handle. */
int nd_txn_append(nd_txn *txn, const char *topic, int32_t partition,
                  const nd_record *records, size_t n, nd_append_info *info);
/* Commit group's offsets with the transaction (consume-transform-produce:
 * the offsets of what was consumed). Errors: those of
 * nd_txn_commit_offsets. */
int nd_txn_send_offsets(nd_txn *txn, const char *group,
                        const nd_offset_commit *commits, size_t n);
/* Commit (abort) the transaction: durable on return, visible to
 * read_committed readers. A transaction with nothing in it commits
 * trivially. The handle may begin the next one. Errors: those of
 * nd_txn_end. */
int nd_txn_commit(nd_txn *txn);
int nd_txn_abort(nd_txn *txn);
/* Abort an open transaction (errors ignored: the timeout aborts it
 * otherwise) and free. NULL is a no-op. */
void nd_txn_close(nd_txn *txn);

/* ------------------------------------------------------------------------ */
/* Decoding records                                                         */
/* ------------------------------------------------------------------------ */

enum nd_codec {
  ND_CODEC_NONE = 0,
  ND_CODEC_GZIP = 1,
  ND_CODEC_SNAPPY = 2,
  ND_CODEC_LZ4 = 3,
  ND_CODEC_ZSTD = 4,
};

/* Decompress the record area of a compressed batch. On success *dst is a
 * malloc'ed buffer (freed by the library with free()) of *dst_len bytes.
 * Returns 0 or a negative code (ND_ECODEC for an unknown codec, ND_ECORRUPT
 * for bad data). libnodata itself links no codec: libnodata_codecs provides
 * nd_codecs_decompress (see nodata_codecs.h). */
typedef int (*nd_decompress_fn)(int codec, const void *src, size_t src_len,
                                void **dst, size_t *dst_len);

/* A decoded record. Pointers are views into the iterator's buffers (the
 * caller's batch bytes or the decompressed copy): valid until the next
 * nd_iter_next() or nd_iter_close(). */
typedef struct nd_record_view {
  int64_t offset;
  int64_t timestamp;
  int timestamp_type; /* enum nd_timestamp_type */
  const uint8_t *key; /* NULL for a null key */
  size_t key_len;
  const uint8_t *value; /* NULL for a null value */
  size_t value_len;
  const nd_header *headers;
  size_t header_count;
  /* The batch the record came from. */
  int64_t batch_base_offset;
  int codec;
  int64_t producer_id;
  int is_control;
} nd_record_view;

/* Iterator over the records in a buffer of whole batches. Lives on the
 * caller's stack; fields are private. */
typedef struct nd_iter {
  const uint8_t *data;
  size_t len;
  size_t pos; /* start of the current batch in data */
  nd_decompress_fn decompress;
  int64_t min_offset;
  /* current batch */
  const uint8_t *batch;
  const uint8_t *rec;
  const uint8_t *rec_end;
  void *inflated;
  int32_t remaining;
  nd_header *hdrs;
  size_t hdrs_cap;
} nd_iter;

/* Start iterating over the records in data[0..len) (whole batches, as
 * returned by nd_read). Records below min_offset are skipped (a read
 * returns the whole batch holding the requested offset). decompress may
 * be NULL; a compressed batch then fails with ND_ECODEC. The iterator
 * borrows data until nd_iter_close(). */
void nd_iter_init(nd_iter *it, const void *data, size_t len, int64_t min_offset,
                  nd_decompress_fn decompress);

/* Next record into *rec. Returns 1 for a record, 0 at the end, or a
 * negative code: ND_ECORRUPT (CRC mismatch or malformed record; the message
 * names the batch offset), ND_ECODEC, ND_ENOMEM. After an error the
 * iterator stays at the end. */
int nd_iter_next(nd_iter *it, nd_record_view *rec);

/* Free the iterator's buffers. Safe to call twice. */
void nd_iter_close(nd_iter *it);

/* ------------------------------------------------------------------------ */
/* Batches and segment files, for tools                                     */
/* ------------------------------------------------------------------------ */

/* What `nodata inspect`, `nodata produce --compression`, the benchmarks and
 * the fuzzers need to build and read RecordBatch v2 bytes and segment files
 * without a private copy of the format. The layout is in docs/format.md:
 *
 *    0 baseOffset i64        8 batchLength i32 (bytes after this field)
 *   12 partitionLeaderEpoch  16 magic i8 = 2      17 crc u32 (CRC-32C of
 *   21..end)                 21 attributes i16    23 lastOffsetDelta i32
 *   27 baseTimestamp i64     35 maxTimestamp i64  43 producerId i64
 *   51 producerEpoch i16     53 baseSequence i32  57 recordCount i32
 *   61 records
 *
 * None of these calls takes a store; all are thread-safe (they share no
 * state) and report failures through nd_errmsg() as the rest of the API. */

#define ND_BATCH_HEADER_SIZE 61  /* bytes before the first record */
#define ND_BATCH_LOG_OVERHEAD 12 /* baseOffset + batchLength */
#define ND_BATCH_ATTR_CODEC_MASK 0x07
#define ND_BATCH_ATTR_LOG_APPEND_TIME 0x08
#define ND_BATCH_ATTR_TRANSACTIONAL 0x10
#define ND_BATCH_ATTR_CONTROL 0x20

/* Every header field of one batch, decoded. */
typedef struct nd_batch_info {
  uint64_t pos;  /* byte position in the file (nd_log_walk), else 0 */
  uint64_t size; /* whole batch: 12 + batchLength */
  int64_t base_offset;
  int64_t last_offset; /* baseOffset + lastOffsetDelta (wrapping) */
  int32_t length;      /* batchLength */
  int32_t leader_epoch;
  int8_t magic;
  uint32_t crc; /* as stored */
  int16_t attributes;
  int32_t last_offset_delta;
  int64_t base_timestamp;
  int64_t max_timestamp;
  int64_t producer_id;
  int16_t producer_epoch;
  int32_t base_sequence;
  int32_t record_count;
  int crc_ok; /* the stored CRC matches the bytes (when they were checked) */
} nd_batch_info;

enum nd_batch_encode_flags {
  /* Stamp every record with now_ms and set the LogAppendTime attribute,
   * as a LogAppendTime topic stores batches. */
  ND_BATCH_LOG_APPEND_TIME = 1 << 0,
};

/* Encode n >= 1 records as one uncompressed RecordBatch v2 with the given
 * base offset, exactly as nd_append stores them at that offset: leader
 * epoch 0, no producer (id -1, epoch -1, sequence -1), record timestamps
 * as given (ND_TIMESTAMP_NOW becomes now_ms), baseTimestamp and
 * maxTimestamp their minimum and maximum, the CRC set. A batch meant for
 * nd_append_batch may use base offset 0 (the store overwrites it); to
 * compress it, hand it to nd_codecs_compress_batch.
 * Ownership: on success *out is allocated by the library (release it with
 * nd_free()) and holds *out_len bytes; on failure *out is NULL.
 * Errors: ND_EINVAL (NULL arguments, n == 0 or above INT32_MAX, a header
 * with a NULL key or a header count with a NULL array), ND_ETOOLARGE (the
 * batch would exceed 2 GiB), ND_ENOMEM. */
int nd_batch_encode(const nd_record *records, size_t n, int64_t base_offset,
                    int64_t now_ms, unsigned flags, void **out,
                    size_t *out_len);

/* Check the bytes at data[0..len) that should start with a batch, as the
 * store checks what it is given and what it recovers: batchLength at least
 * 49, magic 2, recordCount and lastOffsetDelta not negative, and, with
 * check_crc, the CRC-32C. info (may be NULL) gets the header fields once
 * 61 bytes are there (crc_ok says whether the CRC was checked and
 * matched).
 * Returns 0 for a whole valid batch (info->size is its length), 1 when
 * data ends before the batch does (a torn tail, or more bytes to read:
 * info->size, if the header was there, says how many the batch needs), or
 * ND_EBATCH with nd_errmsg() saying what is wrong. */
int nd_batch_check(const void *data, size_t len, int check_crc,
                   nd_batch_info *info);

/* Recompute and store the CRC-32C of the whole batch at batch[0..len),
 * after a tool or test changed fields it covers (attributes onwards).
 * Errors: ND_EINVAL (NULL, or len below the header size or not the
 * batch's own 12 + batchLength). */
int nd_batch_set_crc(void *batch, size_t len);

/* Why nd_log_walk stopped. */
enum nd_walk_stop {
  ND_WALK_END = 0,        /* the end of the file, after a whole batch */
  ND_WALK_TORN = 1,       /* a batch (or its header) cut short by the end of
                             the file: a torn tail */
  ND_WALK_BAD_LENGTH = 2, /* batchLength below the 49-byte minimum */
  ND_WALK_BAD_MAGIC = 3,  /* magic byte not 2 */
  ND_WALK_BAD_COUNT = 4,  /* negative recordCount or lastOffsetDelta */
  ND_WALK_BAD_CRC = 5,    /* a CRC mismatch (with ND_WALK_STOP_CRC) */
  ND_WALK_BACKWARDS = 6,  /* a batch starts below the previous one's next
                             offset (with ND_WALK_CHECK_ORDER) */
  ND_WALK_CALLER = 7,     /* the callback asked to stop */
};

enum nd_walk_flags {
  /* Stop at the first batch whose CRC does not match (it is not given to
   * the callback). Without it such a batch goes to the callback with
   * crc_ok 0 and the walk goes on: its length still frames the next. */
  ND_WALK_STOP_CRC = 1 << 0,
  /* Stop at a batch whose base offset is below the previous batch's last
   * offset + 1 (offsets must never go backwards within a log). */
  ND_WALK_CHECK_ORDER = 1 << 1,
};

/* Where and why a walk ended. */
typedef struct nd_walk_result {
  uint64_t file_size;
  uint64_t end;     /* position after the last batch given to the callback */
  int64_t batches;  /* batches given to the callback */
  int64_t crc_bad;  /* of which with a bad CRC */
  int stop;         /* enum nd_walk_stop */
  int64_t stop_pos; /* byte position of the batch that stopped it, or -1 */
  char why[200];    /* what was wrong there, in words ("" at ND_WALK_END) */
} nd_walk_result;

/* Called with each batch a walk reads: info's fields, and bytes, the
 * whole batch (info->size bytes, valid only during the call). Return
 * non-zero to stop the walk (ND_WALK_CALLER). */
typedef int (*nd_batch_fn)(void *ctx, const nd_batch_info *info,
                           const void *bytes);

/* Walk the batches of one segment .log file as it is on disk, without a
 * store: safe on a directory a broker holds, and it changes nothing. Every
 * batch with a sane header is given to fn (may be NULL); the walk stops at
 * the end of the file, at a header that cannot frame a batch, or as flags
 * and fn say, and *result says where and why (a damaged file is not an
 * error: the result describes it). result must not be NULL.
 * Errors: ND_EINVAL (NULL path or result), -errno when the file cannot be
 * opened or read, ND_ENOMEM. */
int nd_log_walk(const char *path, unsigned flags, nd_batch_fn fn, void *ctx,
                nd_walk_result *result);

/* The same walk over batches already in memory, data[0..len) laid out as
 * a .log file is (a segment read whole, a fetch response's records, a
 * fuzzer's input): the same checks, findings and callback, with positions
 * indexes into data and result->file_size = len. The bytes are borrowed
 * for the call only; fn's bytes point into data.
 * Errors: ND_EINVAL (NULL result, NULL data with len > 0, unknown flags).
 * Thread-safe: shares no state. */
int nd_log_walk_mem(const void *data, size_t len, unsigned flags,
                    nd_batch_fn fn, void *ctx, nd_walk_result *result);

/* One entry of an index file. */
typedef struct nd_index_entry {
  uint32_t relative; /* offset - the segment's base offset, as stored */
  int64_t offset;    /* the segment's base offset + relative */
  uint64_t position; /* .index: byte position in the .log; else 0 */
  int64_t timestamp; /* .timeindex: the timestamp; else -1 */
} nd_index_entry;

/* Read the entries of a segment's .index (8-byte entries: relative offset,
 * .log position) or .timeindex (12 bytes: timestamp, relative offset), told
 * apart by the name's extension; the base offset comes from the name
 * (nd_segment_base). An active segment's index files are preallocated
 * and read as zeros past the last entry; no real entry is all zeros, so
 * the first all-zero entry ends the list: *count entries are returned,
 * *slots (may be NULL) counts the file's whole entries.
 * Ownership: *entries is allocated by the library (nd_free()); NULL when
 * *count is 0. Errors: ND_EINVAL (NULL arguments, a name that is neither),
 * -ENOENT for a missing file, other -errno, ND_ENOMEM. */
int nd_index_read(const char *path, nd_index_entry **entries, size_t *count,
                  size_t *slots);

/* The base offset in a segment file's name (twenty digits, then '.', as
 * in 00000000000000000042.log; a leading directory is ignored), or
 * ND_EINVAL if the name is not one. */
int64_t nd_segment_base(const char *path);

/* Name of the codec in attributes' low three bits: "none", "gzip",
 * "snappy", "lz4", "zstd", or "unknown". Static string. */
const char *nd_codec_name(int attributes);

/* ------------------------------------------------------------------------ */
/* Verify and repair a data directory                                       */
/* ------------------------------------------------------------------------ */

/* nd_verify reads a data directory's files as they are on disk (it does
 * not take the store's lock, so it works beside a running writer) and
 * reports every problem it finds through a callback, each with its file,
 * byte position and offset. It checks every batch (length, magic, counts,
 * CRC-32C), that offsets continue without gaps from batch to batch and
 * segment to segment, every .index/.timeindex entry against its .log,
 * control batches that end no transaction (a client wrote them), the
 * recovery-point and log-start-offset hints, and through a read-only
 * nd_open what only the store checks in full (FORMAT, topic.conf, the
 * committed-offsets log). Beside a running writer, a batch cut short at
 * the very end of a partition's last segment, and that segment's last
 * index entry, are writes in progress, not damage.
 *
 * With ND_VERIFY_REPAIR it then repairs exactly as recovery would,
 * because it is recovery: for each damaged partition it moves what will
 * be lost into a quarantine directory (the bytes of the damaged segment
 * from its first bad one, and the later segments whole, as a log has no
 * holes), drops the clean-shutdown marker and the partition's recovery
 * point, and opens the store for writing, which rescans those partitions,
 * truncates each at its first bad byte and rebuilds their indexes (and
 * rewrites a damaged committed-offsets log without the damaged range).
 * Then it checks again. ND_VERIFY_DRY_RUN reports the same findings and
 * the repair's plan and changes nothing. */

enum nd_verify_event_kind {
  ND_VERIFY_DAMAGE = 0,   /* a problem on disk (see enum nd_verify_damage) */
  ND_VERIFY_WARNING = 1,  /* not damage, but worth acting on: a consumer
                             group's committed offset past a log's end */
  ND_VERIFY_CHECKED = 2,  /* a check pass ended: stats says what it read */
  ND_VERIFY_PLAN = 3,     /* what the repair will do to one partition
                             (dry run: would do); nothing changed yet */
  ND_VERIFY_ACTION = 4,   /* what the repair did: bytes copied, segments
                             moved into the quarantine directory */
  ND_VERIFY_REPAIRED = 5, /* the repair's open and close are done; the
                             check after it follows */
};

/* What an ND_VERIFY_DAMAGE event found. */
enum nd_verify_damage {
  ND_DAMAGE_BATCH = 0,   /* a batch that is not valid: CRC, magic, length,
                            counts; or offsets that go back (holes are not
                            damage: a compacted log has them) */
  ND_DAMAGE_TORN = 1,    /* a batch cut short by the end of its file */
  ND_DAMAGE_GAP = 2,     /* a segment that starts below where the one
                            before it ends (overlapping segments), or
                            above where that one was sealed (its final
                            time-index entry: a segment file is missing;
                            a hole the cleaner left ends at the next
                            segment's base) */
  ND_DAMAGE_INDEX = 3,   /* an index entry that does not match the log;
                            repair rebuilds the index, no record is lost */
  ND_DAMAGE_MARKER = 4,  /* a control batch ending no transaction; left in
                            place by repair (cutting there would drop
                            every later record) */
  ND_DAMAGE_HINT = 5,    /* recovery-point or log-start-offset unreadable,
                            or a recovery point past the log's end */
  ND_DAMAGE_STORE = 6,   /* outside the segment files (FORMAT, topic.conf,
                            a partition directory): needs a hand; a repair
                            refuses to start */
  ND_DAMAGE_OFFSETS = 7, /* a damaged range of the committed-offsets log */
};

typedef struct nd_verify_stats {
  int32_t topics;
  int32_t partitions;
  int64_t segments;
  int64_t batches;
  int64_t records;
  uint64_t bytes;   /* segment bytes read */
  int problems;     /* ND_VERIFY_DAMAGE events of the last check pass */
  int unrepairable; /* of which ND_DAMAGE_STORE */
  int live;         /* another process held the directory (a writer) */
  int repaired;     /* a repair ran (not in a dry run) */
} nd_verify_stats;

/* One event. Pointers are valid during the callback only. */
typedef struct nd_verify_event {
  int kind;          /* enum nd_verify_event_kind */
  int damage;        /* ND_VERIFY_DAMAGE: enum nd_verify_damage */
  int repairable;    /* ND_VERIFY_DAMAGE: a repair fixes it */
  const char *topic; /* the partition's topic, or NULL */
  int32_t partition; /* or -1 */
  const char *file;  /* the file concerned, or NULL */
  int64_t pos;       /* byte position in file, or -1 */
  int64_t offset;    /* DAMAGE: the first offset a repair drops (-1 if
                        none); PLAN: likewise; WARNING: the committed
                        offset; else -1 */
  const char *text;  /* the whole finding or step, one line, no prefix */
  const nd_verify_stats *stats; /* ND_VERIFY_CHECKED: that pass's counts */
} nd_verify_event;

typedef void (*nd_verify_fn)(void *ctx, const nd_verify_event *ev);

enum nd_verify_flags {
  ND_VERIFY_REPAIR = 1 << 0,  /* after checking, repair what was found */
  ND_VERIFY_DRY_RUN = 1 << 1, /* with ND_VERIFY_REPAIR: report the plan
                                 only; nothing on disk changes */
};

typedef struct nd_verify_options {
  const char *const *topics; /* check only these (NULL: every topic) */
  size_t ntopics;
  unsigned flags;             /* enum nd_verify_flags */
  const char *quarantine_dir; /* where a repair puts what it drops; NULL:
                                 DIR/quarantine/<UTC time>; a topic's
                                 partition gets <topic>-<partition>/ */
  nd_verify_fn on_event;      /* may be NULL */
  void *ctx;
  /* Called as segment bytes are read (done of total), may be NULL. */
  void (*on_progress)(void *ctx, uint64_t done, uint64_t total);
  /* Options for the stores verify opens (decompress, limits, on_log for
   * the repair's open); flags and no_background are verify's own. May be
   * NULL. */
  const nd_options *open_options;
} nd_verify_options;

/* Verify the data directory dir, and with ND_VERIFY_REPAIR repair it, as
 * described above. opts may be NULL (check everything, no events);
 * stats (may be NULL) gets the last check pass's counts: after a repair,
 * those of the check that follows it, so stats->problems is what is still
 * wrong. Damage is not an error: the call returns 0 and the events and
 * stats describe it.
 * Errors: ND_EINVAL (NULL dir, unknown flags), -ENOENT (no directory),
 * ND_ENOTOPIC (a topic named in opts that has no directory), ND_EFORMAT
 * (FORMAT names an unknown format), ND_ELOCKED (a repair while another
 * process holds the directory; nothing changed), ND_ECORRUPT (a repair
 * asked for with ND_DAMAGE_STORE damage present; nothing changed), -errno
 * for files that cannot be read, or moved during a repair, ND_ENOMEM; and
 * those of nd_open for the repair's open.
 * Thread-safety: no state is shared between calls; a repair needs the
 * directory to itself (it opens the store for writing). */
int nd_verify(const char *dir, const nd_verify_options *opts,
              nd_verify_stats *stats);

/* ------------------------------------------------------------------------ */
/* Backup                                                                   */
/* ------------------------------------------------------------------------ */

/* nd_backup copies the data directory dir into dest while a writer (a
 * broker) may be using dir: it takes no lock and changes nothing there.
 * The copy is consistent per partition: each partition's log is copied
 * as of one point in time during the call (sealed segments whole, the
 * active segment up to its last whole batch with a good CRC at that
 * point), never torn. Partitions are copied one after the other, so the
 * copy is not a snapshot across partitions (nor is a file-system
 * snapshot of a Kafka broker's log directories). The committed consumer
 * offsets and the transaction coordinator's state are copied first, up
 * to their last whole frame: a committed offset is never past the end
 * copied of its partition, and a transaction with no marker in a
 * partition's copy is aborted when the copy is first opened. topic.conf,
 * log-start-offset, the cleaner checkpoint, broker.conf and FORMAT are
 * copied; indexes, producer state and recovery points are left out, so
 * the first open of the copy rescans every partition, checks every
 * batch's CRC and rebuilds them. Every file and directory written is
 * fsynced; FORMAT is written last. Restore: open (or `nodata serve`) the
 * copy, or check it first with nd_verify. */

enum nd_backup_item_kind {
  ND_BACKUP_PARTITION = 0, /* a partition copied */
  ND_BACKUP_FILE = 1,      /* another file copied (offsets.log, txn.log,
                              broker.conf, ...) */
  ND_BACKUP_SKIPPED = 2,   /* a topic left out: deleted during the call */
};

/* What was copied. Pointers are valid during the callback only. */
typedef struct nd_backup_item {
  int kind;             /* enum nd_backup_item_kind */
  const char *topic;    /* PARTITION, SKIPPED: the topic; else NULL */
  int32_t partition;    /* PARTITION: its id; else -1 */
  const char *path;     /* relative to dir: "topics/<hash>/0",
                           "groups/offsets.log", ... */
  int64_t start_offset; /* PARTITION: the log start offset copied */
  int64_t end_offset;   /* PARTITION: the offset after the last record
                           copied (the high watermark at its point) */
  int64_t segments;     /* PARTITION: segment files copied */
  uint64_t bytes;       /* bytes written */
  uint64_t cut;         /* bytes of the source left out at the end: an
                           append in progress */
  const char *text;     /* SKIPPED: why; else NULL */
} nd_backup_item;

typedef struct nd_backup_stats {
  int32_t topics;
  int32_t partitions;
  int64_t segments;
  int32_t files;   /* other than segments and topic.conf */
  int32_t skipped; /* topics left out */
  uint64_t bytes;  /* written, all files together */
} nd_backup_stats;

typedef struct nd_backup_options {
  void (*on_item)(void *ctx, const nd_backup_item *item); /* may be NULL */
  void *ctx;
} nd_backup_options;

/* Copy the data directory dir into dest (created; it must not exist or be
 * an empty directory), as described above. opts and stats may be NULL.
 * On failure what was copied stays in dest, without FORMAT.
 * Errors: ND_EINVAL (NULL or empty path), -ENOENT (no dir), ND_EFORMAT
 * (dir has no FORMAT or names another format), -EEXIST (dest not empty),
 * ND_ECORRUPT (a partition directory named by topic.conf is missing),
 * ND_EFAILED (a partition's files kept changing for 20 s, or, with no
 * writer, a cleaner swap a crash interrupted: open the store once),
 * -errno for files that cannot be read or written, ND_ENOMEM.
 * Thread-safety: no state is shared between calls. */
int nd_backup(const char *dir, const char *dest, const nd_backup_options *opts,
              nd_backup_stats *stats);

/* ------------------------------------------------------------------------ */
/* Readers: point lookups and in-place sequential reads                     */
/* ------------------------------------------------------------------------ */

/* What a read guarantees. A batch's CRC-32C is checked when the batch is
 * written (nd_append computes it; nd_append_batch checks the client's),
 * by recovery at open for every byte past the last point known durable
 * (the recovery point: a torn or half-written tail is found and cut
 * there), by nd_iter for every batch it decodes, by nd_reader when opened
 * with ND_READER_VERIFY, and by `nodata verify` over whole logs. nd_read,
 * nd_read_file and a reader without ND_READER_VERIFY check each batch's
 * framing (length, magic, offsets, record bounds: never a read outside the
 * batch) but not its CRC: a byte changed on disk after it was synced (bit
 * rot, a tool writing into the file) is then returned as stored. The CRC
 * is left to the consumer (Kafka clients check it, as nd_iter does) and
 * to verify, because checking it on every lookup would cost a pass over
 * the whole batch (up to 1 MB) to return one record — the cost LMDB and
 * SQLite do not pay either, as they keep no checksum at all. */

/* A read handle on one partition, for point lookups by offset and
 * sequential reads that decode records in place, without copying batches:
 * the records are read through a read-only mapping of the segment file
 * (on a store opened with ND_OPEN_READONLY, through pread into a buffer
 * of the reader's, so that another process cutting a file can never
 * fault this one).
 *
 * Lifetime of views: the nd_record_view a call fills points into the
 * mapping (or into the reader's buffers for a compressed batch or a
 * read-only store) and stays valid until the next call on the same
 * reader, nd_reader_release or nd_reader_close. The reader holds a
 * reference on the mapping its last view points into, so that retention,
 * nd_delete_records or a roll deleting or unmapping the segment
 * meanwhile never invalidates a view: the bytes are unmapped when the
 * reader moves on. An idle reader should be released (nd_reader_release)
 * so that it holds no deleted segment's pages.
 *
 * Thread-safety: a reader is used by one thread at a time (it may move
 * between threads); any number of readers, on any partitions, run
 * concurrently with each other and with appends, and see only whole
 * batches below the high watermark of the moment of each call. A reader
 * holds a reference on its topic: if the topic is deleted, calls fail
 * with ND_ENOTOPIC and its files are removed once the reader is closed.
 * Every reader must be closed before nd_close of its store. */
typedef struct nd_reader nd_reader;

enum nd_reader_flags {
  /* Check each batch's CRC-32C before returning a record from it: once
   * per batch entered, so a sequential reader pays it once per batch but
   * a random lookup pays it on the whole batch every time. */
  ND_READER_VERIFY = 1 << 0,
  /* Kafka's read_committed isolation for nd_reader_next: it stops at the
   * last stable offset (returns 0 there, as at the high watermark; call
   * again once the transactions there are decided) and skips the records
   * of aborted transactions, found in the aborted-transaction index
   * (nd_aborted_txns), as well as control records. nd_reader_get and
   * nd_reader_seek are not restricted. */
  ND_READER_COMMITTED = 1 << 1,
};

/* Open a reader on (topic, partition). flags: enum nd_reader_flags.
 * decompress (may be NULL) decodes compressed batches; without it a
 * record in a compressed batch is ND_ECODEC. *out is the caller's, freed
 * by nd_reader_close. Errors: ND_EINVAL (NULL store or out, unknown
 * flags), ND_ENOTOPIC, ND_ENOPARTITION, ND_EFAILED (offline), ND_ENOMEM.
 * Thread-safe. */
int nd_reader_open(nd_store *store, const char *topic, int32_t partition,
                   unsigned flags, nd_decompress_fn decompress,
                   nd_reader **out);

/* The record at `offset` into *rec (see "Lifetime of views" above).
 * Costs an index search, a walk of a few batch headers and a skip over
 * the records before it in its batch (by their length prefixes), or a
 * decompression of the batch (kept for the next lookup in the same
 * batch). A control record (a transaction marker) is returned with
 * rec->is_control set. Does not move the sequential position.
 * Errors: ND_ERANGE when offset is below the log start or at or above the
 * high watermark (the message gives both bounds), ND_ENOTFOUND when no
 * record has that offset: a compacted log has holes (docs/format.md), and
 * a point lookup in one does not answer with another offset's record
 * (nd_reader_seek there and nd_reader_next give the next existing record,
 * as a Kafka consumer seeking there sees), ND_ECORRUPT (framing, or
 * the CRC with ND_READER_VERIFY; the message names the file and byte),
 * ND_ECODEC, ND_ENOTOPIC (deleted), ND_EINVAL (NULL reader or rec),
 * ND_ENOMEM, -errno (mapping or reading the file). */
int nd_reader_get(nd_reader *r, int64_t offset, nd_record_view *rec);

/* Set the sequential position: the next nd_reader_next returns the first
 * record at or after `offset` (past any hole and empty batch the cleaner
 * left). Errors: ND_ERANGE (below the log start or
 * above the high watermark), ND_EINVAL, ND_ENOTOPIC. */
int nd_reader_seek(nd_reader *r, int64_t offset);

/* The next record at or after the sequential position (0 after open,
 * nd_reader_seek to move), skipping control records as nd_iter does (and,
 * with ND_READER_COMMITTED, aborted transactions' records).
 * Returns 1 with *rec filled, 0 at the high watermark (with
 * ND_READER_COMMITTED: at the last stable offset; call again later
 * to read what was appended since), or a negative code: ND_ERANGE when
 * retention or nd_delete_records removed the position (seek to the log
 * start to go on), and the errors of nd_reader_get. After an error the
 * position is unchanged. */
int nd_reader_next(nd_reader *r, nd_record_view *rec);

/* Drop the reader's hold on the last mapping and batch (views become
 * invalid), keeping its position and buffers. NULL is a no-op. */
void nd_reader_release(nd_reader *r);

/* Release and free the reader. NULL is a no-op. */
void nd_reader_close(nd_reader *r);

/* ------------------------------------------------------------------------ */
/* Utilities exposed for tools and tests                                    */
/* ------------------------------------------------------------------------ */

/* CRC-32C (Castagnoli) of buf, continuing from crc (start with 0). Uses the
 * CPU's crc32 instruction when present. */
uint32_t nd_crc32c(uint32_t crc, const void *buf, size_t len);

/* Kafka's murmur2 hash (seed 0x9747b28c), as its Java client computes it. */
int32_t nd_murmur2(const void *data, size_t len);

/* Lowercase hex SHA-256 of a topic name: the name of its directory.
 * out must hold 65 bytes. */
void nd_topic_dirname(const char *name, char out[65]);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* NODATA_H */
