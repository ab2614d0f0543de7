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
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "bus-limits.h"
#include "transport/connection.h"
#include "registry/quota.h"
#include "common/util.h"

/* Room for one maximal fd batch. A larger batch sets MSG_CTRUNC: the kernel
 * closes what did not fit (scm_detach_fds()), we close the rest. */
#define CONNECTION_CMSG_SPACE CMSG_SPACE(sizeof(int) * BUS_FDS_MAX)

int connection_init(Connection *c, int fd, struct event_base *base, event_callback_fn read_cb,
                    event_callback_fn write_cb, void *userdata, uint8_t *scratch,
                    size_t scratch_size, QueueStats *stats, const ConnectionLimits *limits) {
        *c = (Connection){ .fd = fd,
                           .scratch = scratch,
                           .scratch_size = scratch_size,
                           .stats = stats,
                           .limits = limits,
                           .out_unread = -1 };
        /* The client's preamble comes first. */
        (void)bus_framer_init(&c->in_framer, sizeof(BusPreamble));
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
        if (m->charge_id != 0)
                return m->charge_id;
        return m->raw ? 0 : message_header(m)->sender_id;
}

/* The uid a queued message is charged to in the queue's first level
 * (docs/DAEMON.md "Fair shares"): its account's uid (its sender's, or the
 * requester's for an announcement), else its header's sender uid; the bus's
 * own messages and the raw welcome are the bus's (CONNECTION_UID_BUS, no
 * uid's). */
static uint64_t queue_uid(Message *m) {
        if (m->account && m->account->uid)
                return m->account->uid->uid;
        if (m->raw || message_header(m)->sender_id == BUS_DRIVER_ID)
                return CONNECTION_UID_BUS;
        return message_header(m)->sender_uid;
}

/* One of the queue's two holder tables (connection.h): the senders, or
 * their uids. */
typedef struct HolderTable {
        QueueHolder *inline_; /* CONNECTION_HOLDERS_INLINE entries */
        HashMap **more;
        size_t *n;
} HolderTable;

static inline HolderTable senders_of(const Connection *c) {
        Connection *w = (Connection *)c;

        return (HolderTable){ w->holders, &w->holders_more, &w->n_holders };
}

static inline HolderTable uids_of(const Connection *c) {
        Connection *w = (Connection *)c;

        return (HolderTable){ w->uid_holders, &w->uid_holders_more, &w->n_uid_holders };
}

/* The entry of @id in @t, or NULL if it holds nothing. */
static inline QueueHolder *holder_find_in(HolderTable t, uint64_t id) {
        for (unsigned i = 0; i < CONNECTION_HOLDERS_INLINE; i++)
                if (t.inline_[i].messages > 0 && t.inline_[i].sender_id == id)
                        return &t.inline_[i];
        /* Only entries that did not fit inline are in the map, which stays
         * allocated once needed: hash only while it holds any. */
        if (*t.more && hashmap_size(*t.more) > 0)
                return hashmap_get(*t.more, &id);
        return NULL;
}

/* The entry of sender @id, or NULL if it holds nothing. */
static inline QueueHolder *holder_find(const Connection *c, uint64_t id) {
        return holder_find_in(senders_of(c), id);
}

/* A new, empty entry for @id (which holds nothing) in @t: a free inline
 * one, else one in the map. NULL on -ENOMEM. Counted in *t.n once it
 * holds a message (holder_charge()). */
static QueueHolder *holder_add(HolderTable t, uint64_t id) {
        QueueHolder *h;

        for (unsigned i = 0; i < CONNECTION_HOLDERS_INLINE; i++)
                if (t.inline_[i].messages == 0) {
                        t.inline_[i] = (QueueHolder){ .sender_id = id };
                        return &t.inline_[i];
                }
        if (!*t.more && hashmap_new(t.more, HASHMAP_KEY_U64) < 0)
                return NULL;
        h = calloc(1, sizeof(*h));
        if (!h)
                return NULL;
        h->sender_id = id;
        if (hashmap_put(*t.more, &h->sender_id, h) < 0) {
                free(h);
                return NULL;
        }
        return h;
}

/* Drop an entry that holds nothing (any entry holder_add() made). */
static void holder_drop_empty(HolderTable t, QueueHolder *h) {
        if (h >= t.inline_ && h < t.inline_ + CONNECTION_HOLDERS_INLINE)
                return; /* free while messages == 0 */
        hashmap_remove(*t.more, &h->sender_id);
        free(h);
}

static void holder_charge(HolderTable t, QueueHolder *h, const Message *m) {
        if (h->messages++ == 0)
                (*t.n)++;
        h->bytes += m->size;
        h->fds += m->n_fds;
        h->payload_bytes += m->payload_bytes;
}

/* Release @m's charge from the entry @id of @t, which must exist; true if
 * the entry went (it holds nothing any more). */
static bool holder_release_in(HolderTable t, uint64_t id, const Message *m) {
        QueueHolder *h = holder_find_in(t, id);

        assert(h);
        h->bytes -= m->size;
        h->fds -= m->n_fds;
        h->payload_bytes -= m->payload_bytes;
        if (--h->messages == 0) {
                (*t.n)--;
                holder_drop_empty(t, h);
                return true;
        }
        return false;
}

/* Release @m's charge from its sender's and its uid's entries; the message
 * leaves the sender's outgoing total when no queue holds it any more. */
static void holder_release(Connection *c, Message *m) {
        QueueHolder *h = holder_find(c, queue_sender(m)), *u;
        uint64_t uid;

        assert(h);
        uid = h->uid; /* all of a sender's messages here are charged to one uid */
        if (holder_release_in(senders_of(c), queue_sender(m), m)) {
                /* One sender of the uid fewer holds something here. */
                u = holder_find_in(uids_of(c), uid);
                assert(u && u->n_senders > 0);
                u->n_senders--;
        }
        (void)holder_release_in(uids_of(c), uid, m);
        if (--m->n_queued == 0 && m->account)
                quota_out_release(m->account, m->size);
}

/* Forget @m, just taken off the queue: its share of the counts, its ref. */
static void queue_forget(Connection *c, Message *m) {
        holder_release(c, m);
        c->out_len--;
        c->out_bytes -= m->size;
        c->out_fds -= m->n_fds;
        c->out_payload_bytes -= m->payload_bytes;
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
        hashmap_free(c->uid_holders_more);
        message_unref(c->in_msg);
        free(c->in_stash);
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
 * Every fd received is either stored in *ret_fds or closed. *ret_lost is set
 * when the write's fds were lost to the broker's own fd shortage.
 *
 * Why MSG_CTRUNC has two causes, told apart by the number installed: the
 * kernel installs a write's fds one at a time into our fd table
 * (scm_detach_fds(), net/core/scm.c), at most as many as the control buffer
 * has room for; it stops at the first one it cannot install (EMFILE at
 * RLIMIT_NOFILE, ENFILE at fs.file-max, or an LSM refusing it), closes every
 * fd it did not install, and sets MSG_CTRUNC if any were left over (unix(7):
 * excess fds, for a buffer too small or past RLIMIT_NOFILE, are closed in the
 * receiving process). Our buffer holds BUS_FDS_MAX fds. So a full block
 * with MSG_CTRUNC means the peer sent more than a message may carry (its
 * protocol violation); fewer than BUS_FDS_MAX (none included: the kernel
 * then adds no block at all) means the kernel ran out of room for them: our
 * own shortage, never the peer's fault (hostile-peers.md item 32). A peer
 * that sent too many while we were short is counted as our shortage too:
 * its message only loses its fds. */
static int take_control(Connection *c, struct msghdr *mh, int **ret_fds, unsigned *ret_n,
                        bool *ret_lost) {
        const char *bad = NULL;
        int *fds = NULL;
        unsigned n_fds = 0;

        *ret_lost = false;
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
                                /* Our shortage, like the kernel's below. */
                                for (unsigned i = 0; i < n; i++) {
                                        int fd;
                                        memcpy(&fd, p + i, sizeof(fd));
                                        safe_close(fd);
                                }
                                *ret_lost = true;
                                continue;
                        }
                        memcpy(fds, p, sizeof(int) * n);
                        n_fds = n;
                } else if (!bad) {
                        /* We never set SO_PASSCRED/SO_PASSPIDFD/SO_PASSSEC. */
                        bad = "unexpected control message";
                }
        }
        if (!bad && (mh->msg_flags & MSG_CTRUNC)) {
                if (n_fds >= BUS_FDS_MAX)
                        bad = "control data truncated: more fds in one write than a "
                              "message may carry";
                else
                        *ret_lost = true;
        }
        if (bad || *ret_lost) {
                close_fds(fds, n_fds);
                free(fds);
                if (bad) {
                        *ret_lost = false;
                        return violation(c, "", bad);
                }
                fds = NULL;
                n_fds = 0;
        }
        *ret_fds = fds;
        *ret_n = n_fds;
        return 0;
}

/* The framer's violation, in c->error. */
static int frame_violation(Connection *c, const char *reason, const char *detail) {
        if (!detail)
                return violation(c, "", reason);
        snprintf(c->error, sizeof(c->error), "%s: %s", reason, detail);
        return CONNECTION_E_VIOLATION;
}

/* The buffers the next read fills: the rest of the message being received,
 * straight into its buffer, then the shared scratch buffer; or, while the
 * framer holds bytes back, the stash after them, and only the bytes that
 * decide (bus_framer_lookahead_wanted()). Returns the bytes offered;
 * *ret_direct of them go into the message. */
static size_t input_iov(Connection *c, struct iovec *iov, size_t *iovlen, size_t *ret_direct) {
        size_t direct = 0;

        assert(!c->in_pending);
        *ret_direct = 0;
        if (c->in_stash) {
                size_t room = bus_framer_lookahead_wanted(&c->in_framer);

                assert(room > 0 && room <= c->in_stash_size - c->in_stash_len);
                iov[(*iovlen)++] = (struct iovec){ c->in_stash + c->in_stash_len, room };
                return room;
        }
        if (c->in_msg && c->in_msg->capacity > c->in_msg_len) {
                /* Read the rest of a large message straight into its buffer
                 * (capacity ≤ size: never past the message). */
                direct = c->in_msg->capacity - c->in_msg_len;
                iov[(*iovlen)++] = (struct iovec){ message_bytes(c->in_msg) + c->in_msg_len,
                                                   direct };
        }
        iov[(*iovlen)++] = (struct iovec){ c->scratch, c->scratch_size };
        *ret_direct = direct;
        return direct + c->scratch_size;
}

/* Hand one read (@n bytes, the first @direct offered into the message, and
 * its fds, taken) to the framer. Returns 1, CONNECTION_E_VIOLATION (every
 * fd received is closed by connection_deinit()) or a negative errno. */
static int input_push(Connection *c, size_t n, size_t direct, int *fds, unsigned n_fds,
                      bool lost) {
        size_t d = n < direct ? n : direct;
        const uint8_t *buf;
        size_t len;
        int r;

        if (c->in_stash) {
                c->in_stash_len += n;
                buf = c->in_stash;
                len = c->in_stash_len;
        } else {
                buf = c->scratch;
                len = n - d;
        }
        c->in_msg_len += d;
        r = bus_framer_push(&c->in_framer, d, buf, len, n_fds, lost);
        if (r != 0) {
                close_fds(fds, n_fds);
                free(fds);
                if (r < 0)
                        return r;
                return frame_violation(c, c->in_framer.reason, c->in_framer.detail);
        }
        if (n_fds > 0) {
                /* The framer takes at most as many batches as we keep. */
                assert(c->in_n_batches < CONNECTION_FD_BATCHES);
                c->in_fds[c->in_n_batches++] = (FdBatch){ .fds = fds, .n_fds = n_fds };
        }
        c->in_pending = true;
        return 1;
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
        bool lost;
        int r;

        /* A recvmsg() may install up to BUS_FDS_MAX fds: it offers room for
         * them only with that many free in the budget (the caller's rule).
         * Otherwise it reads with no room for control data, and the kernel
         * installs none of the fds a write carried: it drops them and sets
         * MSG_CTRUNC (scm_detach_fds(), unix(7)), which take_control() reads
         * as fds lost to the broker's shortage, so the message declaring them
         * is refused to its sender; everything else — messages without fds,
         * and the peer's hangup — is still read. (Not reading at all froze
         * the bus: no close was seen, so no fd was ever released.) */
        if (c->may_read && !c->may_read(c->may_read_userdata)) {
                mh.msg_control = NULL;
                mh.msg_controllen = 0;
        }
        offered = input_iov(c, iov, &mh.msg_iovlen, &direct);

        k = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (k < 0) {
                c->read_full = false;
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                return -errno;
        }
        n = (size_t)k;

        r = take_control(c, &mh, &fds, &n_fds, &lost);
        if (r != 0)
                return r;
        if (n == 0) {
                close_fds(fds, n_fds);
                free(fds);
                return -ECONNRESET;
        }
        c->in_fds_received += n_fds;

        c->read_full = n == offered;
        /* The framer pairs the fds with their message (or refuses them). */
        return input_push(c, n, direct, fds, n_fds, lost);
}

/* A checked fixed header: the message gets its buffer (a first chunk of
 * it), its sender block and the fds it claims. */
static int input_begin(Connection *c, const BusFrame *fr) {
        Message *m;
        int r;

        r = message_new(&m, (size_t)fr->total, CONNECTION_MESSAGE_CHUNK);
        if (r < 0)
                return r;
        memcpy(message_bytes(m), fr->data, BUS_HEADER_SIZE);
        /* Whatever the sender put in its sender block is overwritten, never
         * judged (hostile-peers.md item 9). */
        memcpy(message_bytes(m) + BUS_SENDER_BLOCK_OFFSET, c->sender_block,
               BUS_SENDER_BLOCK_SIZE);
        if (fr->n_fds > 0) {
                FdBatch b = fd_batch_pop(c);

                assert(b.n_fds == fr->n_fds);
                message_take_fds(m, b.fds, b.n_fds);
        }
        c->in_msg = m;
        c->in_msg_len = BUS_HEADER_SIZE;
        c->in_msg_fds_lost = fr->fds_lost;
        return 0;
}

/* Bytes of the message being received, copied from the chunk; its buffer
 * grows (doubling) only as they arrive. */
static int input_body(Connection *c, const BusFrame *fr) {
        size_t need = c->in_msg_len + fr->body_len;
        int r;

        assert(fr->offset == c->in_msg_len);
        if (c->in_msg->capacity < need) {
                size_t cap = c->in_msg->capacity * 2;

                r = message_grow(&c->in_msg, cap < need ? need : cap);
                if (r < 0)
                        return r;
        }
        memcpy(message_bytes(c->in_msg) + c->in_msg_len, fr->body, fr->body_len);
        c->in_msg_len = need;
        return 0;
}

/* The message is complete and may be handed out. */
static int input_end(Connection *c, Message **ret_message) {
        Message *m = c->in_msg;
        bool lost = c->in_msg_fds_lost;
        int r;

        c->in_msg = NULL;
        c->in_msg_len = 0;
        c->in_msg_fds_lost = false;
        r = message_parse(m);
        if (r != 0) {
                message_unref(m);
                return violation(c, "bad message: ", bus_proto_strerror(r));
        }
        *ret_message = m;
        return lost ? CONNECTION_FDS_LOST : CONNECTION_MESSAGE;
}

/* Keep what the framer holds back (bus_framer_held()) for the next push:
 * out of the shared scratch buffer into the stash, or to the front of the
 * stash, with room after it for the bytes that decide. */
static int input_keep_held(Connection *c) {
        size_t held = bus_framer_held(&c->in_framer);
        const uint8_t *src;

        if (held == 0) {
                free(c->in_stash);
                c->in_stash = NULL;
                c->in_stash_len = c->in_stash_size = 0;
                return 0;
        }
        src = bus_framer_held_bytes(&c->in_framer);
        if (c->in_stash && c->in_stash_size >= held + BUS_HEADER_SIZE) {
                memmove(c->in_stash, src, held);
        } else {
                uint8_t *stash = malloc(held + BUS_HEADER_SIZE);

                if (!stash)
                        return -ENOMEM;
                memcpy(stash, src, held);
                free(c->in_stash);
                c->in_stash = stash;
                c->in_stash_size = held + BUS_HEADER_SIZE;
        }
        c->in_stash_len = held;
        return 0;
}

/* The pushed bytes are used up (or held back). Make room for a direct read
 * into a partial message, and if the last read filled every buffer it
 * offered, read again now: the rest is most likely queued already (an
 * epoll_wait and a partial-message timer update per read saved). Returns 1
 * if bytes arrived, CONNECTION_NEED_MORE to wait for the event loop (EOF
 * and errors are seen again by the next connection_read()),
 * CONNECTION_E_VIOLATION or -ENOMEM. */
static int input_need_more(Connection *c) {
        int r;

        c->in_pending = false;
        r = input_keep_held(c);
        if (r < 0)
                return r;
        if (c->in_msg && c->in_msg->capacity == c->in_msg_len &&
            c->in_msg_len < c->in_msg->size) {
                r = message_grow(&c->in_msg, c->in_msg->capacity * 2);
                if (r < 0)
                        return r;
        }
        if (!c->read_full || !bus_framer_is_partial(&c->in_framer))
                return CONNECTION_NEED_MORE;
        r = connection_read(c);
        if (r == CONNECTION_E_VIOLATION || r == 1)
                return r;
        return CONNECTION_NEED_MORE;
}

int connection_next(Connection *c, BusPreamble *ret_preamble, Message **ret_message) {
        for (;;) {
                BusFrame fr;
                int r;

                switch (bus_framer_next(&c->in_framer, &fr)) {
                case BUS_FRAMER_PREAMBLE:
                        memcpy(ret_preamble, fr.data, sizeof(*ret_preamble));
                        return CONNECTION_PREAMBLE;
                case BUS_FRAMER_MESSAGE_BEGIN:
                        r = input_begin(c, &fr);
                        if (r < 0)
                                return r;
                        /* The body bytes that came with it: */
                        __attribute__((fallthrough));
                case BUS_FRAMER_BODY:
                        r = input_body(c, &fr);
                        if (r == 0 && fr.end)
                                return input_end(c, ret_message);
                        break;
                case BUS_FRAMER_MESSAGE_END:
                        return input_end(c, ret_message);
                case BUS_FRAMER_E_VIOLATION:
                        return frame_violation(c, fr.reason, fr.detail);
                default:
                        r = input_need_more(c);
                        if (r != 1)
                                return r;
                        r = 0;
                        break;
                }
                if (r < 0)
                        return r;
        }
}

bool connection_is_partial(const Connection *c) {
        return bus_framer_is_partial(&c->in_framer);
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
        const ConnectionLimits *l = c->limits;

        if (c->out_len + 1 > factor * l->messages ||
            c->out_bytes + m->size > factor * l->bytes)
                return false;
        if (m->n_fds > 0 && c->out_fds + m->n_fds > factor * l->fds)
                return false;
        if (m->payload_bytes > 0 && c->out_payload_bytes > 0 &&
            c->out_payload_bytes + m->payload_bytes > factor * l->payload_bytes)
                return false;
        return true;
}

/* The two levels of the fair share in one dimension (docs/DAEMON.md "Fair
 * shares"): the queue's @limit, of which @used is held, is shared between
 * the @n_uids uids holding some (the sender's counted); the sender's uid
 * holds @uid_held, of which the sender holds @held; the uid's ceiling
 * (quota_share_ceiling(): what the rule lets the uid reach beside the
 * others) is shared between the uid's @n_senders senders holding some (this
 * one counted) by the same rule, so a lone sender keeps half of it free for
 * its siblings. A sender that holds nothing here gets its
 * one item of any legal size in if it fits what is left (the rule's own
 * first clause, at the level of senders): so no sender, of any uid, is shut
 * out by what others hold below the limit, a flooding sibling included. */
static bool share2_allows(uint64_t limit, uint64_t used, uint64_t uid_held, uint64_t held,
                          uint64_t charge, uint64_t n_uids, uint64_t n_senders) {
        uint64_t after;

        /* Plain cases without divisions: if everything held afterwards,
         * times (n_uids + 1) * (n_senders + 2), fits the limit, both levels
         * allow it (the ceiling is then at least (used + charge) *
         * (n_senders + 1)). */
        if (!__builtin_add_overflow(used, charge, &after) &&
            !__builtin_mul_overflow(after, n_uids + 1, &after) &&
            !__builtin_mul_overflow(after, n_senders + 2, &after) && after <= limit)
                return true;
        if (held == 0)
                return quota_share_allows(limit, used, 0, charge, n_uids);
        if (!quota_share_allows(limit, used, uid_held, charge, n_uids))
                return false;
        return quota_share_allows(quota_share_ceiling(limit, used - uid_held, n_uids), uid_held,
                                  held, charge, n_senders);
}

/* Does @m keep its sender (holding @h, NULL for nothing) and the sender's
 * uid (holding @u, NULL for nothing) within their fair shares of the queue,
 * in each dimension? */
static bool queue_share_allows(const Connection *c, const QueueHolder *u, const QueueHolder *h,
                               const Message *m) {
        static const QueueHolder none = { 0 };
        const ConnectionLimits *l = c->limits;
        uint64_t n = c->n_uid_holders + (u ? 0 : 1);
        uint64_t ns = (u ? u->n_senders : 0) + (h ? 0 : 1);

        if (!h)
                h = &none;
        if (!u)
                u = &none;
        if (!share2_allows(l->messages, c->out_len, u->messages, h->messages, 1, n, ns) ||
            !share2_allows(l->bytes, c->out_bytes, u->bytes, h->bytes, m->size, n, ns))
                return false;
        if (m->n_fds > 0 &&
            !share2_allows(l->fds, c->out_fds, u->fds, h->fds, m->n_fds, n, ns))
                return false;
        if (m->payload_bytes > 0 && c->out_payload_bytes > 0 &&
            !share2_allows(l->payload_bytes, c->out_payload_bytes, u->payload_bytes,
                           h->payload_bytes, m->payload_bytes, n, ns))
                return false;
        return true;
}

bool connection_share_allows(const Connection *c, uint64_t sender_id, const Message *m) {
        const QueueHolder *h = holder_find(c, sender_id);

        return queue_share_allows(
                c, holder_find_in(uids_of(c), h ? h->uid : queue_uid((Message *)m)), h, m);
}

uint64_t connection_bytes_held_by(const Connection *c, uint64_t sender_id) {
        const QueueHolder *h = holder_find(c, sender_id);

        return h ? h->bytes : 0;
}

void connection_sample_reader(Connection *c) {
        int unread;

        if (ioctl(c->fd, SIOCOUTQ, &unread) < 0)
                return; /* unknown: judge by the broker's writes alone */
        if (c->out_unread >= 0 && unread < c->out_unread)
                c->out_progress_usec = clock_usec(CLOCK_MONOTONIC_COARSE);
        c->out_unread = unread;
}

bool connection_is_over_limit(const Connection *c) {
        const ConnectionLimits *l = c->limits;

        return c->out_len >= l->messages ||
               c->out_bytes >= l->bytes ||
               c->out_fds >= l->fds ||
               c->out_payload_bytes >= l->payload_bytes;
}

int connection_queue_mode(Connection *c, Message *m, ConnectionQueueMode mode) {
        uint64_t sender = queue_sender(m);
        QueueHolder *h = holder_find(c, sender);
        /* A sender's messages here are all charged to the uid of its first. */
        uint64_t uid = h ? h->uid : queue_uid(m);
        QueueHolder *u = holder_find_in(uids_of(c), uid);
        bool ok;
        int r;

        switch (mode) {
        case CONNECTION_QUEUE_SHARE:
                ok = queue_share_allows(c, u, h, m);
                /* The sender's uid's total: only for a message no queue
                 * holds yet (a broadcast costs it once). */
                if (ok && m->n_queued == 0 && m->account &&
                    !quota_out_allows(m->account, m->size, c->limits->uid_bytes))
                        return -EDQUOT;
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
        if (!u) {
                u = holder_add(uids_of(c), uid);
                if (!u)
                        return -ENOMEM;
        }
        if (!h) {
                h = holder_add(senders_of(c), sender);
                if (!h) {
                        if (u->messages == 0)
                                holder_drop_empty(uids_of(c), u);
                        return -ENOMEM;
                }
                h->uid = uid;
        }
        if (h->messages == 0)
                u->n_senders++;
        holder_charge(senders_of(c), h, m);
        holder_charge(uids_of(c), u, m);
        if (m->n_queued++ == 0 && m->account)
                quota_out_charge(m->account, m->size);
        /* A stall is counted from the moment output waits, not from the
         * last write before an idle spell (peer.h). */
        if (c->out_len == 0)
                c->out_progress_usec = clock_usec(CLOCK_MONOTONIC_COARSE);
        c->out[(c->out_head + c->out_len) & (c->out_cap - 1)] = message_ref(m);
        c->out_len++;
        c->out_bytes += m->size;
        c->out_fds += m->n_fds;
        c->out_payload_bytes += m->payload_bytes;
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
