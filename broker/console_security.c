/* SPDX-License-Identifier: Apache-2.0 */
/*
 * console_security.c — (routes to come: docs/http-api.md).
 */
#include "console.h"

const console_route console_security_routes[] = {
    {NULL, NULL, NULL, 0},
};
