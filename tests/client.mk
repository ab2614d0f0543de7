# SPDX-License-Identifier: LGPL-2.1-or-later
# libbusclient tests that need no daemon.

# The exported symbol list is exactly what busclient.h declares.
TESTS += tests/test-symbols.sh
EXTRA_DIST += tests/test-symbols.sh

# Message builders, accessors, encode + parse round trips (internal API, so
# linked against the convenience library).
check_PROGRAMS += tests/test-client-message
TESTS += tests/test-client-message
tests_test_client_message_SOURCES = tests/test-client-message.c
tests_test_client_message_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(JANSSON_CFLAGS)
tests_test_client_message_LDADD = client/libbusclient-internal.la $(CHECK_LIBS) \
	$(LIBEVENT_LIBS) $(JANSSON_LIBS)

# Connection, calls and dispatch against a scripted fake broker on a real
# socket: what a correct daemon never sends (malformed input, EOF, stray fds,
# silence past a deadline).
check_PROGRAMS += tests/test-client-connection
TESTS += tests/test-client-connection
tests_test_client_connection_SOURCES = tests/test-client-connection.c tests/fake-broker.c \
	tests/fake-broker.h
tests_test_client_connection_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(JANSSON_CFLAGS)
tests_test_client_connection_LDADD = client/libbusclient-internal.la $(CHECK_LIBS) \
	$(LIBEVENT_LIBS) $(JANSSON_LIBS)

# The payload API (buffers, attaching, sealing, payloads beside bodies) and the
# receiving side's refusal of unsealed payloads (hostile-peers.md item 16).
check_PROGRAMS += tests/test-client-payload
TESTS += tests/test-client-payload
tests_test_client_payload_SOURCES = tests/test-client-payload.c
tests_test_client_payload_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(JANSSON_CFLAGS)
tests_test_client_payload_LDADD = client/libbusclient-internal.la $(CHECK_LIBS) \
	$(LIBEVENT_LIBS) $(JANSSON_LIBS)

# libbusclient as a service author meets it (issue #9), against a fake broker:
# every call answered, the read-ahead bound, fork(), is_open, the handshake
# timeout, async AddMatch/RequestName.
check_PROGRAMS += tests/test-client-service
TESTS += tests/test-client-service
tests_test_client_service_SOURCES = tests/test-client-service.c tests/fake-broker.c \
	tests/fake-broker.h
tests_test_client_service_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(JANSSON_CFLAGS)
tests_test_client_service_LDADD = client/libbusclient-internal.la $(CHECK_LIBS) \
	$(LIBEVENT_LIBS) $(JANSSON_LIBS)

# The same against a real busd (integration: tests/harness.[ch]): a nested
# call through a 400 MiB flood (peak RSS), an invalid error name end to end,
# async RequestName/AddMatch from a libevent loop, a stopped bus with
# bus_connect_with_timeout() and busdctl --timeout.
check_PROGRAMS += tests/test-bus-client-service
TESTS += tests/test-bus-client-service
tests_test_bus_client_service_SOURCES = tests/test-bus-client-service.c
tests_test_bus_client_service_CPPFLAGS = $(AM_CPPFLAGS) \
	-DBUSDCTL_BINARY='"$(abs_top_builddir)/tools/busdctl"'
tests_test_bus_client_service_CFLAGS = $(integration_cflags)
tests_test_bus_client_service_LDADD = $(integration_ldadd)
