/* SPDX-License-Identifier: Apache-2.0 */
/*
 * console_txn.c — (routes to come: docs/http-api.md).
 */
#include "console.h"

const console_route console_txn_routes[] = {
    {NULL, NULL, NULL, 0},
};
