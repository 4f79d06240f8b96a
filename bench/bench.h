/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench.h — the storage engine benchmark as a library entry point, so the
 * nodata CLI can offer `nodata bench` with the same code the standalone
 * nodata-bench program runs.
 */
#ifndef ND_BENCH_H
#define ND_BENCH_H

#ifdef __cplusplus
extern "C" {
#endif

/* Run the benchmark with command-line style arguments (argv[0] is the
 * program name; see `--help` for the options). Prints its tables to stdout
 * and errors to stderr. Creates and removes its own temporary directories.
 * Returns 0 when every selected case ran (whether or not the targets were
 * met), 2 for a usage error, 1 when a case failed. Not thread-safe: it
 * forks and uses process-wide resources; call it from one thread. */
int nd_bench_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
