/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * connection.h — the byte stream of one peer socket; the ONLY module that
 * calls recvmsg() and sendmsg().
 *
 * Input: connection_read() does one recvmsg() (MSG_CMSG_CLOEXEC) into the
 * bus's shared scratch buffer, or straight into the message being received;
 * connection_next() then has the protocol's framer (protocol/frame.h) cut
 * the bytes into the preamble and complete, checked, sender-stamped
 * messages. When a read filled every buffer it offered and a message is
 * still partial, connection_next() reads again at once (the rest is most
 * likely queued already) instead of waiting for another trip through the
 * event loop; so one callback reads at most the rest of one message beyond a
 * scratch buffer. Every fixed header is checked before anything is
 * allocated for its message, and a message's buffer grows only as its bytes
 * arrive.
 *
 * Fds: the framer pairs each read's batch with the one message starting in
 * that read that declares fds, by the rule of PROTOCOL.md section 1 (which
 * says why: Linux attaches SCM_RIGHTS to the first byte of the sendmsg()
 * that carried them, and a recvmsg() returns at most one such block, ending
 * with that write's first skb, unix_stream_read_generic()). Fds no message
 * claims are a protocol violation found before any message that ended in
 * their read is handed out (hostile-peers.md items 11-13, issue 9 item 7).
 * When a read ends inside the header that decides, the framer holds those
 * messages back: the bytes after them are copied out of the shared scratch
 * buffer into the connection's stash, and the next reads (only as many bytes
 * as decide) go after them there.
 *
 * Output: a FIFO of message references (shared between receivers), written
 * with one sendmsg() covering up to CONNECTION_IOV_MAX messages
 * (MSG_NOSIGNAL | MSG_DONTWAIT), partial writes resumed by offset. An fd
 * batch is always sent with the first byte of its message, so it is the
 * first message of its sendmsg(). The write event is armed only after EAGAIN.
 *
 * Every queued message is charged to its sender (the header's sender_id;
 * the bus's own messages and the raw welcome to id 0) and to its sender's
 * uid (CONNECTION_UID_BUS for the bus) in all four dimensions of the queue:
 * messages, bytes, payload fds, payload bytes. The charges live in two small
 * inline tables, with a hash map each for the entries that do not fit; an
 * entry goes when it holds nothing. That is what the two-level fair-share
 * admission (docs/DAEMON.md "Fair shares": between uids, then between the
 * senders of a uid) is decided on. A message carrying its sender's account
 * (Message.account) is also charged, once however many queues hold it, to
 * that sender's and its uid's outgoing total (quota_out_charge()).
 * Invariants: the sums of the charges in each table are out_len, out_bytes,
 * out_fds and out_payload_bytes; n_holders / n_uid_holders count the entries
 * holding at least one message; a uid entry's n_senders counts the sender
 * entries of that uid.
 */
#pragma once

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus-protocol.h"
#include "frame.h"
#include "common/hashmap.h"
#include "transport/message.h"

/* The limits of a connection's output queue: the configured
 * outgoing_{messages,bytes,fds,payload_bytes}_per_connection (config-file.h),
 * which the bus keeps up to date on reload (bus.h). */
typedef struct ConnectionLimits {
        uint64_t messages;
        uint64_t bytes;
        uint64_t fds;        /* payload fds */
        uint64_t payload_bytes; /* payload bytes */
        /* limits.uid_outgoing_bytes: what one uid's messages may hold in all
         * queues together (quota_out_allows()), checked on SHARE admission */
        uint64_t uid_bytes;
} ConnectionLimits;

/* Messages per sendmsg(): iovecs are cheap, and 64 amortise the syscall well
 * below UIO_MAXIOV (1024). */
#define CONNECTION_IOV_MAX 64u
/* sendmsg() calls per flush before yielding to other peers. */
#define CONNECTION_WRITES_PER_FLUSH 16u
/* First allocation for a message being received; it doubles as bytes
 * arrive. */
#define CONNECTION_MESSAGE_CHUNK (64u * 1024u)

/* Results of connection_next(), and the violation code. */
enum {
        CONNECTION_NEED_MORE = 0,
        CONNECTION_PREAMBLE = 1,
        CONNECTION_MESSAGE = 2,
        CONNECTION_E_VIOLATION = 3, /* c->error says why */
        /* connection_next(): a message whose fds the broker could not take
         * (bus_framer_push() fds_lost: the kernel could not install them, or
         * the read offered no room for them, may_read): it comes without
         * them, for its sender to be told (never a violation:
         * hostile-peers.md item 32) */
        CONNECTION_FDS_LOST = 4,
};

/* Unclaimed fd batches held at once (BUS_FRAMER_BATCHES_MAX): the one of a
 * header cut by the end of a read, and the one the next read brought. So
 * at most 2 * BUS_FDS_MAX received fds wait for their message. */
#define CONNECTION_FD_BATCHES BUS_FRAMER_BATCHES_MAX

/* The fds of one recvmsg(), owned by the connection until a message claims
 * them. A read whose fds the kernel could not install (the broker was short
 * of fds, take_control()) keeps no batch here: the framer knows of it
 * (bus_framer_push() fds_lost), and the message declaring fds in that read
 * is handed out without them, as CONNECTION_FDS_LOST. */
typedef struct FdBatch {
        int *fds;
        unsigned n_fds;
} FdBatch;

/* Queue counters shared by all connections of a bus. */
typedef struct QueueStats {
        uint64_t messages;
        uint64_t bytes;
        uint64_t messages_high_water;
        uint64_t bytes_high_water;
} QueueStats;

/* What one sender's (or one uid's) messages hold in a receiver's queue. */
typedef struct QueueHolder {
        uint64_t sender_id; /* 0: the bus; in the uid table, the uid (CONNECTION_UID_BUS) */
        uint64_t messages;  /* 0: the entry is free */
        uint64_t bytes;
        uint64_t fds;
        uint64_t payload_bytes;
        uint64_t n_senders; /* uid table: the uid's senders holding something here */
        uint64_t uid;       /* sender table: the uid entry its messages here are charged to
                             * (its first message's, connection.c queue_uid()) */
} QueueHolder;

/* The uid-table key of the bus's own messages: no uid's (uids are 32 bits). */
#define CONNECTION_UID_BUS UINT64_MAX

/* Senders whose charges a connection keeps inline: the common receiver gets
 * messages from a handful of peers and the bus, and finding them costs a
 * scan of these entries on the fan-out path, no hashing, no allocation. */
#define CONNECTION_HOLDERS_INLINE 4u

/* How connection_queue_mode() admits a message. */
typedef enum ConnectionQueueMode {
        CONNECTION_QUEUE_LIMIT,     /* within the queue's limits */
        CONNECTION_QUEUE_SHARE,     /* within its sender's fair share of them */
        CONNECTION_QUEUE_SOLICITED, /* within twice the limits */
        CONNECTION_QUEUE_FORCE,     /* always */
} ConnectionQueueMode;

typedef struct Connection {
        int fd;
        struct event *ev_read;
        struct event *ev_write;
        bool reading;
        bool write_armed;
        QueueStats *stats;
        const ConnectionLimits *limits; /* the bus's, borrowed, read at every check */
        uint8_t sender_block[BUS_SENDER_BLOCK_SIZE]; /* stamped into every message read */

        /* input */
        uint8_t *scratch; /* borrowed from the bus */
        size_t scratch_size;
        BusFramer in_framer; /* cuts the stream, pairs fd batches (protocol/frame.h) */
        bool in_pending;     /* pushed bytes not yet cut by connection_next() */
        bool read_full;      /* the last read filled every buffer it offered */
        /* bytes the framer holds back (bus_framer_held()), copied out of the
         * shared scratch buffer, and the reads that follow them; NULL if none */
        uint8_t *in_stash;
        size_t in_stash_len, in_stash_size;
        Message *in_msg;   /* message whose header is in, body arriving */
        size_t in_msg_len;
        bool in_msg_fds_lost; /* in_msg claimed a batch whose fds were lost */
        FdBatch in_fds[CONNECTION_FD_BATCHES]; /* unclaimed, oldest first */
        unsigned in_n_batches;
        char error[160];
        /* the fd budget (connection_read()): asked before every recvmsg()
         * whether it may offer room for fds; NULL = always */
        bool (*may_read)(void *userdata);
        void *may_read_userdata;
        uint64_t in_fds_received; /* fds recvmsg() installed so far (the caller counts them) */

        /* output */
        Message **out; /* ring, capacity a power of two */
        size_t out_cap;
        size_t out_head;
        size_t out_len;
        size_t out_offset; /* bytes of the head message already sent */
        uint64_t out_bytes;
        uint64_t out_fds;        /* payload fds of the queued messages */
        uint64_t out_payload_bytes; /* their payload bytes */
        QueueHolder holders[CONNECTION_HOLDERS_INLINE]; /* free while messages == 0 */
        HashMap *holders_more; /* QueueHolder by sender id, the rest; NULL until needed */
        size_t n_holders;      /* senders holding something, inline or not */
        /* the same per uid: the first level of the fair share */
        QueueHolder uid_holders[CONNECTION_HOLDERS_INLINE];
        HashMap *uid_holders_more;
        size_t n_uid_holders;
        /* CLOCK_MONOTONIC µs of the last write that made progress, or of the
         * moment output began to wait in an empty queue, whichever is later:
         * the start of a stall (peer.h, the slow-consumer rule) */
        uint64_t out_progress_usec;
        /* Bytes in the socket the receiver had not read at the last
         * connection_sample_reader(), -1 before the first sample. */
        int out_unread;
} Connection;

/* Take @fd and create its events (not yet added). @limits is borrowed and
 * read at every connection_queue() (it must outlive the connection). 0 or
 * -ENOMEM; on failure @fd is still the caller's. */
int connection_init(Connection *c, int fd, struct event_base *base, event_callback_fn read_cb,
                    event_callback_fn write_cb, void *userdata, uint8_t *scratch,
                    size_t scratch_size, QueueStats *stats, const ConnectionLimits *limits);
/* Drop queued messages, close every fd and the socket. */
void connection_deinit(Connection *c);

/* Start / stop watching for input. */
int connection_start_reading(Connection *c);
void connection_stop_reading(Connection *c);

/* One recvmsg(), with room for fds only if may_read allows (else the
 * kernel installs none: the batch is lost, see CONNECTION_FDS_LOST).
 * Returns 1 if bytes arrived (parse them with connection_next()), 0 if there
 * was nothing to read, -ECONNRESET at EOF, another negative errno on failure,
 * or CONNECTION_E_VIOLATION for bad control data (every fd received is
 * closed). Fds the kernel could not install for lack of fds are no
 * violation: the read's batch is marked lost. */
int connection_read(Connection *c);

/* Next item from the bytes read: CONNECTION_PREAMBLE (copied to
 * *ret_preamble; the caller checks it), CONNECTION_MESSAGE (a new reference
 * in *ret_message, stamped, parsed and checked), CONNECTION_NEED_MORE once
 * the last read is used up, CONNECTION_E_VIOLATION, or -ENOMEM. May read
 * again (see Input above); a failed or empty read there just ends with
 * CONNECTION_NEED_MORE, and the next connection_read() sees EOF or the
 * error. */
int connection_next(Connection *c, BusPreamble *ret_preamble, Message **ret_message);

/* true while a message (or the preamble) is partly received. */
bool connection_is_partial(const Connection *c);

/* Stream offset of the first byte of the partly received item (for the
 * partial-message timer, peer.c). */
static inline uint64_t connection_partial_start(const Connection *c) {
        return bus_framer_partial_start(&c->in_framer);
}

/* Queue a reference to @m, charged to its sender, if @mode admits it:
 *  - CONNECTION_QUEUE_LIMIT: the queue stays within the configured
 *    outgoing_{messages,bytes}_per_connection limits and, for a message with
 *    payloads, outgoing_fds_per_connection and
 *    outgoing_payload_bytes_per_connection;
 *  - CONNECTION_QUEUE_SHARE: in each of those dimensions the sender's uid
 *    stays within its fair share between the uids holding something here,
 *    and the sender within its share of its uid's (docs/DAEMON.md "Fair
 *    shares"); and a message no queue holds yet keeps its sender within its
 *    share of its uid's limits.uid_outgoing_bytes (limits->uid_bytes,
 *    quota_out_allows(); -EDQUOT otherwise);
 *  - CONNECTION_QUEUE_SOLICITED: the queue stays within twice the limits;
 *  - CONNECTION_QUEUE_FORCE: always.
 * Payload bytes are not checked while the queue holds none (so one payload
 * of any legal size gets through). A queue already past a limit that a
 * reload lowered is not trimmed; it only takes nothing more until it drains
 * below. Returns 0, -ENOBUFS (not admitted, nothing changed), -EDQUOT (the
 * sender's uid total: not admitted, nothing changed, not the receiver's
 * doing) or -ENOMEM.
 * Does not write: see connection_flush(). */
int connection_queue_mode(Connection *c, Message *m, ConnectionQueueMode mode);

/* connection_queue_mode() with CONNECTION_QUEUE_FORCE if @force, else
 * CONNECTION_QUEUE_LIMIT. */
int connection_queue(Connection *c, Message *m, bool force);

/* Did the receiver read from its socket since the last sample? If the bytes
 * it has not read yet (SIOCOUTQ, unix(7)) went down, that is progress too:
 * set out_progress_usec to now. Why: the broker's own writes show no
 * progress from a slow but steady reader for a long time, since the kernel
 * reports the socket writable again only once what is queued in it falls
 * below a quarter of its buffer (unix_writable()); a reader taking 4 KiB
 * every 250 ms would look stalled for seconds. Cheap (one ioctl); called by
 * the stall timer only. */
void connection_sample_reader(Connection *c);

/* Would @m, charged to @sender_id, stay within that sender's fair share of
 * the queue (what CONNECTION_QUEUE_SHARE admits)? */
bool connection_share_allows(const Connection *c, uint64_t sender_id, const Message *m);

/* Bytes of the queued messages charged to sender @sender_id (0: the bus). */
uint64_t connection_bytes_held_by(const Connection *c, uint64_t sender_id);

/* true if the queue is at or over its limit in any dimension. */
bool connection_is_over_limit(const Connection *c);

/* Drop every queued message not yet started (a forced disconnect: the
 * peer gets only the rest of the message being written, then its
 * Disconnected signal). */
void connection_truncate(Connection *c);

/* Write what the queue holds until it is empty (0), the socket is full or the
 * per-flush budget is used (1: the write event is armed), or an error
 * (negative errno, e.g. -EPIPE; -ENOMEM if the write event cannot be armed). */
int connection_flush(Connection *c);

static inline bool connection_has_output(const Connection *c) {
        return c->out_len > 0;
}
