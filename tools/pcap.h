/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pcap.h — capture files in the classic libpcap format, which tcpdump,
 * tshark and Wireshark read: a 24-byte file header (magic 0xa1b2c3d4 in the
 * writer's byte order, version 2.4, microsecond timestamps, link type
 * LINKTYPE_USER0 = 147), then per record a 16-byte header (seconds,
 * microseconds, captured length, original length) and the bytes.
 *
 * busdctl writes one record per busd message, exactly as the bus sent it
 * (fixed header with the stamped sender block, fields, inline body).
 * Records longer than PCAP_SNAPLEN are cut there, the original length kept.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define PCAP_MAGIC 0xa1b2c3d4u
#define PCAP_VERSION_MAJOR 2u
#define PCAP_VERSION_MINOR 4u
/* "Reserved for private use" (tcpdump.org/linktypes.html): no dissector
 * claims it, so tools show the raw bytes. */
#define PCAP_LINKTYPE_USER0 147u
/* libpcap's largest snapshot length for most link types (MAXIMUM_SNAPLEN):
 * readers refuse longer records. */
#define PCAP_SNAPLEN 262144u

typedef struct PcapWriter PcapWriter;

/* Create (or truncate) @path with mode 0600 — a capture holds other peers'
 * traffic — and write the file header; "-" writes to standard output.
 * 0 or negative errno. */
int pcap_writer_open(PcapWriter **ret, const char *path);

/* Append one record stamped @realtime_usec (CLOCK_REALTIME µs). Written
 * through at once, so the file is complete after every record. 0 or
 * negative errno. */
int pcap_writer_append(PcapWriter *w, uint64_t realtime_usec, const void *data, size_t len);

/* Close the file; NULL-safe; returns NULL. */
PcapWriter *pcap_writer_close(PcapWriter *w);
