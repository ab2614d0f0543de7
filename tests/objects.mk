# SPDX-License-Identifier: LGPL-2.1-or-later
# The object model of libbusclient (issue #13) against a real busd: declared
# interfaces, schemas, Properties, introspection, object managers, tracking,
# errno mapping, interface description files.
check_PROGRAMS += tests/test-client-objects
TESTS += tests/test-client-objects
tests_test_client_objects_SOURCES = tests/test-client-objects.c
tests_test_client_objects_CPPFLAGS = $(AM_CPPFLAGS) \
	-DBUSDCTL_BINARY='"$(abs_top_builddir)/tools/busdctl"'
tests_test_client_objects_CFLAGS = $(integration_cflags)
tests_test_client_objects_LDADD = $(integration_ldadd) -lpthread

# busdctl's object model verbs against examples/echo-service.
TESTS += tests/test-busdctl-objects.sh
EXTRA_DIST += tests/test-busdctl-objects.sh

# The man pages of libbusclient say what busclient.h says.
TESTS += tests/test-man-pages.sh
EXTRA_DIST += tests/test-man-pages.sh
