/* SPDX-License-Identifier: Apache-2.0 */
/*
 * console_messages.c — (routes to come: docs/http-api.md).
 */
#include "console.h"

const console_route console_message_routes[] = {
    {NULL, NULL, NULL, 0},
};
