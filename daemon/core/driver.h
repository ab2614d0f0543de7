/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * driver.h — the bus driver org.busd.Bus (PROTOCOL.md section 7): its
 * methods, and every message the bus itself originates (signals, errors,
 * Disconnected). The only part of the daemon that builds or parses JSON
 * message bodies (the configuration file, config-file.c, is JSON too; the
 * forwarding path never builds a json_t).
 *
 * Rule: every call to the driver is answered (PROTOCOL.md section 7): texts
 * are cut on UTF-8 character boundaries (bus_utf8_cut(),
 * bus_utf8_copy_valid(): the protocol's, shared with the library), and an
 * answer that cannot be built falls back to org.busd.Error.Failed, and
 * failing that (out of memory) to disconnecting the caller.
 *
 * driver.c holds the methods, driver-messages.c the messages.
 */
#pragma once

#include <stdint.h>

#include "core/bus.h"
#include "transport/message.h"
#include "registry/names.h"
#include "core/peer.h"

#define BUS_ERROR_PREFIX "org.busd.Error."
#define BUS_ERR_FAILED BUS_ERROR_PREFIX "Failed"
#define BUS_ERR_SERVICE_UNKNOWN BUS_ERROR_PREFIX "ServiceUnknown"
#define BUS_ERR_NAME_HAS_NO_OWNER BUS_ERROR_PREFIX "NameHasNoOwner"
#define BUS_ERR_UNKNOWN_METHOD BUS_ERROR_PREFIX "UnknownMethod"
#define BUS_ERR_UNKNOWN_OBJECT BUS_ERROR_PREFIX "UnknownObject"
#define BUS_ERR_UNKNOWN_INTERFACE BUS_ERROR_PREFIX "UnknownInterface"
#define BUS_ERR_NO_REPLY BUS_ERROR_PREFIX "NoReply"
#define BUS_ERR_TIMEOUT BUS_ERROR_PREFIX "Timeout"
#define BUS_ERR_INVALID_ARGS BUS_ERROR_PREFIX "InvalidArgs"
#define BUS_ERR_LIMITS_EXCEEDED BUS_ERROR_PREFIX "LimitsExceeded"
#define BUS_ERR_ACCESS_DENIED BUS_ERROR_PREFIX "AccessDenied"
#define BUS_ERR_MATCH_RULE_NOT_FOUND BUS_ERROR_PREFIX "MatchRuleNotFound"
#define BUS_ERR_PROTOCOL_VIOLATION BUS_ERROR_PREFIX "ProtocolViolation"
#define BUS_ERR_PAYLOAD_REFUSED BUS_ERROR_PREFIX "PayloadRefused"
#define BUS_ERR_CONFIG_INVALID BUS_ERROR_PREFIX "ConfigInvalid"
#define BUS_ERR_ACTIVATION_FAILED BUS_ERROR_PREFIX "ActivationFailed"
#define BUS_ERR_ORIGIN_REFUSED BUS_ERROR_PREFIX "OriginRefused"

/* Longest text (bytes, with its NUL) the bus puts in an error's or a
 * signal's "message": room for a configuration error with its file's path. */
#define BUS_DRIVER_TEXT_MAX 512

/* Handle a method call addressed to org.busd.Bus. */
void driver_dispatch(Bus *bus, Peer *sender, Message *m);

/* driver-messages.c ------------------------------------------------------------ */

/* Queue @m from the bus to @to (peer_send()), and once it is queued show it
 * to the monitors (monitor.h). Returns peer_send()'s result. */
int driver_send(Bus *bus, Peer *to, Message *m, PeerSendMode mode);

/* Answer call @reply_serial of @to with error @error_name and body
 * {"message": ...}. It is solicited (peer.h): one that would take @to's queue
 * past twice its limits disconnects @to. */
void driver_send_error(Bus *bus, Peer *to, uint64_t reply_serial, const char *error_name,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Answer call @reply_serial of @to with a method return whose body is the
 * JSON text @body, for answers given after the call was handled (activation's
 * StartServiceByName). Solicited, like driver_send_error(); one that cannot be
 * built becomes org.busd.Error.Failed. */
void driver_send_return(Bus *bus, Peer *to, uint64_t reply_serial, const char *body);

/* Tell @to that its message @serial (not a call expecting a reply) was
 * refused for its payloads: unicast signal PayloadRefused {"serial",
 * "error", "message"} (transport/payload.h). */
void driver_send_payload_refused(Bus *bus, Peer *to, uint64_t serial, const char *error_name,
                                 const char *message);

/* Tell @to that its signal @serial was not queued to @receivers (> 0)
 * receivers because it was over its fair share of their queues: unicast
 * signal MessageDropped {"serial", "receivers", "error":
 * "org.busd.Error.LimitsExceeded", "message"}, queued only within @to's own
 * queue limits (PEER_SEND_NOTICE); a notice that does not fit is dropped
 * and counted in messages_dropped. */
void driver_send_message_dropped(Bus *bus, Peer *to, uint64_t serial, uint64_t receivers,
                                 const char *message);
/* The same with another "error" (the policy's AccessDenied, docs/POLICY.md
 * "Denials"; @receivers may then be 0: a broadcast refused as a whole). */
void driver_send_message_dropped_error(Bus *bus, Peer *to, uint64_t serial, uint64_t receivers,
                                       const char *error_name, const char *message);

/* Queue the final Disconnected signal to @to, past its quota. */
void driver_send_disconnected(Bus *bus, Peer *to, const char *error_name, const char *message);

/* NameOwnerChanged for @name (unique or well-known) between ids (0 = none),
 * broadcast through match rules. */
void driver_emit_name_owner_changed(Bus *bus, const char *name, uint64_t old_owner,
                                    uint64_t new_owner);

/* The bus announces a change a peer asks for (RequestName, ReleaseName) on
 * that peer's account: each NameOwnerChanged it causes is charged to it in
 * every subscriber's queue (bus->announcing_for), and the change is refused
 * (LimitsExceeded) before anything happens when some subscriber's queue
 * could not take the announcement within the requester's fair share. So a
 * peer churning names can fill nobody's queue; it is paced by the slowest
 * watcher of the names it churns (probe: a watcher that paused 0.5 s was
 * disconnected). Does the announcement of a change of @name fit? */
bool driver_name_change_fits(Bus *bus, Peer *requester, const char *name);

/* NameChangeFn for the name registry (userdata = Bus): NameOwnerChanged,
 * then NameLost to the old owner, then NameAcquired to the new one. */
void driver_name_changed(const NameChange *change, void *userdata);

/* Encode a message from the bus; NULL on failure (logged). @body may be
 * NULL. */
Message *driver_message_new(Bus *bus, const BusMessageSpec *spec);
