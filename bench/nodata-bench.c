/* SPDX-License-Identifier: Apache-2.0 */
/* nodata-bench: the standalone runner; the code lives in nodata_benchlib so
 * the nodata CLI can run the same benchmark as `nodata bench`. */
#include "bench.h"

int main(int argc, char **argv) {
  return nd_bench_main(argc, argv);
}
