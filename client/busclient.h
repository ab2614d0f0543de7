/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * busclient.h — public API of libbusclient, the client library of busd.
 *
 * Conventions
 * - Functions returning int return a negative errno on failure and 0 (or a
 *   documented positive value) on success. Where the peer answered with an
 *   error, the call returns -EREMOTEIO (or -ETIMEDOUT for org.busd.Error.Timeout)
 *   and fills the bus_error passed in.
 * - A connection that has ended (EOF, a failed read or write, a bus that
 *   closed it) gives every call that sends on it (bus_send(), bus_call*,
 *   bus_add_match*, bus_request_name*, bus_connection_flush(), ...) one
 *   answer, whatever failed first: -ECONNRESET, or -ETIMEDOUT if the bus
 *   never answered the handshake (bus_connect_with_timeout()). Calls that
 *   take a bus_error fill it with org.busd.Error.Disconnected (Timeout).
 * - Objects are opaque and reference counted where noted; *_unref() and
 *   *_close() accept NULL and return NULL.
 * - json_t ownership is stated at every function: "borrowed" means the
 *   library keeps its reference and the caller must not decref; "new
 *   reference" means the caller owns one reference and must json_decref() it.
 *   Arguments passed in are always borrowed (the library takes its own
 *   reference or serializes them before returning).
 * - Output parameters (ret_*) are only written on success.
 *
 * Threads: a bus_connection and everything obtained from it (messages,
 * slots) must be used from one thread at a time; the library takes no locks.
 * Distinct connections are independent and may be used from different
 * threads concurrently. Handlers run inside bus_connection_process() (or the
 * synchronous calls, which dispatch other traffic while they wait) on the
 * calling thread.
 *
 * Processes: a connection belongs to the process that made it. A child
 * after fork() shares the socket, so every call that would read or write
 * (send, call, process, wait, flush, cork, add_match, request_name, ...)
 * fails there with -ECHILD, as in sd-bus, and bus_connection_is_open() is
 * false: a child can never take its parent's replies. In the child,
 * bus_connection_close() only frees the memory and closes the child's copy
 * of the fd; no callback runs and nothing is sent. Messages a child builds
 * with its parent's connection never use the parent's payload pools (their
 * pages are shared with the parent): their large bodies and payloads go
 * into sealed memfds.
 *
 * Memory: outgoing messages are queued without a bound, but only as far as
 * the caller asks the library to send (a socket the bus does not drain,
 * or a corked connection). Incoming messages are read when the connection
 * is processed, one read at a time, and dispatched before the next read;
 * only a synchronous call made from inside a handler or callback reads
 * ahead, and what it reads ahead is bounded (see bus_call()). Payloads and
 * bodies that travelled in a memfd are held as fds and mapped only when
 * read, never copied.
 *
 * Callbacks (method handlers, match, reply and install callbacks) may send,
 * make synchronous calls (see bus_call()), unref any slot, their own
 * included, and close the connection (bus_connection_close(): it is freed
 * once the callback and the library frames around it return). They may not
 * call bus_connection_process(), which returns -EBUSY there.
 *
 * Debugging: with $BUSCLIENT_DEBUG set (any value) the library writes debug
 * lines to stderr, prefixed "busclient: " (calls it could not answer,
 * messages it dropped and why, failed callbacks). It logs nothing otherwise.
 *
 * The comments of this header are also the library's man pages (busclient(3)
 * and one page per group below): run client/man/generate.py after changing
 * them; tests/test-man-pages.sh checks the pages are up to date.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;

typedef struct bus_connection bus_connection;
typedef struct bus_message bus_message;
typedef struct bus_slot bus_slot;
typedef struct bus_payload bus_payload;

/* ---- Errors ----------------------------------------------------------------- */

/* An error as sent by a peer or the bus: a name such as
 * "org.busd.Error.ServiceUnknown" and a human-readable message. Both strings
 * are owned by the struct; release them with bus_error_free(). */
typedef struct bus_error {
        char *name;
        char *message;
} bus_error;

#define BUS_ERROR_INIT { NULL, NULL }

#define BUS_ERROR_FAILED "org.busd.Error.Failed"
#define BUS_ERROR_SERVICE_UNKNOWN "org.busd.Error.ServiceUnknown"
#define BUS_ERROR_NAME_HAS_NO_OWNER "org.busd.Error.NameHasNoOwner"
#define BUS_ERROR_UNKNOWN_METHOD "org.busd.Error.UnknownMethod"
#define BUS_ERROR_UNKNOWN_OBJECT "org.busd.Error.UnknownObject"
#define BUS_ERROR_UNKNOWN_INTERFACE "org.busd.Error.UnknownInterface"
#define BUS_ERROR_NO_REPLY "org.busd.Error.NoReply"
#define BUS_ERROR_TIMEOUT "org.busd.Error.Timeout"
#define BUS_ERROR_INVALID_ARGS "org.busd.Error.InvalidArgs"
#define BUS_ERROR_LIMITS_EXCEEDED "org.busd.Error.LimitsExceeded"
#define BUS_ERROR_ACCESS_DENIED "org.busd.Error.AccessDenied"
#define BUS_ERROR_PROTOCOL "org.busd.Error.ProtocolViolation"
#define BUS_ERROR_DISCONNECTED "org.busd.Error.Disconnected"
#define BUS_ERROR_MATCH_RULE_NOT_FOUND "org.busd.Error.MatchRuleNotFound"
/* The bus refused a message's payload: an fd that is not a sealed memfd of
 * the declared size, or a receiver that did not negotiate payloads. (A
 * sender over its payload quota gets org.busd.Error.LimitsExceeded.) */
#define BUS_ERROR_PAYLOAD_REFUSED "org.busd.Error.PayloadRefused"
/* org.busd.Bus.ReloadConfig: the configuration file is not valid (the message
 * says why); the bus keeps its old configuration. */
#define BUS_ERROR_CONFIG_INVALID "org.busd.Error.ConfigInvalid"

/* Signals the library makes itself, about this connection, and dispatches to
 * match callbacks like any signal (they never cross the socket): sender
 * BUS_LOCAL_NAME, path BUS_LOCAL_PATH, interface BUS_LOCAL_INTERFACE.
 * Subscribe with bus_add_match() as for any signal, e.g.
 * "type='signal',interface='org.busd.Local',member='SignalsDropped'" (the
 * bus accepts the rule and routes nothing for it). A peer's signal on this
 * interface or path is never dispatched (the library drops it), so a
 * handler sees only the library's own. Members:
 *   SignalsDropped  {"count": N, "bytes": B, "reason": str}: N signals (B
 *                   bytes on the wire, payload contents not counted) were
 *                   dropped past the read-ahead bound while a nested
 *                   synchronous call waited (bus_call()); one per episode,
 *                   dispatched in order at the place of the first drop. */
#define BUS_LOCAL_NAME "org.busd.Local"
#define BUS_LOCAL_PATH "/org/busd/Local"
#define BUS_LOCAL_INTERFACE "org.busd.Local"

/* Set both fields (copies); returns -EREMOTEIO, so a handler can write
 * `return bus_error_set(err, BUS_ERROR_INVALID_ARGS, "...")`. */
int bus_error_set(bus_error *e, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Free both fields and reset them to NULL. */
void bus_error_free(bus_error *e);
/* Whether @e is set and has exactly @name. */
bool bus_error_has_name(const bus_error *e, const char *name);

/* ---- Connections -------------------------------------------------------------- */

/* Open a connection and send the handshake (no round trip: the call returns
 * once the preamble is written; the unique name becomes known when the
 * broker's answer is processed — bus_connection_get_unique_name() waits for
 * it).
 * @address: a socket path; NULL means $BUSD_ADDRESS if set, else the system
 * bus (bus_connect_system()). */
int bus_connect(bus_connection **ret, const char *address);
/* bus_connect() with a bound on the handshake: connecting (a listener whose
 * backlog is full makes connect() wait) and every later wait for the bus's
 * answer to the handshake (bus_connection_get_unique_name(), the first
 * calls) give up @timeout_usec after this call, with -ETIMEDOUT, should the
 * bus not answer (a stopped busd, a socket nobody serves). 0 = the default
 * (25 s, also bus_connect()'s), UINT64_MAX = no limit. Like bus_connect(),
 * it returns without waiting for the bus. */
int bus_connect_with_timeout(bus_connection **ret, const char *address, uint64_t timeout_usec);
/* The system bus: the socket path the library was configured with
 * (./configure --with-system-socket; default /run/busd/system.sock). Ignores
 * $BUSD_ADDRESS. */
int bus_connect_system(bus_connection **ret);
/* The user bus: $XDG_RUNTIME_DIR/PATH, PATH as the library was configured
 * (./configure --with-user-socket; default busd/bus.sock); -ENXIO if
 * $XDG_RUNTIME_DIR is unset or not absolute. Ignores $BUSD_ADDRESS. */
int bus_connect_user(bus_connection **ret);

/* Close the socket, fail pending async calls with org.busd.Error.Disconnected
 * (their callbacks run), drop all slots, free the connection. NULL-safe;
 * returns NULL. Output not yet written (a full socket, or a corked
 * connection) is dropped: bus_connection_flush() first to deliver it. */
bus_connection *bus_connection_close(bus_connection *c);

/* The unique name (":1.N") the bus assigned; waits for the broker's answer if
 * it has not been processed yet. Borrowed, valid until close. NULL on error. */
const char *bus_connection_get_unique_name(bus_connection *c);
/* The bus id (32 hex digits). Borrowed. NULL on error. */
const char *bus_connection_get_bus_id(bus_connection *c);
/* Whether the connection is still usable: false as soon as the library has
 * seen it fail on any path (EOF or an error reading, an error writing, a
 * close), and in a child after fork().
 * Messages already read are still dispatched by bus_connection_process()
 * after it turns false. */
bool bus_connection_is_open(bus_connection *c);
/* Why the connection ended, from the broker's Disconnected signal, or
 * org.busd.Error.Timeout if the bus did not answer the handshake in time
 * (bus_connect_with_timeout()), or org.busd.Error.Disconnected (with the
 * reason, if the library knows one): copies into @e and returns 0; -EAGAIN
 * while the connection is still open. */
int bus_connection_get_disconnect_error(bus_connection *c, bus_error *e);
/* Signals this connection has dropped since it was opened because its
 * read-ahead was full while a nested synchronous call waited (see bus_call()),
 * in *@ret_count; the same drops are announced by org.busd.Local.SignalsDropped
 * notices. Returns 0, or -EINVAL. */
int bus_connection_get_dropped_signals(bus_connection *c, uint64_t *ret_count);

/* ---- Event loop integration ---------------------------------------------------- */

/* The socket to watch. */
int bus_connection_get_fd(bus_connection *c);
/* POLLIN, plus POLLOUT while output is queued. */
int bus_connection_get_events(bus_connection *c);
/* Absolute CLOCK_MONOTONIC time in µs at which bus_connection_process()
 * must run again (the next async call timeout, or the handshake deadline
 * while the bus has not answered it; 0 when input already read or the
 * broker's close waits to be processed), or UINT64_MAX if none.
 * Returns 0. */
int bus_connection_get_timeout(bus_connection *c, uint64_t *ret_usec);
/* Do bounded, non-blocking work: write queued output, read input, dispatch
 * handlers, expire timeouts. Returns > 0 if anything was done (call again),
 * 0 if idle (wait for events), negative errno if the connection failed
 * (-ECONNRESET when the broker closed it, -ETIMEDOUT when it never answered
 * the handshake), -EBUSY if called from inside a handler or callback
 * (dispatch does not nest; return from the callback instead), -ECHILD in a
 * child after fork().
 *
 * Disconnection: when the connection ends, match callbacks whose rule
 * selects it (every match slot, except one whose synchronous bus_add_match()
 * is still waiting) always get exactly one org.busd.Bus.Disconnected signal
 * (sender org.busd.Bus, path /org/busd/Bus, body {"error", "message"}): the
 * bus's own, dispatched in order with what it sent before it; or, if the
 * bus closed without one or the socket failed, one the library makes up
 * once everything read has been dispatched, with "error"
 * org.busd.Error.Disconnected (org.busd.Error.Timeout if the bus never
 * answered the handshake). Pending async calls fail with
 * org.busd.Error.Disconnected (Timeout, for the handshake) when the end is
 * processed, before the made-up signal if there is one. Not after
 * bus_connection_close(): an application that closes knows. */
int bus_connection_process(bus_connection *c);
/* Block until there is something to process or @timeout_usec (relative;
 * UINT64_MAX = no limit) passes. Returns > 0 if woken by events, 0 on timeout. */
int bus_connection_wait(bus_connection *c, uint64_t timeout_usec);
/* Block until all queued output is written. */
int bus_connection_flush(bus_connection *c);
/* Batch output (off by default, when every bus_send() writes at once, as
 * sd-bus does). While corked, sending only queues: what is queued leaves
 * together, up to 64 messages per sendmsg(), when the connection is next
 * processed (bus_connection_process(), an attached event loop, any
 * synchronous call), flushed, or uncorked, and at once whenever 64 messages
 * are waiting. For a burst of signals this saves a syscall and a broker
 * wakeup per message; the price is that a message waits for one of those
 * points. Uncorking writes what is queued (without blocking); closing drops
 * it (flush first). */
int bus_connection_set_cork(bus_connection *c, bool cork);
/* Attach the connection to a libevent base: the library registers its own
 * events and timer and processes the connection from them. One base per
 * connection; detach (or close) before freeing the base. In a child after
 * fork() that runs its copy of the base (after event_reinit(), as libevent
 * requires), the connection's events are removed from the child's base at
 * their first callback, so its loop does not spin on the parent's input;
 * the parent's are untouched. */
int bus_connection_attach_event(bus_connection *c, struct event_base *base);
void bus_connection_detach_event(bus_connection *c);

/* ---- Messages -------------------------------------------------------------------- */

/* Message types (the wire values; guarded so that the protocol's own header,
 * which declares the same enumerators, can be included alongside). */
#ifndef BUS_MESSAGE_TYPES_DEFINED
#define BUS_MESSAGE_TYPES_DEFINED 1
enum {
        BUS_MESSAGE_METHOD_CALL = 1,
        BUS_MESSAGE_METHOD_RETURN = 2,
        BUS_MESSAGE_ERROR = 3,
        BUS_MESSAGE_SIGNAL = 4,
};
#endif

/* Builders. @destination may be a unique or well-known name. */
int bus_message_new_method_call(bus_connection *c, bus_message **ret, const char *destination,
                                const char *path, const char *interface, const char *member);
int bus_message_new_signal(bus_connection *c, bus_message **ret, const char *path,
                           const char *interface, const char *member);
/* Unicast signal (or override a call's destination). */
int bus_message_set_destination(bus_message *m, const char *destination);
/* The optional "key" field match rules can select on. */
int bus_message_set_key(bus_message *m, const char *key);
/* Body as JSON (borrowed; serialized compactly now). NULL = empty body. */
int bus_message_set_body(bus_message *m, json_t *body);
/* Body as raw JSON text; must be valid UTF-8 (not checked for JSON syntax). */
int bus_message_set_body_text(bus_message *m, const char *text, size_t len);
/* Call that expects no reply. */
int bus_message_set_no_reply(bus_message *m, bool no_reply);
/* Call that must not start a service: sent to an activatable name nobody
 * owns, it is answered org.busd.Error.ServiceUnknown at once instead of
 * waiting for the bus to start the service (the NO_AUTO_START flag,
 * PROTOCOL.md 3.1); for a look that must not cause what it looks at.
 * Ignored on other message types. */
int bus_message_set_no_auto_start(bus_message *m, bool no_auto_start);
/* For busd-bridge: the remote sender of a call or signal forwarded from
 * another host (the ORIGIN field, PROTOCOL.md 3.3): that host's name
 * ([A-Za-z0-9_-]{1,64}), the sender's uid and unique name there. The bus
 * refuses a message carrying it (org.busd.Error.OriginRefused) unless the
 * connection became a bridge (org.busd.Bus.BecomeBridge). @host and
 * @unique_name both NULL remove it. Returns 0, or -EINVAL for another
 * message type or a bad host, uid or unique name. */
int bus_message_set_remote_origin(bus_message *m, const char *host, uid_t uid,
                                  const char *unique_name);

bus_message *bus_message_ref(bus_message *m);
bus_message *bus_message_unref(bus_message *m);

/* Accessors. Strings are borrowed, valid while @m is referenced; NULL when
 * the field is absent. */
int bus_message_get_type(bus_message *m);
uint64_t bus_message_get_serial(bus_message *m);
uint64_t bus_message_get_reply_serial(bus_message *m);
bool bus_message_get_no_reply(bus_message *m);
/* Sender's unique name, or "org.busd.Bus" for the bus itself. */
const char *bus_message_get_sender(bus_message *m);
const char *bus_message_get_destination(bus_message *m);
const char *bus_message_get_path(bus_message *m);
const char *bus_message_get_interface(bus_message *m);
const char *bus_message_get_member(bus_message *m);
const char *bus_message_get_error_name(bus_message *m);
const char *bus_message_get_key(bus_message *m);
/* Body parsed as JSON: borrowed (parsed once, cached), NULL if the body is
 * empty or not valid JSON, or travelled in a payload that fails the payload
 * rule (below; never mapped), or (received) holds more JSON values than its
 * connection parses: jansson spends 40-100 bytes per value before anything
 * can check them, so a peer's body of many small values would cost its
 * receiver ~20 times its size. The limit, BUS_CLIENT_BODY_VALUES_MAX (about
 * a million, ~100 MB at worst), is counted by a scan before parsing; such a
 * call to a declared method (bus_add_interface()) is answered
 * org.busd.Error.LimitsExceeded. bus_message_get_body_text() still gives the
 * text. */
json_t *bus_message_get_body(bus_message *m);
/* Set how many JSON values a body received on @c may hold to be parsed
 * (default BUS_CLIENT_BODY_VALUES_MAX; 0: no limit). 0 or -EINVAL. */
int bus_connection_set_body_values_max(bus_connection *c, uint64_t max);
/* Raw body bytes (not NUL-terminated); borrowed. A body that travelled in a
 * memfd is mapped (on the first call, not on receipt), not copied, and its
 * pages are faulted in only as they are read, so borrowing a large body to
 * pass it on costs nothing per byte. NULL (and *@ret_len 0) only if such a
 * body fails the payload rule (below; it is then never mapped; whatever its
 * declared size, 0 included) or could not be mapped (out of memory); an
 * empty body that passes is "" with length 0. A body that came as a slice of
 * the sender's pool is borrowed in place and is volatile (see "Payload
 * pools" below): copy it before you check or parse it (bus_message_get_body()
 * does); NULL if its pool is unknown or was refused. */
const char *bus_message_get_body_text(bus_message *m, size_t *ret_len);
/* For an error message: the error it carries (copies into @e). */
int bus_message_get_error(bus_message *m, bus_error *e);

/* ---- Payloads -------------------------------------------------------------------- */

/* Bulk data travels beside a message as payloads: sealed memfds passed
 * with SCM_RIGHTS. The bus checks them and hands the same file to every
 * receiver without copying or reading it, so a payload costs the same
 * whether it is 1 MiB or 1 GiB, and whether it goes to one receiver or a
 * hundred. A message carries at most 16 payloads (BUS_FDS_MAX), of at most
 * 64 GiB in all.
 *
 * The payload rule (PROTOCOL.md section 3.5), the same for the bus and this
 * library: a payload is a memfd open for reading, sealed with F_SEAL_WRITE,
 * F_SEAL_SHRINK, F_SEAL_GROW and F_SEAL_SEAL, of exactly its declared size,
 * and fully backed: every byte of it allocated (written or fallocate()d),
 * not a hole (a memfd that was only ftruncate()d is refused), since whoever
 * reads a hole would have to allocate it. The library only sends such
 * payloads, and judges each received payload by the rule before it maps it
 * or hands its fd out; one that fails is never mapped (no SIGBUS can reach
 * you), and the calls that would read it fail with -EBADMSG. A received
 * payload costs nothing until it is read: it is mapped on first access and
 * its pages are faulted in only as you read them.
 *
 * Bodies: a JSON body larger than BUS_BODY_INLINE_THRESHOLD is moved into a
 * memfd automatically and read back transparently by bus_message_get_body();
 * it is not one of the payloads below (unless a message already carries 16).
 *
 * Refusals: a method call whose payload the bus refuses gets an error reply
 * (org.busd.Error.PayloadRefused or LimitsExceeded). For a signal, a method
 * return or a no-reply call there is nothing to answer: the bus drops the
 * message and sends the sender a unicast signal org.busd.Bus.PayloadRefused
 * {"serial", "error", "message"} (subscribe with
 * "type='signal',sender='org.busd.Bus',member='PayloadRefused'"); a caller
 * waiting for a refused method return gets the error instead.
 *
 * Fair shares (any message, with or without payloads): a sender gets a fair
 * share of each receiver's queue in the bus. A call beyond it is answered
 * org.busd.Error.LimitsExceeded; a signal beyond it is not queued to that
 * receiver, and the sender gets one unicast signal org.busd.Bus.MessageDropped
 * {"serial", "receivers", "error", "message"} per signal that missed some
 * receivers (subscribe with
 * "type='signal',sender='org.busd.Bus',member='MessageDropped'"). */

/* A payload buffer of @size bytes to fill in place before attaching it: a new
 * memfd (MFD_CLOEXEC | MFD_ALLOW_SEALING) mapped writable, its pages
 * allocated now (MADV_POPULATE_WRITE where the kernel has it), so the
 * payload is fully backed whatever you write and filling it takes no page
 * faults. The buffer owns the memfd and the mapping. -EMSGSIZE above
 * 64 GiB, -ENOMEM if the memory cannot be had. */
int bus_payload_new(bus_payload **ret, size_t size);
/* The writable mapping, valid until the payload is attached or freed; NULL
 * for a payload of size 0. */
void *bus_payload_data(bus_payload *p);
size_t bus_payload_size(bus_payload *p);
/* Unmap, close and free an unattached payload. NULL-safe; returns NULL. */
bus_payload *bus_payload_free(bus_payload *p);

/* Attach @p as the message's next payload. Always consumes @p, even on
 * failure: the mapping is dropped (pointers from bus_payload_data() become
 * invalid), the memfd is sealed (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE |
 * F_SEAL_SEAL) and owned by the message. -E2BIG past 16 payloads, -EMSGSIZE
 * past 64 GiB in all, -EPERM for a received message. */
int bus_message_attach_payload(bus_message *m, bus_payload *p);
/* Attach the memfd @fd (borrowed): the message keeps a duplicate
 * (F_DUPFD_CLOEXEC) and the caller keeps its own fd. If the memfd lacks any
 * of the four seals above, they are added now, to the file itself, so the
 * caller's fd refers to a sealed file afterwards: -EPERM if it was created
 * without MFD_ALLOW_SEALING, -EBUSY while a writable shared mapping of it
 * exists, -EINVAL if @fd is not a memfd, -EBADF for an O_PATH or closed fd,
 * -EACCES if it is open write-only. -ENODATA if it is not fully backed (it
 * has holes: pages never written or fallocate()d, as after ftruncate()
 * alone), checked before any seal is added: the bus would refuse it, and
 * the library does not allocate memory you did not ask for; write every
 * page, or fallocate(fd, 0, 0, size), first. The payload's size is the file's
 * size. */
int bus_message_attach_fd(bus_message *m, int fd);
/* Attach a copy of @size bytes at @data: into a slice of the connection's
 * payload pool when the message was made with a connection whose payload
 * mode is BUS_PAYLOAD_MODE_POOL (below), else into a new sealed memfd. */
int bus_message_attach_bytes(bus_message *m, const void *data, size_t size);

/* Payload pools (PROTOCOL.md 3.6). In BUS_PAYLOAD_MODE_POOL (the default when
 * the bus offers pools), a connection keeps shared memory pools it writes
 * payloads into in place: bus_message_attach_bytes(), bus_payload_new_pooled()
 * and JSON bodies above BUS_CLIENT_POOL_BODY_THRESHOLD (64 KiB) of messages
 * made with that connection (bus_message_new_method_call(),
 * bus_message_new_signal(), bus_message_new_method_return() and the
 * library's replies) become slices of a pool, which the bus passes on by
 * reference: no new memfd and no fresh pages per message. The first pool is
 * 64 MiB (a larger payload gets a pool twice its size; at most 4 pools),
 * announced to the bus once (a synchronous AddPool call made by the
 * message function that first needs the pool: it waits for the bus's
 * answer like a nested bus_call(), never dispatching); a slice is reused once every receiver freed the
 * message (the library tells the bus, batched). When no pool has room, or
 * the bus does not offer pools, payloads fall back to sealed memfds.
 * BUS_PAYLOAD_MODE_SEALED uses sealed one-shot memfds only: choose it for
 * payloads that must be immutable once sent. $BUSD_PAYLOAD_MODE=sealed makes
 * it the default of new connections.
 *
 * **Slices are volatile.** A pool stays writable by its owner, so the bytes
 * of a received slice (bus_message_get_payload() of a slice) may change
 * while you read them, if the sender misbehaves: read each value once, copy
 * what you parse or check, and never trust two reads of the same bytes to
 * agree. They cannot fault (the pool cannot shrink) and cannot be written
 * by you. The library follows this rule itself: a JSON body in a slice is
 * copied before it is parsed. bus_message_dup_payload_fd() of a slice gives
 * a sealed memfd holding a snapshot of it. Attached payloads keep their
 * order: slices travel after fd payloads, so attaching an fd payload
 * (bus_message_attach_payload() of a memfd, bus_message_attach_fd()) turns
 * the slices attached before it into sealed memfds. */
typedef enum bus_payload_mode {
        BUS_PAYLOAD_MODE_POOL = 0,   /* slices of the connection's pools when possible */
        BUS_PAYLOAD_MODE_SEALED = 1, /* sealed one-shot memfds only */
} bus_payload_mode;
/* Set @c's payload mode for payloads attached from now on. 0 or -EINVAL. */
int bus_connection_set_payload_mode(bus_connection *c, int mode);
/* @c's payload mode, or -EINVAL. */
int bus_connection_get_payload_mode(bus_connection *c);
/* Like bus_payload_new(), but a slice of @c's pool to fill in place when @c
 * uses pools (else a memfd, as bus_payload_new()). Attach it to a message made
 * with @c and send it on @c; freeing it unattached gives the slice back. */
int bus_payload_new_pooled(bus_connection *c, bus_payload **ret, size_t size);

/* Number of payloads (attached, or received with the message). */
unsigned bus_message_get_payload_count(bus_message *m);
/* Payload @index (0-based) as a read-only pointer and size, valid while @m is
 * referenced. Mapped on first access (MAP_SHARED, PROT_READ), after judging
 * it by the payload rule, so reading it can never raise SIGBUS; not faulted
 * in ahead: pages are mapped as you read them, so reading part of a large
 * payload costs only that part (a caller about to read all of a large one
 * can ask for it at once with madvise(MADV_POPULATE_READ), Linux 5.14: one
 * call instead of a page fault per 64 KiB). A payload of size 0 gives a
 * valid pointer to no bytes. The mapping belongs to the message: do not
 * unmap it. -EINVAL for a bad index, -EBADMSG if the payload fails the
 * payload rule (it is not mapped), -EFBIG if it does not fit the address
 * space. */
int bus_message_get_payload(bus_message *m, unsigned index, const void **ret_data,
                            size_t *ret_size);
/* A new fd (F_DUPFD_CLOEXEC) for payload @index, owned by the caller: to keep
 * the payload beyond the message, or to read it with pread()/mmap() itself.
 * Receivers of one payload share one open file: use pread() or mmap(), not
 * read()/lseek(), which move an offset the others see. -EBADMSG if the
 * payload fails the payload rule (no fd is handed out), other negative
 * errno on failure. */
int bus_message_dup_payload_fd(bus_message *m, unsigned index);

/* Deprecated: the names these functions had before the library said
 * "payload" everywhere. Same behaviour as bus_message_get_payload_count(),
 * bus_message_get_payload() and bus_message_dup_payload_fd(); kept exported
 * so that programs built against them keep linking. Use the new names. */
unsigned bus_message_get_blob_count(bus_message *m);
int bus_message_get_blob(bus_message *m, unsigned index, const void **ret_data,
                         size_t *ret_size);
int bus_message_dup_blob_fd(bus_message *m, unsigned index);

/* Sender credentials, stamped by the broker from the kernel's view of the
 * sender's socket at connect time. Never what the sender claimed. */
uid_t bus_message_get_sender_uid(bus_message *m);
gid_t bus_message_get_sender_gid(bus_message *m);
/* 0 if the sender's pid is not visible in the bus's pid namespace. */
pid_t bus_message_get_sender_pid(bus_message *m);
/* Inode number of the sender's pidfd (unique for the boot on kernels with
 * pidfs), 0 if unknown: lets a service tell a reused pid from its caller. */
uint64_t bus_message_get_sender_pid_id(bus_message *m);
/* BUS_SENDER_FLAG_* the bus stamped on @m (PROTOCOL.md 3.2):
 * BUS_SENDER_FLAG_BRIDGE (1) when the sender is a connection that became a
 * bridge (busd-bridge: the message came from another host). 0 for messages
 * built or synthesized locally. */
uint32_t bus_message_get_sender_flags(bus_message *m);
/* The caller's deadline of a received method call: absolute CLOCK_MONOTONIC
 * time in ns after which it no longer wants the reply; 0 = none (and for
 * every other message). */
uint64_t bus_message_get_deadline(bus_message *m);
/* Who sent @m on another host, for a call or signal busd-bridge forwarded:
 * that host's name, the sender's uid and unique name on that host's bus, as
 * the calling host's bridge put them (docs/BRIDGE.md, "Identity across
 * hosts"). No local peer can forge them: the bus refuses the field from any
 * connection that is not a bridge, and this returns it only when the bus
 * also stamped the bridge flag. Strings are borrowed, valid while @m is
 * referenced; each out pointer may be NULL. Returns 0; -ENODATA for a local
 * message (no remote origin) or one built or synthesized locally; -ENOMEM;
 * -EINVAL if @m is NULL. */
int bus_message_get_remote_origin(bus_message *m, const char **ret_host, uid_t *ret_uid,
                                  const char **ret_unique_name);

/* ---- Credentials ------------------------------------------------------------------ */

/* Who is behind a bus name, as the bus learned it from the kernel when that
 * connection connected (org.busd.Bus.GetConnectionCredentials). For polkit:
 * pid + start_time + uid is its race-free unix-process subject. The struct
 * may grow at its end (reserved). */
typedef struct bus_credentials {
        char unique_name[32];
        uid_t uid;
        gid_t gid;
        pid_t pid;           /* 0 if not visible in the bus's pid namespace */
        uint64_t pid_id;     /* inode of its pidfd on pidfs (unique for the boot), 0 if unknown */
        uint64_t start_time; /* process start, clock ticks since boot (/proc/PID/stat field 22),
                              * 0 if unknown */
        uint64_t reserved[4];
} bus_credentials;

/* GetConnectionCredentials of @name (unique or well-known) into *@ret.
 * Returns 0; -EINVAL for an invalid name; the bus's error
 * (org.busd.Error.NameHasNoOwner: -EREMOTEIO with @ret_error) or another
 * negative errno as bus_call(). */
int bus_get_connection_credentials(bus_connection *c, const char *name, bus_credentials *ret,
                                   bus_error *ret_error);
/* A pidfd (O_CLOEXEC) for the process @cr describes, verified to be that
 * process and not one that reused its pid: by the pidfd's inode where the
 * kernel has pidfs (pid_id), else by the start time read while the pidfd
 * shows the process alive. Returns the fd; -ESRCH if the process is gone
 * or its pid was reused; -EOPNOTSUPP if neither can be verified; -EINVAL
 * without a pid; another negative errno from pidfd_open(2). */
int bus_credentials_open_pidfd(const bus_credentials *cr);

/* ---- Sending and calling ---------------------------------------------------------- */

/* Queue @m (borrowed) for sending; assigns its serial (returned in
 * *ret_serial if non-NULL). Output is written at once when the socket
 * accepts it (unless the connection is corked: bus_connection_set_cork()),
 * else by process/flush. */
int bus_send(bus_connection *c, bus_message *m, uint64_t *ret_serial);

/* Synchronous call. @timeout_usec: 0 = default (25 s); it is sent to the
 * broker as the call's deadline. On a reply, returns 0 and *ret_reply (new
 * reference, may be NULL) holds it; on an error reply returns -EREMOTEIO
 * (-ETIMEDOUT for org.busd.Error.Timeout) and fills @ret_error if non-NULL;
 * -ECONNRESET, with @ret_error org.busd.Error.Disconnected, if the connection
 * ended before the answer came or had ended already (whatever failed first: a
 * write, EOF; its message "Connection closed by the bus: NAME: REASON" when
 * the bus said why, as bus_connection_get_disconnect_error() gives it), or
 * -ETIMEDOUT with org.busd.Error.Timeout if the bus never
 * answered the handshake.
 *
 * Made outside any callback, it dispatches other traffic (signals, calls to
 * our objects, async replies) while it waits, so handlers run inside it.
 * Made from inside a handler or callback (a nested call), it does not
 * dispatch: it reads ahead, keeping what it reads for later dispatch, and
 * picks out its own reply. The read-ahead is bounded
 * (BUS_CLIENT_READ_AHEAD_BYTES_MAX / _FDS_MAX / _MESSAGES_MAX in
 * bus-limits.h: 16 MiB, 256 payload fds, 16384 messages). Past the bound
 * the call goes on reading, so it always finds its reply, but keeps only
 * replies to pending calls and the bus's own messages; a method call to us
 * is answered at once with org.busd.Error.LimitsExceeded, and a signal is
 * dropped, never silently: the application gets one local signal
 * org.busd.Local.SignalsDropped {"count", "bytes", "reason"} per episode
 * (dispatched after the handler returns, where the first dropped signal
 * would have been; see BUS_LOCAL_INTERFACE), and
 * bus_connection_get_dropped_signals() counts every drop. A service that
 * peers may flood should therefore not block in synchronous calls inside
 * handlers: use bus_call_async() and answer later (BUS_REPLY_DEFERRED). */
int bus_call(bus_connection *c, bus_message *m, uint64_t timeout_usec, bus_error *ret_error,
             bus_message **ret_reply);

/* Convenience: build, call, and return the reply body (new reference; NULL
 * for an empty body) in *ret_body. @args is borrowed, may be NULL. */
int bus_call_method(bus_connection *c, const char *destination, const char *path,
                    const char *interface, const char *member, json_t *args,
                    uint64_t timeout_usec, bus_error *ret_error, json_t **ret_body);

/* Reply callback: @reply is a method return or an error message (borrowed;
 * ref it to keep it). A local timeout or disconnect arrives as a synthesized
 * error message (org.busd.Error.Timeout / org.busd.Error.Disconnected).
 * Return value is ignored except that negative values are reported in the
 * debug log. */
typedef int (*bus_message_handler)(bus_message *m, void *userdata);

/* Asynchronous call. The callback runs once. *ret_slot (optional) cancels it
 * when unreffed before the reply arrives; with ret_slot NULL the call is
 * "floating" and owned by the connection. @timeout_usec: 0 = the default
 * (25 s); UINT64_MAX (or anything too large to add to the clock) = none: no
 * deadline is sent to the bus and no local timer runs, so the callback runs
 * when the reply arrives or the connection ends. Otherwise the bus answers
 * org.busd.Error.Timeout at the deadline, and the library itself one second
 * later should the bus not. Once it returns 0, bus_message_get_serial(@m) is
 * the serial this call was sent with (what the callee sees and its reply
 * names); sending @m again assigns a new one. */
int bus_call_async(bus_connection *c, bus_message *m, uint64_t timeout_usec,
                   bus_message_handler callback, void *userdata, bus_slot **ret_slot);

/* Convenience: emit a signal with an optional key and body (borrowed). */
int bus_emit_signal(bus_connection *c, const char *path, const char *interface,
                    const char *member, const char *key, json_t *body);

/* ---- Slots ---------------------------------------------------------------------- */

/* Unref a slot: cancels the async call, removes the match (sends
 * RemoveMatch) or unregisters the object it stands for. NULL-safe. */
bus_slot *bus_slot_unref(bus_slot *s);

/* ---- Match rules and names ------------------------------------------------------------ */

/* Install a match rule on the bus (synchronous AddMatch) and call @callback
 * for every received message satisfying it. Rule syntax: PROTOCOL.md
 * ("type='signal',interface='org.example.Foo',member='Changed'"). Returns
 * -EINVAL for a malformed rule, or the bus's error (-ECONNRESET or
 * -ETIMEDOUT if the connection ends first, see bus_call()). @callback runs
 * only once the call has succeeded, never while it waits: a call that fails
 * has run no callback (not even for the Disconnected signal of a connection
 * that ended while it waited). */
int bus_add_match(bus_connection *c, bus_slot **ret_slot, const char *rule,
                  bus_message_handler callback, void *userdata);
/* bus_add_match() without waiting: the rule is checked and the slot made at
 * once (@callback fires for matching messages from now on), AddMatch is sent,
 * and @install_callback (optional) gets the bus's answer when it is
 * processed: a method return, or an error message (org.busd.Error.
 * LimitsExceeded, Disconnected, ...), with @userdata. If the bus refuses the
 * rule (an error the bus sent), the slot stops firing after @install_callback
 * returns: a floating slot (ret_slot NULL) is freed, an owned one stays for
 * its owner to unref. If no answer comes because the connection ended (or
 * the bus did not answer in time), @install_callback gets the library's own
 * org.busd.Error.Disconnected (Timeout) and the rule is not refused: the
 * slot stays, and gets the Disconnected signal every match selecting it
 * gets (bus_connection_process()), until its owner unrefs it or the
 * connection is closed.
 * Unreffing the slot before the answer sends RemoveMatch, and
 * @install_callback does not run. Returns -EINVAL for a malformed rule. */
int bus_add_match_async(bus_connection *c, bus_slot **ret_slot, const char *rule,
                        bus_message_handler callback, bus_message_handler install_callback,
                        void *userdata);

enum {
        BUS_NAME_ALLOW_REPLACEMENT = 1u << 0,
        BUS_NAME_REPLACE_EXISTING = 1u << 1,
        BUS_NAME_DO_NOT_QUEUE = 1u << 2,
};

/* Results of bus_request_name (positive) */
enum {
        BUS_NAME_PRIMARY_OWNER = 1,
        BUS_NAME_IN_QUEUE = 2,
        BUS_NAME_EXISTS = 3,
        BUS_NAME_ALREADY_OWNER = 4,
};

/* Results of bus_release_name (positive) */
enum {
        BUS_NAME_RELEASED = 1,
        BUS_NAME_NON_EXISTENT = 2,
        BUS_NAME_NOT_OWNER = 3,
};

/* RequestName: returns one of BUS_NAME_PRIMARY_OWNER..ALREADY_OWNER. */
int bus_request_name(bus_connection *c, const char *name, unsigned flags, bus_error *ret_error);
/* RequestName without waiting: @callback (optional) gets the bus's answer,
 * as bus_call_async() does: a method return whose body is {"result": N},
 * N one of BUS_NAME_PRIMARY_OWNER..ALREADY_OWNER, or an error message. With
 * @ret_slot, unreffing the slot before the answer drops the answer (the
 * request itself stands); @ret_slot needs a @callback. Returns -EINVAL for
 * an invalid name or flags. */
int bus_request_name_async(bus_connection *c, bus_slot **ret_slot, const char *name,
                           unsigned flags, bus_message_handler callback, void *userdata);
/* ReleaseName: returns one of BUS_NAME_RELEASED..NOT_OWNER. */
int bus_release_name(bus_connection *c, const char *name, bus_error *ret_error);

/* ---- Objects -------------------------------------------------------------------------- */

/* Method handler. Either set *ret_reply (new reference the library steals;
 * NULL = empty reply) and return 0; or fill @ret_error (bus_error_set) and
 * return negative; or return BUS_REPLY_DEFERRED after bus_message_ref(call),
 * and answer later with bus_reply()/bus_reply_error(). A negative return
 * without @ret_error set sends org.busd.Error.Failed with strerror. To answer
 * with payloads, build the reply with bus_message_new_method_return(), attach
 * them, bus_send() it and return BUS_REPLY_DEFERRED (now or later).
 *
 * Every call that expects a reply is answered at once, even when the answer
 * asked for cannot be built: an invalid error name, a reply body jansson
 * cannot encode, a reply (with its payloads) that cannot be sent (no memory,
 * no fds for its memfds) become org.busd.Error.Failed with a message saying
 * why (naming the bad error name). Error messages that are not valid UTF-8
 * are sent with each bad byte replaced by U+FFFD. Only a deferred call
 * never answered, or a connection that died, leaves a caller waiting. */
typedef int (*bus_method_handler)(bus_message *call, void *userdata, json_t **ret_reply,
                                  bus_error *ret_error);

#define BUS_REPLY_DEFERRED 1

typedef struct bus_method {
        const char *member;
        bus_method_handler handler;
} bus_method;

/* Register @methods (array terminated by { NULL, NULL }; must outlive the
 * slot) for @interface on @path. Calls to an unknown path, interface or
 * member are answered with org.busd.Error.UnknownObject / UnknownInterface /
 * UnknownMethod. */
int bus_add_object(bus_connection *c, bus_slot **ret_slot, const char *path,
                   const char *interface, const bus_method *methods, void *userdata);

/* A method return answering @call (borrowed; a received method call), to
 * fill (body, payloads) and send with bus_send(). -EPERM if the call was
 * flagged no-reply: nobody would receive the answer. */
int bus_message_new_method_return(bus_message *call, bus_message **ret);

/* Answer @call (borrowed) with @body (borrowed) or @error. Does nothing and
 * returns 0 for calls flagged no-reply. If the answer cannot be built or
 * sent, the call is answered with org.busd.Error.Failed instead and the
 * error is returned; an invalid error name gives -EINVAL after that
 * answer. Do not answer again after an error: the call has its answer. */
int bus_reply(bus_connection *c, bus_message *call, json_t *body);
int bus_reply_error(bus_connection *c, bus_message *call, const bus_error *error);

/* ---- Monitoring ------------------------------------------------------------------------ */

/* Turn @c into a monitor (org.busd.Bus.BecomeMonitor, PROTOCOL.md section 7):
 * from then on the bus sends it a copy of every message it may see — all
 * traffic for root or the bus's own uid, otherwise the messages sent by,
 * addressed to or delivered to peers of the caller's uid — that matches one
 * of @rules (NULL-terminated array of match rules, PROTOCOL.md section 6;
 * NULL or empty = everything). Synchronous. On success every message
 * received afterwards, including messages addressed to other peers, goes to
 * @callback (borrowed, as for match callbacks) instead of the normal
 * dispatch; pending async calls fail with org.busd.Error.Failed, match and
 * object slots stop firing (unref them as usual, nothing is sent), and every
 * send (bus_send, bus_call*, bus_add_match, bus_request_name, ...) fails
 * with -EPERM: the bus disconnects a monitor that sends. The connection no
 * longer owns names and cannot be called. The bus's Disconnected signal to
 * the monitor is not passed to @callback: bus_connection_process() fails
 * and bus_connection_get_disconnect_error() says why (a monitor that falls
 * behind is disconnected with org.busd.Error.LimitsExceeded).
 * Returns 0, -EINVAL for a malformed rule or a NULL callback, -EBUSY if @c
 * is a monitor already, -ENOBUFS past the bus's monitor limits, or another
 * negative errno. */
int bus_connection_become_monitor(bus_connection *c, const char *const *rules,
                                  bus_message_handler callback, void *userdata);

/* The bytes of received message @m exactly as the bus sent them: fixed
 * header (with the sender block the bus stamped), fields and inline body,
 * without the payloads (a body moved into a payload is not included).
 * Borrowed, valid while @m is referenced. -ENODATA for a message built or
 * synthesized locally. */
int bus_message_get_raw(bus_message *m, const void **ret_data, size_t *ret_size);

/* ==== Object model (issue #13): declared interfaces, schemas, standard interfaces ==== *
 *
 * A service declares each interface once, as a static table of methods,
 * properties and signals with their schemas, and registers it on an object
 * path (bus_add_interface()) or on a whole subtree (bus_add_subtree()). The
 * library then:
 *   - checks every incoming call against the method's argument schema; a
 *     call that does not fit is answered org.busd.Error.InvalidArgs naming
 *     the field and what was expected, and the handler never runs;
 *   - answers, on every path it knows, org.busd.Introspectable.Introspect
 *     and org.busd.Properties (Get, GetAll, Set; the PropertiesChanged
 *     signal), and org.busd.ObjectManager where bus_add_object_manager() was
 *     called. Every connection answers org.busd.Peer.Ping on any path, and
 *     Introspect for bus_add_object() objects too (their methods, without
 *     schemas);
 *   - turns a handler's negative errno into a named error (bus_error_set_errno()).
 * docs/OBJECTS.md describes the wire side (method bodies, the introspection
 * JSON, interface description files) and walks through an example.
 *
 * Schemas are JSON (text in C tables). A schema is a type name, "string",
 * "integer", "number", "boolean", "payload" (an integer: the index of a
 * payload attached to the message), "any"; or an object with "type" and:
 *   {"type": "integer", "min": N, "max": N}       (both optional; also "number")
 *   {"type": "string", "max_length": N}           (optional, in bytes)
 *   {"type": "array", "items": SCHEMA, "max_items": N}
 *   {"type": "object", "fields": {"NAME": SCHEMA, ...}}
 *   {"type": "enum", "values": ["a", "b", ...]}
 * and any schema inside "fields" may carry "optional": true. An object
 * accepts exactly its fields: a missing required field, or a field it does
 * not declare, is refused. Method arguments, method results and signal
 * arguments are always objects: their tables give only the "fields" map
 * (e.g. "{\"celsius\": {\"type\": \"number\", \"min\": -50, \"max\": 100}}"),
 * NULL for none; or a type name, as JSON text, for a body of any other
 * shape ("\"any\"" takes every body). A schema nests at most
 * BUS_SCHEMA_DEPTH_MAX (32) deep. */

#define BUS_ERROR_UNKNOWN_PROPERTY "org.busd.Error.UnknownProperty"
#define BUS_ERROR_PROPERTY_READ_ONLY "org.busd.Error.PropertyReadOnly"

#define BUS_INTROSPECTABLE_INTERFACE "org.busd.Introspectable"
#define BUS_PROPERTIES_INTERFACE "org.busd.Properties"
#define BUS_PEER_INTERFACE "org.busd.Peer"
#define BUS_OBJECT_MANAGER_INTERFACE "org.busd.ObjectManager"

#define BUS_SCHEMA_DEPTH_MAX 32u

typedef struct bus_schema bus_schema;

/* Compile the schema @desc (borrowed: a JSON string or object, see above)
 * into *@ret. On a bad description returns -EINVAL and, if @ret_error is
 * non-NULL, fills it with org.busd.Error.InvalidArgs saying where. */
int bus_schema_new(bus_schema **ret, json_t *desc, bus_error *ret_error);
/* bus_schema_new() from JSON text. */
int bus_schema_parse(bus_schema **ret, const char *text, bus_error *ret_error);
/* The schema of an object whose fields are @fields_text (a JSON object of
 * field schemas, as in method tables; NULL = no fields). */
int bus_schema_parse_fields(bus_schema **ret, const char *fields_text, bus_error *ret_error);
/* Check @value (borrowed; NULL counts as an empty object) against @s.
 * @n_payloads: how many payloads the message carries (for "payload"
 * fields). Returns 0 if it fits, else -EINVAL with @ret_error (if non-NULL)
 * set to org.busd.Error.InvalidArgs, message "field 'a.b[2]': expected ...,
 * got ..." ("arguments" for the value itself). */
int bus_schema_check(const bus_schema *s, json_t *value, unsigned n_payloads,
                     bus_error *ret_error);
/* The schema's description, normalized (borrowed, valid while @s lives). */
json_t *bus_schema_get_description(const bus_schema *s);
/* Free @s. NULL-safe; returns NULL. */
bus_schema *bus_schema_free(bus_schema *s);

/* Property flags. A property without BUS_PROPERTY_WRITABLE is read-only:
 * Set is refused with org.busd.Error.PropertyReadOnly. With
 * BUS_PROPERTY_EMITS_CHANGE a successful Set announces the new value in a
 * PropertiesChanged signal, and bus_emit_properties_changed() may name it. */
enum {
        BUS_PROPERTY_WRITABLE = 1u << 0,
        BUS_PROPERTY_EMITS_CHANGE = 1u << 1,
};

/* Method flags, shown by introspection. */
enum {
        BUS_METHOD_DEPRECATED = 1u << 0,
};

/* Read property @property of @interface at @path: set *@ret_value (a new
 * reference the library steals) and return 0, or fill @ret_error / return a
 * negative errno (answered as bus_error_set_errno() names it). */
typedef int (*bus_property_getter)(bus_connection *c, const char *path, const char *interface,
                                   const char *property, void *userdata, json_t **ret_value,
                                   bus_error *ret_error);
/* Write it: @value (borrowed) has been checked against the schema. Return 0
 * to accept, or fill @ret_error / return a negative errno to refuse. */
typedef int (*bus_property_setter)(bus_connection *c, const char *path, const char *interface,
                                   const char *property, json_t *value, void *userdata,
                                   bus_error *ret_error);

/* A method: @args and @result are the fields maps of the argument and
 * result objects (NULL = none). The handler is a bus_method_handler (see
 * "Objects" above); it runs only with arguments that fit @args, and
 * bus_message_get_body() gives them. A negative return without @ret_error
 * set is answered with the error bus_error_set_errno() names. Replies are
 * checked against @result in builds without NDEBUG (a reply that does not
 * fit is answered org.busd.Error.Failed, saying so). */
typedef struct bus_interface_method {
        const char *name;
        const char *args;
        const char *result;
        bus_method_handler handler;
        unsigned flags; /* BUS_METHOD_* */
} bus_interface_method;

/* A property: @schema is any schema. Its value comes from @get, or, when
 * @get is NULL, from memory at (char *)userdata + @offset, by the schema's
 * type: "boolean" bool, "integer" int64_t, "number" double, "string" char *
 * (NULL reads as ""; a writable one must hold malloc()ed memory or NULL: Set
 * frees the old string and stores a malloc()ed copy). Writable properties
 * need @set, or no @get (then Set writes the memory). */
typedef struct bus_interface_property {
        const char *name;
        const char *schema;
        unsigned flags; /* BUS_PROPERTY_* */
        bus_property_getter get;
        bus_property_setter set;
        size_t offset;
} bus_interface_property;

/* A signal and the fields map of its body. */
typedef struct bus_interface_signal {
        const char *name;
        const char *args;
} bus_interface_signal;

/* An interface: its name and three arrays, each ended by an entry whose
 * name is NULL (or a NULL array for none). All of it must outlive the
 * registrations that use it. */
typedef struct bus_interface {
        const char *name;
        const bus_interface_method *methods;
        const bus_interface_property *properties;
        const bus_interface_signal *signals;
} bus_interface;

/* Register @iface on @path with @userdata for its handlers. The tables are
 * checked and their schemas compiled now: -EINVAL for an invalid path,
 * name or schema, or a name declared twice among the methods, properties or
 * signals (BUSCLIENT_DEBUG says which), -EEXIST if @path already has
 * @iface. If an object manager covers @path, InterfacesAdded is emitted now,
 * and InterfacesRemoved when the slot is unreffed. With @ret_slot NULL the
 * registration lives as long as the connection. */
int bus_add_interface(bus_connection *c, bus_slot **ret_slot, const char *path,
                      const bus_interface *iface, void *userdata);

/* Find the object at @path (strictly under the subtree's prefix): return 1
 * and set *@ret_userdata to what its handlers get, 0 if there is none, or
 * a negative errno. */
typedef int (*bus_subtree_find)(bus_connection *c, const char *path, void *userdata,
                                void **ret_userdata);
/* List the objects of the subtree now: a malloc()ed, NULL-terminated array
 * of malloc()ed full paths in *@ret_paths (the library frees them). Return
 * 0 or a negative errno. */
typedef int (*bus_subtree_enumerate)(bus_connection *c, const char *prefix, void *userdata,
                                     char ***ret_paths);

/* Serve @iface for objects made on demand below @prefix: a call to a path
 * strictly under @prefix asks @find which object it is. @enumerate (may be
 * NULL) lists them for introspection's children and GetManagedObjects. A
 * path registered with bus_add_interface() for the same interface wins. */
int bus_add_subtree(bus_connection *c, bus_slot **ret_slot, const char *prefix,
                    const bus_interface *iface, bus_subtree_find find,
                    bus_subtree_enumerate enumerate, void *userdata);

/* Serve org.busd.ObjectManager at @path for the objects below it:
 * GetManagedObjects, SubscribeManagedObjects (the snapshot, and from then
 * on InterfacesAdded/InterfacesRemoved sent to the caller: nothing missed,
 * nothing twice; see bus_subscribe_managed_objects()) and the
 * InterfacesAdded/InterfacesRemoved broadcasts. Synchronous: it installs a
 * match on the bus's NameOwnerChanged, to forget subscribers that leave.
 * At most BUS_CLIENT_OBJECT_SUBSCRIBERS_MAX subscribers per manager (more
 * get org.busd.Error.LimitsExceeded). */
int bus_add_object_manager(bus_connection *c, bus_slot **ret_slot, const char *path);

/* Announce that property @property of @interface at @path changed. Inside
 * a handler or callback the announcements are gathered and sent, once the
 * dispatch of the message being handled ends, as one PropertiesChanged
 * signal per path and interface with the values current then; outside one,
 * the signal is sent at once. -ENOENT if nothing declares the property,
 * -EINVAL if it is not BUS_PROPERTY_EMITS_CHANGE. */
int bus_emit_properties_changed(bus_connection *c, const char *path, const char *interface,
                                const char *property);

/* Emit declared signal @member of @interface from @path with @args
 * (borrowed, may be NULL). -ENOENT if no registration at @path declares it;
 * in builds without NDEBUG, -EINVAL if @args do not fit its schema (the
 * reason goes to the BUSCLIENT_DEBUG log). */
int bus_emit_interface_signal(bus_connection *c, const char *path, const char *interface,
                              const char *member, json_t *args);

/* Announce objects made or gone without a registration of their own
 * (subtree objects): InterfacesAdded (with their properties) or
 * InterfacesRemoved for @interfaces (NULL-terminated; NULL = every
 * interface the path has now). -ENOENT if no object manager covers @path. */
int bus_emit_interfaces_added(bus_connection *c, const char *path,
                              const char *const *interfaces);
int bus_emit_interfaces_removed(bus_connection *c, const char *path,
                                const char *const *interfaces);

/* Client side of an object manager: call SubscribeManagedObjects on
 * @destination at @path (synchronous) and return its snapshot in
 * *@ret_snapshot (new reference: {"objects": {PATH: {INTERFACE: {PROPERTY:
 * VALUE}}}}). From then on the InterfacesAdded and InterfacesRemoved
 * signals the service sends this connection for it go to @callback, in
 * order, each object added after the snapshot exactly once. Announcements
 * the bus dropped (this connection did not read while its queue filled;
 * docs/OBJECTS.md) are told to @callback before the next one that arrives:
 * a local signal org.busd.Local.AnnouncementsMissed {"path": the manager's
 * path, "missed": N}, after which only a new subscription gives a complete
 * picture. Unreffing the slot unsubscribes, once no other subscription of
 * the connection to the same manager is left (the service keeps one per
 * connection). Errors as for bus_call(). */
int bus_subscribe_managed_objects(bus_connection *c, bus_slot **ret_slot,
                                  const char *destination, const char *path,
                                  bus_message_handler callback, void *userdata,
                                  json_t **ret_snapshot, bus_error *ret_error);

/* ---- Interface description files -------------------------------------------- */

/* The JSON a service may ship under $(datadir)/busd/interfaces/ and load
 * instead of writing tables (format: docs/OBJECTS.md): {"interfaces": [...]},
 * each interface as Introspect describes it. */
typedef struct bus_interface_file bus_interface_file;

/* Load and check @filename. -EINVAL for a bad file with @ret_error (if
 * non-NULL) naming the file and the JSON path of the mistake ("FILE:
 * interfaces[0].methods.Greet.args.name: unknown type 'strin'"); other
 * negative errno for I/O errors. A key the format does not define, a
 * non-boolean "deprecated" or "emits_change", and the names of the standard
 * interfaces are refused too. */
int bus_interface_file_load(bus_interface_file **ret, const char *filename, bus_error *ret_error);
/* The same from JSON text (errors without the file name). */
int bus_interface_file_parse(bus_interface_file **ret, const char *text, bus_error *ret_error);
/* Interface @name of the file as a table for bus_add_interface(), owned by
 * the file (keep the file while it is registered). NULL if absent. Handlers
 * are attached with the bind functions below before registering: while a
 * method or a property is not bound, bus_add_interface() refuses the
 * interface (-EINVAL). */
const bus_interface *bus_interface_file_get(bus_interface_file *f, const char *name);
/* Attach @handler to method @member of @interface. -ENOENT if undeclared. */
int bus_interface_file_bind_method(bus_interface_file *f, const char *interface,
                                   const char *member, bus_method_handler handler);
/* Attach @get/@set (or, both NULL, memory at userdata + @offset) to
 * property @property. -ENOENT if undeclared. */
int bus_interface_file_bind_property(bus_interface_file *f, const char *interface,
                                     const char *property, bus_property_getter get,
                                     bus_property_setter set, size_t offset);
/* The file's content, normalized (borrowed). */
json_t *bus_interface_file_get_json(bus_interface_file *f);
/* Free @f. NULL-safe; returns NULL. */
bus_interface_file *bus_interface_file_free(bus_interface_file *f);

/* ---- Peer tracking ---------------------------------------------------------- */

/* A set of bus names (typically the senders of calls) and a callback for
 * when the last of them leaves the bus, as sd_bus_track. */
typedef struct bus_track bus_track;
/* Called once the set has become empty because its last name lost its
 * owner (not for bus_track_remove_name()). */
typedef void (*bus_track_handler)(bus_track *t, void *userdata);

/* A new empty set on @c. */
int bus_track_new(bus_connection *c, bus_track **ret, bus_track_handler handler, void *userdata);
/* Add @name: returns 1 if added, 0 if it was in the set already. Does not
 * wait: a match on the name's NameOwnerChanged is sent, then GetNameOwner;
 * a name that has no owner (any more) leaves the set when the answer comes.
 * May be called from handlers. Past the bus's match limit the set watches
 * every NameOwnerChanged with one match instead (docs/OBJECTS.md). */
int bus_track_add_name(bus_track *t, const char *name);
/* Add the sender of @call (borrowed). */
int bus_track_add_sender(bus_track *t, bus_message *call);
/* Remove @name: 1 if it was there, 0 if not. */
int bus_track_remove_name(bus_track *t, const char *name);
/* Whether @name is in the set. */
bool bus_track_contains(bus_track *t, const char *name);
/* How many names are in the set. */
unsigned bus_track_count(bus_track *t);
/* Free the set (removes its matches; the handler does not run). NULL-safe;
 * returns NULL. */
bus_track *bus_track_unref(bus_track *t);

/* ---- errno and error names -------------------------------------------------- */

/* Fill @e with the error name standing for errno @error (sign ignored;
 * e.g. ENOENT org.busd.Error.FileNotFound, EINVAL org.busd.Error.InvalidArgs,
 * EACCES org.busd.Error.AccessDenied; an errno without a name of its own
 * becomes "org.busd.Error.Errno.ENAME", such as org.busd.Error.Errno.ENOTDIR)
 * and the message @fmt (NULL: strerror). The table: docs/OBJECTS.md.
 * Returns -|@error| (-EIO for 0 and INT_MIN), so a handler can return it. */
int bus_error_set_errno(bus_error *e, int error, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* The errno @e's name stands for (positive): the inverse of
 * bus_error_set_errno(), so bus_error_get_errno() of an error set from
 * ENOENT is ENOENT; also EOPNOTSUPP for UnknownMethod, ETIMEDOUT for
 * Timeout and the other bus errors as docs/OBJECTS.md lists; EREMOTEIO for
 * a name it does not know; 0 if @e is not set. */
int bus_error_get_errno(const bus_error *e);

#ifdef __cplusplus
}
#endif
