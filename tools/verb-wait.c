/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verb-wait.c — "busdctl wait NAME [--gone]": block until NAME has an owner
 * (or has none).
 *
 * No race and no polling: the match on the driver's NameOwnerChanged for NAME
 * is installed before NameHasOwner is asked, so a change that happens after
 * the question is seen as a signal, and one that happened before is in the
 * answer. Then the connection is simply waited on until the signal comes or
 * --timeout passes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "busdctl.h"
#include "bus-protocol.h"

typedef struct WaitState {
        const char *name;
        bool gone; /* waiting for "no owner" */
        bool done;
} WaitState;

static int on_owner_changed(bus_message *m, void *userdata) {
        WaitState *w = userdata;
        json_t *body = bus_message_get_body(m);
        const char *name = driver_get_string(body, "name");
        const char *new_owner = driver_get_string(body, "new_owner");
        const char *sender = bus_message_get_sender(m);

        /* Only the bus can send as org.busd.Bus; the rule already says so, but a
         * handler should not trust that the library filtered for it. */
        if (!sender || strcmp(sender, DRIVER_NAME) != 0 || !name || !new_owner ||
            strcmp(name, w->name) != 0)
                return 0;
        if ((new_owner[0] == '\0') == w->gone)
                w->done = true;
        return 0;
}

static void print_timeout(const Busdctl *ctx, const WaitState *w) {
        char span[64];

        output_format_timespan(ctx->timeout_usec, span, sizeof(span));
        fprintf(stderr, "busdctl: timed out after %s waiting for %s to %s\n", span, w->name,
                w->gone ? "lose its owner" : "get an owner");
}

int verb_wait(Busdctl *ctx, int argc, char **argv) {
        WaitState w = { .name = argv[1], .gone = ctx->verb_options & VERB_OPT_GONE };
        bus_error error = BUS_ERROR_INIT;
        bus_connection *c = NULL;
        bus_slot *slot = NULL;
        json_t *reply = NULL, *has;
        uint64_t deadline = UINT64_MAX, now;
        char rule[128 + 256];
        int r, ret = EXIT_FAILURE;

        if (!bus_name_is_valid(w.name)) {
                fprintf(stderr,
                        "busdctl: invalid name '%s': expected a unique name (:1.N) or "
                        "dot-separated elements of [A-Za-z0-9_-], such as org.example.Foo\n",
                        w.name);
                return EXIT_USAGE;
        }
        if (ctx->timeout_usec > 0)
                deadline = output_now_monotonic() + ctx->timeout_usec;

        if (driver_connect(ctx, &c) < 0)
                return EXIT_FAILURE;
        /* A valid name has no quote, so it needs no escaping inside the rule. */
        snprintf(rule, sizeof(rule),
                 "type='signal',sender='" DRIVER_NAME "',member='NameOwnerChanged',key='%s'", w.name);
        r = bus_add_match(c, &slot, rule, on_owner_changed, &w);
        if (r < 0) {
                driver_print_error("cannot watch NameOwnerChanged", r, NULL);
                goto out;
        }
        r = driver_call_name(ctx, c, "NameHasOwner", w.name, &error, &reply);
        if (r < 0) {
                if (r == -ETIMEDOUT && ctx->timeout_usec > 0)
                        print_timeout(ctx, &w);
                else
                        driver_print_error("NameHasOwner failed", r, &error);
                goto out;
        }
        has = json_object_get(reply, "has_owner");
        if (!json_is_boolean(has)) {
                fputs("busdctl: NameHasOwner returned no \"has_owner\"\n", stderr);
                goto out;
        }
        if (json_is_true(has) != w.gone)
                w.done = true;

        while (!w.done) {
                r = bus_connection_process(c);
                if (r < 0) {
                        if (bus_connection_get_disconnect_error(c, &error) >= 0)
                                driver_print_error("lost the connection to the bus", r, &error);
                        else
                                driver_print_error("lost the connection to the bus", r, NULL);
                        goto out;
                }
                if (r > 0 || w.done)
                        continue;
                now = output_now_monotonic();
                if (now >= deadline) {
                        print_timeout(ctx, &w);
                        goto out;
                }
                r = bus_connection_wait(c, deadline == UINT64_MAX ? UINT64_MAX : deadline - now);
                if (r < 0) {
                        driver_print_error("cannot wait for the bus", r, NULL);
                        goto out;
                }
        }
        ret = EXIT_SUCCESS;
out:
        bus_error_free(&error);
        json_decref(reply);
        bus_slot_unref(slot);
        bus_connection_close(c);
        return ret;
}
