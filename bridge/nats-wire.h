/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nats-wire.h — how busd messages travel over NATS (docs/BRIDGE.md, "On the
 * wire"): the subjects, the NATS headers, and the data layout (the JSON body
 * followed by each payload's bytes, inlined).
 *
 * Owns no state. Decoding checks every length from the network against the
 * data actually received before anything points into it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "busclient.h"

/* NATS header names (HPUB headers, nats-server >= 2.2). */
#define BRIDGE_HDR_PATH "Busd-Path"
#define BRIDGE_HDR_INTERFACE "Busd-Interface"
#define BRIDGE_HDR_MEMBER "Busd-Member"
#define BRIDGE_HDR_KEY "Busd-Key"
#define BRIDGE_HDR_TIMEOUT "Busd-Timeout-Usec" /* time left to the caller's deadline */
#define BRIDGE_HDR_NO_REPLY "Busd-No-Reply"    /* "1": a call that wants no answer */
#define BRIDGE_HDR_ERROR "Busd-Error"          /* on replies: the error name */
#define BRIDGE_HDR_BODY_LEN "Busd-Body-Len"    /* bytes of JSON body at the start of the data */
#define BRIDGE_HDR_PAYLOADS "Busd-Payloads"       /* payload sizes, comma-separated, in order */
#define BRIDGE_HDR_ORIGIN_HOST "Busd-Origin-Host"
#define BRIDGE_HDR_ORIGIN_SENDER "Busd-Origin-Sender"
#define BRIDGE_HDR_ORIGIN_UID "Busd-Origin-Uid"

/* Error names the bridge itself answers with (docs/BRIDGE.md, "Errors"). */
#define BRIDGE_ERROR_UNREACHABLE "org.busd.Bridge.Error.Unreachable"
#define BRIDGE_ERROR_PAYLOAD_TOO_LARGE "org.busd.Bridge.Error.PayloadTooLarge"
#define BRIDGE_ERROR_BAD_MESSAGE "org.busd.Bridge.Error.BadMessage"
#define BRIDGE_ERROR_NO_SUCH_CALL "org.busd.Bridge.Error.NoSuchCall"

/* The bridge's own object on the local bus (GetOrigin, docs/BRIDGE.md). */
#define BRIDGE_OBJECT_PATH "/org/busd/Bridge"
#define BRIDGE_INTERFACE "org.busd.Bridge"

/* Room for any subject the bridge makes: the longest is a signal's,
 * DOMAIN.sig.HOST.INTERFACE.MEMBER, at most 128 + 5 + 64 + 1 + 255 + 1 + 255
 * bytes (BRIDGE_DOMAIN_MAX, BRIDGE_TOKEN_MAX, BUS_NAME_MAX twice) and a NUL. */
#define BRIDGE_SUBJECT_MAX 1024u

/* At most this many payloads per message: busd's own limit (BUS_FDS_MAX). */
#define BRIDGE_WIRE_PAYLOADS_MAX 16u

/* A message's data as it goes on NATS. */
typedef struct BridgeWire {
        char *data; /* malloc'd: body then payloads */
        size_t len;
        size_t body_len;
        unsigned n_payloads;
        uint64_t payload_sizes[BRIDGE_WIRE_PAYLOADS_MAX];
} BridgeWire;

/* A received message's data, pointing into the NATS message. */
typedef struct BridgeWireView {
        const char *body;
        size_t body_len;
        unsigned n_payloads;
        const char *payloads[BRIDGE_WIRE_PAYLOADS_MAX];
        uint64_t payload_sizes[BRIDGE_WIRE_PAYLOADS_MAX];
} BridgeWireView;

/* Copy @m's body and payloads into @w (data then bridge_wire_free()).
 * -EMSGSIZE if they exceed @max bytes in all (nothing is copied then),
 * -EBADMSG if a payload cannot be read (it fails the payload rule),
 * -ENOMEM. */
int bridge_wire_encode(bus_message *m, uint64_t max, BridgeWire *w);
void bridge_wire_free(BridgeWire *w);
/* The value of BRIDGE_HDR_PAYLOADS for @w into @buf; "" for none. */
void bridge_wire_payloads_header(const BridgeWire *w, char *buf, size_t size);

/* Split @len bytes of @data by the two header values (either may be NULL:
 * no header means all data is body, no payloads). -EBADMSG if the headers
 * are malformed or do not add up to exactly @len. */
int bridge_wire_decode(const char *data, size_t len, const char *body_len_hdr,
                       const char *payloads_hdr, BridgeWireView *v);
/* Put @v's body and payloads (copied into sealed memfds) on @m. */
int bridge_wire_fill(bus_message *m, const BridgeWireView *v);

/* Subjects (docs/BRIDGE.md). Each returns -ENAMETOOLONG if @size is short. */
int bridge_subject_call(char *buf, size_t size, const char *domain, const char *name);
int bridge_subject_signal(char *buf, size_t size, const char *domain, const char *host,
                          const char *interface, const char *member);
/* The subscription for an import: host and member may be "*" (NULL member = "*"). */
int bridge_subject_signal_import(char *buf, size_t size, const char *domain, const char *host,
                                 const char *interface, const char *member);
