/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * handshake.c — the connection's handshake with the broker (PROTOCOL.md
 * section 2): the preamble we send at connect, the broker's BusWelcome
 * (our unique name, the bus id, the features both sides support), and the
 * properties that only the welcome can answer.
 *
 * The preamble is queued at connect and the welcome is read lazily, as the
 * first sizeof(BusWelcome) input bytes (io.c cuts them with the framer);
 * whatever needs the welcome (the unique name, a send that must know the
 * features) waits for it with handshake_wait(), until the handshake deadline
 * (bus_connect_with_timeout(); the default call timeout otherwise). A bus
 * that does not answer in time ends the connection with -ETIMEDOUT.
 *
 * Invariant: c->welcomed is set once, only with a checked welcome; until
 * then unique_name, bus_id and features are empty.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "bus-internal.h"

int handshake_start(bus_connection *c) {
        BusPreamble p = {
                .magic = BUS_PREAMBLE_MAGIC,
                .version = BUS_PROTOCOL_VERSION,
                .size = sizeof(BusPreamble),
                .features = BUS_FEATURES_SUPPORTED,
        };
        OutItem *item = outitem_new(sizeof(p));

        if (!item)
                return -ENOMEM;
        memcpy(item->data, &p, sizeof(p));
        item->len = sizeof(p);
        return io_enqueue(c, item);
}

int handshake_parse_welcome(bus_connection *c, const uint8_t *bytes) {
        BusWelcome w;

        memcpy(&w, bytes, sizeof(w));
        if (bus_preamble_check(&w.preamble) != 0 || w.unique_id == BUS_DRIVER_ID)
                return -EBADMSG;
        c->features = w.preamble.features & BUS_FEATURES_SUPPORTED;
        bus_unique_name_format(w.unique_id, c->unique_name);
        for (size_t i = 0; i < sizeof(w.bus_id); i++) {
                c->bus_id[2 * i] = "0123456789abcdef"[w.bus_id[i] >> 4];
                c->bus_id[2 * i + 1] = "0123456789abcdef"[w.bus_id[i] & 0xf];
        }
        c->bus_id[2 * sizeof(w.bus_id)] = '\0';
        c->welcomed = true;
        return 0;
}

int handshake_wait(bus_connection *c) {
        uint64_t deadline = c->handshake_deadline;
        /* Nothing received yet: the broker has most likely not even accepted
         * (the usual case right after bus_connect()), so wait before reading
         * instead of a read that finds nothing. */
        bool wait_first = c->in_len == 0;

        while (!c->welcomed) {
                int r;

                if (c->eof)
                        return c->error ? c->error : -ECONNRESET;
                (void)io_write(c);
                if (!wait_first) {
                        r = io_read(c);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                continue;
                }
                wait_first = false;
                r = poll_wait(c, 0, deadline);
                if (r < 0)
                        return r;
                if (r == 0) {
                        /* Dead to us: calls fail, is_open() is false. */
                        conn_fail(c, -ETIMEDOUT);
                        return -ETIMEDOUT;
                }
        }
        return 0;
}

/* ---- Properties the welcome answers ---------------------------------------------------- */

_public_ const char *bus_connection_get_unique_name(bus_connection *c) {
        if (!c || (!c->welcomed && (conn_check_pid(c) < 0 || handshake_wait(c) < 0)))
                return NULL;
        event_rearm(c);
        return c->unique_name;
}

_public_ const char *bus_connection_get_bus_id(bus_connection *c) {
        if (!c || (!c->welcomed && (conn_check_pid(c) < 0 || handshake_wait(c) < 0)))
                return NULL;
        event_rearm(c);
        return c->bus_id;
}
