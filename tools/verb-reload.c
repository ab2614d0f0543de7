/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verb-reload.c — "busdctl reload": ask the bus to re-read its configuration
 * file (org.busd.Bus.ReloadConfig, PROTOCOL.md section 7), as SIGHUP does but
 * with an answer: the reload's outcome, or the reason the file was refused
 * (the bus then keeps its old configuration).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "busdctl.h"

int verb_reload(Busdctl *ctx, int argc, char **argv) {
        bus_error error = BUS_ERROR_INIT;
        bus_connection *c = NULL;
        json_t *reply = NULL;
        int r, ret = EXIT_FAILURE;

        if (driver_connect(ctx, &c) < 0)
                return EXIT_FAILURE;
        r = driver_call(ctx, c, "ReloadConfig", NULL, &error, &reply);
        if (r < 0) {
                /* ConfigInvalid: the message is the bus's reason (file and
                 * key or JSON position); AccessDenied: not root or the bus's
                 * user. */
                driver_print_error("reload failed", r, &error);
                goto out;
        }
        if (ctx->json != OUTPUT_JSON_OFF) {
                r = output_json_print(reply, ctx->json);
                if (r < 0) {
                        fprintf(stderr, "busdctl: cannot print the reply: %s\n", strerror(-r));
                        goto out;
                }
        }
        ret = EXIT_SUCCESS;
out:
        bus_error_free(&error);
        json_decref(reply);
        bus_connection_close(c);
        return ret;
}
