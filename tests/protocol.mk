# SPDX-License-Identifier: LGPL-2.1-or-later
# Check suites for libbusprotocol, and its fuzz target run over the seed
# corpus (see tests/fuzz-message.c for the libFuzzer build).
check_PROGRAMS += tests/test-protocol tests/test-match-rule tests/fuzz-message
TESTS += tests/test-protocol tests/test-match-rule tests/fuzz-message

tests_test_protocol_SOURCES = tests/test-protocol.c
tests_test_protocol_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_test_protocol_LDADD = protocol/libbusprotocol.la $(CHECK_LIBS)

tests_test_match_rule_SOURCES = tests/test-match-rule.c
tests_test_match_rule_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_test_match_rule_LDADD = protocol/libbusprotocol.la $(CHECK_LIBS)

tests_fuzz_message_SOURCES = tests/fuzz-message.c
tests_fuzz_message_CPPFLAGS = $(AM_CPPFLAGS) -DBUS_FUZZ_CORPUS_DIR='"$(abs_top_srcdir)/tests/corpus"'
tests_fuzz_message_LDADD = protocol/libbusprotocol.la

# Seed corpus: ok-* / bad-* messages, rule-ok-* / rule-bad-* match rules,
# preamble-ok-* preambles (the fuzz target checks each verdict).
EXTRA_DIST += \
	tests/corpus/ok-call.bin \
	tests/corpus/ok-call-nobody.bin \
	tests/corpus/ok-return.bin \
	tests/corpus/ok-error.bin \
	tests/corpus/ok-signal.bin \
	tests/corpus/ok-signal-blobs.bin \
	tests/corpus/ok-fields-reordered.bin \
	tests/corpus/bad-blob-count.bin \
	tests/corpus/bad-body-len-max.bin \
	tests/corpus/bad-body-utf8.bin \
	tests/corpus/bad-destination.bin \
	tests/corpus/bad-fields-len-max.bin \
	tests/corpus/bad-padding.bin \
	tests/corpus/bad-short.bin \
	tests/corpus/bad-truncated.bin \
	tests/corpus/bad-type.bin \
	tests/corpus/bad-unterminated-field.bin \
	tests/corpus/bad-zero-serial.bin \
	tests/corpus/preamble-ok.bin \
	tests/corpus/rule-ok-full.txt \
	tests/corpus/rule-ok-spaces.txt \
	tests/corpus/rule-bad-conflict.txt \
	tests/corpus/rule-bad-syntax.txt \
	tests/corpus/rule-bad-unknown-key.txt

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

# Fuzz target for the framer, against an oracle (see tests/fuzz-frame.c for the
# libFuzzer build); make check runs it over 20000 scripts it makes itself.
check_PROGRAMS += tests/fuzz-frame
TESTS += tests/fuzz-frame
tests_fuzz_frame_SOURCES = tests/fuzz-frame.c
tests_fuzz_frame_LDADD = protocol/libbusprotocol.la
