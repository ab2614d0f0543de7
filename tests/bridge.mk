# SPDX-License-Identifier: LGPL-2.1-or-later
# busd-bridge: the configuration parser and wire layout (unit tests), and
# end to end with real processes: a 3-node nats-server cluster on loopback,
# two busd daemons as two "hosts", two busd-bridge processes, and services
# and clients through libbusclient (tests/test-bridge.c). The end-to-end
# test skips (exit 77) when nats-server is not installed.
if BRIDGE
check_PROGRAMS += tests/test-bridge-config tests/test-bridge tests/test-bridge-identity \
	tests/test-bridge-auth
TESTS += tests/test-bridge-config tests/test-bridge tests/bridge-check.sh \
	tests/test-bridge-identity tests/test-bridge-auth
EXTRA_DIST += tests/bridge-check.sh tests/test-systemd-bridge.sh
# busd-bridge.service under a real systemd booted in namespaces (root only).
TESTS += tests/test-systemd-bridge.sh
AM_TESTS_ENVIRONMENT += BRIDGE_BINARY='$(abs_top_builddir)/bridge/busd-bridge'; export BRIDGE_BINARY;

tests_test_bridge_config_SOURCES = tests/test-bridge-config.c
tests_test_bridge_config_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/bridge
tests_test_bridge_config_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(JANSSON_CFLAGS)
tests_test_bridge_config_LDADD = bridge/libbridge.la $(CHECK_LIBS) $(JANSSON_LIBS)

# The broker's half of identity across hosts (BecomeBridge, the sender flag).
tests_test_bridge_identity_SOURCES = tests/test-bridge-identity.c
tests_test_bridge_identity_CPPFLAGS = $(AM_CPPFLAGS) \
	-DBUSDCTL_BINARY='"$(abs_top_builddir)/tools/busdctl"'
tests_test_bridge_identity_CFLAGS = $(integration_cflags)
tests_test_bridge_identity_LDADD = $(integration_ldadd)

tests_test_bridge_SOURCES = tests/test-bridge.c tests/bridge-harness.c tests/bridge-harness.h
tests_test_bridge_CPPFLAGS = $(AM_CPPFLAGS) \
	-DBRIDGE_BINARY='"$(abs_top_builddir)/bridge/busd-bridge"' \
	-DNATS_SERVER_BINARY='"$(NATS_SERVER)"' \
	-DBUSD_DEFAULT_BINARY='"$(abs_top_builddir)/daemon/busd"'
tests_test_bridge_CFLAGS = $(integration_cflags)
tests_test_bridge_LDADD = $(integration_ldadd)

# Credentials and TLS against real nats-server processes (issue #15):
# user/password, token, TLS with a CA and a client certificate the test makes
# with the openssl CLI, the secrets' file permissions. The NATS tests skip
# when nats-server is not installed, the TLS ones when openssl is not.
tests_test_bridge_auth_SOURCES = tests/test-bridge-auth.c tests/bridge-harness.c \
	tests/bridge-harness.h
tests_test_bridge_auth_CPPFLAGS = $(AM_CPPFLAGS) \
	-DBRIDGE_BINARY='"$(abs_top_builddir)/bridge/busd-bridge"' \
	-DNATS_SERVER_BINARY='"$(NATS_SERVER)"' \
	-DBUSD_DEFAULT_BINARY='"$(abs_top_builddir)/daemon/busd"'
tests_test_bridge_auth_CFLAGS = $(integration_cflags)
tests_test_bridge_auth_LDADD = $(integration_ldadd)
endif
include $(top_srcdir)/tests/bridge-hostile.mk
