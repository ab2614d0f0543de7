/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * message.c — bus_message: a reference-counted message that owns its bytes.
 *
 * Two kinds:
 *  - built: made by the builders; fields and body are owned copies and may be
 *    changed until (and between) sends; encoded afresh by every bus_send with
 *    a new serial. A body above BUS_BODY_INLINE_THRESHOLD is written once,
 *    straight into a sealed memfd that every send passes on (no second copy).
 *  - received: parsed from one complete wire message (owned buffer), checked
 *    with the protocol library before it is visible; read-only. Its body is
 *    either inline in the buffer or in a payload memfd, which is judged by
 *    the payload rule and mapped read-only when the body is first read, its
 *    pages faulted in only as they are read.
 * The JSON body is parsed lazily, once, and cached.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bus-internal.h"

static const char **field_slot(BusFields *f, BusFieldCode code) {
        switch (code) {
        case BUS_FIELD_DESTINATION:
                return &f->destination;
        case BUS_FIELD_PATH:
                return &f->path;
        case BUS_FIELD_INTERFACE:
                return &f->interface;
        case BUS_FIELD_MEMBER:
                return &f->member;
        case BUS_FIELD_ERROR_NAME:
                return &f->error_name;
        case BUS_FIELD_KEY:
                return &f->key;
        case BUS_FIELD_ORIGIN:
                return &f->origin;
        default:
                return NULL;
        }
}

int message_new(bus_message **ret, uint8_t type) {
        bus_message *m = calloc(1, sizeof(*m) + MESSAGE_ARENA_SIZE);

        if (!m)
                return -ENOMEM;
        m->arena_size = MESSAGE_ARENA_SIZE;
        m->n_ref = 1;
        m->header.type = type;
        m->body_fd = -1;
        *ret = m;
        return 0;
}

/* A copy of @len bytes at @p (and a NUL after them if @nul) that @m owns:
 * in its arena while there is room, else in an allocation of its own
 * returned in *@ret_allocated for the caller to keep and free. */
static char *message_copy(bus_message *m, const void *p, size_t len, bool nul,
                          char **ret_allocated) {
        size_t need = len + nul;
        char *copy;

        *ret_allocated = NULL;
        if (need <= m->arena_size - m->arena_used) {
                copy = m->arena + m->arena_used;
                m->arena_used += need;
        } else {
                copy = malloc(need);
                if (!copy)
                        return NULL;
                *ret_allocated = copy;
        }
        memcpy(copy, p, len);
        if (nul)
                copy[len] = '\0';
        return copy;
}

/* Every string field of a built message is checked here, once: encoding
 * then trusts them (bus_message_encode_prevalidated()). */
int message_set_field(bus_message *m, BusFieldCode code, const char *value) {
        const char **slot;
        char *copy = NULL, *allocated = NULL;

        if (!m)
                return -EINVAL;
        if (m->received)
                return -EPERM;
        slot = field_slot(&m->fields, code);
        if (!slot)
                return -EINVAL;
        if (value && !bus_field_string_is_valid(code, value))
                return -EINVAL;
        if (value) {
                copy = message_copy(m, value, strlen(value), true, &allocated);
                if (!copy)
                        return -ENOMEM;
        }
        free(m->str[code]);
        m->str[code] = allocated;
        *slot = copy;
        return 0;
}

static int message_new_with(bus_message **ret, uint8_t type, const char *destination,
                            const char *path, const char *interface, const char *member) {
        bus_message *m;
        int r;

        r = message_new(&m, type);
        if (r < 0)
                return r;
        if ((r = message_set_field(m, BUS_FIELD_DESTINATION, destination)) < 0 ||
            (r = message_set_field(m, BUS_FIELD_PATH, path)) < 0 ||
            (r = message_set_field(m, BUS_FIELD_INTERFACE, interface)) < 0 ||
            (r = message_set_field(m, BUS_FIELD_MEMBER, member)) < 0) {
                bus_message_unref(m);
                return r;
        }
        *ret = m;
        return 0;
}

_public_ int bus_message_new_method_call(bus_connection *c, bus_message **ret,
                                         const char *destination, const char *path,
                                         const char *interface, const char *member) {
        int r;

        if (!ret || !path || !member)
                return -EINVAL;
        r = message_new_with(ret, BUS_MESSAGE_METHOD_CALL, destination, path, interface, member);
        if (r >= 0 && c)
                (*ret)->pools = pool_set_ref(c->pools); /* large payloads use its pool */
        return r;
}

_public_ int bus_message_new_signal(bus_connection *c, bus_message **ret, const char *path,
                                    const char *interface, const char *member) {
        int r;

        if (!ret || !path || !interface || !member)
                return -EINVAL;
        r = message_new_with(ret, BUS_MESSAGE_SIGNAL, NULL, path, interface, member);
        if (r >= 0 && c)
                (*ret)->pools = pool_set_ref(c->pools);
        return r;
}

_public_ int bus_message_set_destination(bus_message *m, const char *destination) {
        return message_set_field(m, BUS_FIELD_DESTINATION, destination);
}

_public_ int bus_message_set_key(bus_message *m, const char *key) {
        return message_set_field(m, BUS_FIELD_KEY, key);
}

_public_ int bus_message_set_remote_origin(bus_message *m, const char *host, uid_t uid,
                                           const char *unique_name) {
        char origin[BUS_NAME_MAX + 1];
        int n;

        if (!m)
                return -EINVAL;
        if (m->header.type != BUS_MESSAGE_METHOD_CALL && m->header.type != BUS_MESSAGE_SIGNAL)
                return -EINVAL;
        if (!host && !unique_name)
                return message_set_field(m, BUS_FIELD_ORIGIN, NULL);
        if (!host || !unique_name)
                return -EINVAL;
        n = snprintf(origin, sizeof(origin), "%s/%lu/%s", host, (unsigned long)uid, unique_name);
        if (n < 0 || (size_t)n >= sizeof(origin))
                return -EINVAL;
        /* message_set_field() checks the syntax (bus_origin_is_valid()). */
        return message_set_field(m, BUS_FIELD_ORIGIN, origin);
}

static void message_drop_json(bus_message *m) {
        json_decref(m->json);
        m->json = NULL;
        m->json_parsed = false;
}

static void message_drop_body(bus_message *m) {
        free(m->body_owned);
        m->body_owned = NULL;
        free(m->body_snapshot);
        m->body_snapshot = NULL;
        if (m->body_in_slice && !m->received) {
                pool_slice_unused(m->pools, &m->body_slice);
                m->body_in_slice = false;
        }
        if (m->body_map)
                munmap(m->body_map, m->body_map_len);
        m->body_map = NULL;
        m->body_map_len = 0;
        if (m->body_fd >= 0)
                close(m->body_fd);
        m->body_fd = -1;
        m->body = NULL;
        m->body_len = 0;
}

_public_ int bus_message_set_body_text(bus_message *m, const char *text, size_t len) {
        char *copy = NULL, *allocated = NULL;
        MessageSlice slice = { 0 };
        bool in_slice = false;
        int fd = -1;

        if (!m || (!text && len > 0))
                return -EINVAL;
        if (m->received)
                return -EPERM;
        if (len > 0 && bus_body_check(text, len) != 0)
                return -EINVAL;
        /* The bus reads its own calls' arguments inline only. */
        if (len > pool_body_threshold(m->pools) &&
            !(m->fields.destination && strcmp(m->fields.destination, BUS_DRIVER_NAME) == 0) &&
            pool_alloc(m->pools, len, &slice) == 0) {
                /* The one copy: into a slice of the connection's pool. */
                memcpy(slice.data, text, len);
                in_slice = true;
        } else if (len > BUS_BODY_INLINE_THRESHOLD) {
                /* The one copy a large body needs: into the memfd that goes
                 * to the receivers, sealed now, so every send passes it on. */
                fd = payload_memfd_create(text, len);
                if (fd < 0)
                        return fd;
        } else if (len > 0) {
                copy = message_copy(m, text, len, false, &allocated);
                if (!copy)
                        return -ENOMEM;
        }
        message_drop_body(m);
        message_drop_json(m);
        m->body_owned = allocated;
        m->body = in_slice ? (const char *)slice.data : copy;
        m->body_fd = fd;
        m->body_len = len;
        m->body_slice = slice;
        m->body_in_slice = in_slice;
        return 0;
}

_public_ int bus_message_set_body(bus_message *m, json_t *body) {
        char *text;
        int r;

        if (!m)
                return -EINVAL;
        if (!body)
                return bus_message_set_body_text(m, NULL, 0);
        text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text)
                return -EINVAL;
        r = bus_message_set_body_text(m, text, strlen(text));
        free(text);
        return r;
}

_public_ int bus_message_set_no_reply(bus_message *m, bool no_reply) {
        if (!m)
                return -EINVAL;
        if (m->received)
                return -EPERM;
        if (no_reply)
                m->header.flags |= BUS_FLAG_NO_REPLY_EXPECTED;
        else
                m->header.flags &= ~BUS_FLAG_NO_REPLY_EXPECTED;
        return 0;
}

_public_ int bus_message_set_no_auto_start(bus_message *m, bool no_auto_start) {
        if (!m)
                return -EINVAL;
        if (m->received)
                return -EPERM;
        if (no_auto_start)
                m->header.flags |= BUS_FLAG_NO_AUTO_START;
        else
                m->header.flags &= ~BUS_FLAG_NO_AUTO_START;
        return 0;
}

_public_ bus_message *bus_message_ref(bus_message *m) {
        if (m)
                m->n_ref++;
        return m;
}

_public_ bus_message *bus_message_unref(bus_message *m) {
        if (!m || --m->n_ref > 0)
                return NULL;
        for (size_t i = 0; i < _BUS_FIELD_MAX; i++)
                free(m->str[i]);
        free(m->origin_split);
        message_drop_body(m);
        free(m->data);
        payload_clear(m);
        pool_message_free(m); /* releases received slices, frees own unsent ones */
        free(m->slices);
        json_decref(m->json);
        free(m);
        return NULL;
}

/* ---- Accessors ------------------------------------------------------------------- */

/* The body's bytes: a memfd body is mapped on first use, if it passes the
 * payload rule (payload_memfd_map()), and never faulted in ahead of the reads: the
 * caller's reads fault in what they touch. NULL if the payload is refused or
 * cannot be mapped. */
static const char *message_body_bytes(bus_message *m) {
        if (!m->body && m->received && m->body_in_slice) {
                /* Volatile (the owner may rewrite it): read once, into a
                 * private copy that is checked and parsed (PROTOCOL.md 3.6). */
                if (!m->body_slice.data || m->body_len == 0)
                        return m->body_len == 0 ? "" : NULL;
                m->body_snapshot = malloc(m->body_len);
                if (!m->body_snapshot)
                        return NULL;
                memcpy(m->body_snapshot, m->body_slice.data, m->body_len);
                m->body = m->body_snapshot;
        }
        if (!m->body && m->body_fd >= 0) {
                /* Judged first, whatever its declared size: a body in a
                 * payload that fails the rule is NULL even at 0 bytes. */
                void *p = NULL;
                int r = payload_memfd_map(m->body_fd, m->body_len, &p);

                if (r != 0)
                        return NULL;
                m->body_map = p;
                m->body_map_len = m->body_len;
                m->body = p ? p : ""; /* a 0-byte payload maps nothing */
        }
        if (m->body_len == 0)
                return "";
        return m->body;
}

_public_ int bus_message_get_type(bus_message *m) {
        return m ? m->header.type : -EINVAL;
}

_public_ uint64_t bus_message_get_serial(bus_message *m) {
        return m ? m->header.serial : 0;
}

_public_ uint64_t bus_message_get_reply_serial(bus_message *m) {
        return m ? m->header.reply_serial : 0;
}

_public_ bool bus_message_get_no_reply(bus_message *m) {
        return m && (m->header.flags & BUS_FLAG_NO_REPLY_EXPECTED);
}

_public_ const char *bus_message_get_sender(bus_message *m) {
        return m && m->received ? m->sender : NULL;
}

_public_ const char *bus_message_get_destination(bus_message *m) {
        return m ? m->fields.destination : NULL;
}

_public_ const char *bus_message_get_path(bus_message *m) {
        return m ? m->fields.path : NULL;
}

_public_ const char *bus_message_get_interface(bus_message *m) {
        return m ? m->fields.interface : NULL;
}

_public_ const char *bus_message_get_member(bus_message *m) {
        return m ? m->fields.member : NULL;
}

_public_ const char *bus_message_get_error_name(bus_message *m) {
        return m ? m->fields.error_name : NULL;
}

_public_ const char *bus_message_get_key(bus_message *m) {
        return m ? m->fields.key : NULL;
}

/* More than @max JSON values in @text (@n bytes)? An upper bound, counted
 * without parsing: every value but the first follows a ',' or ':' or opens
 * a container, outside strings. */
static bool json_values_over(const char *text, size_t n, uint64_t max) {
        uint64_t values = 1;
        bool in_string = false;

        for (size_t i = 0; i < n; i++) {
                char ch = text[i];

                if (in_string) {
                        if (ch == '\\')
                                i++;
                        else if (ch == '"')
                                in_string = false;
                        continue;
                }
                if (ch == '"')
                        in_string = true;
                else if ((ch == ',' || ch == ':' || ch == '[' || ch == '{') && ++values > max)
                        return true;
        }
        return false;
}

_public_ json_t *bus_message_get_body(bus_message *m) {
        if (!m)
                return NULL;
        if (!m->json_parsed) {
                const char *body = message_body_bytes(m);
                bus_connection *c = pool_set_connection(m->pools);
                uint64_t max = c ? c->body_values_max : BUS_CLIENT_BODY_VALUES_MAX;

                m->json_parsed = true;
                if (m->body_len > 0 && body && m->received && max > 0 &&
                    json_values_over(body, m->body_len, max)) {
                        m->json_too_many = true;
                        client_debug("a body of %zu bytes holds more than %" PRIu64
                                     " JSON values: not parsed", m->body_len, max);
                } else if (m->body_len > 0 && body) {
                        m->json = json_loadb(body, m->body_len,
                                             JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
                }
        }
        return m->json;
}

_public_ int bus_connection_set_body_values_max(bus_connection *c, uint64_t max) {
        if (!c)
                return -EINVAL;
        c->body_values_max = max;
        return 0;
}

_public_ const char *bus_message_get_body_text(bus_message *m, size_t *ret_len) {
        const char *body;

        if (!m)
                return NULL;
        /* Borrowed, maybe to be passed on unread: a large body's pages are
         * faulted in as they are read (or not at all). A received body that
         * is a slice is borrowed in place, volatile (busclient.h): only
         * bus_message_get_body() copies it, to parse it. */
        if (m->received && m->body_in_slice && !m->body) {
                if (ret_len)
                        *ret_len = m->body_slice.data ? m->body_len : 0;
                return m->body_len == 0 ? "" : (const char *)m->body_slice.data;
        }
        body = message_body_bytes(m);
        if (ret_len)
                *ret_len = body ? m->body_len : 0;
        return body;
}

_public_ int bus_message_get_error(bus_message *m, bus_error *e) {
        const char *text = NULL;
        json_t *body;

        if (!m || !e)
                return -EINVAL;
        if (m->header.type != BUS_MESSAGE_ERROR || !m->fields.error_name)
                return -EINVAL;
        body = bus_message_get_body(m);
        if (json_is_object(body))
                text = json_string_value(json_object_get(body, "message"));
        else if (json_is_string(body))
                text = json_string_value(body);
        return error_set_const(e, m->fields.error_name, text);
}

/* Credentials exist only for messages that crossed the bus. */
_public_ uid_t bus_message_get_sender_uid(bus_message *m) {
        return m && m->received && !m->synthetic ? (uid_t)m->header.sender_uid : (uid_t)-1;
}

_public_ gid_t bus_message_get_sender_gid(bus_message *m) {
        return m && m->received && !m->synthetic ? (gid_t)m->header.sender_gid : (gid_t)-1;
}

_public_ pid_t bus_message_get_sender_pid(bus_message *m) {
        return m && m->received && !m->synthetic ? (pid_t)m->header.sender_pid : 0;
}

_public_ uint64_t bus_message_get_sender_pid_id(bus_message *m) {
        return m && m->received && !m->synthetic ? m->header.sender_pid_id : 0;
}

_public_ uint32_t bus_message_get_sender_flags(bus_message *m) {
        return m && m->received && !m->synthetic ? m->header.sender_reserved : 0;
}

_public_ uint64_t bus_message_get_deadline(bus_message *m) {
        return m && m->received && !m->synthetic && m->header.type == BUS_MESSAGE_METHOD_CALL
                       ? m->header.deadline_ns
                       : 0;
}

/* Only what the broker let through: ORIGIN on a message that also carries
 * the bridge flag (the broker refuses ORIGIN from anyone else, PROTOCOL.md
 * 3.3; checking both does not trust one alone). */
_public_ int bus_message_get_remote_origin(bus_message *m, const char **ret_host, uid_t *ret_uid,
                                           const char **ret_unique_name) {
        const char *unique;
        size_t host_len, unique_len;
        uint32_t uid;

        if (!m)
                return -EINVAL;
        if (!m->received || m->synthetic || !m->fields.origin ||
            !(m->header.sender_reserved & BUS_SENDER_FLAG_BRIDGE))
                return -ENODATA;
        if (!bus_origin_parse(m->fields.origin, &host_len, &uid, &unique))
                return -EBADMSG; /* cannot happen: the field was parsed on receipt */
        if (!m->origin_split) {
                unique_len = strlen(unique);
                m->origin_split = malloc(host_len + 1 + unique_len + 1);
                if (!m->origin_split)
                        return -ENOMEM;
                memcpy(m->origin_split, m->fields.origin, host_len);
                m->origin_split[host_len] = '\0';
                memcpy(m->origin_split + host_len + 1, unique, unique_len + 1);
        }
        if (ret_host)
                *ret_host = m->origin_split;
        if (ret_uid)
                *ret_uid = (uid_t)uid;
        if (ret_unique_name)
                *ret_unique_name = m->origin_split + host_len + 1;
        return 0;
}

/* The message bytes as received (capture tools write them out unchanged). */
_public_ int bus_message_get_raw(bus_message *m, const void **ret_data, size_t *ret_size) {
        if (!m || !ret_data || !ret_size)
                return -EINVAL;
        if (!m->received || m->synthetic || !m->data)
                return -ENODATA;
        *ret_data = m->data;
        *ret_size = BUS_HEADER_SIZE + (size_t)m->header.fields_len + (size_t)m->header.body_len;
        return 0;
}

/* ---- Wire --------------------------------------------------------------------------- */

static void message_render_sender(bus_message *m) {
        if (m->header.sender_id == BUS_DRIVER_ID)
                strcpy(m->sender, BUS_DRIVER_NAME);
        else
                bus_unique_name_format(m->header.sender_id, m->sender);
}

OutItem *outitem_new(size_t size) {
        OutItem *item = malloc(sizeof(*item) + size);

        if (!item)
                return NULL;
        memset(item, 0, sizeof(*item));
        item->data = item->buf;
        return item;
}

OutItem *outitem_free(OutItem *item) {
        if (!item)
                return NULL;
        for (unsigned i = 0; i < item->n_fds; i++)
                close(item->fds[i]);
        free(item);
        return NULL;
}

/* Append a sealed memfd copy of @len bytes at @data to @fds: a slice that
 * cannot travel as one (another connection, a second send). */
static int encode_slice_copy(OutItem *fds, uint64_t *sizes, unsigned *n, const void *data,
                             uint64_t len) {
        int fd;

        if (fds->n_fds >= BUS_FDS_MAX || len > SIZE_MAX)
                return -E2BIG;
        fd = payload_memfd_create(data, (size_t)len);
        if (fd < 0)
                return fd;
        fds->fds[fds->n_fds++] = fd;
        sizes[(*n)++] = len;
        return 0;
}

int message_encode(bus_message *m, uint64_t serial, uint64_t deadline_ns, bool use_payloads,
                   PoolSet *pools, OutItem **ret) {
        BusMessageSpec spec = {
                .type = m->header.type,
                .flags = m->header.flags & ~BUS_FLAG_BODY_IN_PAYLOAD,
                .serial = serial,
                .reply_serial = m->header.reply_serial,
                .deadline_ns = deadline_ns,
                .destination = m->fields.destination,
                .path = m->fields.path,
                .interface = m->fields.interface,
                .member = m->fields.member,
                .error_name = m->fields.error_name,
                .key = m->fields.key,
                .origin = m->fields.origin,
                .body = m->body,
                .body_len = m->body_len,
        };
        uint64_t payload_sizes[BUS_FDS_MAX], size;
        unsigned n_payloads = 0;
        OutItem fds = { 0 }, *item; /* the fds first, then the item with its bytes */
        size_t len;
        int r;

        BusSlice wire[BUS_FDS_MAX];
        unsigned n_wire = 0;
        /* Slices travel as such once, on the connection they were made for,
         * and only after every fd payload (else they become memfds). */
        bool use_slices = pools && m->pools == pools && !m->slices_sent;

        if ((m->n_payloads > 0 || m->n_slices > 0) && !use_payloads)
                return -EOPNOTSUPP; /* the broker did not offer payloads */
        if (m->body_in_slice && use_slices && m->n_payloads == 0 && m->n_slices < BUS_FDS_MAX) {
                wire[n_wire++] = (BusSlice){ .pool = m->body_slice.pool,
                                             .offset = m->body_slice.offset,
                                             .length = m->body_slice.length };
                spec.flags |= BUS_FLAG_BODY_IN_PAYLOAD;
                spec.body = NULL;
                spec.body_len = 0;
        } else if (m->body_in_slice && use_payloads && m->n_payloads + m->n_slices < BUS_FDS_MAX) {
                r = encode_slice_copy(&fds, payload_sizes, &n_payloads, m->body, m->body_len);
                if (r < 0)
                        return r;
                spec.flags |= BUS_FLAG_BODY_IN_PAYLOAD;
                spec.body = NULL;
                spec.body_len = 0;
        } else if (m->body_in_slice && m->body_len > BUS_BODY_INLINE_MAX) {
                return -EMSGSIZE;
        }

        /* Large bodies travel in a sealed memfd (BUS_BODY_INLINE_THRESHOLD),
         * as payload 0 if there is room beside the application's payloads. */
        if (m->body_fd >= 0 && use_payloads && m->n_payloads < BUS_FDS_MAX) {
                r = fcntl(m->body_fd, F_DUPFD_CLOEXEC, 3);
                if (r < 0)
                        return -errno;
                fds.fds[fds.n_fds++] = r;
                payload_sizes[n_payloads++] = m->body_len;
                spec.flags |= BUS_FLAG_BODY_IN_PAYLOAD;
                spec.body = NULL;
                spec.body_len = 0;
        } else if (spec.body_len > BUS_BODY_INLINE_MAX) {
                return -EMSGSIZE;
        } else if (m->body_fd >= 0) {
                /* A broker without memfds, or 16 payloads already: inline. */
                spec.body = message_body_bytes(m);
                if (!spec.body)
                        return -ENOMEM;
        }
        r = payload_encode(m, &fds, payload_sizes, &n_payloads);
        if (r < 0)
                goto fail;
        for (unsigned i = 0; i < m->n_slices; i++) {
                if (use_slices) {
                        wire[n_wire++] = (BusSlice){ .pool = m->slices[i].pool,
                                                     .offset = m->slices[i].offset,
                                                     .length = m->slices[i].length };
                        continue;
                }
                r = encode_slice_copy(&fds, payload_sizes, &n_payloads, m->slices[i].data,
                                      m->slices[i].length);
                if (r < 0)
                        goto fail;
        }
        if (n_payloads > 0) {
                spec.payload_sizes = payload_sizes;
                spec.n_payloads = n_payloads;
        }
        if (n_wire > 0) {
                spec.slices = wire;
                spec.n_slices = n_wire;
        }

        size = bus_message_encoded_size(&spec);
        r = -EMSGSIZE;
        if (size > BUS_MESSAGE_INLINE_MAX)
                goto fail;
        r = -ENOMEM;
        item = outitem_new((size_t)size);
        if (!item)
                goto fail;
        /* Fields were checked by message_set_field(), bodies when set. */
        r = bus_message_encode_prevalidated(&spec, item->data, size, &len);
        if (r != 0) {
                client_debug("refusing to send message: %s", bus_proto_strerror(r));
                outitem_free(item);
                r = -EINVAL;
                goto fail;
        }
        memcpy(item->fds, fds.fds, sizeof(fds.fds[0]) * fds.n_fds);
        item->n_fds = fds.n_fds;
        item->len = len;
        m->header.serial = serial;
        m->header.deadline_ns = deadline_ns;
        if (n_wire > 0) {
                /* From now on the broker releases them (SlicesReleased). */
                if (spec.flags & BUS_FLAG_BODY_IN_PAYLOAD && m->body_in_slice && n_payloads == 0)
                        pool_slice_sent(pools, &m->body_slice);
                for (unsigned i = 0; i < m->n_slices; i++)
                        pool_slice_sent(pools, &m->slices[i]);
                m->slices_sent = true;
        }
        *ret = item;
        return 0;

fail:
        for (unsigned i = 0; i < fds.n_fds; i++)
                close(fds.fds[i]);
        return r;
}

int message_new_received(bus_message **ret, uint8_t *data, size_t len, int *fds, unsigned n_fds) {
        bus_message *m;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m) {
                free(data);
                r = -ENOMEM;
                goto close_fds;
        }
        m->n_ref = 1;
        m->received = true;
        m->body_fd = -1;
        m->data = data;
        m->wire_len = len;
        memcpy(&m->header, data, sizeof(m->header));

        /* Framing checked the header already; check fields and per-type rules
         * before anything is used. */
        if (len < BUS_HEADER_SIZE + (uint64_t)m->header.fields_len + m->header.body_len ||
            bus_fields_parse(data + BUS_HEADER_SIZE, m->header.fields_len, &m->fields) != 0 ||
            bus_message_check(&m->header, &m->fields) != 0 || m->header.n_fds != n_fds) {
                r = -EBADMSG;
                goto fail;
        }
        message_render_sender(m);

        if ((m->header.flags & BUS_FLAG_BODY_IN_PAYLOAD) && n_fds == 0) {
                /* The body is slice 0 (PROTOCOL.md 3.6): resolved against
                 * the connection's pools by pool_on_received(), copied out
                 * when first read. */
                if (m->fields.slices[0].length > SIZE_MAX) {
                        r = -EFBIG;
                        goto fail;
                }
                m->body_len = (size_t)m->fields.slices[0].length;
        } else if (m->header.flags & BUS_FLAG_BODY_IN_PAYLOAD) {
                /* fields.n_payloads == n_fds >= 1 is guaranteed by bus_message_check.
                 * Kept unmapped and unjudged until the body is read
                 * (message_body_bytes()): a receiver that never reads it pays
                 * nothing, and one that does gets NULL for a refused payload. */
                if (m->fields.payload_sizes[0] > SIZE_MAX) {
                        r = -EFBIG;
                        goto fail;
                }
                m->body_fd = fds[0];
                fds[0] = -1;
                m->body_len = (size_t)m->fields.payload_sizes[0];
        } else {
                m->body = (const char *)data + BUS_HEADER_SIZE + m->header.fields_len;
                m->body_len = m->header.body_len;
        }

        /* Application payloads stay open for bus_message_get_payload(). */
        payload_take_received(m, fds, m->header.flags & BUS_FLAG_BODY_IN_PAYLOAD ? 1 : 0, n_fds);
        *ret = m;
        return 0;

fail:
        bus_message_unref(m);
close_fds:
        for (unsigned i = 0; i < n_fds; i++)
                close(fds[i]);
        return r;
}

static int message_new_synthetic(bus_message **ret, uint8_t type, json_t *body) {
        bus_message *m;
        int r;

        r = message_new(&m, type);
        if (r < 0)
                return r;
        r = bus_message_set_body(m, body);
        if (r < 0) {
                bus_message_unref(m);
                return r;
        }
        m->received = true;
        m->synthetic = true;
        m->header.sender_id = BUS_DRIVER_ID;
        message_render_sender(m);
        *ret = m;
        return 0;
}

int message_new_synthetic_error(bus_message **ret, uint64_t reply_serial, const char *name,
                                const char *text) {
        bus_message *m;
        json_t *body;
        int r;

        body = json_pack("{s:s}", "message", text ? text : "");
        if (!body)
                return -ENOMEM;
        r = message_new_synthetic(&m, BUS_MESSAGE_ERROR, body);
        json_decref(body);
        if (r < 0)
                return r;
        m->received = false; /* allow setting fields */
        r = message_set_field(m, BUS_FIELD_ERROR_NAME, name);
        m->received = true;
        if (r < 0) {
                bus_message_unref(m);
                return r;
        }
        m->header.reply_serial = reply_serial;
        *ret = m;
        return 0;
}

/* A signal the library makes itself, from @path and @interface. */
static int synthetic_signal_new(bus_message **ret, const char *path, const char *interface,
                                const char *member, json_t *body) {
        bus_message *m;
        int r;

        r = message_new_synthetic(&m, BUS_MESSAGE_SIGNAL, body);
        if (r < 0)
                return r;
        m->received = false;
        if ((r = message_set_field(m, BUS_FIELD_PATH, path)) < 0 ||
            (r = message_set_field(m, BUS_FIELD_INTERFACE, interface)) < 0 ||
            (r = message_set_field(m, BUS_FIELD_MEMBER, member)) < 0) {
                bus_message_unref(m);
                return r;
        }
        m->received = true;
        *ret = m;
        return 0;
}

int message_new_synthetic_signal(bus_message **ret, const char *member, json_t *body) {
        return synthetic_signal_new(ret, BUS_DRIVER_PATH, BUS_DRIVER_INTERFACE, member, body);
}

int message_new_local_signal(bus_message **ret, const char *member, json_t *body) {
        bus_message *m;
        int r;

        r = synthetic_signal_new(&m, BUS_LOCAL_PATH, BUS_LOCAL_INTERFACE, member, body);
        if (r < 0)
                return r;
        /* Not the bus: a name under the bus's reserved prefix that no peer
         * can own, so a sender='org.busd.Bus' rule never selects it. */
        _Static_assert(sizeof(BUS_LOCAL_NAME) <= sizeof(m->sender), "sender buffer too small");
        strcpy(m->sender, BUS_LOCAL_NAME);
        *ret = m;
        return 0;
}
