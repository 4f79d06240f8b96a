/* SPDX-License-Identifier: Apache-2.0 */
/*
 * console_groups.c — (routes to come: docs/http-api.md).
 */
#include "console.h"

const console_route console_group_routes[] = {
    {NULL, NULL, NULL, 0},
};
