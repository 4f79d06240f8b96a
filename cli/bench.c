/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench.c — `nodata bench`: the library benchmark (bench/), when the build
 * has it (ND_HAVE_BENCH is set by cli/CMakeLists.txt).
 */
#include "cli.h"

#ifdef ND_HAVE_BENCH
#include "bench.h"

int cli_bench_main(int argc, char **argv) {
  return nd_bench_main(argc, argv);
}
#endif
