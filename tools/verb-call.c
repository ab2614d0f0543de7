/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verb-call.c — "busdctl call" and "busdctl emit": send a method call or a
 * signal built from the command line.
 *
 * Everything the user typed (names, path, the JSON argument) is checked
 * before connecting, so a typo exits 2 without touching the bus. A reply
 * body is printed as JSON; an error reply as "Error NAME: message" on stderr.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "busdctl.h"
#include "validate.h"

/* Parse the optional JSON argument; prints and returns -EINVAL if invalid. */
static int parse_body(const char *text, json_t **ret) {
        json_error_t jerr;
        json_t *body;

        if (!text) {
                *ret = NULL;
                return 0;
        }
        body = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
        if (!body) {
                fprintf(stderr,
                        "busdctl: the JSON argument is not valid JSON: %s (column %d)\n"
                        "Quote it for the shell, e.g. '{\"key\": \"value\"}'.\n",
                        jerr.text, jerr.column);
                return -EINVAL;
        }
        *ret = body;
        return 0;
}

static bool check(bool ok, const char *what, const char *value, const char *rule) {
        if (!ok) {
                fprintf(stderr, "busdctl: invalid %s '", what);
                driver_fputs_escaped(value, stderr);
                fprintf(stderr, "': %s\n", rule);
        }
        return ok;
}

#define RULE_NAME \
        "a unique name (:1.N) or dot-separated elements of [A-Za-z0-9_-], such as org.example.Foo"
#define RULE_PATH "'/' or '/'-separated elements of [A-Za-z0-9_], such as /org/example/Foo"
#define RULE_INTERFACE "dot-separated elements of [A-Za-z0-9_], such as org.example.Foo"
#define RULE_MEMBER "[A-Za-z_][A-Za-z0-9_]*, such as GetValue"

static void print_error_reply(int r, const bus_error *error) {
        if (error->name) {
                fputs("Error ", stderr);
                driver_fputs_escaped(error->name, stderr);
                fputs(": ", stderr);
                driver_fputs_escaped(error->message ? error->message : "", stderr);
                fputc('\n', stderr);
        } else
                fprintf(stderr, "busdctl: call failed: %s\n", strerror(-r));
}

static int print_reply(const Busdctl *ctx, bus_message *reply) {
        OutputJson mode = ctx->json;
        const char *text;
        size_t len = 0;
        json_t *body;

        if (!reply)
                return 0;
        text = bus_message_get_body_text(reply, &len);
        if (!text || len == 0)
                return 0;
        body = bus_message_get_body(reply);
        if (!body) {
                char *e = output_escape(text, len);

                fputs("busdctl: the reply body is not valid JSON; its text:\n", stderr);
                if (e)
                        puts(e);
                free(e);
                return 0;
        }
        if (mode == OUTPUT_JSON_OFF)
                output_json_parse(NULL, &mode);
        return output_json_print(body, mode);
}

int verb_call(Busdctl *ctx, int argc, char **argv) {
        bus_error error = BUS_ERROR_INIT;
        bus_connection *c = NULL;
        bus_message *m = NULL, *reply = NULL;
        json_t *body = NULL;
        bool no_reply = ctx->verb_options & VERB_OPT_NO_REPLY;
        int r, ret = EXIT_FAILURE;

        if (!check(validate_bus_name(argv[1]), "destination", argv[1], RULE_NAME) ||
            !check(validate_path(argv[2]), "object path", argv[2], RULE_PATH) ||
            !check(validate_interface(argv[3]), "interface", argv[3], RULE_INTERFACE) ||
            !check(validate_member(argv[4]), "method", argv[4], RULE_MEMBER) ||
            parse_body(argc > 5 ? argv[5] : NULL, &body) < 0)
                return EXIT_USAGE;

        if (driver_connect(ctx, &c) < 0)
                goto out;
        r = bus_message_new_method_call(c, &m, argv[1], argv[2], argv[3], argv[4]);
        if (r >= 0)
                r = bus_message_set_body(m, body);
        if (r >= 0 && no_reply)
                r = bus_message_set_no_reply(m, true);
        if (r < 0) {
                fprintf(stderr, "busdctl: cannot build the call: %s\n", strerror(-r));
                goto out;
        }
        if (no_reply) {
                r = bus_send(c, m, NULL);
                if (r < 0)
                        fprintf(stderr, "busdctl: cannot send the call: %s\n", strerror(-r));
                else if (driver_sync(ctx, c) >= 0)
                        ret = EXIT_SUCCESS;
                goto out;
        }
        r = bus_call(c, m, ctx->timeout_usec, &error, &reply);
        if (r < 0) {
                print_error_reply(r, &error);
                goto out;
        }
        r = print_reply(ctx, reply);
        if (r < 0)
                fprintf(stderr, "busdctl: cannot print the reply: %s\n", strerror(-r));
        else
                ret = EXIT_SUCCESS;
out:
        bus_error_free(&error);
        bus_message_unref(reply);
        bus_message_unref(m);
        json_decref(body);
        bus_connection_close(c);
        return ret;
}

int verb_emit(Busdctl *ctx, int argc, char **argv) {
        bus_connection *c = NULL;
        bus_message *m = NULL;
        json_t *body = NULL;
        int r, ret = EXIT_FAILURE;

        if (!check(validate_path(argv[1]), "object path", argv[1], RULE_PATH) ||
            !check(validate_interface(argv[2]), "interface", argv[2], RULE_INTERFACE) ||
            !check(validate_member(argv[3]), "signal", argv[3], RULE_MEMBER) ||
            (ctx->destination && !check(validate_bus_name(ctx->destination), "destination",
                                        ctx->destination, RULE_NAME)) ||
            (ctx->key && !check(validate_key(ctx->key), "key", ctx->key, "a non-empty UTF-8 string")) ||
            parse_body(argc > 4 ? argv[4] : NULL, &body) < 0)
                return EXIT_USAGE;

        if (driver_connect(ctx, &c) < 0)
                goto out;
        r = bus_message_new_signal(c, &m, argv[1], argv[2], argv[3]);
        if (r >= 0 && ctx->destination)
                r = bus_message_set_destination(m, ctx->destination);
        if (r >= 0 && ctx->key)
                r = bus_message_set_key(m, ctx->key);
        if (r >= 0)
                r = bus_message_set_body(m, body);
        if (r < 0) {
                fprintf(stderr, "busdctl: cannot build the signal: %s\n", strerror(-r));
                goto out;
        }
        r = bus_send(c, m, NULL);
        if (r < 0) {
                fprintf(stderr, "busdctl: cannot send the signal: %s\n", strerror(-r));
                goto out;
        }
        if (driver_sync(ctx, c) >= 0)
                ret = EXIT_SUCCESS;
out:
        bus_message_unref(m);
        json_decref(body);
        bus_connection_close(c);
        return ret;
}
