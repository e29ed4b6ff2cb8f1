/* SPDX-License-Identifier: MIT */
/*
 * metrics - the stats segment in Prometheus's text exposition format
 * (version 0.0.4), the page facteur-metrics serves at /metrics.
 *
 * Every field of lib/stats.h, with its help text: a counter as
 * facteur_<name>_total (TYPE counter), a gauge (help ending in "(gauge)")
 * as facteur_<name> (TYPE gauge).  Then the values of monitor.h (start
 * time, uptime, queue total, file systems of the spool and the store)
 * and, labelled daemon="name", each row of the master's daemons table.
 * New counters appear without a change here.
 */
#ifndef FACTEUR_METRICS_H
#define FACTEUR_METRICS_H

#include <event2/buffer.h>

/* Append the page to out, read from the segment now. */
void metrics_render(struct evbuffer *out);

#endif
