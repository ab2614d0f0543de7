# SPDX-License-Identifier: LGPL-2.1-or-later
# libbuscommon: the containers and helpers the daemon and the library share
# (one intrusive list, one hash map, clocks and fd helpers, /proc/PID/stat). Internal: linked
# into busd and into libbusclient (which hides its symbols).
noinst_LTLIBRARIES += common/libbuscommon.la
common_libbuscommon_la_SOURCES = \
	common/list.h \
	common/util.h \
	common/hashmap.c common/hashmap.h \
	common/proc-stat.c common/proc-stat.h
