# SPDX-License-Identifier: LGPL-2.1-or-later
# Unit tests of the daemon's data structures: each test program compiles the
# module sources it tests directly. The allocator is wrapped (ld --wrap) so a
# test can make the n-th allocation fail and check nothing changed.

DAEMON_UNIT_INCLUDES = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon $(CHECK_CFLAGS)
DAEMON_UNIT_WRAP_ALLOC = $(AM_LDFLAGS) -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc

check_PROGRAMS += tests/test-hashmap tests/test-names tests/test-match
TESTS += tests/test-hashmap tests/test-names tests/test-match

tests_test_hashmap_SOURCES = tests/test-hashmap.c tests/alloc-fail.c tests/alloc-fail.h common/hashmap.c
tests_test_hashmap_CPPFLAGS = $(DAEMON_UNIT_INCLUDES)
tests_test_hashmap_LDFLAGS = $(DAEMON_UNIT_WRAP_ALLOC)
tests_test_hashmap_LDADD = $(CHECK_LIBS)

tests_test_names_SOURCES = tests/test-names.c tests/alloc-fail.c tests/alloc-fail.h daemon/registry/names.c common/hashmap.c
tests_test_names_CPPFLAGS = $(DAEMON_UNIT_INCLUDES)
tests_test_names_LDFLAGS = $(DAEMON_UNIT_WRAP_ALLOC)
tests_test_names_LDADD = $(CHECK_LIBS)

tests_test_match_SOURCES = tests/test-match.c tests/alloc-fail.c tests/alloc-fail.h daemon/registry/matches.c common/hashmap.c
tests_test_match_CPPFLAGS = $(DAEMON_UNIT_INCLUDES)
tests_test_match_LDFLAGS = $(DAEMON_UNIT_WRAP_ALLOC)
tests_test_match_LDADD = protocol/libbusprotocol.la $(CHECK_LIBS)

check_PROGRAMS += tests/test-quota
TESTS += tests/test-quota
tests_test_quota_SOURCES = tests/test-quota.c daemon/registry/quota.c common/hashmap.c
tests_test_quota_CPPFLAGS = $(DAEMON_UNIT_INCLUDES)
tests_test_quota_LDADD = $(CHECK_LIBS)

# The pending-reply registry alone, with a real event_base for its deadlines.
check_PROGRAMS += tests/test-replies
TESTS += tests/test-replies
tests_test_replies_SOURCES = tests/test-replies.c tests/alloc-fail.c tests/alloc-fail.h \
	daemon/registry/replies.c daemon/process/log.c common/hashmap.c
tests_test_replies_CPPFLAGS = $(DAEMON_UNIT_INCLUDES) $(LIBEVENT_CFLAGS)
tests_test_replies_LDFLAGS = $(DAEMON_UNIT_WRAP_ALLOC)
tests_test_replies_LDADD = protocol/libbusprotocol.la $(LIBEVENT_LIBS) $(CHECK_LIBS)

# Include rules per folder (docs/ARCHITECTURE.md "Who may include whom").
TESTS += tests/test-layers.sh
EXTRA_DIST += tests/test-layers.sh

# The connection (framing with the shared framer, fd batches, the output
# queue) over a real socketpair, without a daemon.
check_PROGRAMS += tests/test-connection
TESTS += tests/test-connection
tests_test_connection_SOURCES = tests/test-connection.c tests/alloc-fail.c tests/alloc-fail.h \
	daemon/transport/connection.c daemon/transport/message.c daemon/registry/quota.c \
	common/hashmap.c
tests_test_connection_CPPFLAGS = $(DAEMON_UNIT_INCLUDES) $(LIBEVENT_CFLAGS)
tests_test_connection_LDFLAGS = $(DAEMON_UNIT_WRAP_ALLOC)
tests_test_connection_LDADD = protocol/libbusprotocol.la $(LIBEVENT_LIBS) $(CHECK_LIBS)

# The broker's payload admission (transport/payload.c) alone, on real memfds.
check_PROGRAMS += tests/test-payload-admit
TESTS += tests/test-payload-admit
tests_test_payload_admit_SOURCES = tests/test-payload-admit.c tests/alloc-fail.c tests/alloc-fail.h \
	daemon/transport/payload.c daemon/transport/message.c daemon/registry/quota.c \
	common/hashmap.c
tests_test_payload_admit_CPPFLAGS = $(DAEMON_UNIT_INCLUDES)
tests_test_payload_admit_LDFLAGS = $(DAEMON_UNIT_WRAP_ALLOC)
tests_test_payload_admit_LDADD = protocol/libbusprotocol.la $(CHECK_LIBS)
