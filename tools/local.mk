# SPDX-License-Identifier: LGPL-2.1-or-later
# busdctl, the command-line tool, built only on the public client API
# (client/busclient.h) plus the protocol library's name validators.
bin_PROGRAMS += tools/busdctl

tools_busdctl_SOURCES = \
	tools/busdctl.c tools/busdctl.h \
	tools/connect.c \
	tools/output.c tools/output.h \
	tools/table.c tools/table.h \
	tools/procinfo.c tools/procinfo.h \
	tools/verb-list.c \
	tools/verb-status.c \
	tools/verb-call.c \
	tools/verb-wait.c \
	tools/verb-stats.c \
	tools/verb-monitor.c \
	tools/verb-reload.c \
	tools/pcap.c tools/pcap.h
tools_busdctl_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tools_busdctl_LDADD = client/libbusclient.la protocol/libbusprotocol.la $(JANSSON_LIBS)

dist_man_MANS += tools/busdctl.1

# Installed as "busdctl" where bash-completion looks for it. Resolved against
# our $(prefix) (not bash-completion.pc's absolute path) so that install and
# distcheck stay inside the prefix; override with "make bashcompletiondir=DIR".
bashcompletiondir = $(datadir)/bash-completion/completions
bashcompletion_DATA = tools/completions/busdctl
CLEANFILES += tools/completions/busdctl
EXTRA_DIST += tools/busdctl.bash-completion

tools/completions/busdctl: $(top_srcdir)/tools/busdctl.bash-completion
	$(AM_V_GEN)$(MKDIR_P) tools/completions && \
	cp $(top_srcdir)/tools/busdctl.bash-completion $@
