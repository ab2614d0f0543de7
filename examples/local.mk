# SPDX-License-Identifier: LGPL-2.1-or-later
# Example service and client, walked through in README.md.
noinst_PROGRAMS += examples/echo-service examples/echo-client examples/thermostat

examples_echo_service_SOURCES = examples/echo-service.c
examples_echo_service_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(JANSSON_CFLAGS)
examples_echo_service_LDADD = client/libbusclient.la $(LIBEVENT_LIBS) $(JANSSON_LIBS)

examples_echo_client_SOURCES = examples/echo-client.c
examples_echo_client_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
examples_echo_client_LDADD = client/libbusclient.la $(JANSSON_LIBS)

# The object model port that docs/OBJECTS.md measures against sd-bus.
examples_thermostat_SOURCES = examples/thermostat.c
examples_thermostat_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
examples_thermostat_LDADD = client/libbusclient.la $(JANSSON_LIBS)

# echo-service's interface, as a description file services and busdctl
# check-interface read (docs/OBJECTS.md); installed where such files live.
interfacesdir = $(datadir)/busd/interfaces
dist_interfaces_DATA = examples/org.example.Echo.json

# A service file for echo-service (docs/DAEMON.md "Activation"): with it in a
# bus's services directory, the first call to org.example.Echo starts
# echo-service. @EXAMPLES_DIR@ is where echo-service is; ./quickstart.sh demo
# fills it in.
EXTRA_DIST += examples/services/echo.json.in
