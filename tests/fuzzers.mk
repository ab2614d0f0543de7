# SPDX-License-Identifier: LGPL-2.1-or-later
# Fuzz targets (docs/TESTING.md "Fuzzing"). Each tests/fuzz-TARGET.c builds
# two ways from the same source:
#  - always: tests/fuzz-TARGET, a plain program make check runs over the
#    seed corpus tests/corpus/TARGET/ (verdicts by file name) and over inputs
#    it makes itself (fuzz-frame: generated scripts; fuzz-match-rule and
#    fuzz-config: mutated seeds, tests/fuzz-replay.c);
#  - with ./configure --enable-fuzzers (CC=clang): tests/fuzz-TARGET-libfuzzer,
#    the libFuzzer binary (-fsanitize=fuzzer,address,undefined, the code under
#    test instrumented too), which tests/run-fuzzers.sh runs briefly in make
#    check (skipped, exit 77, without --enable-fuzzers).
# Targets: message (fixed header, field parser, body), frame (the framer),
# match-rule (parser, matcher, the broker's rule index), config (the
# configuration parser), policy (the policy parser and compiler, evaluation
# against explain and lint). tests/corpus/TARGET.dict, where present, is a
# libFuzzer dictionary of the target's keywords.

fuzz_targets = message frame match-rule config policy

# ---- plain builds, run by make check --------------------------------------

check_PROGRAMS += tests/fuzz-message tests/fuzz-frame tests/fuzz-match-rule tests/fuzz-config \
	tests/fuzz-policy
TESTS += tests/fuzz-message tests/fuzz-frame tests/fuzz-match-rule tests/fuzz-config \
	tests/fuzz-policy

tests_fuzz_message_SOURCES = tests/fuzz-message.c
tests_fuzz_message_CPPFLAGS = $(AM_CPPFLAGS) \
	-DBUS_FUZZ_CORPUS_DIR='"$(abs_top_srcdir)/tests/corpus/message"'
tests_fuzz_message_LDADD = protocol/libbusprotocol.la

tests_fuzz_frame_SOURCES = tests/fuzz-frame.c
tests_fuzz_frame_LDADD = protocol/libbusprotocol.la

tests_fuzz_match_rule_SOURCES = tests/fuzz-match-rule.c tests/fuzz-replay.c tests/fuzz-replay.h \
	daemon/registry/matches.c common/hashmap.c
tests_fuzz_match_rule_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon \
	-DBUS_FUZZ_CORPUS_DIR='"$(abs_top_srcdir)/tests/corpus/match-rule"'
tests_fuzz_match_rule_LDADD = protocol/libbusprotocol.la

tests_fuzz_config_SOURCES = tests/fuzz-config.c tests/fuzz-replay.c tests/fuzz-replay.h \
	daemon/process/config-file.c
tests_fuzz_config_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon $(JANSSON_CFLAGS) \
	-DBUS_FUZZ_CORPUS_DIR='"$(abs_top_srcdir)/tests/corpus/config"'
tests_fuzz_config_LDADD = $(JANSSON_LIBS)

fuzz_policy_sources = daemon/policy/policy.c daemon/policy/policy-load.c \
	daemon/policy/policy.h daemon/policy/policy-internal.h
tests_fuzz_policy_SOURCES = tests/fuzz-policy.c tests/fuzz-replay.c tests/fuzz-replay.h \
	$(fuzz_policy_sources) common/hashmap.c
tests_fuzz_policy_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon $(JANSSON_CFLAGS) \
	-DBUS_FUZZ_CORPUS_DIR='"$(abs_top_srcdir)/tests/corpus/policy"'
tests_fuzz_policy_LDADD = protocol/libbusprotocol.la $(JANSSON_LIBS)

# ---- libFuzzer builds (--enable-fuzzers) ----------------------------------

TESTS += tests/run-fuzzers.sh
EXTRA_DIST += tests/run-fuzzers.sh

if FUZZERS
# The code under test is built again with coverage instrumentation
# (fuzzer-no-link) into one library; each target links libFuzzer's main().
fuzz_sanitize = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer
fuzz_cflags = $(WARN_CFLAGS) -g -O1 -fsanitize=fuzzer-no-link $(fuzz_sanitize)
fuzz_cppflags = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon -DBUS_FUZZ_LIBFUZZER
fuzz_ldflags = -fsanitize=fuzzer $(fuzz_sanitize)

noinst_LTLIBRARIES += tests/libfuzz-protocol.la
tests_libfuzz_protocol_la_SOURCES = $(protocol_libbusprotocol_la_SOURCES) common/hashmap.c
tests_libfuzz_protocol_la_CFLAGS = $(fuzz_cflags)

noinst_PROGRAMS += tests/fuzz-message-libfuzzer tests/fuzz-frame-libfuzzer \
	tests/fuzz-match-rule-libfuzzer tests/fuzz-config-libfuzzer tests/fuzz-policy-libfuzzer

tests_fuzz_message_libfuzzer_SOURCES = tests/fuzz-message.c
tests_fuzz_message_libfuzzer_CPPFLAGS = $(fuzz_cppflags)
tests_fuzz_message_libfuzzer_CFLAGS = $(fuzz_cflags)
tests_fuzz_message_libfuzzer_LDFLAGS = $(fuzz_ldflags)
tests_fuzz_message_libfuzzer_LDADD = tests/libfuzz-protocol.la

tests_fuzz_frame_libfuzzer_SOURCES = tests/fuzz-frame.c
tests_fuzz_frame_libfuzzer_CPPFLAGS = $(fuzz_cppflags)
tests_fuzz_frame_libfuzzer_CFLAGS = $(fuzz_cflags)
tests_fuzz_frame_libfuzzer_LDFLAGS = $(fuzz_ldflags)
tests_fuzz_frame_libfuzzer_LDADD = tests/libfuzz-protocol.la

tests_fuzz_match_rule_libfuzzer_SOURCES = tests/fuzz-match-rule.c tests/fuzz-replay.h \
	daemon/registry/matches.c
tests_fuzz_match_rule_libfuzzer_CPPFLAGS = $(fuzz_cppflags)
tests_fuzz_match_rule_libfuzzer_CFLAGS = $(fuzz_cflags)
tests_fuzz_match_rule_libfuzzer_LDFLAGS = $(fuzz_ldflags)
tests_fuzz_match_rule_libfuzzer_LDADD = tests/libfuzz-protocol.la

tests_fuzz_config_libfuzzer_SOURCES = tests/fuzz-config.c tests/fuzz-replay.h \
	daemon/process/config-file.c
tests_fuzz_config_libfuzzer_CPPFLAGS = $(fuzz_cppflags) $(JANSSON_CFLAGS)
tests_fuzz_config_libfuzzer_CFLAGS = $(fuzz_cflags)
tests_fuzz_config_libfuzzer_LDFLAGS = $(fuzz_ldflags)
tests_fuzz_config_libfuzzer_LDADD = $(JANSSON_LIBS)

tests_fuzz_policy_libfuzzer_SOURCES = tests/fuzz-policy.c tests/fuzz-replay.h \
	$(fuzz_policy_sources)
tests_fuzz_policy_libfuzzer_CPPFLAGS = $(fuzz_cppflags) $(JANSSON_CFLAGS)
tests_fuzz_policy_libfuzzer_CFLAGS = $(fuzz_cflags)
tests_fuzz_policy_libfuzzer_LDFLAGS = $(fuzz_ldflags)
tests_fuzz_policy_libfuzzer_LDADD = tests/libfuzz-protocol.la $(JANSSON_LIBS)

AM_TESTS_ENVIRONMENT += BUSD_FUZZERS='$(fuzz_targets)'; export BUSD_FUZZERS;
endif

# Seed corpora, one directory per target (docs/TESTING.md "Fuzzing" says how
# seeds are named and added).
EXTRA_DIST += tests/corpus
