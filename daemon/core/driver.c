/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * driver.c — the methods of org.busd.Bus (PROTOCOL.md section 7). Arguments
 * are parsed with jansson (duplicate keys rejected); each method returns its
 * result object or fills a DriverError. Signals a method causes are queued
 * before its reply.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activation/activation.h"
#include "core/driver.h"
#include "core/access.h"
#include "process/log.h"
#include "core/monitor.h"
#include "core/pool-routing.h"
#include "registry/replies.h"
#include "common/util.h"

#define RESERVED_PREFIX "org.busd."

typedef struct DriverError {
        const char *name;
        char message[BUS_DRIVER_TEXT_MAX]; /* driver_send_error() makes it valid UTF-8 */
} DriverError;

/* A peer-given string in an error text: its first 64 bytes at most, cut on
 * a character boundary ("\"%.*s\"", QUOTE(name)). */
#define QUOTE(s) (int)bus_utf8_cut((s), 64), (s)

typedef json_t *(*DriverMethodFn)(Bus *bus, Peer *sender, json_t *args, DriverError *e);

/* A method's result meaning "answered later, by whoever took the call over"
 * (StartServiceByName: activation answers it). jansson's null singleton: no
 * method answers a bare null. */
#define DRIVER_DEFERRED json_null()

/* The call driver_dispatch() is executing, for a method that takes it over
 * (DRIVER_DEFERRED); NULL otherwise. The bus has one thread. */
static Message *dispatching;

static json_t *fail(DriverError *e, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static json_t *fail(DriverError *e, const char *name, const char *fmt, ...) {
        va_list ap;

        e->name = name;
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof(e->message), fmt, ap);
        va_end(ap);
        return NULL;
}

static json_t *oom(DriverError *e) {
        return fail(e, BUS_ERR_FAILED, "out of memory");
}

/* ---- argument helpers ----------------------------------------------------- */

static bool arg_string(json_t *args, const char *key, const char **ret, DriverError *e) {
        json_t *v = json_object_get(args, key);

        if (!json_is_string(v)) {
                fail(e, BUS_ERR_INVALID_ARGS, "argument \"%s\" must be a string", key);
                return false;
        }
        *ret = json_string_value(v);
        return true;
}

static bool arg_uint(json_t *args, const char *key, uint64_t *ret, DriverError *e) {
        json_t *v = json_object_get(args, key);

        if (!json_is_integer(v) || json_integer_value(v) < 0) {
                fail(e, BUS_ERR_INVALID_ARGS, "argument \"%s\" must be a non-negative integer", key);
                return false;
        }
        *ret = (uint64_t)json_integer_value(v);
        return true;
}

/* A "name" argument that must be a valid bus name. */
static bool arg_bus_name(json_t *args, const char **ret, DriverError *e) {
        if (!arg_string(args, "name", ret, e))
                return false;
        if (strlen(*ret) > BUS_NAME_MAX || !bus_name_is_valid(*ret)) {
                fail(e, BUS_ERR_INVALID_ARGS, "\"%.*s\" is not a valid bus name", QUOTE(*ret));
                return false;
        }
        return true;
}

static bool is_driver_name(const char *name) {
        return strcmp(name, BUS_DRIVER_NAME) == 0;
}

/* The running peer called @name, or NULL with NameHasNoOwner in @e. */
static Peer *lookup(Bus *bus, const char *name, DriverError *e) {
        Peer *p = bus_resolve(bus, name);

        if (!p)
                fail(e, BUS_ERR_NAME_HAS_NO_OWNER, "\"%.*s\" has no owner", QUOTE(name));
        return p;
}

/* ---- methods --------------------------------------------------------------- */

/* A name change refused because its announcement would pass the requester's
 * share of some watcher's queue (driver.h). */
static json_t *watchers_behind(Bus *bus, Peer *sender, const char *name, DriverError *e) {
        log_peer(LOG_CLASS_DENIED, LOG_NOTICE, sender->name, sender->creds.uid, sender->creds.pid,
                 "LimitsExceeded", "change of %.*s refused: its watchers are behind", QUOTE(name));
        return fail(e, BUS_ERR_LIMITS_EXCEEDED,
                    "\"%.*s\" not changed: a peer watching it has not read this connection's "
                    "earlier announcements (its fair share of that peer's queue is used)",
                    QUOTE(name));
}

static json_t *method_request_name(Bus *bus, Peer *sender, json_t *args, DriverError *e) {
        const char *name;
        uint64_t flags;
        int r;

        if (!arg_string(args, "name", &name, e) || !arg_uint(args, "flags", &flags, e))
                return NULL;
        if (strlen(name) > BUS_NAME_MAX || !bus_wellknown_name_is_valid(name))
                return fail(e, BUS_ERR_INVALID_ARGS, "\"%.*s\" is not a valid well-known name",
                            QUOTE(name));
        if (flags & ~(uint64_t)NAME_FLAGS_KNOWN)
                return fail(e, BUS_ERR_INVALID_ARGS, "unknown flags 0x%llx",
                            (unsigned long long)flags);
        if (strncmp(name, RESERVED_PREFIX, strlen(RESERVED_PREFIX)) == 0) {
                log_peer(LOG_CLASS_DENIED, LOG_NOTICE, sender->name, sender->creds.uid,
                         sender->creds.pid, "AccessDenied", "requested reserved name %s", name);
                return fail(e, BUS_ERR_ACCESS_DENIED, "names starting with \"%s\" are reserved",
                            RESERVED_PREFIX);
        }
        if (!access_open(bus, POLICY_OWN)) {
                char text[ACCESS_TEXT_MAX];

                if (!access_own(bus, sender, name, text, sizeof(text)))
                        return fail(e, BUS_ERR_ACCESS_DENIED, "%s", text);
        }
        if (name_registry_get_owner(bus->names, name) != sender->id &&
            name_registry_count_owner(bus->names, sender->id) >= bus->config.names_per_connection) {
                log_peer(LOG_CLASS_DENIED, LOG_NOTICE, sender->name, sender->creds.uid,
                         sender->creds.pid, "LimitsExceeded", "too many names (limit %u)",
                         bus->config.names_per_connection);
                return fail(e, BUS_ERR_LIMITS_EXCEEDED, "too many names (limit %u)",
                            bus->config.names_per_connection);
        }
        if (name_registry_get_owner(bus->names, name) != sender->id &&
            !bus_uid_share_allows(bus, sender, &sender->uid_usage->names,
                                  bus->config.names_per_uid,
                                  name_registry_count_owner(bus->names, sender->id),
                                  "names_per_uid"))
                return fail(e, BUS_ERR_LIMITS_EXCEEDED,
                            "this connection's share of its uid's names is used "
                            "(limits.names_per_uid %llu)",
                            (unsigned long long)bus->config.names_per_uid);
        /* Already the owner: nothing will be announced. */
        if (name_registry_get_owner(bus->names, name) != sender->id &&
            !driver_name_change_fits(bus, sender, name))
                return watchers_behind(bus, sender, name, e);
        bus->announcing_for = sender->id;
        r = name_registry_request(bus->names, name, sender->id, (unsigned)flags,
                                  driver_name_changed, bus);
        bus->announcing_for = 0;
        if (r < 0)
                return oom(e);
        return json_pack("{s:i}", "result", r);
}

static json_t *method_release_name(Bus *bus, Peer *sender, json_t *args, DriverError *e) {
        const char *name;
        int r;

        if (!arg_string(args, "name", &name, e))
                return NULL;
        if (strlen(name) > BUS_NAME_MAX || !bus_wellknown_name_is_valid(name))
                return fail(e, BUS_ERR_INVALID_ARGS, "\"%.*s\" is not a valid well-known name",
                            QUOTE(name));
        /* Only the owner's release changes the owner (leaving a queue is
         * announced to nobody). */
        if (name_registry_get_owner(bus->names, name) == sender->id &&
            !driver_name_change_fits(bus, sender, name))
                return watchers_behind(bus, sender, name, e);
        bus->announcing_for = sender->id;
        r = name_registry_release(bus->names, name, sender->id, driver_name_changed, bus);
        bus->announcing_for = 0;
        if (r < 0)
                return oom(e);
        return json_pack("{s:i}", "result", r);
}

/* ListNames answers in pages (PROTOCOL.md 7): the names after a cursor in
 * bytewise order, at most LIST_NAMES_PAGE_MAX of them, so that the reply
 * fits in one message however many names peers hold. A page is chosen with
 * a bounded max-heap of the smallest names after the cursor, fed with the
 * unique names (at most one per connection) and the first page + 1
 * well-known names after the cursor, which the name registry keeps in
 * order: O((connections + page) x log(page) + log(names)) time, O(page)
 * memory, nothing copied. */
#define LIST_NAMES_PAGE_MAX 512u /* ~128 KiB: ~1 ms of the bus's only thread (was 4096 and
                                  * ~1 MiB: a pipeline of them stalled other peers, probe) */
/* Each name in the reply: at most BUS_NAME_MAX bytes, its quotes and comma. */
_Static_assert((uint64_t)LIST_NAMES_PAGE_MAX * (BUS_NAME_MAX + 3) + 2 * BUS_NAME_MAX + 64 <
                       BUS_BODY_INLINE_MAX,
               "a full ListNames page fits in an inline message");

typedef struct NamePage {
        const char *after; /* NULL: from the first name */
        const char **heap; /* max-heap by strcmp() of the smallest names seen */
        size_t n, cap;     /* cap = page size + 1: one more tells whether a next page exists */
} NamePage;

static void heap_swap(const char **h, size_t a, size_t b) {
        const char *t = h[a];

        h[a] = h[b];
        h[b] = t;
}

static void page_offer(NamePage *pg, const char *name) {
        const char **h = pg->heap;
        size_t i;

        if (pg->after && strcmp(name, pg->after) <= 0)
                return;
        if (pg->n < pg->cap) {
                /* sift up */
                for (i = pg->n++, h[i] = name; i > 0 && strcmp(h[(i - 1) / 2], h[i]) < 0;
                     i = (i - 1) / 2)
                        heap_swap(h, i, (i - 1) / 2);
                return;
        }
        if (strcmp(name, h[0]) >= 0)
                return;
        /* replace the largest, sift down */
        h[0] = name;
        for (i = 0;;) {
                size_t l = 2 * i + 1, r = l + 1, m = i;

                if (l < pg->n && strcmp(h[l], h[m]) > 0)
                        m = l;
                if (r < pg->n && strcmp(h[r], h[m]) > 0)
                        m = r;
                if (m == i)
                        break;
                heap_swap(h, i, m);
                i = m;
        }
}

static void page_offer_name(const char *name, uint64_t owner, void *userdata) {
        page_offer(userdata, name);
}

static int name_cmp(const void *a, const void *b) {
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ListNames {"after"?: str, "limit"?: uint}: {"names": [...], "next": str or
 * null}. */
static json_t *method_list_names(Bus *bus, Peer *sender, json_t *args, DriverError *e) {
        NamePage pg = { 0 };
        uint64_t limit = LIST_NAMES_PAGE_MAX;
        size_t state = 0, n;
        json_t *names, *next;
        void *v;

        if (json_object_get(args, "after")) {
                if (!arg_string(args, "after", &pg.after, e))
                        return NULL;
                if (strlen(pg.after) > BUS_NAME_MAX)
                        return fail(e, BUS_ERR_INVALID_ARGS,
                                    "argument \"after\" must be a name of at most %u bytes",
                                    BUS_NAME_MAX);
        }
        if (json_object_get(args, "limit")) {
                if (!arg_uint(args, "limit", &limit, e))
                        return NULL;
                if (limit == 0)
                        return fail(e, BUS_ERR_INVALID_ARGS,
                                    "argument \"limit\" must be at least 1");
                if (limit > LIST_NAMES_PAGE_MAX)
                        limit = LIST_NAMES_PAGE_MAX;
        }
        pg.cap = (size_t)limit + 1;
        pg.heap = calloc(pg.cap, sizeof(*pg.heap));
        if (!pg.heap)
                return oom(e);

        page_offer(&pg, BUS_DRIVER_NAME);
        while (hashmap_iterate(bus->peers, &state, &v)) {
                Peer *p = v;
                if (peer_is_running(p) && !p->monitor)
                        page_offer(&pg, p->name);
        }
        /* The well-known names after the cursor, in order: past the first
         * pg.cap of them none can be among the pg.cap smallest. */
        name_registry_foreach_after(bus->names, pg.after, pg.cap, page_offer_name, &pg);

        qsort(pg.heap, pg.n, sizeof(*pg.heap), name_cmp);
        n = pg.n > limit ? (size_t)limit : pg.n;
        names = json_array();
        for (size_t i = 0; names && i < n; i++)
                if (json_array_append_new(names, json_string(pg.heap[i])) < 0) {
                        json_decref(names);
                        names = NULL;
                }
        /* More names follow: the cursor for the next page is this page's last. */
        next = pg.n > limit ? json_string(pg.heap[n - 1]) : json_null();
        free(pg.heap);
        if (!names || !next) {
                json_decref(names);
                json_decref(next);
                return oom(e);
        }
        return json_pack("{s:o,s:o}", "names", names, "next", next);
}

/* A queue holds distinct connections: its reply always fits in a message,
 * so ListQueuedOwners needs no pages. */
_Static_assert((uint64_t)BUS_CONNECTIONS_MAX * (BUS_UNIQUE_NAME_BUF + 2) + 64 < BUS_BODY_INLINE_MAX,
               "the longest queue fits in a ListQueuedOwners reply");

static json_t *method_list_queued_owners(Bus *bus, Peer *sender, json_t *args, DriverError *e) {
        char buf[BUS_UNIQUE_NAME_BUF];
        const char *name;
        uint64_t *ids;
        json_t *owners;
        size_t n;

        if (!arg_bus_name(args, &name, e))
                return NULL;
        if (is_driver_name(name))
                return json_pack("{s:[s]}", "owners", BUS_DRIVER_NAME);
        if (name[0] == ':') {
                Peer *p = lookup(bus, name, e);
                return p ? json_pack("{s:[s]}", "owners", p->name) : NULL;
        }
        n = name_registry_get_queue(bus->names, name, NULL, 0);
        if (n == 0)
                return fail(e, BUS_ERR_NAME_HAS_NO_OWNER, "\"%.*s\" has no owner", QUOTE(name));
        ids = calloc(n, sizeof(*ids));
        owners = json_array();
        if (!ids || !owners) {
                free(ids);
                json_decref(owners);
                return oom(e);
        }
        n = name_registry_get_queue(bus->names, name, ids, n);
        for (size_t i = 0; i < n; i++) {
                bus_unique_name_format(ids[i], buf);
                json_array_append_new(owners, json_string(buf));
        }
        free(ids);
        return json_pack("{s:o}", "owners", owners);
}

static json_t *method_get_name_owner(Bus *bus, Peer *sender, json_t *args, DriverError *e) {
        const char *name;
        Peer *p;

        if (!arg_bus_name(args, &name, e))
                return NULL;
        if (is_driver_name(name))
                return json_pack("{s:s}", "owner", BUS_DRIVER_NAME);
        p = lookup(bus, name, e);
        return p ? json_pack("{s:s}", "owner", p->name) : NULL;
}

static json_t *method_name_has_owner(Bus *bus, Peer *sender, json_t *args, DriverError *e) {
        const char *name;

        if (!arg_bus_name(args, &name, e))
                return NULL;
        return json_pack("{s:b}", "has_owner", is_driver_name(name) || bus_resolve(bus, name));
}

static json_t *parse_rule(json_t *args, BusMatchRule *rule, DriverError *e) {
        const char *text;
        int r;

        if (!arg_string(args, "rule", &text, e))
                return NULL;
        if (strlen(text) > BUS_MATCH_RULE_MAX)
                return fail(e, BUS_ERR_INVALID_ARGS, "match rule longer than %u bytes",
                            BUS_MATCH_RULE_MAX);
        r = bus_match_rule_parse(text, rule);
        if (r != 0)
                return fail(e, BUS_ERR_INVALID_ARGS, "invalid match rule: %s", bus_match_strerror(r));
        return args;
}

static json_t *method_add_match(Bus *bus, Peer *sender, json_t *args, DriverError *e) {
        BusMatchRule rule;
        const char *why;

        if (!parse_rule(args, &rule, e))
                return NULL;
        /* A rule that can never select a broadcast would only cost every
         * broadcast a check (PROTOCOL.md 6): refused. */
        why = match_rule_never_broadcast(&rule);
        if (why)
                return fail(e, BUS_ERR_INVALID_ARGS,
                            "match rule can never match: match rules select broadcast signals, "
                            "and %s",
                            why);
        if (match_registry_count_owner(bus->matches, sender->id) >=
            bus->config.matches_per_connection) {
                log_peer(LOG_CLASS_DENIED, LOG_NOTICE, sender->name, sender->creds.uid,
                         sender->creds.pid, "LimitsExceeded", "too many match rules");
                return fail(e, BUS_ERR_LIMITS_EXCEEDED, "too many match rules (limit %u)",
                            bus->config.matches_per_connection);
        }
        if (!bus_uid_share_allows(bus, sender, &sender->uid_usage->matches,
                                  bus->config.matches_per_uid,
                                  match_registry_count_owner(bus->matches, sender->id),
                                  "matches_per_uid"))
                return fail(e, BUS_ERR_LIMITS_EXCEEDED,
                            "this connection's share of its uid's match rules is used "
                            "(limits.matches_per_uid %llu)",
                            (unsigned long long)bus->config.matches_per_uid);
        if (match_registry_add(bus->matches, sender->id, &rule) < 0)
                return oom(e);
        return json_object();
}

static json_t *method_remove_match(Bus *bus, Peer *sender, json_t *args, DriverError *e) {
        BusMatchRule rule;

        if (!parse_rule(args, &rule, e))
                return NULL;
        if (match_registry_remove(bus->matches, sender->id, &rule) < 0)
                return fail(e, BUS_ERR_MATCH_RULE_NOT_FOUND, "the caller has no such match rule");
        return json_object();
}

/* BecomeMonitor {"rules": [str…]}: see monitor.h. The reply is the last
 * message the connection gets as a peer; copies follow it. */
static json_t *method_become_monitor(Bus *bus, Peer *sender, json_t *args, DriverError *e) {
        json_t *list = json_object_get(args, "rules"), *v;
        BusMatchRule *rules = NULL;
        size_t n, i;
        int r;

        if (!access_open(bus, POLICY_MONITOR)) {
                char text[ACCESS_TEXT_MAX];

                if (!access_monitor(bus, sender, text, sizeof(text)))
                        return fail(e, BUS_ERR_ACCESS_DENIED, "%s", text);
        }
        if (!json_is_array(list))
                return fail(e, BUS_ERR_INVALID_ARGS,
                            "argument \"rules\" must be an array of strings");
        n = json_array_size(list);
        if (n > bus->config.monitor_rules)
                return fail(e, BUS_ERR_LIMITS_EXCEEDED,
                            "too many match rules for a monitor (limit %u)",
                            bus->config.monitor_rules);
        if (n > 0 && !(rules = calloc(n, sizeof(*rules))))
                return oom(e);
        json_array_foreach (list, i, v) {
                const char *text = json_string_value(v);

                if (!text || strlen(text) > BUS_MATCH_RULE_MAX) {
                        free(rules);
                        return fail(e, BUS_ERR_INVALID_ARGS,
                                    "rule %zu is not a string of at most %u bytes", i,
                                    BUS_MATCH_RULE_MAX);
                }
                r = bus_match_rule_parse(text, &rules[i]);
                if (r != 0) {
                        free(rules);
                        return fail(e, BUS_ERR_INVALID_ARGS, "invalid match rule %zu: %s", i,
                                    bus_match_strerror(r));
                }
        }
        r = monitor_attach(bus, sender, rules, n);
        free(rules);
        if (r == MONITOR_E_BUS_LIMIT || r == MONITOR_E_UID_LIMIT) {
                log_peer(LOG_CLASS_DENIED, LOG_NOTICE, sender->name, sender->creds.uid,
                         sender->creds.pid, "LimitsExceeded", "too many monitors");
                if (r == MONITOR_E_BUS_LIMIT)
                        return fail(e, BUS_ERR_LIMITS_EXCEEDED,
                                    "too many monitors on the bus (limit %u)", bus->config.monitors);
                return fail(e, BUS_ERR_LIMITS_EXCEEDED, "too many monitors for uid %lu (limit %u)",
                            (unsigned long)sender->creds.uid, bus->config.monitors_per_uid);
        }
        if (r < 0)
                return oom(e);
        return json_object();
}

/* BecomeBridge {}: the caller is busd-bridge; from now on the broker stamps
 * BUS_SENDER_FLAG_BRIDGE on what it sends (docs/BRIDGE.md). Only root and
 * the bus's own uid may (anyone else could make its calls look remote,
 * whatever the policy says: the policy's "bridge" action can only narrow
 * that down). */
static json_t *method_become_bridge(Bus *bus, Peer *sender, json_t *args, DriverError *e) {
        char why[ACCESS_TEXT_MAX];

        if (sender->creds.uid != 0 && sender->creds.uid != bus->uid) {
                log_peer(LOG_CLASS_DENIED, LOG_NOTICE, sender->name, sender->creds.uid,
                         sender->creds.pid, "AccessDenied", "BecomeBridge by an unprivileged uid");
                return fail(e, BUS_ERR_ACCESS_DENIED,
                            "only root and the bus's own uid may become a bridge");
        }
        if (!access_bridge(bus, sender, why, sizeof(why)))
                return fail(e, BUS_ERR_ACCESS_DENIED, "%s", why);
        if (!sender->bridge)
                log_peer(LOG_CLASS_NONE, LOG_INFO, sender->name, sender->creds.uid,
                         sender->creds.pid, "bridge", "the connection is a bridge from now on");
        peer_become_bridge(sender);
        return json_object();
}

static json_t *method_get_credentials(Bus *bus, Peer *sender, json_t *args, DriverError *e) {
        const char *name;
        json_t *o, *groups;
        Peer *p;

        if (!arg_bus_name(args, &name, e))
                return NULL;
        if (is_driver_name(name)) {
                BusHeader h;
                memcpy((uint8_t *)&h + BUS_SENDER_BLOCK_OFFSET, bus->sender_block,
                       BUS_SENDER_BLOCK_SIZE);
                return json_pack("{s:s,s:I,s:I,s:[],s:I,s:I}", "unique_name", BUS_DRIVER_NAME,
                                 "uid", (json_int_t)h.sender_uid, "gid", (json_int_t)h.sender_gid,
                                 "groups", "pid", (json_int_t)h.sender_pid, "pid_id",
                                 (json_int_t)h.sender_pid_id);
        }
        p = lookup(bus, name, e);
        if (!p)
                return NULL;
        groups = json_array();
        if (!groups)
                return oom(e);
        for (size_t i = 0; i < p->creds.n_groups; i++)
                json_array_append_new(groups, json_integer((json_int_t)p->creds.groups[i]));
        o = json_pack("{s:s,s:I,s:I,s:o,s:I,s:I,s:I}", "unique_name", p->name, "uid",
                      (json_int_t)p->creds.uid, "gid", (json_int_t)p->creds.gid, "groups", groups,
                      "pid", (json_int_t)p->creds.pid, "pid_id", (json_int_t)p->creds.pid_id,
                      "start_time", (json_int_t)p->creds.start_time);
        if (o && p->creds.label)
                json_object_set_new(o, "security_label", json_string(p->creds.label));
        return o ? o : oom(e);
}

static json_t *method_get_id(Bus *bus, Peer *sender, json_t *args, DriverError *e) {
        return json_pack("{s:s}", "id", bus->id_hex);
}

static json_t *method_ping(Bus *bus, Peer *sender, json_t *args, DriverError *e) {
        return json_object();
}

typedef struct Counter {
        const char *name;
        uint64_t value;
} Counter;

/* Add integer members to @o; false on allocation failure. */
static bool set_counters(json_t *o, const Counter *c, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (json_object_set_new(o, c[i].name, json_integer((json_int_t)c[i].value)) < 0)
                        return false;
        return true;
}

/* "payload_fds_by_uid": {"UID": fds, ...} for every uid the broker holds
 * payload fds for (received or queued): each uid's part of the fd budget. */
static bool add_uid_fds(Bus *bus, json_t *o) {
        json_t *u = json_object();
        size_t state = 0;
        void *v;

        if (!u)
                return false;
        while (hashmap_iterate(bus->uids, &state, &v)) {
                const UidUsage *usage = v;
                char key[24];

                if (usage->fds == 0)
                        continue;
                snprintf(key, sizeof(key), "%llu", (unsigned long long)usage->uid);
                if (json_object_set_new(u, key, json_integer((json_int_t)usage->fds)) < 0) {
                        json_decref(u);
                        return false;
                }
        }
        return json_object_set_new(o, "payload_fds_by_uid", u) == 0;
}

/* "uids": {"UID": {...}} for every uid the broker holds something for:
 * what its connections together hold, against the limits.*_per_uid keys
 * (docs/DAEMON.md "Quotas per uid"), and how many requests were refused for
 * them. */
static bool add_uid_usage(Bus *bus, json_t *o) {
        json_t *all = json_object();
        size_t state = 0;
        void *v;

        if (!all)
                return false;
        while (hashmap_iterate(bus->uids, &state, &v)) {
                const UidUsage *u = v;
                char key[24];
                json_t *one = json_pack(
                        "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "connections",
                        (json_int_t)u->n_connections, "outgoing_bytes",
                        (json_int_t)u->out_bytes.total, "payload_bytes_in_flight",
                        (json_int_t)u->payload_bytes.total, "payload_fds_in_flight",
                        (json_int_t)u->payload_fds.total, "names", (json_int_t)u->names.total,
                        "match_rules", (json_int_t)u->matches.total, "pending_replies",
                        (json_int_t)u->replies.total, "refused", (json_int_t)u->refused);

                snprintf(key, sizeof(key), "%llu", (unsigned long long)u->uid);
                if (!one || json_object_set_new(all, key, one) < 0) {
                        json_decref(all);
                        return false;
                }
        }
        return json_object_set_new(o, "uids", all) == 0;
}

/* GetStats "policy_denials": {action: count} (docs/POLICY.md "Denials"). */
static bool add_policy_denials(Bus *bus, json_t *o) {
        Counter c[_POLICY_ACTION_MAX];
        json_t *d = json_object();

        for (int i = 0; i < _POLICY_ACTION_MAX; i++)
                c[i] = (Counter){ policy_action_to_string(i), bus->stats.policy_denials[i] };
        if (!d || !set_counters(d, c, ELEMENTSOF(c))) {
                json_decref(d);
                return false;
        }
        return json_object_set_new(o, "policy_denials", d) == 0;
}

static json_t *method_get_stats(Bus *bus, Peer *sender, json_t *args, DriverError *e) {
        const BusStats *s = &bus->stats;
        const Counter counters[] = {
                { "started_usec", bus->started_usec },
                { "peers", bus->n_peers },
                { "names", name_registry_size(bus->names) },
                { "match_rules", match_registry_size(bus->matches) },
                { "pending_replies", replies_total(bus->replies) },
                { "queued_messages", s->queue.messages },
                { "queued_bytes", s->queue.bytes },
                { "queued_messages_high_water", s->queue.messages_high_water },
                { "queued_bytes_high_water", s->queue.bytes_high_water },
                { "messages_routed", s->messages_routed },
                { "bytes_routed", s->bytes_routed },
                { "messages_dropped", s->messages_dropped },
                { "incomplete_connections", bus->n_incomplete },
                { "connections_refused", s->connections_refused },
                { "payload_bytes_in_flight", s->payload.bytes },
                { "payload_fds_in_flight", s->payload.fds },
                { "payloads_refused", s->payloads_refused },
                { "pool_releases_refused", s->pool_releases_refused },
                { "monitors", bus->n_monitors },
                /* the fd budget (docs/DAEMON.md "File descriptor budget") */
                { "fds_budget", bus->fds.limit },
                { "fds_in_use", quota_fds_in_use(&bus->fds) },
                { "fds_connections", bus->fds.connections },
                { "fds_received", bus->fds.received },
                { "fds_rlimit", bus->fds_rlimit },
                { "reads_without_fds", bus->reads_without_fds },
                /* the policy (docs/POLICY.md "Denials") */
                { "policy_rules", policy_n_rules(bus->policy) },
                { "policy_audit_denials", s->policy_audit_denials },
        };
        /* The hard protocol limits; the configurable ones come from the
         * active configuration (config_limits_to_json()). */
        const Counter fixed_limits[] = {
                { "message_inline_max", BUS_MESSAGE_INLINE_MAX },
                { "fds_per_message", BUS_FDS_MAX },
                { "payload_bytes_per_message", BUS_PAYLOAD_BYTES_PER_MESSAGE_MAX },
        };
        Counter disconnects[_DISCONNECT_REASON_MAX];
        json_t *o = json_object(), *d = json_object(), *l = config_limits_to_json(&bus->config);

        for (int i = 0; i < _DISCONNECT_REASON_MAX; i++)
                disconnects[i] = (Counter){ disconnect_reason_to_string(i), s->disconnects[i] };
        if (!o || !d || !l || !set_counters(o, counters, ELEMENTSOF(counters)) ||
            !set_counters(d, disconnects, ELEMENTSOF(disconnects)) ||
            !set_counters(l, fixed_limits, ELEMENTSOF(fixed_limits)) ||
            json_object_set_new(o, "version", json_string(PACKAGE_VERSION)) < 0 ||
            json_object_set_new(o, "id", json_string(bus->id_hex)) < 0) {
                json_decref(o);
                json_decref(d);
                json_decref(l);
                return oom(e);
        }
        json_object_set_new(o, "disconnects", d);
        json_object_set_new(o, "limits", l);
        if (bus->activation &&
            json_object_set_new(o, "activation", activation_stats(bus->activation)) < 0) {
                json_decref(o);
                return oom(e);
        }
        if (!add_uid_fds(bus, o) || !add_uid_usage(bus, o) || !add_policy_denials(bus, o)) {
                json_decref(o);
                return oom(e);
        }
        return o;
}

typedef struct NameLists {
        uint64_t id;
        json_t *owned;
        json_t *queued;
        Bus *bus;
} NameLists;

static void add_owned(const char *name, void *userdata) {
        NameLists *l = userdata;

        json_array_append_new(l->owned, json_string(name));
}

static void add_queued(const char *name, void *userdata) {
        NameLists *l = userdata;

        json_array_append_new(l->queued, json_string(name));
}

/* The GetConnectionStats result; consumes the name lists. */
static json_t *connection_stats(Bus *bus, Peer *p, NameLists *l, DriverError *e) {
        const Counter counters[] = {
                { "connected_usec", p->connected_usec },
                { "match_rules", match_registry_count_owner(bus->matches, p->id) },
                { "pending_replies", replies_count(&p->replies) },
                { "queued_messages", p->conn.out_len },
                { "queued_bytes", p->conn.out_bytes },
                { "messages_sent", p->messages_sent },
                { "messages_received", p->messages_received },
                { "messages_dropped", p->messages_dropped },
        };
        json_t *o = json_pack("{s:s,s:o,s:o}", "unique_name", p->name, "names", l->owned,
                              "queued_names", l->queued);

        if (!o || !set_counters(o, counters, ELEMENTSOF(counters))) {
                json_decref(o);
                return oom(e);
        }
        return o;
}

static json_t *method_get_connection_stats(Bus *bus, Peer *sender, json_t *args, DriverError *e) {
        NameLists l = { .bus = bus };
        const char *name;
        Peer *p;

        if (!arg_bus_name(args, &name, e))
                return NULL;
        p = lookup(bus, name, e);
        if (!p)
                return NULL;
        l.id = p->id;
        l.owned = json_array();
        l.queued = json_array();
        if (!l.owned || !l.queued) {
                json_decref(l.owned);
                json_decref(l.queued);
                return oom(e);
        }
        /* Both walk the peer's own names only (at most names_per_connection). */
        name_registry_foreach_owned(bus->names, p->id, add_owned, &l);
        name_registry_foreach_queued(bus->names, p->id, add_queued, &l);
        return connection_stats(bus, p, &l, e);
}

/* ReloadConfig {}: re-read the configuration file (bus_reload_config()).
 * Only root and the bus's own uid may: a reload changes every peer's limits. */
static json_t *method_reload_config(Bus *bus, Peer *sender, json_t *args, DriverError *e) {
        char *reason = NULL;
        int r;

        if (sender->creds.uid != 0 && sender->creds.uid != bus->uid) {
                log_peer(LOG_CLASS_DENIED, LOG_NOTICE, sender->name, sender->creds.uid,
                         sender->creds.pid, "AccessDenied", "ReloadConfig");
                return fail(e, BUS_ERR_ACCESS_DENIED,
                            "only root and the bus's own user may reload the configuration");
        }
        log_info("%s (uid %lu) asked to reload the configuration from %s", sender->name,
                 (unsigned long)sender->creds.uid, bus->config_path);
        r = bus_reload_config(bus, &reason);
        if (r == CONFIG_E_INVALID) {
                fail(e, BUS_ERR_CONFIG_INVALID, "%s", reason);
                free(reason);
                return NULL;
        }
        if (r < 0)
                return fail(e, BUS_ERR_FAILED, "cannot reload the configuration: %s", strerror(-r));
        return json_object();
}

/* ListActivatableNames {}: the names service files make activatable. */
static json_t *method_list_activatable_names(Bus *bus, Peer *sender, json_t *args,
                                             DriverError *e) {
        if (!bus->activation)
                return json_pack("{s:[]}", "names");
        return activation_list(bus->activation);
}

/* StartServiceByName {"name", "flags"?}: start the service of an activatable
 * name. {"result": 2} at once if the name has an owner; otherwise the answer
 * is activation's, {"result": 1} once the name is taken or the start's
 * failure (returned here as DRIVER_DEFERRED: no answer now). */
static json_t *method_start_service_by_name(Bus *bus, Peer *sender, json_t *args,
                                            DriverError *e) {
        Message *m = dispatching;
        const char *name;

        if (!arg_bus_name(args, &name, e))
                return NULL;
        if (is_driver_name(name) || bus_resolve(bus, name))
                return json_pack("{s:i}", "result", 2);
        if (name[0] == ':' || !bus->activation || !m ||
            activation_start_call(bus->activation, sender, m, name) != 0)
                return fail(e, BUS_ERR_SERVICE_UNKNOWN, "no service file makes %.*s activatable",
                            QUOTE(name));
        return DRIVER_DEFERRED;
}

/* GetActivation {"name"}: a name's activation state (busdctl status). */
static json_t *method_get_activation(Bus *bus, Peer *sender, json_t *args, DriverError *e) {
        const char *name;
        json_t *result = NULL;
        int r;

        if (!arg_string(args, "name", &name, e))
                return NULL;
        r = bus->activation ? activation_describe(bus->activation, name, &result)
                            : ACTIVATION_E_NOT_ACTIVATABLE;
        if (r == ACTIVATION_E_NOT_ACTIVATABLE)
                return fail(e, BUS_ERR_SERVICE_UNKNOWN, "no service file makes %.*s activatable",
                            QUOTE(name));
        return r < 0 ? oom(e) : result;
}

/* AddPool {"pool"} with the pool's fd (PROTOCOL.md 3.6, pool-routing.c). */
static json_t *method_add_pool(Bus *bus, Peer *sender, json_t *args, DriverError *e) {
        return pool_routing_add_pool(bus, sender, dispatching, args, &e->name, e->message,
                                     sizeof(e->message));
}

/* ReleaseSlices {"slices": [[owner, pool, offset, length]...]}. */
static json_t *method_release_slices(Bus *bus, Peer *sender, json_t *args, DriverError *e) {
        return pool_routing_release_slices(bus, sender, args, &e->name, e->message,
                                           sizeof(e->message));
}

static const struct {
        const char *member;
        DriverMethodFn fn;
} methods[] = {
        { "AddPool", method_add_pool },
        { "ReleaseSlices", method_release_slices },
        { "ListActivatableNames", method_list_activatable_names },
        { "GetActivation", method_get_activation },
        { "StartServiceByName", method_start_service_by_name },
        { "RequestName", method_request_name },
        { "ReleaseName", method_release_name },
        { "ListNames", method_list_names },
        { "ListQueuedOwners", method_list_queued_owners },
        { "GetNameOwner", method_get_name_owner },
        { "NameHasOwner", method_name_has_owner },
        { "AddMatch", method_add_match },
        { "RemoveMatch", method_remove_match },
        { "GetConnectionCredentials", method_get_credentials },
        { "GetId", method_get_id },
        { "Ping", method_ping },
        { "GetStats", method_get_stats },
        { "GetConnectionStats", method_get_connection_stats },
        { "BecomeMonitor", method_become_monitor },
        { "BecomeBridge", method_become_bridge },
        { "ReloadConfig", method_reload_config },
};

static json_t *driver_call(Bus *bus, Peer *sender, Message *m, DriverError *e) {
        const BusHeader *h = message_header(m);
        const BusFields *f = &m->fields;
        DriverMethodFn fn = NULL;
        json_error_t jerr;
        json_t *args, *result;

        if (strcmp(f->path, BUS_DRIVER_PATH) != 0)
                return fail(e, BUS_ERR_UNKNOWN_OBJECT, "no object at %.*s", QUOTE(f->path));
        if (f->interface && strcmp(f->interface, BUS_DRIVER_INTERFACE) != 0)
                return fail(e, BUS_ERR_UNKNOWN_INTERFACE, "no interface %.*s",
                            QUOTE(f->interface));
        for (size_t i = 0; i < ELEMENTSOF(methods); i++)
                if (strcmp(f->member, methods[i].member) == 0) {
                        fn = methods[i].fn;
                        break;
                }
        if (!fn)
                return fail(e, BUS_ERR_UNKNOWN_METHOD, "no method %.*s", QUOTE(f->member));
        if (h->flags & BUS_FLAG_BODY_IN_PAYLOAD)
                return fail(e, BUS_ERR_INVALID_ARGS, "arguments must be inline");
        /* Parsed on the bus's only thread: bounded before it is parsed. */
        if (h->body_len > bus->config.driver_call_bytes) {
                log_peer(LOG_CLASS_DENIED, LOG_NOTICE, sender->name, sender->creds.uid,
                         sender->creds.pid, "LimitsExceeded",
                         "driver call %s with %llu bytes of arguments", f->member,
                         (unsigned long long)h->body_len);
                return fail(e, BUS_ERR_LIMITS_EXCEEDED,
                            "arguments of %llu bytes are too long for a call to the bus "
                            "(limit driver_call_bytes %llu)",
                            (unsigned long long)h->body_len,
                            (unsigned long long)bus->config.driver_call_bytes);
        }

        if (h->body_len == 0) {
                args = json_object();
        } else {
                args = json_loadb((const char *)message_bytes(m) + BUS_HEADER_SIZE + h->fields_len,
                                  (size_t)h->body_len, JSON_REJECT_DUPLICATES, &jerr);
                if (!args)
                        return fail(e, BUS_ERR_INVALID_ARGS, "arguments are not valid JSON: %s",
                                    jerr.text);
        }
        if (!json_is_object(args)) {
                json_decref(args);
                return fail(e, BUS_ERR_INVALID_ARGS, "arguments must be a JSON object");
        }
        result = fn(bus, sender, args, e);
        json_decref(args);
        if (!result && !e->name)
                oom(e);
        return result;
}

void driver_dispatch(Bus *bus, Peer *sender, Message *m) {
        const BusHeader *h = message_header(m);
        DriverError e = { 0 };
        json_t *result;
        char *body;
        Message *reply;

        /* A call whose deadline has passed is answered Timeout and not
         * executed (DAEMON.md, as for calls to peers). */
        if (h->deadline_ns != 0 && h->deadline_ns <= clock_nsec(CLOCK_MONOTONIC)) {
                if (!(h->flags & BUS_FLAG_NO_REPLY_EXPECTED))
                        driver_send_error(bus, sender, h->serial, BUS_ERR_TIMEOUT,
                                          "the call's deadline passed before it was routed");
                else
                        bus->stats.messages_dropped++;
                return;
        }

        /* The bus's work for a peer is paced by what that peer reads: a
         * caller whose incoming queue is full (it does not read its answers)
         * gets a small LimitsExceeded instead of another answer built on the
         * bus's only thread, and nothing is executed (probe: pipelined
         * ListNames calls that nobody read stalled every other peer). */
        if (connection_is_over_limit(&sender->conn) ||
            connection_bytes_held_by(&sender->conn, 0) >= bus->config.driver_unread_bytes) {
                log_peer(LOG_CLASS_DENIED, LOG_NOTICE, sender->name, sender->creds.uid,
                         sender->creds.pid, "LimitsExceeded",
                         "%s not executed: the caller's incoming queue is full", m->fields.member);
                if (!(h->flags & BUS_FLAG_NO_REPLY_EXPECTED))
                        driver_send_error(bus, sender, h->serial, BUS_ERR_LIMITS_EXCEEDED,
                                          "not executed: your incoming queue is full (read the "
                                          "answers to your earlier calls first)");
                else
                        bus->stats.messages_dropped++;
                return;
        }

        dispatching = m;
        result = driver_call(bus, sender, m, &e);
        dispatching = NULL;
        if (result == DRIVER_DEFERRED)
                return;
        if (h->flags & BUS_FLAG_NO_REPLY_EXPECTED) {
                json_decref(result);
                return;
        }
        if (!result) {
                driver_send_error(bus, sender, h->serial, e.name, "%s", e.message);
                return;
        }
        body = json_dumps(result, JSON_COMPACT);
        json_decref(result);
        if (!body) {
                log_class(LOG_CLASS_NONE, LOG_WARNING, "cannot build the reply to %s of %s",
                          m->fields.member, sender->name);
                driver_send_error(bus, sender, h->serial, BUS_ERR_FAILED,
                                  "out of memory building the reply");
                return;
        }
        reply = driver_message_new(bus, &(BusMessageSpec){ .type = BUS_MESSAGE_METHOD_RETURN,
                                                           .serial = bus_next_serial(bus),
                                                           .reply_serial = h->serial,
                                                           .destination = sender->name,
                                                           .body = body,
                                                           .body_len = strlen(body) });
        free(body);
        if (!reply) {
                /* driver_message_new() logged why. */
                driver_send_error(bus, sender, h->serial, BUS_ERR_FAILED,
                                  "the bus could not build its reply to %s", m->fields.member);
                return;
        }
        driver_send(bus, sender, reply, PEER_SEND_SOLICITED);
        message_unref(reply);
}
