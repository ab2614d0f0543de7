# SPDX-License-Identifier: LGPL-2.1-or-later
# The policy (docs/POLICY.md): unit tests of daemon/policy/, compiled from
# its sources like the other leaf modules (tests/daemon-units.mk).
check_PROGRAMS += tests/test-policy
TESTS += tests/test-policy
tests_test_policy_SOURCES = tests/test-policy.c \
	daemon/policy/policy.c daemon/policy/policy-load.c \
	daemon/policy/policy.h daemon/policy/policy-internal.h common/hashmap.c
tests_test_policy_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon $(CHECK_CFLAGS) $(JANSSON_CFLAGS) \
	-DTOP_SRCDIR='"$(abs_top_srcdir)"'
tests_test_policy_LDADD = protocol/libbusprotocol.la $(CHECK_LIBS) $(JANSSON_LIBS)

# busdctl policy check|explain|test and the shipped defaults' golden cases.
TESTS += tests/test-policy-tools.sh
EXTRA_DIST += tests/test-policy-tools.sh

# The policy enforced by a real busd, from clients switched to other uids
# (needs root for those; skipped otherwise).
check_PROGRAMS += tests/test-bus-policy
TESTS += tests/test-bus-policy
tests_test_bus_policy_SOURCES = tests/test-bus-policy.c
tests_test_bus_policy_CPPFLAGS = $(AM_CPPFLAGS) -DTOP_SRCDIR='"$(abs_top_srcdir)"'
tests_test_bus_policy_CFLAGS = $(integration_cflags)
tests_test_bus_policy_LDADD = $(integration_ldadd)
