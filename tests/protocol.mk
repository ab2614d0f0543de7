# SPDX-License-Identifier: LGPL-2.1-or-later
# Check suites for libbusprotocol (its fuzz targets: tests/fuzzers.mk).
check_PROGRAMS += tests/test-protocol tests/test-match-rule
TESTS += tests/test-protocol tests/test-match-rule

tests_test_protocol_SOURCES = tests/test-protocol.c
tests_test_protocol_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_test_protocol_LDADD = protocol/libbusprotocol.la $(CHECK_LIBS)

tests_test_match_rule_SOURCES = tests/test-match-rule.c
tests_test_match_rule_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_test_match_rule_LDADD = protocol/libbusprotocol.la $(CHECK_LIBS)

# The one payload acceptance rule, from made-up facts and from real fds.
check_PROGRAMS += tests/test-payload-check
TESTS += tests/test-payload-check
tests_test_payload_check_SOURCES = tests/test-payload-check.c
tests_test_payload_check_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_test_payload_check_LDADD = protocol/libbusprotocol.la $(CHECK_LIBS)

# The stream cutter and fd pairing (protocol/frame.c), fed synthetic reads.
check_PROGRAMS += tests/test-frame
TESTS += tests/test-frame
tests_test_frame_SOURCES = tests/test-frame.c
tests_test_frame_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_test_frame_LDADD = protocol/libbusprotocol.la $(CHECK_LIBS)
