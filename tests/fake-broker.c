/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fake-broker.c — the scripted fake broker of the libbusclient suites: its
 * socket and temp directory, the handshake, and the broker's side of the
 * byte stream (see fake-broker.h).
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fake-broker.h"

FakeBroker fb = { .listen_fd = -1, .fd = -1 };

void broker_listen(const char *name, int backlog) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        snprintf(fb.dir, sizeof(fb.dir), "/tmp/%s.XXXXXX", name);
        ck_assert_ptr_nonnull(mkdtemp(fb.dir));
        snprintf(fb.path, sizeof(fb.path), "%s/bus.sock", fb.dir);
        strcpy(sa.sun_path, fb.path);
        fb.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fb.listen_fd, 0);
        ck_assert_int_eq(bind(fb.listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        ck_assert_int_eq(listen(fb.listen_fd, backlog), 0);
        fb.fd = -1;
}

void broker_stop(void) {
        if (fb.fd >= 0)
                close(fb.fd);
        if (fb.listen_fd >= 0)
                close(fb.listen_fd);
        fb.fd = fb.listen_fd = -1;
        unlink(fb.path);
        rmdir(fb.dir);
}

BusPreamble broker_connect(bus_connection **ret_bus, const uint8_t *bus_id) {
        BusWelcome w = { .preamble = { BUS_PREAMBLE_MAGIC, BUS_PROTOCOL_VERSION, 16, 0 },
                         .unique_id = 5 };
        BusPreamble p;

        ck_assert_int_eq(bus_connect(ret_bus, fb.path), 0);
        fb.fd = accept4(fb.listen_fd, NULL, NULL, SOCK_CLOEXEC);
        ck_assert_int_ge(fb.fd, 0);
        full_read(&p, sizeof(p));
        ck_assert_int_eq(bus_preamble_check(&p), 0);
        if (bus_id)
                memcpy(w.bus_id, bus_id, sizeof(w.bus_id));
        full_write(&w, sizeof(w));
        return p;
}

void full_write(const void *p, size_t n) {
        ck_assert_int_eq(send(fb.fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

void full_read(void *p, size_t n) {
        ck_assert_int_eq(recv(fb.fd, p, n, MSG_WAITALL), (ssize_t)n);
}

size_t broker_encode(const BusMessageSpec *spec, uint64_t sender_id, uint8_t **ret) {
        uint64_t size = bus_message_encoded_size(spec);
        uint8_t *buf = aligned_alloc(8, (size + 7) & ~(uint64_t)7);
        BusHeader h;
        size_t len;

        ck_assert_ptr_nonnull(buf);
        ck_assert_int_eq(bus_message_encode(spec, buf, size, &len), 0);
        memcpy(&h, buf, sizeof(h));
        h.sender_id = sender_id;
        h.sender_uid = 1234;
        memcpy(buf, &h, sizeof(h));
        *ret = buf;
        return len;
}

void broker_send(const BusMessageSpec *spec, uint64_t sender_id) {
        uint8_t *buf;
        size_t len = broker_encode(spec, sender_id, &buf);

        full_write(buf, len);
        free(buf);
}

void broker_reply(uint64_t serial, uint64_t reply_serial, const char *body) {
        BusMessageSpec spec = { .type = BUS_MESSAGE_METHOD_RETURN,
                                .serial = serial,
                                .reply_serial = reply_serial,
                                .destination = ":1.5",
                                .body = body,
                                .body_len = body ? strlen(body) : 0 };

        broker_send(&spec, BUS_DRIVER_ID);
}

uint8_t *broker_read_message(BusHeader *ret_h, BusFields *ret_f) {
        BusHeader h;
        uint64_t total;
        uint8_t *buf;

        full_read(&h, sizeof(h));
        ck_assert_int_eq(bus_header_check(&h, &total), 0);
        buf = aligned_alloc(8, (total + 7) & ~(uint64_t)7);
        ck_assert_ptr_nonnull(buf);
        memcpy(buf, &h, sizeof(h));
        full_read(buf + sizeof(h), total - sizeof(h));
        ck_assert_int_eq(bus_fields_parse(buf + sizeof(h), h.fields_len, ret_f), 0);
        *ret_h = h;
        return buf;
}
