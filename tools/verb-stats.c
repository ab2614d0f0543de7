/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verb-stats.c — "busdctl stats": the broker's counters (GetStats) as a
 * COUNTER/VALUE table, nested objects flattened to "parent.child", or as the
 * driver's JSON.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "busdctl.h"
#include "table.h"

static int add_value(Table *t, const char *counter, json_t *v) {
        char buf[64];
        const char *cells[2] = { counter, buf };

        if (json_is_integer(v))
                snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
        else if (json_is_real(v))
                snprintf(buf, sizeof(buf), "%g", json_real_value(v));
        else if (json_is_boolean(v))
                snprintf(buf, sizeof(buf), "%s", json_is_true(v) ? "yes" : "no");
        else if (json_is_string(v))
                cells[1] = json_string_value(v);
        else
                cells[1] = NULL;
        return table_add_row(t, cells);
}

static int add_object(Table *t, const char *prefix, json_t *obj) {
        const char *key;
        json_t *v;
        int r = 0;

        json_object_foreach (obj, key, v) {
                char counter[256], when[64];

                snprintf(counter, sizeof(counter), "%s%s%s", prefix, prefix[0] ? "." : "", key);
                if (json_is_object(v))
                        r = add_object(t, counter, v);
                else if (strcmp(counter, "started_usec") == 0 && json_is_integer(v)) {
                        const char *cells[2] = { "started", when };

                        output_format_timestamp((uint64_t)json_integer_value(v), when, sizeof(when));
                        r = table_add_row(t, cells);
                } else
                        r = add_value(t, counter, v);
                if (r < 0)
                        break;
        }
        return r;
}

int verb_stats(Busdctl *ctx, int argc, char **argv) {
        static const char *const headers[] = { "COUNTER", "VALUE" };
        bus_error error = BUS_ERROR_INIT;
        bus_connection *c = NULL;
        json_t *stats = NULL;
        Table *t = NULL;
        int r, ret = EXIT_FAILURE;

        if (driver_connect(ctx, &c) < 0)
                return EXIT_FAILURE;
        r = driver_call(ctx, c, "GetStats", NULL, &error, &stats);
        if (r < 0) {
                driver_print_error("GetStats failed", r, &error);
                goto out;
        }
        if (ctx->json != OUTPUT_JSON_OFF)
                r = output_json_print(stats, ctx->json);
        else {
                r = table_new(&t, 2, headers);
                if (r >= 0)
                        r = add_object(t, "", stats);
                if (r >= 0)
                        r = table_print(t, stdout, ctx->legend);
        }
        if (r < 0) {
                fprintf(stderr, "busdctl: cannot print the counters: %s\n", strerror(-r));
                goto out;
        }
        ret = EXIT_SUCCESS;
out:
        table_free(t);
        bus_error_free(&error);
        json_decref(stats);
        bus_connection_close(c);
        return ret;
}
