/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verb-call.c — "busdctl call" and "busdctl emit": send a method call or a
 * signal built from the command line.
 *
 * Everything the user typed (names, path, the JSON argument) is checked
 * before connecting, so a typo exits 2 without touching the bus. A reply
 * body is printed as JSON; an error reply as "Error NAME: message" on stderr.
 * --payload files are read into payload buffers before connecting too;
 * --save-payloads writes the reply's payloads after the body is printed.
 * The JSON argument may come from a file (@FILE) or standard input (-);
 * call checks it against the callee's declaration (Introspect) unless
 * --no-check.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "busdctl.h"
#include "bus-protocol.h"

/* An argument read from a file or standard input ("@FILE", "-"): a bound
 * on what busdctl reads, so a mistaken /dev/zero ends; 256 MiB of JSON is
 * far past what anyone types, and jansson needs several times that in
 * memory to parse it. */
#define BUSDCTL_ARG_FILE_MAX (256u * 1024u * 1024u)

/* Read all of @fd (at most BUSDCTL_ARG_FILE_MAX bytes) into *@ret (free()),
 * NUL-terminated, its length in *@ret_len. */
static int read_all(int fd, const char *what, char **ret, size_t *ret_len) {
        size_t len = 0, size = 64 * 1024;
        char *buf = malloc(size + 1);

        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n;

                if (len == size) {
                        char *bigger;

                        if (size >= BUSDCTL_ARG_FILE_MAX) {
                                fprintf(stderr, "busdctl: %s is larger than %u MiB\n", what,
                                        BUSDCTL_ARG_FILE_MAX >> 20);
                                free(buf);
                                return -EFBIG;
                        }
                        size = size * 2 > BUSDCTL_ARG_FILE_MAX ? BUSDCTL_ARG_FILE_MAX : size * 2;
                        bigger = realloc(buf, size + 1);
                        if (!bigger) {
                                free(buf);
                                return -ENOMEM;
                        }
                        buf = bigger;
                }
                n = read(fd, buf + len, size - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int r = -errno;

                        fprintf(stderr, "busdctl: cannot read %s: %s\n", what, strerror(-r));
                        free(buf);
                        return r;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = '\0';
        *ret = buf;
        *ret_len = len;
        return 0;
}

/* Parse the optional JSON argument: the text itself, "@FILE" for a file's
 * contents, "-" for standard input (so a body is not bound by the kernel's
 * limit on one argument, ~128 KiB). Prints and returns -EINVAL if invalid. */
static int parse_body(const char *text, json_t **ret) {
        char *owned = NULL;
        const char *from = NULL;
        json_error_t jerr;
        json_t *body;
        size_t len = 0;

        if (!text) {
                *ret = NULL;
                return 0;
        }
        if (text[0] == '@' || strcmp(text, "-") == 0) {
                int fd = 0, r;

                from = text[0] == '@' ? text + 1 : "standard input";
                if (text[0] == '@') {
                        fd = open(text + 1, O_RDONLY | O_CLOEXEC | O_NOCTTY);
                        if (fd < 0) {
                                fprintf(stderr, "busdctl: cannot open %s: %s\n", text + 1,
                                        strerror(errno));
                                return -EINVAL;
                        }
                }
                r = read_all(fd, from, &owned, &len);
                if (fd > 0)
                        close(fd);
                if (r < 0)
                        return -EINVAL;
                body = json_loadb(owned, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
        } else
                body = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
        free(owned);
        if (!body) {
                if (from)
                        fprintf(stderr, "busdctl: %s is not valid JSON: %s (line %d, column %d)\n",
                                from, jerr.text, jerr.line, jerr.column);
                else
                        fprintf(stderr,
                                "busdctl: the JSON argument is not valid JSON: %s (column %d)\n"
                                "Quote it for the shell, e.g. '{\"key\": \"value\"}'.\n",
                                jerr.text, jerr.column);
                return -EINVAL;
        }
        *ret = body;
        return 0;
}

/* Check @body against METHOD's argument schema, if the callee declares it
 * (its Introspect answers, and lists the method with "args"). Returns 0 if
 * it fits or nothing is declared, -EINVAL after saying which field is
 * wrong. The Introspect never starts a service (NO_AUTO_START): only the
 * call does, once; an activatable service not running is not checked. */
static int check_args(const Busdctl *ctx, bus_connection *c, char **argv, json_t *body) {
        bus_error error = BUS_ERROR_INIT;
        bus_schema *schema = NULL;
        json_t *node = NULL, *args;
        char *text;
        int r;

        if (object_introspect(ctx, c, argv[1], argv[2], true, &node, &error) < 0) {
                /* Not introspectable (a service without the object model,
                 * an unknown path, an activatable one not started yet): the
                 * callee will say what it thinks. */
                bus_error_free(&error);
                return 0;
        }
        args = json_object_get(
                json_object_get(json_object_get(object_find_interface(node, argv[3]), "methods"),
                                argv[4]),
                "args");
        text = args ? json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        r = 0;
        if (text && bus_schema_parse_fields(&schema, text, NULL) >= 0 &&
            bus_schema_check(schema, body, ctx->n_payloads, &error) < 0) {
                fprintf(stderr, "busdctl: the argument does not fit %s.%s: ", argv[3], argv[4]);
                driver_fputs_escaped(error.message ? error.message : "", stderr);
                fputs("\n(not sent; --no-check sends it anyway)\n", stderr);
                r = -EINVAL;
        }
        free(text);
        bus_schema_free(schema);
        bus_error_free(&error);
        json_decref(node);
        return r;
}

/* Read the regular file @path into a new payload buffer (read() straight
 * into its mapping: one copy) and attach it to @m. Prints why on failure. */
static int attach_file(bus_message *m, const char *path) {
        bus_payload *p = NULL;
        struct stat st;
        size_t done = 0;
        uint8_t *data;
        int fd, r;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0) {
                r = -errno;
                fprintf(stderr, "busdctl: cannot read payload file %s: %s\n", path, strerror(-r));
                if (fd >= 0)
                        close(fd);
                return r;
        }
        if (!S_ISREG(st.st_mode)) {
                fprintf(stderr, "busdctl: payload file %s is not a regular file\n", path);
                close(fd);
                return -EINVAL;
        }
        r = bus_payload_new(&p, (size_t)st.st_size);
        if (r < 0) {
                fprintf(stderr, "busdctl: cannot make a payload of %lld bytes for %s: %s\n",
                        (long long)st.st_size, path, strerror(-r));
                close(fd);
                return r;
        }
        data = bus_payload_data(p);
        while (done < (size_t)st.st_size) {
                ssize_t n = read(fd, data + done, (size_t)st.st_size - done);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n < 0 ? -errno : -EIO; /* EIO: the file shrank while read */
                        fprintf(stderr, "busdctl: cannot read payload file %s: %s\n", path,
                                strerror(-r));
                        bus_payload_free(p);
                        close(fd);
                        return r;
                }
                done += (size_t)n;
        }
        close(fd);
        r = bus_message_attach_payload(m, p);
        if (r < 0)
                fprintf(stderr, "busdctl: cannot attach payload file %s: %s\n", path, strerror(-r));
        return r;
}

static int attach_files(const Busdctl *ctx, bus_message *m) {
        for (unsigned i = 0; i < ctx->n_payloads; i++) {
                int r = attach_file(m, ctx->payloads[i]);

                if (r < 0)
                        return r;
        }
        return 0;
}

/* Write each payload of @reply to DIR/SERIAL-INDEX and print "PATH SIZE". */
static int save_payloads(const char *dir, bus_message *reply) {
        unsigned n = bus_message_get_payload_count(reply);

        for (unsigned i = 0; i < n; i++) {
                const void *data;
                size_t size, done = 0;
                char *path = NULL;
                int fd, r;

                r = bus_message_get_payload(reply, i, &data, &size);
                if (r < 0) {
                        fprintf(stderr, "busdctl: cannot read payload %u of the reply: %s\n", i,
                                strerror(-r));
                        return r;
                }
                if (asprintf(&path, "%s/%" PRIu64 "-%u", dir, bus_message_get_serial(reply), i) < 0)
                        return -ENOMEM;
                fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
                r = fd < 0 ? -errno : 0;
                while (r == 0 && done < size) {
                        ssize_t k = write(fd, (const uint8_t *)data + done, size - done);

                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k < 0)
                                r = -errno;
                        else
                                done += (size_t)k;
                }
                if (fd >= 0 && close(fd) < 0 && r == 0)
                        r = -errno;
                if (r < 0) {
                        fprintf(stderr, "busdctl: cannot save payload %u to %s: %s\n", i, path,
                                strerror(-r));
                        free(path);
                        return r;
                }
                printf("%s %zu\n", path, size);
                free(path);
        }
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

        if (!check(bus_name_is_valid(argv[1]), "destination", argv[1], RULE_NAME) ||
            !check(bus_path_is_valid(argv[2]), "object path", argv[2], RULE_PATH) ||
            !check(bus_interface_is_valid(argv[3]), "interface", argv[3], RULE_INTERFACE) ||
            !check(bus_member_is_valid(argv[4]), "method", argv[4], RULE_MEMBER) ||
            parse_body(argc > 5 ? argv[5] : NULL, &body) < 0)
                return EXIT_USAGE;
        if (ctx->save_dir) {
                struct stat st;

                if (stat(ctx->save_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
                        fprintf(stderr, "busdctl: --save-payloads: %s is not a directory\n",
                                ctx->save_dir);
                        json_decref(body);
                        return EXIT_USAGE;
                }
        }

        /* The call (and its payloads) is built before connecting: a bad file
         * fails without touching the bus. */
        r = bus_message_new_method_call(NULL, &m, argv[1], argv[2], argv[3], argv[4]);
        if (r >= 0)
                r = bus_message_set_body(m, body);
        if (r >= 0 && no_reply)
                r = bus_message_set_no_reply(m, true);
        if (r < 0) {
                fprintf(stderr, "busdctl: cannot build the call: %s\n", strerror(-r));
                goto out;
        }
        if (attach_files(ctx, m) < 0)
                goto out;
        if (driver_connect(ctx, &c) < 0)
                goto out;
        if (!(ctx->verb_options & VERB_OPT_NO_CHECK) && check_args(ctx, c, argv, body) < 0)
                goto out;
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
        else if (!ctx->save_dir || save_payloads(ctx->save_dir, reply) >= 0)
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

        if (!check(bus_path_is_valid(argv[1]), "object path", argv[1], RULE_PATH) ||
            !check(bus_interface_is_valid(argv[2]), "interface", argv[2], RULE_INTERFACE) ||
            !check(bus_member_is_valid(argv[3]), "signal", argv[3], RULE_MEMBER) ||
            (ctx->destination && !check(bus_name_is_valid(ctx->destination), "destination",
                                        ctx->destination, RULE_NAME)) ||
            (ctx->key && !check(bus_key_is_valid(ctx->key), "key", ctx->key, "a non-empty UTF-8 string")) ||
            parse_body(argc > 4 ? argv[4] : NULL, &body) < 0)
                return EXIT_USAGE;

        r = bus_message_new_signal(NULL, &m, argv[1], argv[2], argv[3]);
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
        if (attach_files(ctx, m) < 0)
                goto out;
        if (driver_connect(ctx, &c) < 0)
                goto out;
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
