/* SPDX-License-Identifier: Apache-2.0 */
/*
 * console_topics.c — (routes to come: docs/http-api.md).
 */
#include "console.h"

const console_route console_topic_routes[] = {
    {NULL, NULL, NULL, 0},
};
