# SPDX-License-Identifier: LGPL-2.1-or-later
# Service activation (issue #12, docs/DAEMON.md "Activation"): the exec
# backend against a real busd. tests/activation-service is the service the
# test's service files start; the test finds it by its absolute build path.
check_PROGRAMS += tests/activation-service tests/test-bus-activation
TESTS += tests/test-bus-activation

tests_activation_service_SOURCES = tests/activation-service.c
tests_activation_service_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
# Linked with the library's static convenience build, so the executable
# runs wherever it is copied (test-systemd-activation.sh copies it into the
# booted namespace, which cannot see a build tree under /tmp).
tests_activation_service_LDADD = client/libbusclient-internal.la $(LIBEVENT_LIBS) $(JANSSON_LIBS)
# A real executable (no libtool wrapper script): the test checks the
# environment busd gives it, which a wrapper shell would add to.
tests_activation_service_LDFLAGS = $(AM_LDFLAGS) -no-install

tests_test_bus_activation_SOURCES = tests/test-bus-activation.c
tests_test_bus_activation_CPPFLAGS = $(AM_CPPFLAGS) \
	-DACTIVATION_SERVICE_BINARY='"$(abs_top_builddir)/tests/activation-service"'
tests_test_bus_activation_CFLAGS = $(integration_cflags)
tests_test_bus_activation_LDADD = $(integration_ldadd)

# The systemd backend against a real systemd booted in private namespaces
# (root only; skipped otherwise), as tests/test-systemd-boot.sh boots it.
TESTS += tests/test-systemd-activation.sh
EXTRA_DIST += tests/test-systemd-activation.sh

# WATCHDOG=1 and the live STATUS= line (process/keepalive.h) on a test's own
# NOTIFY_SOCKET, with WATCHDOG_USEC set.
check_PROGRAMS += tests/test-bus-keepalive
TESTS += tests/test-bus-keepalive
tests_test_bus_keepalive_SOURCES = tests/test-bus-keepalive.c
tests_test_bus_keepalive_CPPFLAGS = $(AM_CPPFLAGS) \
	-DBUSD_DEFAULT_BINARY='"$(abs_top_builddir)/daemon/busd"'
tests_test_bus_keepalive_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(JANSSON_CFLAGS)
tests_test_bus_keepalive_LDADD = client/libbusclient.la $(CHECK_LIBS) $(JANSSON_LIBS)

# busd(8) and busd.json(5) against the options, configuration keys and
# journal MESSAGE_IDs of the code.
TESTS += tests/test-man.sh
EXTRA_DIST += tests/test-man.sh

# The service file loader alone (a leaf): parsing, errors, the directory merge.
check_PROGRAMS += tests/test-service-file
TESTS += tests/test-service-file
tests_test_service_file_SOURCES = tests/test-service-file.c daemon/activation/service-file.c \
	common/hashmap.c
tests_test_service_file_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon $(CHECK_CFLAGS) \
	$(JANSSON_CFLAGS)
tests_test_service_file_LDADD = protocol/libbusprotocol.la $(JANSSON_LIBS) $(CHECK_LIBS)
