/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fake-broker.h — the scripted fake broker that the libbusclient suites
 * (test-client-connection, test-client-service) talk to instead of a busd:
 * a listening socket in a fresh mkdtemp directory, the one accepted client
 * connection, the handshake (the client's preamble checked, the client
 * welcomed as :1.5), and the broker's side of the byte stream (messages
 * encoded as the broker would send them; the client's messages read whole
 * and checked with the protocol library).
 *
 * One broker per test process, in the global fb (check forks each test, so
 * each test gets its own). Every failure is a check assertion; nothing here
 * returns an error. Single-threaded: the broker's bytes are written before
 * the client needs them.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "bus-internal.h"

typedef struct FakeBroker {
        char dir[64];   /* the mkdtemp directory holding the socket */
        char path[128]; /* dir + "/bus.sock" */
        int listen_fd;  /* -1 when not listening */
        int fd;         /* the accepted client connection, or -1 */
} FakeBroker;

/* The fake broker of this test process. Tests may close fb.fd (set it to -1
 * then) or shut it down to play a broker that dies or stops reading. */
extern FakeBroker fb;

/* Create a fresh /tmp/@name.XXXXXX directory and listen on bus.sock in it
 * with @backlog; fb.fd is -1 until broker_connect(). */
void broker_listen(const char *name, int backlog);

/* Close what is open, remove the socket and its directory. */
void broker_stop(void);

/* Connect a client with bus_connect() to the listening broker, accept it,
 * read and check its preamble (returned, for further checks) and welcome it
 * as :1.5 with @bus_id (16 bytes; NULL for all zeros). */
BusPreamble broker_connect(bus_connection **ret_bus, const uint8_t *bus_id);

/* Write all @n bytes of @p to the client in one send(). */
void full_write(const void *p, size_t n);

/* Read exactly @n bytes from the client into @p. */
void full_read(void *p, size_t n);

/* Encode @spec as the broker would send it, from @sender_id (uid 1234), into
 * a fresh 8-aligned buffer (*@ret, to free()); returns its length. */
size_t broker_encode(const BusMessageSpec *spec, uint64_t sender_id, uint8_t **ret);

/* Send @spec to the client, from @sender_id. */
void broker_send(const BusMessageSpec *spec, uint64_t sender_id);

/* Send the bus driver's method return @serial answering the client's
 * @reply_serial, with @body (NULL for none). */
void broker_reply(uint64_t serial, uint64_t reply_serial, const char *body);

/* Read one whole message the client sent, check its header and fields;
 * returns it in a fresh 8-aligned buffer (to free()), which *@ret_f points
 * into, and its header in *@ret_h. */
uint8_t *broker_read_message(BusHeader *ret_h, BusFields *ret_f);
