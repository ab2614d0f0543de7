/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * busdctl-peer.c — a small bus peer for tests/test-busdctl.sh, built only on
 * the public client API.
 *
 *   busdctl-peer [--fork] ADDRESS [NAME...]
 *
 * Requests each NAME (queued if taken), then serves /org/example/Peer,
 * interface org.example.Peer:
 *   Echo        replies with its argument ({} when empty)
 *   Fail        replies with org.example.Error.Failed "failing on purpose"
 *   Hang        never replies (for call timeouts)
 *   LastSignal  {"member", "key", "destination", "body"} of the last signal
 *               received on interface org.example.Signals, or {}
 *   EchoPayloads  replies {"payloads": n} carrying the call's payloads
 * and prints one line "READY UNIQUE PID RESULT..." (PID of the serving
 * process, then a RequestName result per NAME) on stdout once all that is in
 * place. Runs until killed or until the bus closes the connection.
 *
 * --fork: after setting up, fork; the process that connected exits and its
 * child keeps the connection open without using it (the library refuses a
 * child's calls with -ECHILD), so the bus's recorded PID names a process
 * that is gone (READY is printed once it is). The child sleeps until killed.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "busclient.h"

static json_t *last_signal;

static int on_signal(bus_message *m, void *userdata) {
        const char *key = bus_message_get_key(m), *dest = bus_message_get_destination(m);
        json_t *body = bus_message_get_body(m);

        json_decref(last_signal);
        last_signal = json_pack("{s:s?, s:s?, s:s?, s:O?}", "member", bus_message_get_member(m),
                                "key", key, "destination", dest, "body", body);
        return 0;
}

static int method_echo(bus_message *call, void *userdata, json_t **ret_reply, bus_error *e) {
        json_t *body = bus_message_get_body(call);

        *ret_reply = body ? json_incref(body) : json_object();
        return 0;
}

static int method_fail(bus_message *call, void *userdata, json_t **ret_reply, bus_error *e) {
        return bus_error_set(e, "org.example.Error.Failed", "failing on purpose");
}

static int method_hang(bus_message *call, void *userdata, json_t **ret_reply, bus_error *e) {
        /* Keep the call referenced and never answer it. */
        bus_message_ref(call);
        return BUS_REPLY_DEFERRED;
}

static int method_last_signal(bus_message *call, void *userdata, json_t **ret_reply, bus_error *e) {
        *ret_reply = last_signal ? json_incref(last_signal) : json_object();
        return 0;
}

static bus_connection *peer_bus;

/* A method return carrying the call's payloads (the same sealed memfds). */
static int method_echo_payloads(bus_message *call, void *userdata, json_t **ret_reply,
                                bus_error *e) {
        unsigned n = bus_message_get_payload_count(call);
        bus_message *reply = NULL;
        json_t *body = json_pack("{s:I}", "payloads", (json_int_t)n);
        int r;

        r = bus_message_new_method_return(call, &reply);
        if (r >= 0)
                r = bus_message_set_body(reply, body);
        for (unsigned i = 0; r >= 0 && i < n; i++) {
                int fd = bus_message_dup_payload_fd(call, i);

                r = fd < 0 ? fd : bus_message_attach_fd(reply, fd);
                if (fd >= 0)
                        close(fd);
        }
        if (r >= 0)
                r = bus_send(peer_bus, reply, NULL);
        json_decref(body);
        bus_message_unref(reply);
        return r < 0 ? r : BUS_REPLY_DEFERRED;
}

static const bus_method methods[] = {
        { "Echo", method_echo }, { "Fail", method_fail },
        { "Hang", method_hang }, { "LastSignal", method_last_signal },
        { "EchoPayloads", method_echo_payloads },
        { NULL, NULL },
};

/* Fork; the parent exits at once, the child returns once the parent is gone. */
static int fork_and_orphan(void) {
        struct pollfd p = { .events = POLLIN };
        pid_t pid;

        p.fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
        if (p.fd < 0)
                return -errno;
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid > 0)
                _exit(0);
        /* A pidfd polls readable when its process exits (pidfd_open(2)). */
        while (poll(&p, 1, -1) < 0)
                if (errno != EINTR)
                        return -errno;
        close(p.fd);
        return 0;
}

int main(int argc, char **argv) {
        bus_connection *c = NULL;
        bus_slot *object = NULL, *match = NULL;
        const char *unique;
        bool do_fork = false;
        int *results, r;

        if (argc > 1 && strcmp(argv[1], "--fork") == 0) {
                do_fork = true;
                argv++;
                argc--;
        }
        if (argc < 2) {
                fprintf(stderr, "Usage: busdctl-peer [--fork] ADDRESS [NAME...]\n");
                return 2;
        }
        results = calloc((size_t)argc, sizeof(int));
        if (!results)
                return 1;
        r = bus_connect(&c, argv[1]);
        if (r < 0) {
                fprintf(stderr, "busdctl-peer: connect %s: %s\n", argv[1], strerror(-r));
                return 1;
        }
        peer_bus = c;
        unique = bus_connection_get_unique_name(c);
        if (!unique) {
                fprintf(stderr, "busdctl-peer: no handshake\n");
                return 1;
        }
        r = bus_add_object(c, &object, "/org/example/Peer", "org.example.Peer", methods, NULL);
        if (r >= 0)
                r = bus_add_match(c, &match, "type='signal',interface='org.example.Signals'",
                                  on_signal, NULL);
        if (r < 0) {
                fprintf(stderr, "busdctl-peer: setup: %s\n", strerror(-r));
                return 1;
        }
        for (int i = 2; i < argc; i++) {
                bus_error error = BUS_ERROR_INIT;

                r = bus_request_name(c, argv[i], 0, &error);
                if (r < 0) {
                        fprintf(stderr, "busdctl-peer: RequestName %s: %s %s\n", argv[i],
                                error.name ? error.name : strerror(-r),
                                error.message ? error.message : "");
                        return 1;
                }
                results[i] = r;
        }
        if (do_fork && (r = fork_and_orphan()) < 0) {
                fprintf(stderr, "busdctl-peer: fork: %s\n", strerror(-r));
                return 1;
        }
        printf("READY %s %d", unique, (int)getpid());
        for (int i = 2; i < argc; i++)
                printf(" %d", results[i]);
        printf("\n");
        fflush(stdout);

        /* The orphan holds the socket open, and that is all it may do. */
        while (do_fork)
                pause();
        for (;;) {
                r = bus_connection_process(c);
                if (r < 0)
                        break;
                if (r == 0 && bus_connection_wait(c, UINT64_MAX) < 0)
                        break;
        }
        bus_slot_unref(match);
        bus_slot_unref(object);
        bus_connection_close(c);
        json_decref(last_signal);
        free(results);
        return 0;
}
