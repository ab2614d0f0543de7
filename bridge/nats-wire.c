/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nats-wire.c — busd messages as NATS messages: subjects, and the data layout
 * (body, then every payload inlined). See nats-wire.h and docs/BRIDGE.md.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nats-wire.h"

int bridge_wire_encode(bus_message *m, uint64_t max, BridgeWire *w) {
        const void *payload[BRIDGE_WIRE_PAYLOADS_MAX];
        const char *body;
        size_t body_len, off;
        uint64_t total;
        unsigned n;

        memset(w, 0, sizeof(*w));
        body = bus_message_get_body_text(m, &body_len);
        if (!body)
                return -EBADMSG;
        n = bus_message_get_payload_count(m);
        if (n > BRIDGE_WIRE_PAYLOADS_MAX)
                return -EBADMSG;
        total = body_len;
        for (unsigned i = 0; i < n; i++) {
                size_t size;
                int r = bus_message_get_payload(m, i, &payload[i], &size);

                if (r < 0)
                        return r == -EBADMSG ? -EBADMSG : r;
                w->payload_sizes[i] = size;
                total += size;
                if (total > max)
                        return -EMSGSIZE;
        }
        if (total > max)
                return -EMSGSIZE;
        w->data = malloc(total ? total : 1);
        if (!w->data)
                return -ENOMEM;
        memcpy(w->data, body, body_len);
        off = body_len;
        for (unsigned i = 0; i < n; i++) {
                memcpy(w->data + off, payload[i], w->payload_sizes[i]);
                off += w->payload_sizes[i];
        }
        w->len = total;
        w->body_len = body_len;
        w->n_payloads = n;
        return 0;
}

void bridge_wire_free(BridgeWire *w) {
        free(w->data);
        w->data = NULL;
}

void bridge_wire_payloads_header(const BridgeWire *w, char *buf, size_t size) {
        size_t off = 0;

        buf[0] = 0;
        for (unsigned i = 0; i < w->n_payloads && off < size; i++)
                off += snprintf(buf + off, size - off, "%s%" PRIu64, i ? "," : "", w->payload_sizes[i]);
}

/* A decimal number, at most 20 digits, ending at @end (',' or NUL). */
static int parse_u64(const char *s, const char **end, uint64_t *ret) {
        uint64_t v = 0;
        const char *p = s;

        if (*p < '0' || *p > '9')
                return -EBADMSG;
        for (; *p >= '0' && *p <= '9'; p++) {
                if (v > (UINT64_MAX - 9) / 10)
                        return -EBADMSG;
                v = v * 10 + (uint64_t)(*p - '0');
        }
        *end = p;
        *ret = v;
        return 0;
}

int bridge_wire_decode(const char *data, size_t len, const char *body_len_hdr,
                       const char *payloads_hdr, BridgeWireView *v) {
        uint64_t body_len = len, used;
        const char *p;

        memset(v, 0, sizeof(*v));
        if (body_len_hdr && (parse_u64(body_len_hdr, &p, &body_len) < 0 || *p))
                return -EBADMSG;
        if (body_len > len)
                return -EBADMSG;
        used = body_len;
        if (payloads_hdr && *payloads_hdr) {
                p = payloads_hdr;
                for (;;) {
                        uint64_t size;

                        if (v->n_payloads >= BRIDGE_WIRE_PAYLOADS_MAX || parse_u64(p, &p, &size) < 0)
                                return -EBADMSG;
                        /* Checked in 64 bits against what arrived, before use. */
                        if (size > len - used)
                                return -EBADMSG;
                        v->payloads[v->n_payloads] = data + used;
                        v->payload_sizes[v->n_payloads++] = size;
                        used += size;
                        if (!*p)
                                break;
                        if (*p++ != ',')
                                return -EBADMSG;
                }
        }
        if (used != len)
                return -EBADMSG;
        v->body = data;
        v->body_len = body_len;
        return 0;
}

int bridge_wire_fill(bus_message *m, const BridgeWireView *v) {
        int r = 0;

        if (v->body_len > 0)
                r = bus_message_set_body_text(m, v->body, v->body_len);
        for (unsigned i = 0; r >= 0 && i < v->n_payloads; i++)
                r = bus_message_attach_bytes(m, v->payloads[i], v->payload_sizes[i]);
        return r;
}

static int subject(char *buf, size_t size, int n) {
        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int bridge_subject_call(char *buf, size_t size, const char *domain, const char *name) {
        return subject(buf, size, snprintf(buf, size, "%s.call.%s", domain, name));
}

int bridge_subject_signal(char *buf, size_t size, const char *domain, const char *host,
                          const char *interface, const char *member) {
        return subject(buf, size,
                       snprintf(buf, size, "%s.sig.%s.%s.%s", domain, host, interface, member));
}

int bridge_subject_signal_import(char *buf, size_t size, const char *domain, const char *host,
                                 const char *interface, const char *member) {
        return subject(buf, size,
                       snprintf(buf, size, "%s.sig.%s.%s.%s", domain, host, interface,
                                member ? member : "*"));
}
