/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * raw-peer.h — a bus peer on a bare socket, for tests that must see exactly
 * what the broker sends (no library filtering) or send what no library would
 * (forged sender blocks, broken headers, one byte per write).
 *
 * Built on protocol/libbusprotocol (encode, header/field checks) and its
 * types: messages to send are BusMessageSpecs, header bytes are at
 * offsetof(BusHeader, field), message types are the BUS_MESSAGE_* values.
 *
 * Every message read from the broker is validated with the protocol
 * library's checks; a broker that sends an invalid message fails the test.
 */
#pragma once

#include <fcntl.h>

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus-protocol.h"

/* A message as received. Strings point into the message; NULL if absent. */
typedef struct RawMsg {
        uint8_t type;
        uint8_t flags;
        uint16_t n_fds;
        uint64_t serial;
        uint64_t reply_serial;
        uint64_t deadline_ns;
        uint64_t sender_id;
        uint64_t sender_pid_id;
        uint32_t sender_uid;
        uint32_t sender_gid;
        uint32_t sender_pid;
        uint32_t sender_reserved;
        const char *destination;
        const char *path;
        const char *interface;
        const char *member;
        const char *error_name;
        const char *key;
        const char *origin; /* ORIGIN (PROTOCOL.md 3.3) */
        const char *body; /* NUL-terminated copy of the body */
        size_t body_len;
        json_t *json; /* body parsed, NULL if empty or not JSON */
        uint8_t *data; /* the whole message */
        size_t len;
} RawMsg;

/* What to send: a BusMessageSpec. Strings may be NULL (field absent),
 * serial 0 = the peer's next, n_fds = n_payloads. The body is usually JSON text:
 * with body_len 0, body (if any) is a NUL-terminated string and its length
 * is taken from strlen(). */
typedef BusMessageSpec RawSpec;

#define RAW_QUEUE_MAX 4096

typedef struct RawPeer {
        int fd;
        uint64_t id; /* unique id from the welcome, 0 before */
        char name[32]; /* ":1.<id>" */
        uint64_t next_serial;
        uint8_t *rbuf;
        size_t rlen;
        size_t rcap;
        RawMsg *queue[RAW_QUEUE_MAX]; /* read but not yet handed out */
        unsigned qlen;
        bool eof;
        int error; /* errno of the read that ended the connection, 0 for EOF */
        uint64_t features; /* asked for in the preamble; then what the broker granted */
} RawPeer;

/* Connect only (no preamble). Asserts. */
RawPeer *raw_peer_open(const char *address);
/* Send our preamble and read the welcome (asserts magic/version/size). */
void raw_peer_hello(RawPeer *p);
/* The second half of hello: read and check the welcome. */
void raw_peer_read_welcome(RawPeer *p);
/* open + hello. */
RawPeer *raw_peer_new(const char *address);
/* open + hello asking for payloads (BUS_FEATURE_PAYLOADS); asserts the
 * broker granted them. */
RawPeer *raw_peer_new_payloads(const char *address);
RawPeer *raw_peer_free(RawPeer *p);

/* Write all of @buf (MSG_NOSIGNAL). 0 or -errno (hostile tests expect
 * EPIPE/ECONNRESET sometimes). */
int raw_peer_write(RawPeer *p, const void *buf, size_t len);
/* The preamble bytes a well-behaved client sends. */
size_t raw_preamble(void *buf, size_t size);

/* What raw_child_connect() saw when it was not welcomed. */
enum {
        RAW_CONNECT_FAILED = -1,  /* socket()/connect() failed, or the preamble write
                                   * failed other than by the bus hanging up */
        RAW_CONNECT_CLOSED = -2,  /* the bus closed the connection without a welcome */
        RAW_CONNECT_SILENT = -3,  /* neither a welcome nor a close within 5 s */
        RAW_CONNECT_GARBLED = -4, /* something that is not a welcome */
};
/* A plain-socket client for forked children (no check assertions, no
 * allocation): connect to @address; unless @silent (then the fd is returned
 * at once), send the preamble asking for @features and read until the
 * welcome or the end of the stream. The verdict comes only from what the bus
 * sends: a refused connection may be closed before, during or after the
 * preamble write, so a write failing with EPIPE/ECONNRESET says nothing by
 * itself (the read that follows sees the end of file). Returns the fd once
 * welcomed (*@ret_id = its unique id, if @ret_id), else one of
 * RAW_CONNECT_*. */
int raw_child_connect(const char *address, uint64_t features, bool silent, uint64_t *ret_id);

/* One sendmsg() of @buf with one SCM_RIGHTS block of @fds (borrowed; none
 * if @n_fds is 0), then plain writes for whatever the socket did not take.
 * 0 or -errno. */
int raw_peer_write_fds(RawPeer *p, const void *buf, size_t len, const int *fds, unsigned n_fds);
/* One sendmsg() with two SCM_RIGHTS control messages (Linux merges them
 * into one block on the receiving side). 0 or -errno. */
int raw_peer_write_two_blocks(RawPeer *p, const void *buf, size_t len, const int *a,
                              unsigned n_a, const int *b, unsigned n_b);
/* Encode @spec (with its payload sizes) and send it with @fds in its first
 * write; returns the serial. */
uint64_t raw_peer_send_fds(RawPeer *p, const RawSpec *spec, const int *fds, unsigned n_fds);

/* Encode @spec with bus_message_encode (must be valid; asserts) into @buf;
 * assigns p's next serial if spec->serial is 0 (returned in *ret_serial). */
size_t raw_peer_encode(RawPeer *p, const RawSpec *spec, void *buf, size_t size,
                       uint64_t *ret_serial);
/* Encode without any validation (for messages the broker must refuse);
 * the serial is used as given. */
size_t raw_encode_unchecked(const RawSpec *spec, void *buf, size_t size);
/* Encode and send; returns the serial. */
uint64_t raw_peer_send(RawPeer *p, const RawSpec *spec);
/* Convenience: a signal (unicast if @destination) with JSON @body text. */
uint64_t raw_peer_signal(RawPeer *p, const char *destination, const char *path,
                         const char *interface, const char *member, const char *key,
                         const char *body);

/* Next message (queued ones first); NULL on timeout or when the connection
 * ended (then p->eof is set). */
RawMsg *raw_peer_recv(RawPeer *p, int timeout_ms);
/* Wait for the return/error answering @serial; other messages are queued
 * for raw_peer_recv in arrival order. NULL on timeout/EOF. */
RawMsg *raw_peer_recv_reply(RawPeer *p, uint64_t serial, int timeout_ms);
/* Read until the broker closes the connection; returns the last message
 * received before EOF (new, or NULL if none); asserts EOF came in time. */
RawMsg *raw_peer_expect_eof(RawPeer *p, int timeout_ms);
RawMsg *raw_msg_free(RawMsg *m);

/* Call org.busd.Bus.@member with @args (stolen; NULL = {}) and wait for the
 * answer (asserts it arrives). */
RawMsg *raw_peer_driver_call(RawPeer *p, const char *member, json_t *args);
/* Send the call without waiting; returns its serial. */
uint64_t raw_peer_driver_send(RawPeer *p, const char *member, json_t *args);
/* Helpers asserting success. */
void raw_peer_add_match(RawPeer *p, const char *rule);
void raw_peer_remove_match(RawPeer *p, const char *rule);
/* RequestName result (asserts a method return). */
int raw_peer_request_name(RawPeer *p, const char *name, unsigned flags);

/* Shorthands for assertions. */
bool raw_msg_is_signal(const RawMsg *m, const char *member);
bool raw_msg_is_error(const RawMsg *m, const char *error_name);
/* Body field @key as string ("" if absent). */
const char *raw_msg_str(const RawMsg *m, const char *key);
/* One-line description for failure messages (static buffer). */
const char *raw_msg_describe(const RawMsg *m);

/* ---- payload pools (PROTOCOL.md 3.6) ---- */

/* A pool as its owner makes it: a memfd mapped writable, backed (every byte
 * @fill), then sealed with @seals (0: none; RAW_POOL_SEALS: as the library
 * seals its own). */
typedef struct RawPool {
        int fd;
        uint8_t *map; /* writable, made before sealing */
        uint64_t size;
} RawPool;
#define RAW_POOL_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL)
RawPool raw_pool_make(uint64_t size, int seals, char fill);
void raw_pool_unmake(RawPool *p);
/* A raw peer at @address that asked for (and got) payloads and pools. */
RawPeer *raw_peer_new_pools(const char *address);
/* AddPool @id with @fd (-1: none) of @size bytes; the answer (NULL: none in
 * time). */
RawMsg *raw_peer_add_pool(RawPeer *p, uint32_t id, int fd, uint64_t size);
/* The same, asserting it was accepted. */
void raw_peer_add_pool_ok(RawPeer *p, uint32_t id, int fd, uint64_t size);
/* The next message whose member or error name is @member, skipping others
 * (at most 64); NULL if none came within @timeout_ms each. */
RawMsg *raw_peer_recv_member(RawPeer *p, const char *member, int timeout_ms);
/* ReleaseSlices of one [owner, pool, offset, length]; the answer. */
RawMsg *raw_peer_release_slice(RawPeer *p, uint64_t owner, uint32_t pool, uint64_t offset,
                               uint64_t length);
