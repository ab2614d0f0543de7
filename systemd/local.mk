# SPDX-License-Identifier: LGPL-2.1-or-later
# systemd units for the system bus. The unit directory is systemd's
# pkg-config variable, resolved against our $(prefix) so that "make install"
# and "make distcheck" stay inside the prefix; without systemd.pc it is
# $(prefix)/lib/systemd/system. Override with "make systemdsystemunitdir=DIR".
systemdsystemunitdir = $(or $(shell $(PKG_CONFIG) --define-variable=prefix='$(prefix)' \
	--define-variable=rootprefix='$(prefix)' --variable=systemdsystemunitdir systemd \
	2>/dev/null),$(prefix)/lib/systemd/system)

nodist_systemdsystemunit_DATA = systemd/busd.socket systemd/busd.service
CLEANFILES += systemd/busd.service
EXTRA_DIST += systemd/busd.service.in systemd/busd.socket.in

# The socket names the system bus path chosen at configure time
# (--with-system-socket, protocol/address.h): configure writes it from
# busd.socket.in, so the unit and the binaries cannot disagree.

# The user bus (busd --user): busd.socket under %t (the user socket path
# chosen at configure time) and busd.service, into systemd's user unit
# directory (pkg-config systemduserunitdir, resolved against our prefix;
# $(prefix)/lib/systemd/user without systemd.pc; override with
# "make systemduserunitdir=DIR"). Generated at build time, like the service.
systemduserunitdir = $(or $(shell $(PKG_CONFIG) --define-variable=prefix='$(prefix)' \
	--define-variable=rootprefix='$(prefix)' --variable=systemduserunitdir systemd \
	2>/dev/null),$(prefix)/lib/systemd/user)
nodist_systemduserunit_DATA = systemd/user/busd.socket systemd/user/busd.service
CLEANFILES += systemd/user/busd.socket systemd/user/busd.service
EXTRA_DIST += systemd/user/busd.service.in systemd/user/busd.socket.in

systemd/user/busd.socket: $(top_srcdir)/systemd/user/busd.socket.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd/user && \
	sed -e 's|@BUSD_USER_SOCKET[@]|$(BUSD_USER_SOCKET)|g' $(top_srcdir)/systemd/user/busd.socket.in > $@.tmp && \
	mv $@.tmp $@
systemd/user/busd.service: $(top_srcdir)/systemd/user/busd.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd/user && \
	sed -e 's|@bindir[@]|$(bindir)|g' -e 's|@docdir[@]|$(docdir)|g' $(top_srcdir)/systemd/user/busd.service.in > $@.tmp && \
	mv $@.tmp $@

# The service names the installed binary, so it is generated at build time.
systemd/busd.service: $(top_srcdir)/systemd/busd.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	sed -e 's|@bindir[@]|$(bindir)|g' -e 's|@docdir[@]|$(docdir)|g' $(top_srcdir)/systemd/busd.service.in > $@.tmp && \
	mv $@.tmp $@
