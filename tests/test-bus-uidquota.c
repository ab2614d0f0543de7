/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bus-uidquota.c — quotas at two levels (docs/DAEMON.md "Fair shares",
 * "Quotas per uid"; issue 11), against a real busd, with connections of
 * other uids (made by forked children that drop to nobody or 65533 and hand
 * their connected sockets back, so the kernel's SO_PEERCRED names them):
 *  - one uid flooding another uid's receiver is refused at its share of that
 *    queue, while a sibling connection of the same uid, another uid and a
 *    third uid (root) all still get messages in;
 *  - a stalled connection beside a healthy one of the same uid: the healthy
 *    one keeps receiving, calling and sending, is never refused or
 *    disconnected, and only the stalled one is disconnected (slow consumer);
 *  - limits.outgoing_bytes_per_uid reached across connections of one uid:
 *    the sender over its share is refused with LimitsExceeded naming the
 *    limit, its sibling and another uid still send, root is exempt;
 *  - likewise names_per_uid, matches_per_uid and pending_replies_per_uid,
 *    with the uid's usage and refusals in GetStats "uids", all gone once
 *    its connections are.
 * Each ends with the three checks (serves others, fds and counters back to
 * baseline). Skipped unless run as root (setuid needs it).
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bus-protocol.h"
#include "harness.h"
#include "raw-peer.h"

#define NOBODY 65534
#define OTHER_UID 65533
#define IFACE "org.example.Quota"
#define RULE "type='signal',interface='org.example.Quota'"

/* A connected socket of @uid: a child drops to @uid, connects (the kernel
 * records its credentials at connect()) and sends the fd back; the
 * handshake is ours. */
static RawPeer *peer_as(uid_t uid) {
        int sv[2], status, fd = -1;
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } u;
        char byte = 0;
        struct iovec iov = { &byte, 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                             .msg_controllen = sizeof(u.buf) };
        struct cmsghdr *cm;
        RawPeer *p;
        pid_t child;

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        child = fork();
        ck_assert_int_ge(child, 0);
        if (child == 0) {
                int c;

                if (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0)
                        _exit(90);
                c = raw_child_connect(busd_address(), 0, true, NULL);
                if (c < 0)
                        _exit(91);
                memset(u.buf, 0, sizeof(u.buf));
                cm = CMSG_FIRSTHDR(&mh);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(cm), &c, sizeof(int));
                _exit(sendmsg(sv[1], &mh, 0) == 1 ? 0 : 92);
        }
        close(sv[1]);
        ck_assert_int_eq(recvmsg(sv[0], &mh, MSG_CMSG_CLOEXEC), 1);
        cm = CMSG_FIRSTHDR(&mh);
        ck_assert_ptr_nonnull(cm);
        memcpy(&fd, CMSG_DATA(cm), sizeof(int));
        close(sv[0]);
        ck_assert_int_eq(waitpid(child, &status, 0), child);
        ck_assert_int_eq(status, 0);
        p = calloc(1, sizeof(*p));
        ck_assert_ptr_nonnull(p);
        p->fd = fd;
        p->next_serial = 1;
        raw_peer_hello(p);
        return p;
}

static int64_t uid_stat(uid_t uid, const char *key);

static bool need_root(const char *name) {
        if (getuid() == 0)
                return true;
        fprintf(stderr, "%s: needs root (setuid); skipped\n", name);
        return false;
}

/* A JSON string body of @len bytes; free(). */
static char *string_body(size_t len) {
        char *t = malloc(len + 1);

        ck_assert_ptr_nonnull(t);
        memset(t, 'x', len);
        t[0] = '"';
        t[len - 1] = '"';
        t[len] = '\0';
        return t;
}

/* After a round trip to the driver, the MessageDropped notices @tx holds:
 * how many, each with LimitsExceeded and a message containing @needle. */
static unsigned dropped(RawPeer *tx, const char *needle) {
        unsigned n = 0;
        RawMsg *m;

        /* The notices may fill @tx's queue past what the driver allows a
         * caller with unread answers (limits.driver_unread_bytes): its Ping
         * is then refused unexecuted. Waiting for the answer read every
         * notice before it, so the next Ping is executed. */
        for (unsigned tries = 0;; tries++) {
                m = raw_peer_driver_call(tx, "Ping", NULL);
                if (m->type == BUS_MESSAGE_METHOD_RETURN)
                        break;
                ck_assert_msg(tries < 8 && m->type == BUS_MESSAGE_ERROR &&
                                      strstr(raw_msg_describe(m), "not executed"),
                              "%s", raw_msg_describe(m));
                raw_msg_free(m);
        }
        raw_msg_free(m);
        while ((m = raw_peer_recv(tx, 0))) {
                if (raw_msg_is_signal(m, "NameAcquired") || raw_msg_is_signal(m, "NameOwnerChanged")) {
                        raw_msg_free(m);
                        continue;
                }
                ck_assert_msg(raw_msg_is_signal(m, "MessageDropped"), "%s", raw_msg_describe(m));
                ck_assert_str_eq(raw_msg_str(m, "error"), "org.busd.Error.LimitsExceeded");
                ck_assert_msg(strstr(raw_msg_str(m, "message"), needle), "%s",
                              raw_msg_str(m, "message"));
                n++;
                raw_msg_free(m);
        }
        return n;
}

/* Send @n unicast signals of @len bytes from @tx to @rx; how many were
 * refused (MessageDropped). */
static unsigned send_n(RawPeer *tx, RawPeer *rx, unsigned n, size_t len) {
        char *body = string_body(len);

        for (unsigned i = 0; i < n; i++)
                raw_peer_signal(tx, rx->name, "/q", IFACE, "Tick", NULL, body);
        free(body);
        return dropped(tx, "fair share");
}

/* Read everything @rx has (it was not reading), counting messages from
 * @sender_id. */
static unsigned received_from(RawPeer *rx, uint64_t sender_id) {
        unsigned n = 0;
        RawMsg *m;

        m = raw_peer_driver_call(rx, "Ping", NULL);
        raw_msg_free(m);
        while ((m = raw_peer_recv(rx, 0))) {
                if (m->sender_id == sender_id)
                        n++;
                raw_msg_free(m);
        }
        return n;
}

/* Fill @rx's socket buffer (it does not read) from @tx, so that what is
 * sent to it next waits in the broker's queue. */
static void stuff(RawPeer *tx, RawPeer *rx) {
        char *big = string_body(512 * 1024);

        raw_peer_signal(tx, rx->name, "/q", IFACE, "Stuff", NULL, big);
        free(big);
        ck_assert_uint_eq(dropped(tx, "fair share"), 0);
}

static void end_checks(void) {
        busd_assert_serves_others();
        busd_assert_baseline();
}

START_TEST(test_uid_share_of_receiver) {
        RawPeer *rx, *f1, *f2, *other, *third;
        unsigned refused;

        if (!need_root("test_uid_share_of_receiver"))
                return;
        busd_start_config("{\"limits\": {\"outgoing_messages_per_connection\": 64},"
                          " \"timeouts\": {\"slow_consumer_ms\": 600000}}");
        busd_open_to_others();
        rx = raw_peer_new(busd_address()); /* root's receiver, not reading */
        f1 = peer_as(NOBODY);
        f2 = peer_as(NOBODY);
        other = peer_as(OTHER_UID);
        third = raw_peer_new(busd_address());
        stuff(third, rx);

        /* nobody floods: refused at its share, at most a quarter of the
         * queue (half of what the uid may hold beside the others, half
         * again for the one connection of it). */
        refused = send_n(f1, rx, 64, 64);
        ck_assert_uint_gt(refused, 0);
        ck_assert_uint_le(64 - refused, 64 / 4);
        ck_assert_uint_eq(send_n(f1, rx, 1, 64), 1);
        /* Its sibling of the same uid still gets in; so do 65533 and root. */
        ck_assert_uint_eq(send_n(f2, rx, 1, 64), 0);
        ck_assert_uint_eq(send_n(other, rx, 1, 64), 0);
        ck_assert_uint_eq(send_n(third, rx, 1, 64), 0);
        /* A uid's connections together hold no more than one could: a
         * flood from the sibling too is refused at the uid's share. */
        ck_assert_uint_gt(send_n(f2, rx, 64, 64), 0);
        ck_assert_uint_eq(send_n(other, rx, 1, 64), 0);

        /* The receiver got what was admitted. */
        ck_assert_uint_eq(received_from(rx, f1->id), 64 - refused);
        raw_peer_free(rx);
        raw_peer_free(f1);
        raw_peer_free(f2);
        raw_peer_free(other);
        raw_peer_free(third);
        end_checks();
        busd_stop();
}
END_TEST

START_TEST(test_stalled_sibling) {
        RawPeer *service, *stalled, *healthy, *sink;
        char *body = string_body(16 * 1024);
        unsigned got = 0, refused = 0;
        RawMsg *m;

        if (!need_root("test_stalled_sibling"))
                return;
        busd_start_config("{\"limits\": {\"outgoing_messages_per_connection\": 64},"
                          " \"timeouts\": {\"slow_consumer_ms\": 500}}");
        busd_open_to_others();
        service = raw_peer_new(busd_address());
        ck_assert_int_eq(raw_peer_request_name(service, "org.example.Quota", 0), 1);
        stalled = peer_as(NOBODY);
        healthy = peer_as(NOBODY);
        sink = raw_peer_new(busd_address());
        raw_peer_add_match(stalled, RULE);
        raw_peer_add_match(healthy, RULE);

        /* The service broadcasts; the stalled connection never reads, its
         * sibling reads each signal. */
        for (unsigned i = 0; i < 200; i++) {
                raw_peer_signal(service, NULL, "/q", IFACE, "Tick", NULL, body);
                m = raw_peer_recv(healthy, HARNESS_WAIT_MS);
                ck_assert_msg(m && raw_msg_is_signal(m, "Tick"), "healthy sibling: %s",
                              m ? raw_msg_describe(m) : "nothing");
                raw_msg_free(m);
                got++;
        }
        ck_assert_uint_eq(got, 200);
        /* The stalled one's queue refused the service's signals beyond its
         * share (told to the service, never to the sibling). */
        refused = dropped(service, "fair share");
        ck_assert_uint_gt(refused, 0);

        /* The healthy sibling calls the service and gets its reply (a reply
         * is solicited: nothing of its uid's stops it)... */
        {
                RawSpec call = { .type = BUS_MESSAGE_METHOD_CALL,
                                 .destination = "org.example.Quota",
                                 .path = "/q",
                                 .interface = IFACE,
                                 .member = "Get",
                                 .body = "{}" };
                uint64_t serial = raw_peer_send(healthy, &call);
                RawSpec reply = { .type = BUS_MESSAGE_METHOD_RETURN, .body = "{}" };

                m = raw_peer_recv(service, HARNESS_WAIT_MS);
                ck_assert_msg(m && m->type == BUS_MESSAGE_METHOD_CALL, "%s",
                              m ? raw_msg_describe(m) : "no call");
                reply.destination = healthy->name;
                reply.reply_serial = m->serial;
                raw_msg_free(m);
                raw_peer_send(service, &reply);
                m = raw_peer_recv_reply(healthy, serial, HARNESS_WAIT_MS);
                ck_assert_msg(m && m->type == BUS_MESSAGE_METHOD_RETURN, "%s",
                              m ? raw_msg_describe(m) : "no reply");
                raw_msg_free(m);
        }
        /* ...and sends to others. */
        ck_assert_uint_eq(send_n(healthy, sink, 8, 1024), 0);

        /* Only the stalled connection is disconnected, for its own stall
         * (awaited without reading it: a read is progress). */
        {
                uint64_t deadline = now_usec() + HARNESS_WAIT_USEC;

                while (busd_disconnects("slow-consumer") < 1)
                        ck_assert_msg(now_usec() < deadline, "no slow-consumer disconnect");
        }
        m = raw_peer_expect_eof(stalled, HARNESS_WAIT_MS);
        raw_msg_free(m);
        ck_assert_int_eq(busd_disconnects("slow-consumer"), 1);
        m = raw_peer_driver_call(healthy, "Ping", NULL);
        ck_assert_msg(m->type == BUS_MESSAGE_METHOD_RETURN, "%s", raw_msg_describe(m));
        raw_msg_free(m);
        ck_assert(!healthy->eof);

        free(body);
        raw_peer_free(service);
        raw_peer_free(stalled);
        raw_peer_free(healthy);
        raw_peer_free(sink);
        end_checks();
        busd_stop();
}
END_TEST

START_TEST(test_outgoing_bytes_per_uid) {
        RawPeer *rx[3], *c1, *c2, *other, *root;
        char *body = string_body(4096);
        unsigned refused;
        RawMsg *m;

        if (!need_root("test_outgoing_bytes_per_uid"))
                return;
        /* 64 KiB per uid; the receivers' queues (8 MiB) are not the bound. */
        busd_start_config("{\"limits\": {\"outgoing_bytes_per_uid\": 65536},"
                          " \"timeouts\": {\"slow_consumer_ms\": 600000}}");
        busd_open_to_others();
        for (unsigned i = 0; i < 3; i++)
                rx[i] = raw_peer_new(busd_address());
        c1 = peer_as(NOBODY);
        c2 = peer_as(NOBODY);
        other = peer_as(OTHER_UID);
        root = raw_peer_new(busd_address());
        for (unsigned i = 0; i < 3; i++)
                stuff(root, rx[i]);

        /* One connection of nobody, alone, gets about half of its uid's
         * 64 KiB, across receivers; then it is refused, the notice naming
         * the limit. */
        for (unsigned i = 0; i < 16; i++)
                raw_peer_signal(c1, rx[i % 2]->name, "/q", IFACE, "Tick", NULL, body);
        refused = dropped(c1, "outgoing_bytes_per_uid");
        ck_assert_uint_gt(refused, 0);
        ck_assert_uint_le((16 - refused) * 4096, 65536 / 2);
        /* A call over its share: LimitsExceeded naming the limit. */
        {
                RawSpec call = { .type = BUS_MESSAGE_METHOD_CALL,
                                 .destination = rx[2]->name,
                                 .path = "/q",
                                 .interface = IFACE,
                                 .member = "Get",
                                 .body = body };
                uint64_t serial = raw_peer_send(c1, &call);

                m = raw_peer_recv_reply(c1, serial, HARNESS_WAIT_MS);
                ck_assert_msg(m && raw_msg_is_error(m, "org.busd.Error.LimitsExceeded"), "%s",
                              m ? raw_msg_describe(m) : "no answer");
                ck_assert_msg(strstr(raw_msg_str(m, "message"), "outgoing_bytes_per_uid"), "%s",
                              raw_msg_str(m, "message"));
                raw_msg_free(m);
        }
        /* GetStats shows the uid's bytes held (within the limit) and the
         * refusals. */
        ck_assert_int_gt(uid_stat(NOBODY, "outgoing_bytes"), 0);
        ck_assert_int_le(uid_stat(NOBODY, "outgoing_bytes"), 65536);
        ck_assert_int_ge(uid_stat(NOBODY, "refused"), refused + 1);
        /* Its sibling still sends; so does another uid; root is exempt. */
        raw_peer_signal(c2, rx[2]->name, "/q", IFACE, "Tick", NULL, body);
        ck_assert_uint_eq(dropped(c2, "outgoing_bytes_per_uid"), 0);
        for (unsigned i = 0; i < 4; i++)
                raw_peer_signal(other, rx[2]->name, "/q", IFACE, "Tick", NULL, body);
        ck_assert_uint_eq(dropped(other, "outgoing_bytes_per_uid"), 0);
        for (unsigned i = 0; i < 64; i++)
                raw_peer_signal(root, rx[i % 3]->name, "/q", IFACE, "Tick", NULL, body);
        ck_assert_uint_eq(dropped(root, "fair share"), 0);

        /* The receivers read: the uid's total drains, and c1 sends again. */
        ck_assert_uint_eq(received_from(rx[0], c1->id) + received_from(rx[1], c1->id),
                          16 - refused);
        (void)received_from(rx[2], 0);
        raw_peer_signal(c1, rx[0]->name, "/q", IFACE, "Tick", NULL, body);
        ck_assert_uint_eq(dropped(c1, "outgoing_bytes_per_uid"), 0);
        (void)received_from(rx[0], 0);
        ck_assert_int_eq(uid_stat(NOBODY, "outgoing_bytes"), 0);

        free(body);
        for (unsigned i = 0; i < 3; i++)
                raw_peer_free(rx[i]);
        raw_peer_free(c1);
        raw_peer_free(c2);
        raw_peer_free(other);
        raw_peer_free(root);
        end_checks();
        busd_stop();
}
END_TEST

/* The uid's entry of GetStats "uids" (NULL if it holds nothing); new
 * reference. */
static json_t *uid_stats(uid_t uid) {
        json_t *stats = busd_stats(), *u;
        char key[16];

        snprintf(key, sizeof(key), "%u", (unsigned)uid);
        u = json_incref(json_object_get(json_object_get(stats, "uids"), key));
        json_decref(stats);
        return u;
}

static int64_t uid_stat(uid_t uid, const char *key) {
        json_t *u = uid_stats(uid);
        int64_t v;

        ck_assert_msg(u, "uid %u not in GetStats uids", (unsigned)uid);
        ck_assert_msg(json_is_integer(json_object_get(u, key)), "uids.%u lacks %s", (unsigned)uid,
                      key);
        v = json_integer_value(json_object_get(u, key));
        json_decref(u);
        return v;
}

/* RequestName @name: NULL if it was granted (any result), else the error's
 * message (static, for the assertion). */
static const char *request_name(RawPeer *p, const char *name) {
        static char text[256];
        RawMsg *m = raw_peer_driver_call(p, "RequestName",
                                         json_pack("{s:s,s:i}", "name", name, "flags", 0));

        if (m->type == BUS_MESSAGE_METHOD_RETURN) {
                raw_msg_free(m);
                return NULL;
        }
        ck_assert_msg(raw_msg_is_error(m, "org.busd.Error.LimitsExceeded"), "%s",
                      raw_msg_describe(m));
        snprintf(text, sizeof(text), "%s", raw_msg_str(m, "message"));
        raw_msg_free(m);
        return text;
}

static const char *add_match(RawPeer *p, unsigned i) {
        static char text[256];
        char rule[128];
        RawMsg *m;

        snprintf(rule, sizeof(rule), "type='signal',interface='org.example.Quota',member='M%u'",
                 i);
        m = raw_peer_driver_call(p, "AddMatch", json_pack("{s:s}", "rule", rule));
        if (m->type == BUS_MESSAGE_METHOD_RETURN) {
                raw_msg_free(m);
                return NULL;
        }
        ck_assert_msg(raw_msg_is_error(m, "org.busd.Error.LimitsExceeded"), "%s",
                      raw_msg_describe(m));
        snprintf(text, sizeof(text), "%s", raw_msg_str(m, "message"));
        raw_msg_free(m);
        return text;
}

/* A call from @p to @callee that expects a reply: NULL if it went out (no
 * answer within a round trip), else the error's message. */
static const char *call_pending(RawPeer *p, RawPeer *callee) {
        static char text[256];
        RawSpec call = { .type = BUS_MESSAGE_METHOD_CALL,
                         .destination = callee->name,
                         .path = "/q",
                         .interface = IFACE,
                         .member = "Wait",
                         .body = "{}" };
        uint64_t serial = raw_peer_send(p, &call);
        RawMsg *m = raw_peer_driver_call(p, "Ping", NULL); /* after any answer */

        raw_msg_free(m);
        while ((m = raw_peer_recv(p, 0))) {
                if (m->reply_serial == serial) {
                        ck_assert_msg(raw_msg_is_error(m, "org.busd.Error.LimitsExceeded"), "%s",
                                      raw_msg_describe(m));
                        snprintf(text, sizeof(text), "%s", raw_msg_str(m, "message"));
                        raw_msg_free(m);
                        return text;
                }
                raw_msg_free(m);
        }
        return NULL;
}

/* names_per_uid, matches_per_uid, pending_replies_per_uid reached across
 * two connections of one uid: the one over its share is refused with the
 * named error, its sibling and another uid go on, root is exempt; GetStats
 * shows the uid's usage and refusals, and nothing is left once they go. */
START_TEST(test_counts_per_uid) {
        RawPeer *c1, *c2, *other, *root, *callee;
        const char *why;
        char name[64];
        unsigned n;

        if (!need_root("test_counts_per_uid"))
                return;
        busd_start_config("{\"limits\": {\"names_per_uid\": 8, \"matches_per_uid\": 8,"
                          " \"pending_replies_per_uid\": 8}}");
        busd_open_to_others();
        c1 = peer_as(NOBODY);
        c2 = peer_as(NOBODY);
        other = peer_as(OTHER_UID);
        root = raw_peer_new(busd_address());
        callee = raw_peer_new(busd_address());

        /* Names: alone, a connection gets half its uid's 8. */
        for (n = 0; n < 8; n++) {
                snprintf(name, sizeof(name), "org.example.Quota.A%u", n);
                if ((why = request_name(c1, name)))
                        break;
        }
        ck_assert_uint_eq(n, 4);
        ck_assert_msg(strstr(why, "limits.names_per_uid 8"), "%s", why);
        ck_assert_ptr_null(request_name(c2, "org.example.Quota.B0"));
        ck_assert_ptr_null(request_name(other, "org.example.Quota.C0"));
        for (n = 0; n < 16; n++) {
                snprintf(name, sizeof(name), "org.example.Quota.R%u", n);
                ck_assert_ptr_null(request_name(root, name));
        }

        /* Match rules, likewise. */
        for (n = 0; n < 8; n++)
                if ((why = add_match(c1, n)))
                        break;
        ck_assert_uint_eq(n, 4);
        ck_assert_msg(strstr(why, "limits.matches_per_uid 8"), "%s", why);
        ck_assert_ptr_null(add_match(c2, 0));
        ck_assert_ptr_null(add_match(other, 0));
        for (n = 0; n < 16; n++)
                ck_assert_ptr_null(add_match(root, n));

        /* Pending calls to a callee that does not answer yet. */
        for (n = 0; n < 8; n++)
                if ((why = call_pending(c1, callee)))
                        break;
        ck_assert_uint_eq(n, 4);
        ck_assert_msg(strstr(why, "limits.pending_replies_per_uid 8"), "%s", why);
        ck_assert_ptr_null(call_pending(c2, callee));
        ck_assert_ptr_null(call_pending(other, callee));
        for (n = 0; n < 16; n++)
                ck_assert_ptr_null(call_pending(root, callee));

        /* GetStats: the uid's usage and its refusals. */
        ck_assert_int_eq(uid_stat(NOBODY, "connections"), 2);
        ck_assert_int_eq(uid_stat(NOBODY, "names"), 5);
        ck_assert_int_eq(uid_stat(NOBODY, "match_rules"), 5);
        ck_assert_int_eq(uid_stat(NOBODY, "pending_replies"), 5);
        ck_assert_int_eq(uid_stat(NOBODY, "refused"), 3);
        ck_assert_int_eq(uid_stat(OTHER_UID, "refused"), 0);
        ck_assert_int_eq(uid_stat(0, "refused"), 0);

        /* c1 leaves: its share goes back to its uid (c2 may take more). */
        raw_peer_free(c1);
        {
                uint64_t deadline = now_usec() + HARNESS_WAIT_USEC;

                while (uid_stat(NOBODY, "connections") != 1)
                        ck_assert(now_usec() < deadline);
        }
        ck_assert_int_eq(uid_stat(NOBODY, "names"), 1);
        ck_assert_int_eq(uid_stat(NOBODY, "match_rules"), 1);
        ck_assert_int_eq(uid_stat(NOBODY, "pending_replies"), 1);
        ck_assert_ptr_null(request_name(c2, "org.example.Quota.B1"));

        raw_peer_free(c2);
        raw_peer_free(other);
        raw_peer_free(root);
        raw_peer_free(callee);
        end_checks();
        /* Nothing held for those uids any more. */
        ck_assert_ptr_null(uid_stats(NOBODY));
        ck_assert_ptr_null(uid_stats(OTHER_UID));
        busd_stop();
}
END_TEST

int main(void) {
        Suite *s = suite_create("bus-uidquota");
        TCase *tc = tcase_create("uidquota");

        tcase_set_timeout(tc, HARNESS_TCASE_TIMEOUT);
        tcase_add_test(tc, test_uid_share_of_receiver);
        tcase_add_test(tc, test_stalled_sibling);
        tcase_add_test(tc, test_outgoing_bytes_per_uid);
        tcase_add_test(tc, test_counts_per_uid);
        suite_add_tcase(s, tc);
        return harness_run(s);
}
