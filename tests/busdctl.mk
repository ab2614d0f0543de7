# SPDX-License-Identifier: LGPL-2.1-or-later
# busdctl end to end: tests/test-busdctl.sh starts a real busd on a private
# socket (tests/busd-launch waits for its READY=1) and drives every verb
# against tests/busdctl-peer. BUSD_BINARY comes from AM_TESTS_ENVIRONMENT
# (tests/integration.mk); the script falls back to the build tree.
check_PROGRAMS += tests/busd-launch tests/busdctl-peer

tests_busd_launch_SOURCES = tests/busd-launch.c

tests_busdctl_peer_SOURCES = tests/busdctl-peer.c
tests_busdctl_peer_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_busdctl_peer_LDADD = client/libbusclient.la $(JANSSON_LIBS)

TESTS += tests/test-busdctl.sh
EXTRA_DIST += tests/test-busdctl.sh tests/busdctl-lib.sh

# Unit tests of busdctl's pure output helpers.
check_PROGRAMS += tests/test-busdctl-output
TESTS += tests/test-busdctl-output
tests_test_busdctl_output_SOURCES = tests/test-busdctl-output.c tools/output.c tools/table.c
tests_test_busdctl_output_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tools
tests_test_busdctl_output_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(JANSSON_CFLAGS)
tests_test_busdctl_output_LDADD = $(CHECK_LIBS) $(JANSSON_LIBS)
