/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verb-monitor.c — "busdctl monitor [MATCH…]": become a monitor
 * (org.busd.Bus.BecomeMonitor) and print every message the bus lets us see,
 * one line each (or one JSON object per line with --json), optionally
 * writing a pcap capture (--pcap FILE, see pcap.h).
 *
 * Stops after --limit messages, after --timeout, on SIGINT/SIGTERM (exit 0),
 * or when the bus disconnects the monitor (exit 1, with the bus's reason).
 * Everything a peer controls is escaped before it reaches a terminal.
 *
 * A message a bridge forwarded from another host shows it: "bridge" when the
 * bus stamped BUS_SENDER_FLAG_BRIDGE on it, and its remote sender (the ORIGIN
 * field, PROTOCOL.md 3.3: host, uid and unique name there) when it has one,
 * read through bus_message_get_remote_origin(), which trusts the field only
 * together with the flag.
 *
 * Payloads cost the monitor only what it shows (hostile-peers.md item 30):
 * application payloads are never mapped or read (their sizes come from the
 * header), a line shows at most the first MONITOR_BODY_SHOWN bytes of a body
 * (libbusclient maps a body in a payload on first access and faults in only
 * the pages read), and --json parses a body in a payload only up to
 * MONITOR_JSON_BODY_MAX bytes, showing a larger one as null.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus-protocol.h"
#include "busdctl.h"
#include "pcap.h"

/* Bytes of a body shown on a human-readable line; --json shows it all. */
#define MONITOR_BODY_SHOWN 1024u

/* Largest body in a payload --json reads and shows: the largest inline body
 * (BUS_BODY_INLINE_MAX, 4 MiB), which --json shows whole anyway. A larger one
 * is null, so a monitor never reads more of a message than that. */
#define MONITOR_JSON_BODY_MAX BUS_BODY_INLINE_MAX

typedef struct MonitorState {
        const Busdctl *ctx;
        PcapWriter *pcap;
        bool lines; /* print lines (not when the capture goes to stdout) */
        uint64_t seen;
        int error; /* first output error, negative errno */
} MonitorState;

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig) {
        stop_requested = 1;
}

static const char *type_name(int type) {
        switch (type) {
        case BUS_MESSAGE_METHOD_CALL:
                return "call";
        case BUS_MESSAGE_METHOD_RETURN:
                return "return";
        case BUS_MESSAGE_ERROR:
                return "error";
        case BUS_MESSAGE_SIGNAL:
                return "signal";
        default:
                return "unknown";
        }
}

/* What the fixed header and the PAYLOADS field say that the library's
 * accessors do not: flags and every payload's size (the body's included when it
 * travels in payload 0). */
typedef struct RawInfo {
        uint8_t flags;
        unsigned n_payloads;
        uint64_t payload_sizes[BUS_FDS_MAX];
} RawInfo;

static void raw_info(bus_message *m, RawInfo *ret) {
        uint64_t fields[BUS_FIELDS_MAX / 8]; /* 8-aligned copy for the parser */
        const void *data;
        BusFields f;
        BusHeader h;
        size_t len;

        *ret = (RawInfo){ 0 };
        if (bus_message_get_raw(m, &data, &len) < 0 || len < BUS_HEADER_SIZE)
                return;
        memcpy(&h, data, sizeof(h));
        ret->flags = h.flags;
        if (h.fields_len > sizeof(fields) || len < BUS_HEADER_SIZE + (size_t)h.fields_len)
                return;
        memcpy(fields, (const uint8_t *)data + BUS_HEADER_SIZE, h.fields_len);
        if (bus_fields_parse(fields, h.fields_len, &f) != 0 || f.n_payloads > BUS_FDS_MAX)
                return;
        ret->n_payloads = f.n_payloads;
        if (f.n_payloads > 0)
                memcpy(ret->payload_sizes, f.payload_sizes, f.n_payloads * sizeof(uint64_t));
        /* Slices of a pool are payloads too, after the fds (PROTOCOL.md 3.6). */
        for (unsigned i = 0; i < f.n_slices && ret->n_payloads < BUS_FDS_MAX; i++) {
                BusSlice s;

                memcpy(&s, &f.slices[i], sizeof(s));
                ret->payload_sizes[ret->n_payloads++] = s.length;
        }
}

/* " NAME=VALUE", VALUE escaped; nothing if @value is NULL. */
static void put_field(FILE *f, const char *name, const char *value) {
        if (!value)
                return;
        fprintf(f, " %s=", name);
        driver_fputs_escaped(value, f);
}

/* The remote sender of @m, if a bridge forwarded it from another host
 * (docs/BRIDGE.md "Identity across hosts"): true and the parts, else false. */
static bool remote_origin(bus_message *m, const char **ret_host, uid_t *ret_uid,
                          const char **ret_unique) {
        return bus_message_get_remote_origin(m, ret_host, ret_uid, ret_unique) == 0;
}

static void print_line(bus_message *m, const RawInfo *info, uint64_t realtime_usec) {
        time_t secs = (time_t)(realtime_usec / 1000000u);
        const char *body, *host, *unique;
        char when[32];
        struct tm tm;
        size_t len;
        uid_t remote_uid;
        int type = bus_message_get_type(m);

        localtime_r(&secs, &tm);
        strftime(when, sizeof(when), "%H:%M:%S", &tm);
        printf("%s.%06u %-6s serial=%" PRIu64, when, (unsigned)(realtime_usec % 1000000u),
               type_name(type), bus_message_get_serial(m));
        if (type == BUS_MESSAGE_METHOD_RETURN || type == BUS_MESSAGE_ERROR)
                printf(" reply_serial=%" PRIu64, bus_message_get_reply_serial(m));
        put_field(stdout, "sender", bus_message_get_sender(m));
        printf(" uid=%u gid=%u pid=%d", (unsigned)bus_message_get_sender_uid(m),
               (unsigned)bus_message_get_sender_gid(m), (int)bus_message_get_sender_pid(m));
        if (bus_message_get_sender_flags(m) & BUS_SENDER_FLAG_BRIDGE)
                fputs(" bridge", stdout);
        if (remote_origin(m, &host, &remote_uid, &unique)) {
                fputs(" origin=", stdout);
                driver_fputs_escaped(host, stdout);
                printf("/%u/", (unsigned)remote_uid);
                driver_fputs_escaped(unique, stdout);
        }
        put_field(stdout, "destination", bus_message_get_destination(m));
        put_field(stdout, "path", bus_message_get_path(m));
        put_field(stdout, "interface", bus_message_get_interface(m));
        put_field(stdout, "member", bus_message_get_member(m));
        put_field(stdout, "error", bus_message_get_error_name(m));
        put_field(stdout, "key", bus_message_get_key(m));
        if (info->flags & BUS_FLAG_NO_REPLY_EXPECTED)
                fputs(" no_reply", stdout);
        if (info->n_payloads > 0) {
                fputs(" payloads=", stdout);
                for (unsigned i = 0; i < info->n_payloads; i++)
                        printf("%s%" PRIu64, i ? "," : "", info->payload_sizes[i]);
                if (info->flags & BUS_FLAG_BODY_IN_PAYLOAD)
                        fputs(" body_in_payload", stdout);
        }
        body = bus_message_get_body_text(m, &len);
        if (body && len > 0) {
                char *e = output_escape(body, len < MONITOR_BODY_SHOWN ? len : MONITOR_BODY_SHOWN);

                printf(" body=%s", e ? e : "(out of memory)");
                if (len > MONITOR_BODY_SHOWN)
                        printf("…(%zu bytes)", len);
                free(e);
        }
        putchar('\n');
}

static json_t *message_json(bus_message *m, const RawInfo *info, uint64_t realtime_usec) {
        int type = bus_message_get_type(m);
        json_t *o, *body, *payloads;
        const char *text, *host, *unique;
        uid_t remote_uid;
        size_t len;

        o = json_pack("{s:I,s:s,s:I,s:I,s:{s:s?,s:I,s:I,s:I},s:s?,s:s?,s:s?,s:s?,s:s?,s:s?}",
                      "timestamp_usec", (json_int_t)realtime_usec, "type", type_name(type),
                      "serial", (json_int_t)bus_message_get_serial(m), "reply_serial",
                      (json_int_t)bus_message_get_reply_serial(m), "sender", "name",
                      bus_message_get_sender(m), "uid", (json_int_t)bus_message_get_sender_uid(m),
                      "gid", (json_int_t)bus_message_get_sender_gid(m), "pid",
                      (json_int_t)bus_message_get_sender_pid(m), "destination",
                      bus_message_get_destination(m), "path", bus_message_get_path(m), "interface",
                      bus_message_get_interface(m), "member", bus_message_get_member(m), "error",
                      bus_message_get_error_name(m), "key", bus_message_get_key(m));
        if (!o)
                return NULL;
        /* Through a bridge: the flag, and the remote sender when there is one. */
        json_object_set_new(o, "bridge",
                            json_boolean(bus_message_get_sender_flags(m) & BUS_SENDER_FLAG_BRIDGE));
        if (remote_origin(m, &host, &remote_uid, &unique))
                json_object_set_new(o, "origin",
                                    json_pack("{s:s,s:I,s:s}", "host", host, "uid",
                                              (json_int_t)remote_uid, "unique_name", unique));
        else
                json_object_set_new(o, "origin", json_null());
        json_object_set_new(o, "no_reply", json_boolean(info->flags & BUS_FLAG_NO_REPLY_EXPECTED));
        payloads = json_array();
        for (unsigned i = 0; payloads && i < info->n_payloads; i++)
                json_array_append_new(payloads, json_integer((json_int_t)info->payload_sizes[i]));
        json_object_set_new(o, "payloads", payloads ? payloads : json_null());
        json_object_set_new(o, "body_in_payload", json_boolean(info->flags & BUS_FLAG_BODY_IN_PAYLOAD));
        /* The body as JSON when it parses, else as the text it is; null if
         * empty, or if it travelled in a payload larger than
         * MONITOR_JSON_BODY_MAX (not read). Every key is always present, null
         * when absent. */
        if ((info->flags & BUS_FLAG_BODY_IN_PAYLOAD) && info->n_payloads > 0 &&
            info->payload_sizes[0] > MONITOR_JSON_BODY_MAX) {
                body = NULL;
                text = NULL;
                len = 0;
        } else {
                body = bus_message_get_body(m);
                text = bus_message_get_body_text(m, &len);
        }
        if (body)
                json_object_set(o, "body", body);
        else if (text && len > 0)
                json_object_set_new(o, "body", json_stringn(text, len));
        else
                json_object_set_new(o, "body", json_null());
        return o;
}

static int on_message(bus_message *m, void *userdata) {
        MonitorState *s = userdata;
        uint64_t now = output_now_realtime();
        RawInfo info;
        int r;

        s->seen++;
        if (s->pcap) {
                const void *data;
                size_t len;

                r = bus_message_get_raw(m, &data, &len);
                if (r >= 0)
                        r = pcap_writer_append(s->pcap, now, data, len);
                if (r < 0 && s->error == 0)
                        s->error = r;
        }
        if (!s->lines)
                return 0;
        raw_info(m, &info);
        if (s->ctx->json != OUTPUT_JSON_OFF) {
                json_t *o = message_json(m, &info, now);

                r = o ? output_json_print(o, OUTPUT_JSON_SHORT) : -ENOMEM;
                json_decref(o);
                if (r < 0 && s->error == 0)
                        s->error = r;
        } else {
                print_line(m, &info, now);
        }
        if (fflush(stdout) != 0 && s->error == 0)
                s->error = -EIO;
        return 0;
}

/* Check the rules before connecting: a typo is a usage error. */
static int check_rules(int n, char **rules) {
        BusMatchRule parsed;

        for (int i = 0; i < n; i++) {
                int r = strlen(rules[i]) > BUS_MATCH_RULE_MAX
                                ? BUS_MATCH_E_TOO_LONG
                                : bus_match_rule_parse(rules[i], &parsed);

                if (r != 0) {
                        fputs("busdctl: invalid match rule '", stderr);
                        driver_fputs_escaped(rules[i], stderr);
                        fprintf(stderr,
                                "': %s\nExample: \"type='signal',interface='org.example.Foo'\"\n",
                                bus_match_strerror(r));
                        return -EINVAL;
                }
        }
        return 0;
}

/* "busdctl monitor NAME": an argument without '=' that is a bus name stands
 * for the two rules that follow that name, as busctl's: what it sends
 * (sender) and what is sent to it (destination; for a monitor this matches
 * the destination as written, a well-known name too, PROTOCOL.md section 7).
 * Returns the rules (NULL-terminated, strings malloc()ed) in *@ret, or
 * -EINVAL after saying why (more than BUS_MONITOR_RULES_MAX rules). */
static int expand_names(int n, char **args, char ***ret) {
        char **rules = calloc(2 * (size_t)n + 1, sizeof(*rules));
        size_t k = 0;

        if (!rules)
                return -ENOMEM;
        for (int i = 0; i < n; i++) {
                if (!strchr(args[i], '=') && bus_name_is_valid(args[i])) {
                        if (asprintf(&rules[k++], "sender='%s'", args[i]) < 0 ||
                            asprintf(&rules[k++], "destination='%s'", args[i]) < 0) {
                                rules[k - 1] = NULL;
                                goto nomem;
                        }
                } else if (!(rules[k++] = strdup(args[i])))
                        goto nomem;
        }
        if (k > BUS_MONITOR_RULES_MAX) {
                fprintf(stderr, "busdctl: at most %u match rules (each NAME counts as two)\n",
                        BUS_MONITOR_RULES_MAX);
                for (size_t i = 0; i < k; i++)
                        free(rules[i]);
                free(rules);
                return -EINVAL;
        }
        *ret = rules;
        return 0;
nomem:
        for (size_t i = 0; i < k; i++)
                free(rules[i]);
        free(rules);
        return -ENOMEM;
}

static void install_stop_handlers(void) {
        struct sigaction sa = { .sa_handler = on_stop_signal };

        /* No SA_RESTART: the wait for the bus returns at once. */
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
}

int verb_monitor(Busdctl *ctx, int argc, char **argv) {
        MonitorState s = { .ctx = ctx, .lines = true };
        bus_error error = BUS_ERROR_INIT;
        bus_connection *c = NULL;
        uint64_t deadline = UINT64_MAX, now;
        int r, ret = EXIT_FAILURE;
        char **rules = NULL;
        int n_rules = 0;

        r = expand_names(argc - 1, argv + 1, &rules);
        if (r < 0)
                return r == -EINVAL ? EXIT_USAGE : EXIT_FAILURE;
        while (rules[n_rules])
                n_rules++;
        if (check_rules(n_rules, rules) < 0) {
                for (int i = 0; i < n_rules; i++)
                        free(rules[i]);
                free(rules);
                return EXIT_USAGE;
        }
        if (ctx->pcap) {
                r = pcap_writer_open(&s.pcap, ctx->pcap);
                if (r < 0) {
                        fputs("busdctl: cannot write the capture file ", stderr);
                        driver_fputs_escaped(ctx->pcap, stderr);
                        fprintf(stderr, ": %s\n", strerror(-r));
                        goto out;
                }
                s.lines = strcmp(ctx->pcap, "-") != 0;
        }
        if (ctx->timeout_usec > 0)
                deadline = output_now_monotonic() + ctx->timeout_usec;
        install_stop_handlers();

        if (driver_connect(ctx, &c) < 0)
                goto out;
        r = bus_connection_become_monitor(c, n_rules > 0 ? (const char *const *)rules : NULL,
                                          on_message, &s);
        if (r < 0) {
                driver_print_error(r == -ENOBUFS ? "cannot become a monitor (too many monitors)"
                                                 : "cannot become a monitor",
                                   r, NULL);
                goto out;
        }

        while (!stop_requested && (ctx->limit == 0 || s.seen < ctx->limit)) {
                if (s.error < 0) {
                        fprintf(stderr, "busdctl: cannot write the output: %s\n", strerror(-s.error));
                        goto out;
                }
                r = bus_connection_process(c);
                if (r < 0) {
                        if (bus_connection_get_disconnect_error(c, &error) >= 0)
                                driver_print_error("the bus ended the monitor", r, &error);
                        else
                                driver_print_error("lost the connection to the bus", r, NULL);
                        goto out;
                }
                if (r > 0)
                        continue;
                now = output_now_monotonic();
                if (now >= deadline)
                        break;
                r = bus_connection_wait(c, deadline == UINT64_MAX ? UINT64_MAX : deadline - now);
                if (r < 0) {
                        driver_print_error("cannot wait for the bus", r, NULL);
                        goto out;
                }
        }
        ret = s.error < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        if (s.error < 0)
                fprintf(stderr, "busdctl: cannot write the output: %s\n", strerror(-s.error));
out:
        bus_error_free(&error);
        bus_connection_close(c);
        pcap_writer_close(s.pcap);
        for (int i = 0; i < n_rules; i++)
                free(rules[i]);
        free(rules);
        return ret;
}
