/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * connection.c — framing, fd accounting and output queue of one peer
 * socket. See connection.h for the rules.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "bus-limits.h"
#include "config-file.h"
#include "connection.h"
#include "quota.h"
#include "util.h"

/* Room for one maximal fd batch. A larger batch sets MSG_CTRUNC: the kernel
 * closes what did not fit (scm_detach_fds()), we close the rest. */
#define CONNECTION_CMSG_SPACE CMSG_SPACE(sizeof(int) * BUS_FDS_MAX)

int connection_init(Connection *c, int fd, struct event_base *base, event_callback_fn read_cb,
                    event_callback_fn write_cb, void *userdata, uint8_t *scratch,
                    size_t scratch_size, QueueStats *stats, const BusConfig *config) {
        *c = (Connection){ .fd = fd,
                           .scratch = scratch,
                           .scratch_size = scratch_size,
                           .stats = stats,
                           .config = config };
        c->ev_read = event_new(base, fd, EV_READ | EV_PERSIST, read_cb, userdata);
        c->ev_write = event_new(base, fd, EV_WRITE | EV_PERSIST, write_cb, userdata);
        if (!c->ev_read || !c->ev_write) {
                if (c->ev_read)
                        event_free(c->ev_read);
                if (c->ev_write)
                        event_free(c->ev_write);
                *c = (Connection){ .fd = -1 };
                return -ENOMEM;
        }
        return 0;
}

static void fd_batches_drop(Connection *c) {
        for (unsigned i = 0; i < c->in_n_batches; i++) {
                close_fds(c->in_fds[i].fds, c->in_fds[i].n_fds);
                free(c->in_fds[i].fds);
        }
        c->in_n_batches = 0;
}

/* Remove the oldest batch, handing its fds to the caller. */
static FdBatch fd_batch_pop(Connection *c) {
        FdBatch b = c->in_fds[0];

        for (unsigned i = 1; i < c->in_n_batches; i++)
                c->in_fds[i - 1] = c->in_fds[i];
        c->in_n_batches--;
        return b;
}

/* Who a queued message is charged to: its stamped sender, or the bus (0)
 * for its own messages and the raw welcome. */
static uint64_t queue_sender(Message *m) {
        return m->raw ? 0 : message_header(m)->sender_id;
}

/* The entry of sender @id, or NULL if it holds nothing. */
static QueueHolder *holder_find(const Connection *c, uint64_t id) {
        for (unsigned i = 0; i < CONNECTION_HOLDERS_INLINE; i++)
                if (c->holders[i].messages > 0 && c->holders[i].sender_id == id)
                        return (QueueHolder *)&c->holders[i];
        /* Only entries that did not fit inline are in the map. */
        if (c->holders_more && c->n_holders > 0)
                return hashmap_get(c->holders_more, &id);
        return NULL;
}

/* A new, empty entry for sender @id (which holds nothing): a free inline
 * one, else one in the map. NULL on -ENOMEM. Counted in n_holders once it
 * holds a message (holder_charge()). */
static QueueHolder *holder_add(Connection *c, uint64_t id) {
        QueueHolder *h;

        for (unsigned i = 0; i < CONNECTION_HOLDERS_INLINE; i++)
                if (c->holders[i].messages == 0) {
                        c->holders[i] = (QueueHolder){ .sender_id = id };
                        return &c->holders[i];
                }
        if (!c->holders_more && hashmap_new(&c->holders_more, HASHMAP_KEY_U64) < 0)
                return NULL;
        h = calloc(1, sizeof(*h));
        if (!h)
                return NULL;
        h->sender_id = id;
        if (hashmap_put(c->holders_more, &h->sender_id, h) < 0) {
                free(h);
                return NULL;
        }
        return h;
}

static bool holder_is_inline(const Connection *c, const QueueHolder *h) {
        return h >= c->holders && h < c->holders + CONNECTION_HOLDERS_INLINE;
}

/* Drop an entry that holds nothing (any entry holder_add() made). */
static void holder_drop_empty(Connection *c, QueueHolder *h) {
        if (holder_is_inline(c, h))
                return; /* free while messages == 0 */
        hashmap_remove(c->holders_more, &h->sender_id);
        free(h);
}

static void holder_charge(Connection *c, QueueHolder *h, const Message *m) {
        if (h->messages++ == 0)
                c->n_holders++;
        h->bytes += m->size;
        h->fds += m->n_fds;
        h->blob_bytes += m->blob_bytes;
}

/* Release @m's charge from its sender's entry, which must exist. */
static void holder_release(Connection *c, Message *m) {
        QueueHolder *h = holder_find(c, queue_sender(m));

        assert(h);
        h->bytes -= m->size;
        h->fds -= m->n_fds;
        h->blob_bytes -= m->blob_bytes;
        if (--h->messages == 0) {
                c->n_holders--;
                holder_drop_empty(c, h);
        }
}

QueueHolder connection_holder(const Connection *c, uint64_t sender_id) {
        const QueueHolder *h = holder_find(c, sender_id);

        return h ? *h : (QueueHolder){ .sender_id = sender_id };
}

/* Forget @m, just taken off the queue: its share of the counts, its ref. */
static void queue_forget(Connection *c, Message *m) {
        holder_release(c, m);
        c->out_len--;
        c->out_bytes -= m->size;
        c->out_fds -= m->n_fds;
        c->out_blob_bytes -= m->blob_bytes;
        c->stats->messages--;
        c->stats->bytes -= m->size;
        message_unref(m);
}

static void queue_pop(Connection *c) {
        Message *m = c->out[c->out_head];

        c->out[c->out_head] = NULL;
        c->out_head = (c->out_head + 1) & (c->out_cap - 1);
        c->out_offset = 0;
        queue_forget(c, m);
}

void connection_deinit(Connection *c) {
        if (c->ev_read)
                event_free(c->ev_read);
        if (c->ev_write)
                event_free(c->ev_write);
        while (c->out_len > 0)
                queue_pop(c);
        free(c->out);
        hashmap_free(c->holders_more); /* empty: the queue released every entry */
        message_unref(c->in_msg);
        fd_batches_drop(c);
        safe_close(c->fd);
        *c = (Connection){ .fd = -1 };
}

int connection_start_reading(Connection *c) {
        if (c->reading)
                return 0;
        if (event_add(c->ev_read, NULL) < 0)
                return -ENOMEM;
        c->reading = true;
        return 0;
}

void connection_stop_reading(Connection *c) {
        if (!c->reading)
                return;
        event_del(c->ev_read);
        c->reading = false;
}

static int violation(Connection *c, const char *prefix, const char *detail) {
        snprintf(c->error, sizeof(c->error), "%s%s", prefix, detail);
        return CONNECTION_E_VIOLATION;
}

/* Collect the one SCM_RIGHTS block of a recvmsg(); anything else is refused.
 * Every fd received is either stored in *ret_fds or closed. */
static int take_control(Connection *c, struct msghdr *mh, int **ret_fds, unsigned *ret_n) {
        const char *bad = NULL;
        int *fds = NULL;
        unsigned n_fds = 0;

        for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
                        unsigned n = (unsigned)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
                        int *p = (int *)(void *)CMSG_DATA(cm);

                        if (fds || n == 0 || bad) {
                                /* A second block cannot come from one sendmsg() on
                                 * Linux; refuse it all the same. */
                                for (unsigned i = 0; i < n; i++) {
                                        int fd;
                                        memcpy(&fd, p + i, sizeof(fd));
                                        safe_close(fd);
                                }
                                if (!bad)
                                        bad = "more than one SCM_RIGHTS block";
                                continue;
                        }
                        fds = malloc(sizeof(int) * n);
                        if (!fds) {
                                for (unsigned i = 0; i < n; i++) {
                                        int fd;
                                        memcpy(&fd, p + i, sizeof(fd));
                                        safe_close(fd);
                                }
                                bad = "out of memory for fds";
                                continue;
                        }
                        memcpy(fds, p, sizeof(int) * n);
                        n_fds = n;
                } else if (!bad) {
                        /* We never set SO_PASSCRED/SO_PASSPIDFD/SO_PASSSEC. */
                        bad = "unexpected control message";
                }
        }
        if (!bad && (mh->msg_flags & MSG_CTRUNC))
                bad = "control data truncated (too many fds)";
        if (bad) {
                close_fds(fds, n_fds);
                free(fds);
                return violation(c, "", bad);
        }
        *ret_fds = fds;
        *ret_n = n_fds;
        return 0;
}

int connection_read(Connection *c) {
        union {
                struct cmsghdr align;
                uint8_t buf[CONNECTION_CMSG_SPACE];
        } control;
        struct iovec iov[2];
        struct msghdr mh = { .msg_iov = iov,
                             .msg_control = &control,
                             .msg_controllen = sizeof(control) };
        size_t direct = 0, n, offered;
        ssize_t k;
        int *fds = NULL;
        unsigned n_fds = 0;
        int r;

        assert(c->chunk_pos == c->chunk_len);
        if (c->in_msg && c->in_msg->capacity > c->in_msg_len) {
                /* Read the rest of a large message straight into its buffer. */
                direct = c->in_msg->capacity - c->in_msg_len;
                iov[mh.msg_iovlen++] = (struct iovec){ message_bytes(c->in_msg) + c->in_msg_len,
                                                       direct };
        }
        iov[mh.msg_iovlen++] = (struct iovec){ c->scratch, c->scratch_size };
        offered = direct + c->scratch_size;

        k = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (k < 0) {
                c->read_full = false;
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                return -errno;
        }
        n = (size_t)k;

        r = take_control(c, &mh, &fds, &n_fds);
        if (r != 0)
                return r;
        if (n == 0) {
                close_fds(fds, n_fds);
                free(fds);
                return -ECONNRESET;
        }
        if (n_fds > 0) {
                if (c->in_n_batches == CONNECTION_FD_BATCHES) {
                        close_fds(fds, n_fds);
                        free(fds);
                        return violation(c, "", "file descriptors sent without a message");
                }
                c->in_fds[c->in_n_batches++] = (FdBatch){ .fds = fds,
                                                          .n_fds = n_fds,
                                                          .begin = c->in_total,
                                                          .end = c->in_total + n };
        }

        c->in_total += n;
        c->read_full = n == offered;
        if (direct > 0) {
                size_t d = n < direct ? n : direct;
                c->in_msg_len += d;
                n -= d;
        }
        c->chunk = c->scratch;
        c->chunk_len = n;
        c->chunk_pos = 0;
        return 1;
}

/* Copy up to @want bytes of the current chunk to @dst; returns the count. */
static size_t chunk_take(Connection *c, void *dst, size_t want) {
        size_t avail = c->chunk_len - c->chunk_pos;
        size_t k = avail < want ? avail : want;

        memcpy(dst, c->chunk + c->chunk_pos, k);
        c->chunk_pos += k;
        return k;
}

/* Stream offset of the next unparsed byte. */
static uint64_t parse_offset(const Connection *c) {
        return c->in_total - (c->chunk_len - c->chunk_pos);
}

/* The header in c->in_hdr is complete: check it, claim its fds and start
 * its message. */
static int start_message(Connection *c) {
        BusHeader *h = (BusHeader *)(void *)c->in_hdr;
        uint64_t total;
        Message *m;
        int r;

        /* Stamp first: whatever the sender put in its sender block is
         * overwritten, never judged (hostile-peers.md item 9). */
        memcpy((uint8_t *)c->in_hdr + BUS_SENDER_BLOCK_OFFSET, c->sender_block,
               BUS_SENDER_BLOCK_SIZE);
        r = bus_header_check(h, &total);
        if (r != 0)
                return violation(c, "bad header: ", bus_proto_strerror(r));
        if (total > BUS_MESSAGE_INLINE_MAX)
                return violation(c, "", "message too long");

        if (h->n_fds > 0) {
                const FdBatch *b = &c->in_fds[0];

                if (c->in_n_batches == 0)
                        return violation(c, "", "message declares fds that were not sent with it");
                if (c->in_start < b->begin || c->in_start >= b->end)
                        return violation(c, "", "fds not sent with the first byte of their message");
                if (b->n_fds != h->n_fds)
                        return violation(c, "", "number of fds received differs from the header");
        }

        r = message_new(&m, (size_t)total, CONNECTION_MESSAGE_CHUNK);
        if (r < 0)
                return r;
        memcpy(message_bytes(m), c->in_hdr, BUS_HEADER_SIZE);
        if (h->n_fds > 0) {
                FdBatch b = fd_batch_pop(c);
                message_take_fds(m, b.fds, b.n_fds);
        }
        c->in_msg = m;
        c->in_msg_len = BUS_HEADER_SIZE;
        c->in_hdr_len = 0;
        return 0;
}

/* The read is used up. A batch still unclaimed must belong to a message
 * whose header has started but not finished arriving, and which began inside
 * the read that brought the batch. */
static int check_unclaimed_fds(Connection *c) {
        if (c->in_n_batches > 0) {
                bool partial_header = c->preamble_done && !c->in_msg && c->in_hdr_len > 0;
                const FdBatch *b = &c->in_fds[0];

                if (c->in_n_batches > 1 || !partial_header || c->in_start < b->begin ||
                    c->in_start >= b->end)
                        return violation(c, "", "file descriptors not claimed by any message");
        }
        return 0;
}

/* The read is used up and a message (or its header) is partial. If that read
 * filled every buffer it offered, the rest is most likely queued already:
 * read it now rather than after another trip through the event loop (an
 * epoll_wait and a partial-message timer update per read). Returns 1 if
 * bytes arrived, 0 to wait for the event loop (nothing queued; EOF and
 * errors are seen again by the next connection_read()), or
 * CONNECTION_E_VIOLATION. */
static int read_more(Connection *c) {
        int r;

        if (!c->read_full)
                return 0;
        r = check_unclaimed_fds(c);
        if (r != 0)
                return r;
        r = connection_read(c);
        if (r == CONNECTION_E_VIOLATION)
                return r;
        return r == 1 ? 1 : 0;
}

int connection_next(Connection *c, BusPreamble *ret_preamble, Message **ret_message) {
        int r;

        for (;;) {
                size_t avail = c->chunk_len - c->chunk_pos;

                if (!c->preamble_done) {
                        if (c->in_hdr_len == 0 && avail > 0)
                                c->in_start = parse_offset(c);
                        c->in_hdr_len += chunk_take(c, (uint8_t *)c->in_hdr + c->in_hdr_len,
                                                    sizeof(BusPreamble) - c->in_hdr_len);
                        if (c->in_hdr_len < sizeof(BusPreamble))
                                break;
                        memcpy(ret_preamble, c->in_hdr, sizeof(BusPreamble));
                        c->in_hdr_len = 0;
                        c->preamble_done = true;
                        return CONNECTION_PREAMBLE;
                }

                if (c->in_msg) {
                        Message *m;
                        size_t want = c->in_msg->size - c->in_msg_len;

                        if (want > 0 && avail > 0) {
                                size_t take = avail < want ? avail : want;

                                if (c->in_msg->capacity - c->in_msg_len < take) {
                                        size_t cap = c->in_msg->capacity * 2;
                                        if (cap < c->in_msg_len + take)
                                                cap = c->in_msg_len + take;
                                        r = message_grow(&c->in_msg, cap);
                                        if (r < 0)
                                                return r;
                                }
                                c->in_msg_len += chunk_take(
                                        c, message_bytes(c->in_msg) + c->in_msg_len, take);
                        }
                        if (c->in_msg_len < c->in_msg->size) {
                                /* The read is used up; leave room for the next one
                                 * to go straight into the message. */
                                if (c->in_msg->capacity == c->in_msg_len) {
                                        r = message_grow(&c->in_msg, c->in_msg->capacity * 2);
                                        if (r < 0)
                                                return r;
                                }
                                r = read_more(c);
                                if (r == 1)
                                        continue;
                                if (r != 0)
                                        return r;
                                break;
                        }
                        m = c->in_msg;
                        c->in_msg = NULL;
                        c->in_msg_len = 0;
                        r = message_parse(m);
                        if (r != 0) {
                                message_unref(m);
                                return violation(c, "bad message: ", bus_proto_strerror(r));
                        }
                        *ret_message = m;
                        return CONNECTION_MESSAGE;
                }

                if (avail == 0) {
                        if (c->in_hdr_len > 0) {
                                r = read_more(c);
                                if (r == 1)
                                        continue;
                                if (r != 0)
                                        return r;
                        }
                        break;
                }
                if (c->in_hdr_len == 0)
                        c->in_start = parse_offset(c);
                c->in_hdr_len += chunk_take(c, (uint8_t *)c->in_hdr + c->in_hdr_len,
                                            BUS_HEADER_SIZE - c->in_hdr_len);
                if (c->in_hdr_len < BUS_HEADER_SIZE)
                        break;
                r = start_message(c);
                if (r != 0)
                        return r;
        }

        r = check_unclaimed_fds(c);
        if (r != 0)
                return r;
        return CONNECTION_NEED_MORE;
}

bool connection_is_partial(const Connection *c) {
        return c->in_hdr_len > 0 || c->in_msg;
}

void connection_truncate(Connection *c) {
        size_t keep = c->out_offset > 0 ? 1 : 0;

        while (c->out_len > keep) {
                size_t i = (c->out_head + c->out_len - 1) & (c->out_cap - 1);
                Message *m = c->out[i];

                c->out[i] = NULL;
                queue_forget(c, m);
        }
}

static int queue_grow(Connection *c) {
        size_t cap = c->out_cap ? c->out_cap * 2 : 16;
        Message **out;

        out = malloc(sizeof(*out) * cap);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < c->out_len; i++)
                out[i] = c->out[(c->out_head + i) & (c->out_cap - 1)];
        free(c->out);
        c->out = out;
        c->out_cap = cap;
        c->out_head = 0;
        return 0;
}

/* Would @m keep the queue within @factor times its limits? Every operand is
 * bounded (limits ≤ 1 TiB, queues ≤ twice the limits + one message, one
 * message's payload ≤ 64 GiB): no sum or product can wrap. */
static bool queue_within(const Connection *c, const Message *m, uint64_t factor) {
        const BusConfig *l = c->config;

        if (c->out_len + 1 > factor * l->outgoing_messages_per_connection ||
            c->out_bytes + m->size > factor * l->outgoing_bytes_per_connection)
                return false;
        if (m->n_fds > 0 && c->out_fds + m->n_fds > factor * l->outgoing_fds_per_connection)
                return false;
        if (m->blob_bytes > 0 && c->out_blob_bytes > 0 &&
            c->out_blob_bytes + m->blob_bytes > factor * l->outgoing_blob_bytes_per_connection)
                return false;
        return true;
}

/* Does @m keep its sender (holding @h, NULL for nothing) within its fair
 * share of the queue, in each dimension? */
static bool queue_share_allows(const Connection *c, const QueueHolder *h, const Message *m) {
        static const QueueHolder none = { 0 };
        const BusConfig *l = c->config;
        uint64_t n = c->n_holders + (h ? 0 : 1);

        if (!h)
                h = &none;
        if (!quota_share_allows(l->outgoing_messages_per_connection, c->out_len, h->messages, 1,
                                n) ||
            !quota_share_allows(l->outgoing_bytes_per_connection, c->out_bytes, h->bytes, m->size,
                                n))
                return false;
        if (m->n_fds > 0 && !quota_share_allows(l->outgoing_fds_per_connection, c->out_fds, h->fds,
                                                m->n_fds, n))
                return false;
        if (m->blob_bytes > 0 && c->out_blob_bytes > 0 &&
            !quota_share_allows(l->outgoing_blob_bytes_per_connection, c->out_blob_bytes,
                                h->blob_bytes, m->blob_bytes, n))
                return false;
        return true;
}

bool connection_is_over_limit(const Connection *c) {
        const BusConfig *l = c->config;

        return c->out_len >= l->outgoing_messages_per_connection ||
               c->out_bytes >= l->outgoing_bytes_per_connection ||
               c->out_fds >= l->outgoing_fds_per_connection ||
               c->out_blob_bytes >= l->outgoing_blob_bytes_per_connection;
}

int connection_queue_mode(Connection *c, Message *m, ConnectionQueueMode mode) {
        QueueHolder *h = holder_find(c, queue_sender(m));
        bool ok;
        int r;

        switch (mode) {
        case CONNECTION_QUEUE_SHARE:
                ok = queue_share_allows(c, h, m);
                break;
        case CONNECTION_QUEUE_LIMIT:
                ok = queue_within(c, m, 1);
                break;
        case CONNECTION_QUEUE_SOLICITED:
                ok = queue_within(c, m, 2);
                break;
        default:
                ok = true;
                break;
        }
        if (!ok)
                return -ENOBUFS;
        if (c->out_len == c->out_cap) {
                r = queue_grow(c);
                if (r < 0)
                        return r;
        }
        if (!h) {
                h = holder_add(c, queue_sender(m));
                if (!h)
                        return -ENOMEM;
        }
        holder_charge(c, h, m);
        /* A stall is counted from the moment output waits, not from the
         * last write before an idle spell (peer.h). */
        if (c->out_len == 0)
                c->out_progress_usec = clock_usec(CLOCK_MONOTONIC_COARSE);
        c->out[(c->out_head + c->out_len) & (c->out_cap - 1)] = message_ref(m);
        c->out_len++;
        c->out_bytes += m->size;
        c->out_fds += m->n_fds;
        c->out_blob_bytes += m->blob_bytes;
        c->stats->messages++;
        c->stats->bytes += m->size;
        if (c->stats->messages > c->stats->messages_high_water)
                c->stats->messages_high_water = c->stats->messages;
        if (c->stats->bytes > c->stats->bytes_high_water)
                c->stats->bytes_high_water = c->stats->bytes;
        return 0;
}

int connection_queue(Connection *c, Message *m, bool force) {
        return connection_queue_mode(c, m, force ? CONNECTION_QUEUE_FORCE : CONNECTION_QUEUE_LIMIT);
}

/* 0, or -ENOMEM if the write event cannot be armed (libevent could not
 * register it): then it is not marked armed and the flush fails. */
static int write_arm(Connection *c, bool on) {
        if (on == c->write_armed)
                return 0;
        if (on && event_add(c->ev_write, NULL) < 0)
                return -ENOMEM;
        if (!on)
                event_del(c->ev_write);
        c->write_armed = on;
        return 0;
}

/* One sendmsg() of as many queued messages as may share it. */
static ssize_t write_some(Connection *c) {
        union {
                struct cmsghdr align;
                uint8_t buf[CONNECTION_CMSG_SPACE];
        } control;
        struct iovec iov[CONNECTION_IOV_MAX];
        struct msghdr mh = { .msg_iov = iov };
        size_t n = 0;
        ssize_t k;

        for (size_t i = 0; i < c->out_len && n < CONNECTION_IOV_MAX; i++) {
                Message *m = c->out[(c->out_head + i) & (c->out_cap - 1)];
                size_t off = i == 0 ? c->out_offset : 0;

                if (m->n_fds > 0 && off == 0) {
                        /* Fds travel with the first byte of their message, so it
                         * must open the write. */
                        if (i > 0)
                                break;
                        struct cmsghdr *cm;

                        mh.msg_control = &control;
                        mh.msg_controllen = CMSG_SPACE(sizeof(int) * m->n_fds);
                        cm = CMSG_FIRSTHDR(&mh);
                        cm->cmsg_level = SOL_SOCKET;
                        cm->cmsg_type = SCM_RIGHTS;
                        cm->cmsg_len = CMSG_LEN(sizeof(int) * m->n_fds);
                        memcpy(CMSG_DATA(cm), m->fds, sizeof(int) * m->n_fds);
                }
                iov[n++] = (struct iovec){ message_bytes(m) + off, m->size - off };
        }
        mh.msg_iovlen = n;

        do
                k = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        while (k < 0 && errno == EINTR);
        return k < 0 ? -errno : k;
}

int connection_flush(Connection *c) {
        for (unsigned round = 0; round < CONNECTION_WRITES_PER_FLUSH; round++) {
                ssize_t k;
                size_t left;

                if (c->out_len == 0) {
                        write_arm(c, false);
                        return 0;
                }
                k = write_some(c);
                if (k == -EAGAIN)
                        return write_arm(c, true) < 0 ? -ENOMEM : 1;
                if (k < 0)
                        return (int)k;
                if (round == 0 && k > 0)
                        c->out_progress_usec = clock_usec(CLOCK_MONOTONIC_COARSE);

                left = (size_t)k;
                while (left > 0) {
                        Message *m = c->out[c->out_head];
                        size_t rest = m->size - c->out_offset;

                        if (left < rest) {
                                c->out_offset += left;
                                break;
                        }
                        left -= rest;
                        queue_pop(c);
                }
        }
        if (write_arm(c, c->out_len > 0) < 0)
                return -ENOMEM;
        return c->out_len > 0 ? 1 : 0;
}
