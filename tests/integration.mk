# SPDX-License-Identifier: LGPL-2.1-or-later
# Integration tests: each test case starts a real busd on a socket in a fresh
# private directory and drives it through libbusclient and raw sockets
# (tests/harness.[ch], tests/raw-peer.[ch]).
#
# Run: make check TESTS='tests/test-bus-names tests/test-bus-calls ...'
# or run a binary directly (it finds daemon/busd from the build tree; set
# BUSD_BINARY to test another one; CK_RUN_CASE/CK_RUN_SUITE select tests,
# BUSD_TEST_SHOW_LOG=1 prints the daemon log after each test).

check_LTLIBRARIES += tests/libbusintegration.la
tests_libbusintegration_la_SOURCES = \
	tests/harness.c \
	tests/harness.h \
	tests/raw-peer.c \
	tests/raw-peer.h
tests_libbusintegration_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-DBUSD_DEFAULT_BINARY='"$(abs_top_builddir)/daemon/busd"'
tests_libbusintegration_la_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(JANSSON_CFLAGS)

integration_tests = \
	tests/test-bus-names \
	tests/test-bus-calls \
	tests/test-bus-signals \
	tests/test-bus-security \
	tests/test-bus-timeouts \
	tests/test-bus-payloads \
	tests/test-bus-monitor

check_PROGRAMS += $(integration_tests)
TESTS += $(integration_tests)

integration_cflags = $(AM_CFLAGS) $(CHECK_CFLAGS) $(JANSSON_CFLAGS) $(LIBEVENT_CFLAGS)
integration_ldadd = \
	tests/libbusintegration.la \
	client/libbusclient.la \
	protocol/libbusprotocol.la \
	$(CHECK_LIBS) $(JANSSON_LIBS) $(LIBEVENT_LIBS)

tests_test_bus_names_SOURCES = tests/test-bus-names.c
tests_test_bus_names_CFLAGS = $(integration_cflags)
tests_test_bus_names_LDADD = $(integration_ldadd)

tests_test_bus_calls_SOURCES = tests/test-bus-calls.c
tests_test_bus_calls_CFLAGS = $(integration_cflags)
tests_test_bus_calls_LDADD = $(integration_ldadd)

tests_test_bus_signals_SOURCES = tests/test-bus-signals.c
tests_test_bus_signals_CFLAGS = $(integration_cflags)
tests_test_bus_signals_LDADD = $(integration_ldadd)

tests_test_bus_security_SOURCES = tests/test-bus-security.c
tests_test_bus_security_CFLAGS = $(integration_cflags)
tests_test_bus_security_LDADD = $(integration_ldadd)

tests_test_bus_timeouts_SOURCES = tests/test-bus-timeouts.c
tests_test_bus_timeouts_CFLAGS = $(integration_cflags)
tests_test_bus_timeouts_LDADD = $(integration_ldadd)

tests_test_bus_payloads_SOURCES = tests/test-bus-payloads.c
tests_test_bus_payloads_CFLAGS = $(integration_cflags)
tests_test_bus_payloads_LDADD = $(integration_ldadd)

tests_test_bus_monitor_SOURCES = tests/test-bus-monitor.c
tests_test_bus_monitor_CFLAGS = $(integration_cflags)
tests_test_bus_monitor_LDADD = $(integration_ldadd)

AM_TESTS_ENVIRONMENT = BUSD_BINARY='$(abs_top_builddir)/daemon/busd'; export BUSD_BINARY;

# The bus driver against hostile arguments (issue 9 items 5-7).
check_PROGRAMS += tests/test-bus-driver-limits
TESTS += tests/test-bus-driver-limits
tests_test_bus_driver_limits_SOURCES = tests/test-bus-driver-limits.c
tests_test_bus_driver_limits_CFLAGS = $(integration_cflags)
tests_test_bus_driver_limits_LDADD = $(integration_ldadd) -lpthread

# The payload rule through a real busd (issue 9 item 2, hostile-peers.md
# item 30): sparse payloads refused, unread payloads cost receivers and
# busdctl monitor nothing.
check_PROGRAMS += tests/test-bus-payload-rule
TESTS += tests/test-bus-payload-rule
tests_test_bus_payload_rule_SOURCES = tests/test-bus-payload-rule.c
tests_test_bus_payload_rule_CPPFLAGS = $(AM_CPPFLAGS) \
	-DBUSDCTL_BINARY='"$(abs_top_builddir)/tools/busdctl"'
tests_test_bus_payload_rule_CFLAGS = $(integration_cflags)
tests_test_bus_payload_rule_LDADD = $(integration_ldadd)

# The fd pairing rule against a real busd (PROTOCOL.md section 1; issue 9
# item 7: a message carrying fds it does not declare is never delivered).
check_PROGRAMS += tests/test-bus-framing
TESTS += tests/test-bus-framing
tests_test_bus_framing_SOURCES = tests/test-bus-framing.c
tests_test_bus_framing_CFLAGS = $(integration_cflags)
tests_test_bus_framing_LDADD = $(integration_ldadd)

# The slow-consumer rule and fair shares of a receiver's queue (issue 9 item 1).
check_PROGRAMS += tests/test-bus-fairness
TESTS += tests/test-bus-fairness
tests_test_bus_fairness_SOURCES = tests/test-bus-fairness.c
tests_test_bus_fairness_CFLAGS = $(integration_cflags)
tests_test_bus_fairness_LDADD = $(integration_ldadd)
