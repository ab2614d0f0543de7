/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * raw-peer.c — a bus peer on a bare socket (see raw-peer.h).
 *
 * Owns: the socket, a read buffer holding at most one partial message plus
 * whatever else one read() returned, and a FIFO of complete messages read
 * while waiting for something else (raw_peer_recv_reply), so no message is
 * lost or reordered.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bus-protocol.h"
#include "raw-peer.h"

/* One read() at most this much; the buffer grows to a whole message. */
#define RAW_READ_CHUNK (64u * 1024u)

static uint64_t mono_usec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

RawPeer *raw_peer_open(const char *address)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        RawPeer *p = calloc(1, sizeof(*p));

        ck_assert_ptr_nonnull(p);
        ck_assert_uint_lt(strlen(address), sizeof(sa.sun_path));
        strcpy(sa.sun_path, address);
        p->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(p->fd, 0);
        ck_assert_msg(connect(p->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect %s: %s",
                      address, strerror(errno));
        p->next_serial = 1;
        return p;
}

size_t raw_preamble(void *buf, size_t size)
{
        BusPreamble pre = {
                .magic = BUS_PREAMBLE_MAGIC,
                .version = BUS_PROTOCOL_VERSION,
                .size = sizeof(BusPreamble),
                .features = 0,
        };

        ck_assert_uint_ge(size, sizeof(pre));
        memcpy(buf, &pre, sizeof(pre));
        return sizeof(pre);
}

int raw_child_connect(const char *address, uint64_t features, bool silent, uint64_t *ret_id)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        BusPreamble pre = {
                .magic = BUS_PREAMBLE_MAGIC,
                .version = BUS_PROTOCOL_VERSION,
                .size = sizeof(BusPreamble),
                .features = features,
        };
        BusWelcome w;
        size_t got = 0;
        ssize_t sent;
        int fd;

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", address);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                if (fd >= 0)
                        close(fd);
                return RAW_CONNECT_FAILED;
        }
        if (silent)
                return fd;
        sent = send(fd, &pre, sizeof(pre), MSG_NOSIGNAL);
        if (sent != (ssize_t)sizeof(pre) &&
            !(sent < 0 && (errno == EPIPE || errno == ECONNRESET))) {
                close(fd);
                return RAW_CONNECT_FAILED;
        }
        while (got < sizeof(w)) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t r;

                if (poll(&p, 1, 5000) <= 0) {
                        close(fd);
                        return RAW_CONNECT_SILENT;
                }
                r = read(fd, (uint8_t *)&w + got, sizeof(w) - got);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r == 0 || (r < 0 && errno == ECONNRESET)) {
                        close(fd);
                        return RAW_CONNECT_CLOSED;
                }
                if (r < 0) {
                        close(fd);
                        return RAW_CONNECT_FAILED;
                }
                got += (size_t)r;
        }
        if (w.preamble.magic != BUS_PREAMBLE_MAGIC || w.unique_id == 0) {
                close(fd);
                return RAW_CONNECT_GARBLED;
        }
        if (ret_id)
                *ret_id = w.unique_id;
        return fd;
}

/* Read more bytes into the buffer, waiting until @deadline (µs). Returns
 * false on timeout; sets p->eof when the connection ended. */
static bool raw_fill(RawPeer *p, uint64_t deadline)
{
        struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
        ssize_t n;

        if (p->eof)
                return false;
        for (;;) {
                uint64_t now = mono_usec();
                int r;

                if (now >= deadline)
                        return false;
                r = poll(&pfd, 1, (int)((deadline - now + 999) / 1000));
                if (r > 0)
                        break;
                if (r < 0 && errno != EINTR)
                        ck_abort_msg("poll: %s", strerror(errno));
        }
        if (p->rcap - p->rlen < RAW_READ_CHUNK) {
                size_t cap = p->rlen + RAW_READ_CHUNK;

                ck_assert_uint_le(cap, (size_t)BUS_MESSAGE_INLINE_MAX + 2 * RAW_READ_CHUNK);
                p->rbuf = realloc(p->rbuf, cap);
                ck_assert_ptr_nonnull(p->rbuf);
                p->rcap = cap;
        }
        n = read(p->fd, p->rbuf + p->rlen, RAW_READ_CHUNK);
        if (n > 0) {
                p->rlen += (size_t)n;
        } else if (n == 0) {
                p->eof = true;
        } else if (errno != EINTR && errno != EAGAIN) {
                p->eof = true;
                p->error = errno;
        }
        return true;
}

/* A complete message from the buffer, or NULL if there is none yet. */
static RawMsg *raw_extract(RawPeer *p)
{
        BusHeader h;
        BusFields f;
        uint64_t total = 0;
        RawMsg *m;
        int r;

        if (p->rlen < sizeof(h))
                return NULL;
        memcpy(&h, p->rbuf, sizeof(h));
        r = bus_header_check(&h, &total);
        ck_assert_msg(r == 0, "broker sent an invalid header: %s", bus_proto_strerror(r));
        if (p->rlen < total)
                return NULL;

        m = calloc(1, sizeof(*m));
        ck_assert_ptr_nonnull(m);
        m->data = malloc(total + 1);
        ck_assert_ptr_nonnull(m->data);
        memcpy(m->data, p->rbuf, total);
        m->data[total] = 0;
        m->len = total;
        memmove(p->rbuf, p->rbuf + total, p->rlen - total);
        p->rlen -= total;

        r = bus_fields_parse(m->data + sizeof(h), h.fields_len, &f);
        ck_assert_msg(r == 0, "broker sent invalid fields: %s", bus_proto_strerror(r));
        r = bus_message_check(&h, &f);
        ck_assert_msg(r == 0, "broker sent an invalid message: %s", bus_proto_strerror(r));

        m->type = h.type;
        m->flags = h.flags;
        m->n_fds = h.n_fds;
        m->serial = h.serial;
        m->reply_serial = h.reply_serial;
        m->deadline_ns = h.deadline_ns;
        m->sender_id = h.sender_id;
        m->sender_pid_id = h.sender_pid_id;
        m->sender_uid = h.sender_uid;
        m->sender_gid = h.sender_gid;
        m->sender_pid = h.sender_pid;
        m->sender_reserved = h.sender_reserved;
        m->destination = f.destination;
        m->path = f.path;
        m->interface = f.interface;
        m->member = f.member;
        m->error_name = f.error_name;
        m->key = f.key;
        m->origin = f.origin;
        m->body = (const char *)m->data + sizeof(h) + h.fields_len;
        m->body_len = (size_t)h.body_len;
        if (m->body_len > 0)
                m->json = json_loadb(m->body, m->body_len, 0, NULL);
        return m;
}

/* The next message from the socket (not the queue). */
static RawMsg *raw_read_one(RawPeer *p, uint64_t deadline)
{
        for (;;) {
                RawMsg *m = raw_extract(p);

                if (m)
                        return m;
                if (p->eof)
                        return NULL;
                if (!raw_fill(p, deadline))
                        return NULL;
        }
}

void raw_peer_hello(RawPeer *p)
{
        uint8_t pre[sizeof(BusPreamble)];

        raw_preamble(pre, sizeof(pre));
        ck_assert_int_eq(raw_peer_write(p, pre, sizeof(pre)), 0);
        raw_peer_read_welcome(p);
}

void raw_peer_read_welcome(RawPeer *p)
{
        uint64_t deadline = mono_usec() + 5000000u;
        BusWelcome w;
        int r;

        while (p->rlen < sizeof(w)) {
                ck_assert_msg(raw_fill(p, deadline) && !p->eof,
                              "no welcome from the broker (%s)",
                              p->eof ? "connection closed" : "timeout");
        }
        memcpy(&w, p->rbuf, sizeof(w));
        memmove(p->rbuf, p->rbuf + sizeof(w), p->rlen - sizeof(w));
        p->rlen -= sizeof(w);
        r = bus_preamble_check(&w.preamble);
        ck_assert_msg(r == 0, "bad welcome preamble: %s", bus_proto_strerror(r));
        ck_assert_msg((w.preamble.features & ~p->features) == 0,
                      "broker enabled features we did not ask for");
        p->features = w.preamble.features;
        ck_assert_msg(w.unique_id != BUS_DRIVER_ID, "unique id 0");
        p->id = w.unique_id;
        bus_unique_name_format(p->id, p->name);
}

RawPeer *raw_peer_new(const char *address)
{
        RawPeer *p = raw_peer_open(address);

        raw_peer_hello(p);
        return p;
}

RawPeer *raw_peer_new_payloads(const char *address)
{
        RawPeer *p = raw_peer_open(address);
        uint8_t pre[sizeof(BusPreamble)];
        BusPreamble *pp = (BusPreamble *)(void *)pre;

        raw_preamble(pre, sizeof(pre));
        pp->features = BUS_FEATURE_PAYLOADS;
        p->features = BUS_FEATURE_PAYLOADS;
        ck_assert_int_eq(raw_peer_write(p, pre, sizeof(pre)), 0);
        raw_peer_read_welcome(p);
        ck_assert_msg(p->features & BUS_FEATURE_PAYLOADS, "broker did not grant payloads");
        return p;
}

RawPeer *raw_peer_free(RawPeer *p)
{
        if (!p)
                return NULL;
        if (p->fd >= 0)
                close(p->fd);
        for (unsigned i = 0; i < p->qlen; i++)
                raw_msg_free(p->queue[i]);
        free(p->rbuf);
        free(p);
        return NULL;
}

int raw_peer_write(RawPeer *p, const void *buf, size_t len)
{
        const uint8_t *b = buf;

        while (len > 0) {
                ssize_t n = send(p->fd, b, len, MSG_NOSIGNAL);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                b += n;
                len -= (size_t)n;
        }
        return 0;
}

/* sendmsg() @buf with the control messages in @control (may be NULL), then
 * plain writes for the rest. */
static int write_with_control(RawPeer *p, const void *buf, size_t len, void *control,
                              size_t control_len)
{
        struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = control,
                .msg_controllen = control_len,
        };
        ssize_t n;

        do
                n = sendmsg(p->fd, &mh, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        return raw_peer_write(p, (const uint8_t *)buf + n, len - (size_t)n);
}

/* Make @cm an SCM_RIGHTS block carrying @fds. */
static void put_rights(struct cmsghdr *cm, const int *fds, unsigned n_fds)
{
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * n_fds);
}

int raw_peer_write_fds(RawPeer *p, const void *buf, size_t len, const int *fds, unsigned n_fds)
{
        size_t space = CMSG_SPACE(sizeof(int) * n_fds);
        void *control;
        struct msghdr mh;
        int r;

        if (n_fds == 0)
                return raw_peer_write(p, buf, len);
        control = calloc(1, space);
        ck_assert_ptr_nonnull(control);
        mh = (struct msghdr){ .msg_control = control, .msg_controllen = space };
        put_rights(CMSG_FIRSTHDR(&mh), fds, n_fds);
        r = write_with_control(p, buf, len, control, space);
        free(control);
        return r;
}

int raw_peer_write_two_blocks(RawPeer *p, const void *buf, size_t len, const int *a,
                              unsigned n_a, const int *b, unsigned n_b)
{
        size_t space = CMSG_SPACE(sizeof(int) * n_a) + CMSG_SPACE(sizeof(int) * n_b);
        void *control = calloc(1, space);
        struct msghdr mh = { .msg_control = control, .msg_controllen = space };
        struct cmsghdr *cm;
        int r;

        ck_assert_ptr_nonnull(control);
        cm = CMSG_FIRSTHDR(&mh);
        put_rights(cm, a, n_a);
        cm = CMSG_NXTHDR(&mh, cm);
        ck_assert_ptr_nonnull(cm);
        put_rights(cm, b, n_b);
        r = write_with_control(p, buf, len, control, space);
        free(control);
        return r;
}

/* @spec with its body length filled in (raw-peer.h: body_len 0 = text). */
static BusMessageSpec spec_with_body_len(const RawSpec *spec)
{
        BusMessageSpec s = *spec;

        if (s.body && s.body_len == 0)
                s.body_len = strlen(s.body);
        return s;
}

size_t raw_peer_encode(RawPeer *p, const RawSpec *spec, void *buf, size_t size,
                       uint64_t *ret_serial)
{
        BusMessageSpec s = spec_with_body_len(spec);
        size_t len = 0;
        int r;

        if (s.serial == 0)
                s.serial = p->next_serial++;
        r = bus_message_encode(&s, buf, size, &len);
        ck_assert_msg(r == 0, "bus_message_encode: %s", bus_proto_strerror(r));
        if (ret_serial)
                *ret_serial = s.serial;
        return len;
}

static size_t put_field(uint8_t *buf, size_t off, size_t size, uint16_t code, const char *s)
{
        size_t vlen;
        uint16_t len16;

        if (!s)
                return off;
        vlen = strlen(s) + 1;
        len16 = (uint16_t)vlen;
        ck_assert_uint_le(off + 4 + vlen + 8, size);
        memcpy(buf + off, &code, 2);
        memcpy(buf + off + 2, &len16, 2);
        memcpy(buf + off + 4, s, vlen);
        off += 4 + vlen;
        while (off % 8)
                buf[off++] = 0;
        return off;
}

size_t raw_encode_unchecked(const RawSpec *raw_spec, void *buf, size_t size)
{
        const BusMessageSpec s = spec_with_body_len(raw_spec), *spec = &s;
        uint8_t *b = buf;
        BusHeader h = {
                .type = spec->type,
                .flags = spec->flags,
                .serial = spec->serial,
                .reply_serial = spec->reply_serial,
                .deadline_ns = spec->deadline_ns,
        };
        size_t off = sizeof(h), blen = spec->body_len;

        ck_assert_uint_ge(size, sizeof(h));
        memset(b, 0, size);
        off = put_field(b, off, size, BUS_FIELD_DESTINATION, spec->destination);
        off = put_field(b, off, size, BUS_FIELD_PATH, spec->path);
        off = put_field(b, off, size, BUS_FIELD_INTERFACE, spec->interface);
        off = put_field(b, off, size, BUS_FIELD_MEMBER, spec->member);
        off = put_field(b, off, size, BUS_FIELD_ERROR_NAME, spec->error_name);
        off = put_field(b, off, size, BUS_FIELD_KEY, spec->key);
        h.fields_len = (uint32_t)(off - sizeof(h));
        h.body_len = blen;
        memcpy(b, &h, sizeof(h));
        ck_assert_uint_le(off + blen, size);
        if (blen)
                memcpy(b + off, spec->body, blen);
        return off + blen;
}

uint64_t raw_peer_send_fds(RawPeer *p, const RawSpec *spec, const int *fds, unsigned n_fds)
{
        BusMessageSpec s = spec_with_body_len(spec);
        size_t size = (size_t)bus_message_encoded_size(&s), len;
        uint64_t serial = 0;
        void *buf = malloc(size);
        int r;

        ck_assert_ptr_nonnull(buf);
        len = raw_peer_encode(p, spec, buf, size, &serial);
        r = raw_peer_write_fds(p, buf, len, fds, n_fds);
        ck_assert_msg(r == 0, "raw send: %s", strerror(-r));
        free(buf);
        return serial;
}

uint64_t raw_peer_send(RawPeer *p, const RawSpec *spec)
{
        return raw_peer_send_fds(p, spec, NULL, 0);
}

uint64_t raw_peer_signal(RawPeer *p, const char *destination, const char *path,
                         const char *interface, const char *member, const char *key,
                         const char *body)
{
        RawSpec s = {
                .type = BUS_MESSAGE_SIGNAL,
                .destination = destination,
                .path = path,
                .interface = interface,
                .member = member,
                .key = key,
                .body = body,
        };

        return raw_peer_send(p, &s);
}

RawMsg *raw_peer_recv(RawPeer *p, int timeout_ms)
{
        if (p->qlen > 0) {
                RawMsg *m = p->queue[0];

                memmove(p->queue, p->queue + 1, (p->qlen - 1) * sizeof(p->queue[0]));
                p->qlen--;
                return m;
        }
        return raw_read_one(p, mono_usec() + (uint64_t)timeout_ms * 1000u);
}

static bool is_reply_to(const RawMsg *m, uint64_t serial)
{
        return (m->type == BUS_MESSAGE_METHOD_RETURN || m->type == BUS_MESSAGE_ERROR) &&
               m->reply_serial == serial;
}

RawMsg *raw_peer_recv_reply(RawPeer *p, uint64_t serial, int timeout_ms)
{
        uint64_t deadline = mono_usec() + (uint64_t)timeout_ms * 1000u;

        for (unsigned i = 0; i < p->qlen; i++) {
                RawMsg *m = p->queue[i];

                if (is_reply_to(m, serial)) {
                        memmove(p->queue + i, p->queue + i + 1,
                                (p->qlen - i - 1) * sizeof(p->queue[0]));
                        p->qlen--;
                        return m;
                }
        }
        for (;;) {
                RawMsg *m = raw_read_one(p, deadline);

                if (!m || is_reply_to(m, serial))
                        return m;
                ck_assert_msg(p->qlen < RAW_QUEUE_MAX, "raw peer queue overflow");
                p->queue[p->qlen++] = m;
        }
}

RawMsg *raw_peer_expect_eof(RawPeer *p, int timeout_ms)
{
        uint64_t deadline = mono_usec() + (uint64_t)timeout_ms * 1000u;
        RawMsg *last = NULL;

        for (;;) {
                uint64_t now = mono_usec();
                RawMsg *m = raw_peer_recv(p, now < deadline ? (int)((deadline - now) / 1000) : 0);

                if (m) {
                        raw_msg_free(last);
                        last = m;
                        continue;
                }
                if (p->eof)
                        return last;
                raw_msg_free(last);
                ck_abort_msg("broker did not close the connection within %d ms", timeout_ms);
        }
}

RawMsg *raw_msg_free(RawMsg *m)
{
        if (!m)
                return NULL;
        json_decref(m->json);
        free(m->data);
        free(m);
        return NULL;
}

uint64_t raw_peer_driver_send(RawPeer *p, const char *member, json_t *args)
{
        char *text;
        uint64_t serial;
        RawSpec s = {
                .type = BUS_MESSAGE_METHOD_CALL,
                .destination = BUS_DRIVER_NAME,
                .path = BUS_DRIVER_PATH,
                .interface = BUS_DRIVER_INTERFACE,
                .member = member,
        };

        if (!args)
                args = json_object();
        text = json_dumps(args, JSON_COMPACT);
        json_decref(args);
        ck_assert_ptr_nonnull(text);
        s.body = text;
        serial = raw_peer_send(p, &s);
        free(text);
        return serial;
}

RawMsg *raw_peer_driver_call(RawPeer *p, const char *member, json_t *args)
{
        uint64_t serial = raw_peer_driver_send(p, member, args);
        RawMsg *m = raw_peer_recv_reply(p, serial, 5000);

        ck_assert_msg(m, "no answer to %s from the broker (%s)", member,
                      p->eof ? "connection closed" : "timeout");
        ck_assert_msg(m->sender_id == BUS_DRIVER_ID, "answer to %s not from the bus", member);
        return m;
}

/* Call @member (AddMatch, RemoveMatch) with @rule; asserts a method return. */
static void driver_call_rule(RawPeer *p, const char *member, const char *rule)
{
        RawMsg *m = raw_peer_driver_call(p, member, json_pack("{s:s}", "rule", rule));

        ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN, "%s(%s): %s", member, rule,
                      raw_msg_describe(m));
        raw_msg_free(m);
}

void raw_peer_add_match(RawPeer *p, const char *rule)
{
        driver_call_rule(p, "AddMatch", rule);
}

void raw_peer_remove_match(RawPeer *p, const char *rule)
{
        driver_call_rule(p, "RemoveMatch", rule);
}

int raw_peer_request_name(RawPeer *p, const char *name, unsigned flags)
{
        RawMsg *m = raw_peer_driver_call(p, "RequestName",
                                         json_pack("{s:s,s:I}", "name", name, "flags",
                                                   (json_int_t)flags));
        json_t *res;
        int r;

        ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN, "RequestName(%s): %s", name,
                      raw_msg_describe(m));
        res = json_object_get(m->json, "result");
        ck_assert_msg(json_is_integer(res), "RequestName(%s): no result: %s", name,
                      raw_msg_describe(m));
        r = (int)json_integer_value(res);
        raw_msg_free(m);
        return r;
}

bool raw_msg_is_signal(const RawMsg *m, const char *member)
{
        return m && m->type == BUS_MESSAGE_SIGNAL && m->member && strcmp(m->member, member) == 0;
}

bool raw_msg_is_error(const RawMsg *m, const char *error_name)
{
        return m && m->type == BUS_MESSAGE_ERROR && m->error_name &&
               strcmp(m->error_name, error_name) == 0;
}

const char *raw_msg_str(const RawMsg *m, const char *key)
{
        json_t *v = m ? json_object_get(m->json, key) : NULL;

        return json_is_string(v) ? json_string_value(v) : "";
}

const char *raw_msg_describe(const RawMsg *m)
{
        static char buf[1024];

        if (!m)
                return "(no message)";
        snprintf(buf, sizeof(buf),
                 "type=%u serial=%" PRIu64 " reply_serial=%" PRIu64 " sender=%" PRIu64
                 " dest=%s path=%s iface=%s member=%s error=%s key=%s body=%.300s",
                 m->type, m->serial, m->reply_serial, m->sender_id,
                 m->destination ? m->destination : "-", m->path ? m->path : "-",
                 m->interface ? m->interface : "-", m->member ? m->member : "-",
                 m->error_name ? m->error_name : "-", m->key ? m->key : "-",
                 m->body_len ? m->body : "");
        return buf;
}

/* ---- payload pools ------------------------------------------------------------------ */

RawPool raw_pool_make(uint64_t size, int seals, char fill) {
        RawPool p = { .size = size };

        p.fd = memfd_create("raw-pool", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        ck_assert_int_ge(p.fd, 0);
        ck_assert_int_eq(ftruncate(p.fd, (off_t)size), 0);
        p.map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, p.fd, 0);
        ck_assert_ptr_ne(p.map, MAP_FAILED);
        memset(p.map, fill, size); /* backed */
        if (seals)
                ck_assert_int_eq(fcntl(p.fd, F_ADD_SEALS, seals), 0);
        return p;
}

void raw_pool_unmake(RawPool *p) {
        munmap(p->map, p->size);
        close(p->fd);
}

RawPeer *raw_peer_new_pools(const char *address) {
        RawPeer *p = raw_peer_open(address);
        uint8_t pre[sizeof(BusPreamble)];
        BusPreamble *pp = (BusPreamble *)(void *)pre;

        raw_preamble(pre, sizeof(pre));
        pp->features = BUS_FEATURE_PAYLOADS | BUS_FEATURE_POOLS;
        p->features = pp->features;
        ck_assert_int_eq(raw_peer_write(p, pre, sizeof(pre)), 0);
        raw_peer_read_welcome(p);
        ck_assert_msg(p->features & BUS_FEATURE_POOLS, "broker did not grant pools");
        return p;
}

RawMsg *raw_peer_add_pool(RawPeer *p, uint32_t id, int fd, uint64_t size) {
        char body[64];
        uint64_t serial;

        snprintf(body, sizeof(body), "{\"pool\":%u}", id);
        serial = raw_peer_send_fds(p, &(RawSpec){ .type = BUS_MESSAGE_METHOD_CALL,
                                                  .destination = BUS_DRIVER_NAME,
                                                  .path = BUS_DRIVER_PATH,
                                                  .interface = BUS_DRIVER_INTERFACE,
                                                  .member = "AddPool",
                                                  .payload_sizes = &size,
                                                  .n_payloads = 1,
                                                  .body = body },
                                   &fd, fd >= 0 ? 1 : 0);
        return raw_peer_recv_reply(p, serial, 5000);
}

void raw_peer_add_pool_ok(RawPeer *p, uint32_t id, int fd, uint64_t size) {
        RawMsg *m = raw_peer_add_pool(p, id, fd, size);

        ck_assert_msg(m && m->type == BUS_MESSAGE_METHOD_RETURN, "AddPool: %s", raw_msg_describe(m));
        raw_msg_free(m);
}

RawMsg *raw_peer_recv_member(RawPeer *p, const char *member, int timeout_ms) {
        for (int i = 0; i < 64; i++) {
                RawMsg *m = raw_peer_recv(p, timeout_ms);

                if (!m)
                        return NULL;
                if ((m->member && strcmp(m->member, member) == 0) ||
                    (m->error_name && strcmp(m->error_name, member) == 0))
                        return m;
                raw_msg_free(m);
        }
        return NULL;
}

RawMsg *raw_peer_release_slice(RawPeer *p, uint64_t owner, uint32_t pool, uint64_t offset,
                               uint64_t length) {
        return raw_peer_driver_call(
                p, "ReleaseSlices",
                json_pack("{s:[[I,I,I,I]]}", "slices", (json_int_t)owner, (json_int_t)pool,
                          (json_int_t)offset, (json_int_t)length));
}
