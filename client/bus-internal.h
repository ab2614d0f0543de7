/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bus-internal.h — private structures and functions shared by the modules of
 * libbusclient. Nothing here is exported (the library is built with
 * -fvisibility=hidden; only functions marked _public_ are).
 *
 * Modules and what they own:
 *   connection.c  lifecycle: connect, busy sections, fork detection, how it
 *                 ends, close and free.
 *   address.c     which bus: the bus_connect* entry points resolve the address
 *                 (system, user, $BUSD_ADDRESS) to a socket path.
 *   handshake.c   the preamble we send, the broker's welcome, what only the
 *                 welcome answers (unique name, bus id).
 *   io.c          the only recvmsg/sendmsg: input cut by the shared framer
 *                 (protocol/frame.h), the output queue, cork and flush.
 *   poll.c        waiting on the socket, and the fd/events/timeout/wait API
 *                 for foreign event loops.
 *   read-queue.c  messages read and not yet dispatched, and what they count.
 *   message.c     bus_message: builders, accessors, raw bytes, encode, parse.
 *   payload-memfd.c  the memfds payloads travel in: create + seal for
 *                 sending, check by the payload rule + map received ones.
 *   payload.c     the public payload API: buffers, attaching, reading
 *                 payloads, method returns built by the application.
 *   call.c        serials, pending replies, timeouts, the read-ahead bound,
 *                 bus_send/bus_call*.
 *   dispatch.c    bus_connection_process, match slots, objects, replies, slots.
 *   driver-call.c the generic call to the bus driver every driver method uses.
 *   names.c       well-known name ownership: RequestName/ReleaseName.
 *   monitor.c     monitor mode (bus_connection_become_monitor).
 *   event.c       libevent glue.
 *   error.c       bus_error, errno mapping, debug log.
 *
 * Invariants: one thread at a time per connection (no locks); the
 * connection struct is freed only when no library frame uses it (busy == 0).
 */
#pragma once

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "busclient.h"
#include "bus-protocol.h"
#include "common/hashmap.h"
#include "common/list.h"
#include "common/util.h"
#include "frame.h"

#define _public_ __attribute__((visibility("default")))

/* ---- Local limits ------------------------------------------------------------ */

/* Bytes one read takes into the input buffer, which never grows: every
 * message is copied out of it into a buffer of its own, the rest of a large
 * one read straight into that (connection.c). 64 KiB: many small messages
 * per recvmsg. The buffer has BUS_HEADER_SIZE bytes more, for the rest of a
 * header that decides whose fds a read brought (frame.h, held bytes). */
#define CLIENT_INPUT_BUFFER_DEFAULT (64u * 1024u)

/* Messages sent with one sendmsg (iovec entries); below the kernel's IOV_MAX
 * (1024) and enough to amortise the syscall. */
#define CLIENT_IOV_BATCH 64u

/* Bytes of a built message's own storage for its field strings and a small
 * body: path, interface, member and a signal's body fit, so building one
 * costs one allocation instead of five. */
#define MESSAGE_ARENA_SIZE 256u

/* Messages read ahead but not yet dispatched (bytes as counted by
 * rqueue_charge(), payload fds, messages). They only pile up while a
 * synchronous call is made from inside a handler (nested calls do not
 * dispatch); what happens at the bound: client/call.c. Library defaults in
 * protocol/bus-limits.h, where they say where the numbers come from. */
#define CLIENT_READ_QUEUE_BYTES_MAX BUS_CLIENT_READ_AHEAD_BYTES_MAX
#define CLIENT_READ_QUEUE_FDS_MAX BUS_CLIENT_READ_AHEAD_FDS_MAX
#define CLIENT_READ_QUEUE_MAX BUS_CLIENT_READ_AHEAD_MESSAGES_MAX

/* The bus's deadline for a call is sent in the header; if the bus never
 * answers, the library synthesizes org.busd.Error.Timeout this much later. */
#define CLIENT_TIMEOUT_GRACE_USEC (1000000ull)

/* Bounded work per libevent callback before yielding to other events. */
#define CLIENT_EVENT_BATCH 64u

/* Bytes of an error text the library itself puts together when an answer
 * could not be built as asked (dispatch.c reply_failed()): a bad error name,
 * the reason, and the start of the handler's own message. Small enough that
 * the fallback answer is always one small inline message. */
#define CLIENT_ERROR_TEXT_MAX 1024u

#define USEC_INFINITY UINT64_MAX

/* ---- Payload pools (pool.c) ------------------------------------------------------- */

typedef struct PoolSet PoolSet;
struct PeerPool;

/* A slice a message refers to: built, in one of our pools (owner 0); received,
 * in a pool of its sender (@data NULL if that pool is unknown or refused). */
typedef struct MessageSlice {
        uint64_t owner;
        uint32_t pool;
        uint64_t offset, length;
        uint8_t *data;         /* into the pool's mapping (volatile when received) */
        struct PeerPool *peer; /* received: the pool it points into */
        bool held;             /* received: to be released when the message goes */
} MessageSlice;

/* ---- Messages ------------------------------------------------------------------ */

struct bus_message {
        unsigned n_ref;
        bool received;  /* parsed from the wire (or synthesized): read-only */
        bool synthetic; /* made up locally (timeout, disconnect): no creds */
        bool notice;    /* the read queue's mark for a SignalsDropped notice (call.c) */
        BusHeader header;
        BusFields fields;          /* strings point into data or str[] */
        char *str[_BUS_FIELD_MAX]; /* built messages: field strings too long for arena */
        uint8_t *data;             /* received: the whole encoded message */
        size_t wire_len;           /* received: its length */
        const char *body;          /* body bytes (into data, owned, or mapped); use
                                    * message_body_bytes(), which maps on demand */
        size_t body_len;
        char *body_owned; /* built: a body too large for the arena (up to the threshold) */
        int body_fd;      /* built: a larger body, written once into a sealed memfd;
                           * received: the payload the body travelled in */
        void *body_map;   /* the memfd body's read-only mapping, made on first read
                           * (received: if the payload passes the payload rule) */
        size_t body_map_len;
        json_t *json; /* parsed body, cached */
        bool json_parsed;
        bool json_too_many; /* not parsed: more values than the connection's limit */
        char sender[BUS_UNIQUE_NAME_BUF + 16]; /* rendered sender (received) */
        char *origin_split; /* received: the ORIGIN field as "HOST\0UNIQUE\0", made on first
                             * bus_message_get_remote_origin() */
        /* Application payloads (payload.c), the body's payload excluded. The
         * message owns the fds (sealed memfds: attached ones, or received and
         * checked) and the read-only mappings, made on first access. */
        int payload_fds[BUS_FDS_MAX];
        uint64_t payload_sizes[BUS_FDS_MAX];
        void *payload_maps[BUS_FDS_MAX];
        unsigned n_payloads;
        /* Slices (pool.c): payloads n_payloads.. of the message; and the body,
         * when it is a slice. @pools: the connection's set the message was
         * built with or received on (NULL: built without a connection). */
        PoolSet *pools;
        MessageSlice *slices; /* BUS_FDS_MAX entries, allocated with the first
                               * (message_slices_ensure()): most messages have none */
        unsigned n_slices;
        MessageSlice body_slice;
        bool body_in_slice;
        bool slices_sent;     /* built: sent once (a second send copies them) */
        char *body_snapshot;  /* received: the body slice copied out before parsing */
        /* built: small field strings and bodies are copied here rather than
         * each into its own allocation (message_copy()); a replaced one keeps
         * its bytes until the message goes. Received messages have none. */
        size_t arena_size, arena_used;
        _Alignas(8) char arena[];
};

/* A payload buffer being filled (payload.c): a memfd and its writable
 * mapping, until it is attached to a message or freed. */
struct bus_payload {
        PoolSet *pools;     /* a slice of this set (bus_payload_new_pooled()), or NULL */
        MessageSlice slice;
        int fd;
        void *map; /* NULL for size 0 */
        size_t size;
};

/* An encoded message waiting in the output queue, with its payload fds; its
 * bytes live in the same allocation (outitem_new()). */
typedef struct OutItem {
        struct OutItem *out_prev, *out_next; /* on the connection's output queue (list.h) */
        uint8_t *data;                       /* = buf */
        size_t len;
        size_t done; /* bytes already written */
        int fds[BUS_FDS_MAX];
        unsigned n_fds;
        bool fds_sent;
        _Alignas(8) uint8_t buf[]; /* the encoder needs 8-aligned fields */
} OutItem;

/* An item with room for @size bytes and no fds; NULL if out of memory. */
OutItem *outitem_new(size_t size);
/* Close its fds and free it; NULL-safe, returns NULL. */
OutItem *outitem_free(OutItem *item);

/* Parse a complete message taken from the input (@data is consumed, @fds are
 * consumed). Returns 0, -EBADMSG for a malformed message (the caller closes
 * the connection), or another negative errno. Payload fds are judged when
 * they are first read (payload_memfd_map()), not here. */
int message_new_received(bus_message **ret, uint8_t *data, size_t len, int *fds, unsigned n_fds);
/* A locally made error message answering @reply_serial, from the bus. */
int message_new_synthetic_error(bus_message **ret, uint64_t reply_serial, const char *name,
                                const char *text);
/* A locally made signal from the bus (org.busd.Bus.Disconnected). */
int message_new_synthetic_signal(bus_message **ret, const char *member, json_t *body);
/* A locally made signal from the library itself: sender, path and interface
 * BUS_LOCAL_NAME, BUS_LOCAL_PATH, BUS_LOCAL_INTERFACE (busclient.h). */
int message_new_local_signal(bus_message **ret, const char *member, json_t *body);
/* Encode @m with @serial and @deadline_ns into a new OutItem. @use_payloads:
 * the broker accepts payload memfds. */
int message_encode(bus_message *m, uint64_t serial, uint64_t deadline_ns, bool use_payloads,
                   PoolSet *pools, OutItem **ret);
/* Builder shared by the public constructors and the library's replies. */
int message_new(bus_message **ret, uint8_t type);
int message_set_field(bus_message *m, BusFieldCode code, const char *value);

/* ---- Payload memfds (payload-memfd.c) -------------------------------------------- */

/* A sealed, fully backed memfd holding @len bytes of @data; returns the fd or
 * negative errno. */
int payload_memfd_create(const void *data, size_t len);
/* Judge @fd as a payload of @size bytes by the one payload rule
 * (protocol/payload-check.h). Returns 0, or the positive BusPayloadVerdict
 * that refuses it. */
int payload_memfd_check(int fd, uint64_t size);
/* payload_memfd_check(), then map it read-only (*@ret_map NULL for size 0), without
 * faulting anything in. Returns 0, a positive BusPayloadVerdict if the fd is
 * refused (never mapped), -EFBIG past SIZE_MAX, or another negative errno. */
int payload_memfd_map(int fd, uint64_t size, void **ret_map);

/* ---- Application payloads (payload.c) ------------------------------------------------ */

/* Duplicate @m's payload fds into @item after its @item->n_fds fds, and their
 * sizes into @sizes after *@n. 0 or negative errno (the item keeps and
 * closes what was duplicated). */
int payload_encode(bus_message *m, OutItem *item, uint64_t *sizes, unsigned *n);
/* Received @m (fields parsed): take its application payloads, fds[first..n)
 * with sizes from the PAYLOADS field (set to -1 in @fds). They are judged when
 * first mapped or duplicated (bus_message_get_payload()), not here. */
void payload_take_received(bus_message *m, int *fds, unsigned first, unsigned n);
/* Unmap and close @m's payloads. */
void payload_clear(bus_message *m);

/* ---- Slots ------------------------------------------------------------------------- */

typedef enum SlotType {
        SLOT_REPLY,
        SLOT_MATCH,
        SLOT_OBJECT,
        SLOT_NODE, /* an object model registration (object-internal.h) */
} SlotType;

/* A call waiting for its reply. Async calls embed it in their slot; a
 * synchronous call keeps it on its stack. */
typedef struct Pending {
        struct Pending *pending_prev, *pending_next; /* on the connection's list, by timeout */
        uint64_t serial;
        uint64_t timeout_usec; /* absolute monotonic µs to give up locally, or USEC_INFINITY */
        bus_slot *slot;        /* async: owner; NULL for a synchronous call */
        bus_message *reply;    /* synchronous: the answer, once done */
        bool done;
} Pending;

struct bus_slot {
        unsigned n_ref;       /* memory references (user/connection + dispatch) */
        bus_connection *conn; /* NULL once detached */
        SlotType type;
        bool floating;                   /* owned by the connection, not by the caller */
        bus_slot *slot_prev, *slot_next; /* on the connection's list for the type (list.h) */
        void *userdata;
        union {
                struct {
                        Pending pending;
                        bus_message_handler callback;
                } reply;
                struct {
                        BusMatchRule rule; /* as checked locally (see dispatch.c) */
                        char *text;        /* canonical text, for RemoveMatch */
                        bus_message_handler callback;
                        bus_message_handler install_callback; /* async AddMatch's answer */
                        /* bus_add_match() is waiting for AddMatch: the
                         * callback does not run until the call succeeds */
                        bool installing;
                } match;
                struct {
                        char *path;
                        char *interface;
                        const bus_method *methods;
                        /* the objects at the same path, newest first (list.h),
                         * headed by its entry in objects_by_path */
                        bus_slot *same_path_prev, *same_path_next;
                        struct PathObjects *at;
                } object;
                struct {
                        struct ObjectReg *reg; /* owned */
                } node;
        };
};

bus_slot *slot_new(bus_connection *c, SlotType type, bool floating);
bus_slot *slot_ref(bus_slot *s);
bus_slot *slot_unref_internal(bus_slot *s);
/* Remove @s from its connection (cancel the call, RemoveMatch, unregister). */
void slot_detach(bus_slot *s, bool notify_bus);

/* ---- Connection ----------------------------------------------------------------------- */

typedef struct EventGlue EventGlue;

/* The fds of one read, until the message declaring them claims them. */
typedef struct InBatch {
        int fds[BUS_FDS_MAX];
        unsigned n;
} InBatch;

typedef struct ReadQueue {
        bus_message **items;
        size_t head, n, size; /* ring buffer */
        uint64_t bytes;       /* sum of rqueue_charge() over the queued messages */
        uint64_t fds;         /* payload fds they hold */
        uint64_t bytes_peak;  /* highest bytes seen (tests, debug) */
        uint64_t dropped;     /* messages not kept past the bound (client/call.c) */
        /* Signals dropped past the bound: all told (bus_connection_get_dropped_signals()),
         * and since the last org.busd.Local.SignalsDropped notice (count, wire bytes). */
        uint64_t signals_dropped;
        uint64_t notice_count, notice_bytes;
        bool notice_queued; /* the notice's place is marked on the queue */
} ReadQueue;

struct bus_connection {
        int fd;
        pid_t pid; /* the process that connected: others get -ECHILD (conn_check_pid) */
        unsigned busy;           /* library frames using the connection */
        unsigned dispatch_depth; /* handlers running (nested sync calls do not dispatch) */
        bool free_requested;     /* bus_connection_close() while busy */

        /* handshake */
        bool welcomed;
        uint64_t handshake_deadline; /* absolute monotonic µs to give up waiting for the welcome */
        uint64_t features; /* negotiated with the broker */
        char unique_name[BUS_UNIQUE_NAME_BUF];
        char bus_id[33];

        /* state: open -> (eof | error) -> closed */
        bool write_dead; /* peer stopped reading (EPIPE): output dropped */
        bool eof;        /* no more input will come */
        bool closed;     /* pending calls failed, socket closed */
        int error;       /* why (negative errno), 0 while open */
        bus_error disconnect_error;

        /* input: the framer cuts the stream and pairs fd batches
         * (protocol/frame.h, PROTOCOL.md section 1) */
        BusFramer in_framer;
        uint8_t *in_buf; /* each read lands here, after the bytes held back */
        size_t in_size;
        size_t in_len; /* bytes the framer holds back at in_buf[0] (bus_framer_held()) */
        InBatch in_batches[BUS_FRAMER_BATCHES_MAX]; /* fds no message claimed yet, oldest first */
        unsigned in_n_batches;
        /* the message being received: its header is known, its bytes are
         * copied (or read straight) into its own buffer, its fds claimed */
        uint8_t *in_msg;
        size_t in_msg_size, in_msg_len;
        int in_msg_fds[BUS_FDS_MAX];
        unsigned in_msg_n_fds;
        ReadQueue rqueue;
        /* Within one readiness callback of the event integration (event.c),
         * which watches the socket level-triggered: after a read that
         * returned less than it offered room for, do not read again — the
         * next recvmsg() would almost always be EAGAIN, one wasted system
         * call per message; what a short read left (it stops at a batch of
         * fds) makes the socket readable again at once. */
        bool in_level_pass;
        bool in_read_short;

        /* output */
        OutItem *out_head, *out_tail;
        size_t out_n;
        bool corked; /* bus_connection_set_cork(): sends only queue */

        /* calls */
        uint64_t serial_next;
        Pending *pending_head, *pending_tail; /* sorted by timeout_usec (list.h) */
        HashMap *pending_by_serial;           /* the same calls by serial (hashmap.h) */

        /* slots */
        bus_slot *matches;
        bus_slot *objects;
        HashMap *objects_by_path; /* path -> PathObjects, the objects there (dispatch.c) */
        struct ObjectTree *object_tree; /* the object model's registrations (object.c) */

        /* monitor mode (monitor.c): set once the bus accepted BecomeMonitor;
         * every received message goes to the callback, sending fails */
        bus_message_handler monitor_callback;
        void *monitor_userdata;

        EventGlue *event;

        /* payload pools (pool.c) */
        PoolSet *pools;
        int payload_mode;   /* BUS_PAYLOAD_MODE_* */
        uint64_t pool_size; /* size of the next own pool at least */
        uint64_t body_values_max; /* bus_connection_set_body_values_max(); 0: none */
        uint64_t pool_body_threshold; /* pool_body_threshold() */
};

/* CLOCK_MONOTONIC in µs: every deadline in the library is on this clock. */
static inline uint64_t now_usec(void) {
        return now_monotonic_usec();
}

/* connection.c */
/* Connect to the socket at @path and queue the handshake's preamble; the
 * handshake (and the connect, if the listener's backlog is full) is bounded
 * by @timeout_usec as call_deadline_usec() reads it. */
int conn_new(bus_connection **ret, const char *path, uint64_t timeout_usec);
void conn_enter(bus_connection *c);
/* Leave a busy section; frees the connection if it was closed meanwhile and
 * returns true in that case (the caller must not touch @c then). */
bool conn_leave(bus_connection *c);
/* -ECHILD if the calling process is not the one that connected (a child
 * after fork() shares the socket: it must not read the parent's replies or
 * write into its stream), else 0. Checked at every API entry that does I/O. */
int conn_check_pid(bus_connection *c);
/* Mark the socket dead with @error (first error wins); input already read is
 * still dispatched. */
void conn_fail(bus_connection *c, int error);
/* Fail pending calls, synthesize Disconnected, close the socket. */
void conn_finalize(bus_connection *c);
/* Whether @c has ended: EOF or a read error, a write error, or closed. */
bool conn_ended(bus_connection *c);
/* What a send or call on an ended @c returns: -ETIMEDOUT if the bus never
 * answered the handshake, else -ECONNRESET (whatever failed first: a write's
 * EPIPE, EOF, a close), with @e (if non-NULL) set to org.busd.Error.Timeout
 * or org.busd.Error.Disconnected as a call that was waiting gets it. */
int conn_ended_error(bus_connection *c, bus_error *e);

/* handshake.c */
/* Queue the preamble (the first bytes we send). 0 or negative errno. */
int handshake_start(bus_connection *c);
/* Check the broker's BusWelcome (sizeof(BusWelcome) @bytes) and take our
 * unique name, the bus id and the common features from it; -EBADMSG if it
 * is not a welcome. */
int handshake_parse_welcome(bus_connection *c, const uint8_t *bytes);
/* Read until the welcome has arrived, up to the handshake deadline (then
 * the connection fails with -ETIMEDOUT). 0 or negative errno. */
int handshake_wait(bus_connection *c);

/* io.c */
/* Append @item (consumed) to the output queue and write at once if the
 * socket takes it (unless corked). 0 or negative errno. */
int io_enqueue(bus_connection *c, OutItem *item);
/* Write as much queued output as the socket takes: > 0 if something was
 * written, 0 if nothing could be, negative errno if the socket is dead. */
int io_write(bus_connection *c);
/* One recvmsg(): > 0 if bytes (or EOF) arrived, 0 if none were available,
 * negative errno if the connection failed now. */
int io_read(bus_connection *c);
bool io_has_output(bus_connection *c);
/* Drop queued output, fds no message claimed, the message being received and
 * the bytes the framer holds back (the connection is dead). */
void io_discard(bus_connection *c);

/* poll.c */
/* Poll the socket for @events (0: POLLIN, plus POLLOUT while output is
 * queued) until @timeout_abs_usec (USEC_INFINITY: no limit). Returns > 0 if
 * it is ready (or a signal interrupted), 0 on timeout. */
int poll_wait(bus_connection *c, short events, uint64_t timeout_abs_usec);

/* read-queue.c */
bus_message *rqueue_pop(ReadQueue *q);
/* Remove and return the method return or error answering @serial, if queued. */
bus_message *rqueue_take_reply(ReadQueue *q, uint64_t serial);
int rqueue_push(ReadQueue *q, bus_message *m);
/* What @m counts against CLIENT_READ_QUEUE_BYTES_MAX: its bytes as read plus
 * the library's bookkeeping for it. */
uint64_t rqueue_charge(const bus_message *m);
/* Whether the queue is at one of its bounds. */
bool rqueue_full(const ReadQueue *q);
/* Unref every queued message and free the ring. */
void rqueue_clear(ReadQueue *q);

/* call.c (read-ahead) */
/* Put a received message on @c's read queue, or, past the bound, handle it
 * as client/call.c describes. Consumes @m. 0 or negative errno. */
int conn_queue_received(bus_connection *c, bus_message *m);
/* Dispatch the org.busd.Local.SignalsDropped notice for the signals dropped
 * since the last one, if any: @mark is the queue's mark for it, just popped
 * (consumed), or NULL when the queue is empty and no mark could be queued.
 * Returns 1 if it was dispatched, else 0. */
int readahead_notify(bus_connection *c, bus_message *mark);

/* call.c */
/* Put @p (serial and timeout set) on @c's pending list and map; 0 or
 * -ENOMEM (then it is on neither). */
int pending_link(bus_connection *c, Pending *p);
void pending_unlink(bus_connection *c, Pending *p);
Pending *pending_find(bus_connection *c, uint64_t serial);
/* Complete @p with @reply (borrowed): store it (sync) or run the callback. */
void pending_complete(bus_connection *c, Pending *p, bus_message *reply);
/* Answer every pending call with a synthesized error. */
void pending_fail_all(bus_connection *c, const char *name, const char *text);
/* Expire the earliest timed-out pending call; returns 1 if one was. */
int pending_expire(bus_connection *c, uint64_t now);
uint64_t pending_next_timeout(bus_connection *c);
int call_send(bus_connection *c, bus_message *m, uint64_t deadline_ns, uint64_t *ret_serial);
/* A synchronous call the library makes of its own accord (AddPool when a
 * send needs a pool): like bus_call() from inside a handler, it reads ahead
 * and never dispatches, so no handler runs inside the send that needed it. */
int call_undispatched(bus_connection *c, bus_message *m, uint64_t timeout_usec,
                      bus_error *ret_error, bus_message **ret_reply);
/* Absolute monotonic µs @timeout_usec from now: 0 means
 * BUS_DEFAULT_CALL_TIMEOUT_USEC; USEC_INFINITY (none) for UINT64_MAX or
 * anything too large to add to the clock in ns. Calls and the handshake. */
uint64_t call_deadline_usec(uint64_t timeout_usec);

/* dispatch.c */
int dispatch_message(bus_connection *c, bus_message *m);
void dispatch_drop_slots(bus_connection *c);
/* The newest object slot (bus_add_object()) at @path, or NULL; the others
 * there follow on ->object.same_path_next. */
bus_slot *dispatch_objects_at(bus_connection *c, const char *path);
/* Remember why the bus said it is disconnecting us, from its Disconnected
 * signal @m, in c->disconnect_error. */
void dispatch_note_disconnected(bus_connection *c, bus_message *m);
/* Whether @m is the signal @member of the bus driver (sender org.busd.Bus,
 * interface BUS_DRIVER_INTERFACE). */
bool dispatch_is_driver_signal(bus_message *m, const char *member);

/* Whether a failed answer can still be replaced by reply_failed(): the
 * connection can send (not dead, not a monitor, our process). */
bool reply_can_fall_back(bus_connection *c);
/* The answer of last resort to call @reply_serial of @destination:
 * org.busd.Error.Failed with @text made valid UTF-8 and cut to
 * CLIENT_ERROR_TEXT_MAX bytes on a character boundary. Small, inline, no
 * payloads: it fails only with the connection or out of memory. */
int reply_failed(bus_connection *c, const char *destination, uint64_t reply_serial,
                 const char *text);

/* driver-call.c */
/* Call a driver method with @args (borrowed); returns 0 and the reply body
 * (new reference, never NULL on success) or the bus_call error. */
int driver_call(bus_connection *c, const char *member, json_t *args, bus_error *ret_error,
                json_t **ret_body);
/* driver_call() when only success matters: the reply body is dropped and an
 * error reply or timeout becomes its errno. */
int driver_call_errno(bus_connection *c, const char *member, json_t *args);

/* monitor.c */
/* Hand @m to the monitor callback (c->monitor_callback is set). */
int monitor_dispatch(bus_connection *c, bus_message *m);

/* event.c */
void event_rearm(bus_connection *c);
void event_stop(bus_connection *c);
void event_free_glue(bus_connection *c);

/* error.c: a bus error as a negative errno (errno-map.c's table), for
 * functions that have no bus_error parameter. */
int error_to_errno(const bus_error *e);

/* errno-map.c: the one table of errno values and error names. */
/* The error name for errno @error (positive), into @buf if it must be
 * built; never NULL. */
const char *errno_map_name(int error, char *buf, size_t size);
/* The errno for error name @name, or 0 if the table does not know it. */
int errno_map_from_name(const char *name);
int error_set_const(bus_error *e, const char *name, const char *message);
/* A copy of @text (NULL: "") that is valid UTF-8 of at most @max bytes:
 * each invalid byte replaced by U+FFFD, cut between characters if it must be
 * shortened. NULL only if out of memory. */
char *error_text_sanitize(const char *text, size_t max);
void client_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- Payload pools (pool.c) ------------------------------------------------------- */

/* A set for connection @c (one reference, the connection's). */
PoolSet *pool_set_new(bus_connection *c);
PoolSet *pool_set_ref(PoolSet *s);
PoolSet *pool_set_unref(PoolSet *s);
/* The connection goes: pending releases dropped, its reference too. */
void pool_set_detach(PoolSet *s);
/* May slices be allocated in @s now (pool mode, pools negotiated, open)? */
bool pool_set_usable(const PoolSet *s);
/* The connection @s belongs to (NULL: none, or detached). */
bus_connection *pool_set_connection(const PoolSet *s);
/* A slice of @size bytes in one of @s's pools (made and announced with a
 * synchronous AddPool when none has room): 0, -EOPNOTSUPP (no pools here),
 * -ENOSPC, -EMSGSIZE, -ENOMEM. The caller falls back to a sealed memfd. */
int pool_alloc(PoolSet *s, uint64_t size, MessageSlice *ret);
/* Bodies longer than this go into a slice: BUS_CLIENT_POOL_BODY_THRESHOLD, or
 * $BUSD_POOL_BODY_THRESHOLD (bytes) read at connect, for measuring the
 * crossover (bench/run.sh --crossover). */
uint64_t pool_body_threshold(const PoolSet *s);
/* An own slice no message holds any more (freed when also released). */
void pool_slice_unused(PoolSet *s, const MessageSlice *slice);
/* An own slice was sent: free only once the broker releases it. */
void pool_slice_sent(PoolSet *s, const MessageSlice *slice);
/* Make room for @m's slices (m->slices). 0 or -ENOMEM. */
int message_slices_ensure(bus_message *m);
/* A message just read on @c: 1 if it was the bus's pool signal (consumed:
 * the caller frees it), else 0 with its slices resolved. */
int pool_on_received(bus_connection *c, bus_message *m);
/* @m goes: its received slices are queued for release, its own marked unused. */
void pool_message_free(bus_message *m);
/* Send the queued releases (ReleaseSlices, no reply). */
void pool_flush_releases(bus_connection *c);
