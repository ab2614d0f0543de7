# SPDX-License-Identifier: LGPL-2.1-or-later
# busd-bridge against a hostile NATS client that speaks the protocol itself
# (tests/test-bridge-hostile.c): crafted calls, replies and signals on the
# bridges' subjects. Skips (77) when nats-server is not installed.
if BRIDGE
check_PROGRAMS += tests/test-bridge-hostile
TESTS += tests/test-bridge-hostile
tests_test_bridge_hostile_SOURCES = tests/test-bridge-hostile.c tests/bridge-harness.c \
	tests/bridge-harness.h
tests_test_bridge_hostile_CPPFLAGS = $(AM_CPPFLAGS) \
	-DBRIDGE_BINARY='"$(abs_top_builddir)/bridge/busd-bridge"' \
	-DNATS_SERVER_BINARY='"$(NATS_SERVER)"' \
	-DBUSD_DEFAULT_BINARY='"$(abs_top_builddir)/daemon/busd"'
tests_test_bridge_hostile_CFLAGS = $(integration_cflags)
tests_test_bridge_hostile_LDADD = $(integration_ldadd)
endif
