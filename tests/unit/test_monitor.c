/* SPDX-License-Identifier: MIT */
/*
 * test_monitor - the alarms of appliance/agentx/monitor.h (a daemon's
 * restart, the queue and the disk crossing their thresholds, each
 * reported once per crossing, with the hysteresis of the clearing) and
 * the Prometheus page of metrics.h, on this process's private stats
 * segment.
 */
#include "facteur-config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "appliance/agentx/metrics.h"
#include "lib/config.h"
#include "appliance/agentx/monitor.h"

struct seen {
	int n;
	enum monitor_event ev[16];
	unsigned int row[16];
};

static void
record(enum monitor_event ev, unsigned int row, void *arg)
{
	struct seen *s = arg;

	if (s->n < 16) {
		s->ev[s->n] = ev;
		s->row[s->n] = row;
	}
	s->n++;
}

static int
reset(void **state)
{
	memset(stats, 0, sizeof(*stats));
	return 0;
}

static void
check(struct monitor_alarms *a, uint64_t queue, unsigned int disk, const struct monitor_disk *d,
    struct seen *s)
{
	memset(s, 0, sizeof(*s));
	monitor_alarms_check(a, queue, disk, d, record, s);
}

static void
test_daemon_down(void **state)
{
	struct monitor_alarms a = { 0 };
	struct seen s;
	struct stats_daemon *qmgr = stats_daemon_row("qmgr"), *smtpd = stats_daemon_row("smtpd");

	assert_non_null(qmgr);
	assert_ptr_equal(stats_daemon_row("qmgr"), qmgr);
	assert_int_equal(stats_daemon_count(), 2);
	/* Restarts before the first look are not news. */
	STATS_DAEMON_SET(smtpd, restarts, 3);
	check(&a, 0, 0, NULL, &s);
	assert_int_equal(s.n, 0);
	STATS_DAEMON_SET(smtpd, restarts, 4);
	check(&a, 0, 0, NULL, &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.ev[0], MONITOR_DAEMON_DOWN);
	assert_int_equal(s.row[0], 1);
	check(&a, 0, 0, NULL, &s);
	assert_int_equal(s.n, 0);
	/* Two exits between two looks: one notification. */
	STATS_DAEMON_SET(qmgr, restarts, 2);
	check(&a, 0, 0, NULL, &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.row[0], 0);
	/* A row that appears later reports its first restart. */
	struct stats_daemon *lmtpd = stats_daemon_row("lmtpd");
	check(&a, 0, 0, NULL, &s);
	assert_int_equal(s.n, 0);
	STATS_DAEMON_SET(lmtpd, restarts, 1);
	check(&a, 0, 0, NULL, &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.row[0], 2);
}

static void
test_daemon_table_full(void **state)
{
	char name[32];

	for (int i = 0; i < STATS_DAEMONS; i++) {
		snprintf(name, sizeof(name), "daemon-%d", i);
		assert_non_null(stats_daemon_row(name));
	}
	assert_null(stats_daemon_row("one-too-many"));
	assert_int_equal(stats_daemon_count(), STATS_DAEMONS);
	/* A name longer than the row keeps its head. */
	memset(stats, 0, sizeof(*stats));
	assert_string_equal(stats_daemon_row("a-daemon-with-a-very-long-name")->name,
	    "a-daemon-with-a-very-lo");
}

static void
test_queue(void **state)
{
	struct monitor_alarms a = { 0 };
	struct seen s;
	static const struct {
		uint64_t queue;
		int event;	/* -1 none */
	} steps[] = {
		{ 10, -1 }, { 11, MONITOR_QUEUE_OVER }, { 50, -1 }, { 10, -1 },
		{ 9, MONITOR_QUEUE_CLEARED }, { 9, -1 }, { 11, MONITOR_QUEUE_OVER },
	};

	STATS_SET(queue_deferred, 5);
	STATS_SET(queue_hold, 4);
	STATS_SET(queue_incoming, 1);
	assert_int_equal(monitor_queue_messages(), 10);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		STATS_SET(queue_deferred, steps[i].queue - 5);
		check(&a, 10, 0, NULL, &s);
		if (steps[i].event < 0) {
			assert_int_equal(s.n, 0);
		} else {
			assert_int_equal(s.n, 1);
			assert_int_equal(s.ev[0], steps[i].event);
		}
	}
	/*
	 * A small threshold still clears one message under it: a count read in
	 * the middle of a move, one short, does not end the alarm.
	 */
	memset(&a, 0, sizeof(a));
	STATS_SET(queue_hold, 0);
	STATS_SET(queue_incoming, 0);
	STATS_SET(queue_deferred, 3);
	check(&a, 2, 0, NULL, &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.ev[0], MONITOR_QUEUE_OVER);
	STATS_SET(queue_deferred, 2);
	check(&a, 2, 0, NULL, &s);
	assert_int_equal(s.n, 0);
	STATS_SET(queue_deferred, 1);
	check(&a, 2, 0, NULL, &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.ev[0], MONITOR_QUEUE_CLEARED);
	STATS_SET(queue_deferred, 3);
	/* Threshold 0: off, whatever the queue. */
	check(&a, 0, 0, NULL, &s);
	assert_int_equal(s.n, 0);
	/* Already over at the first look: reported. */
	memset(&a, 0, sizeof(a));
	check(&a, 2, 0, NULL, &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.ev[0], MONITOR_QUEUE_OVER);
}

static void
test_disk(void **state)
{
	struct monitor_alarms a = { 0 };
	struct monitor_disk d = { 1, 1000, 100, 89 };
	struct seen s;
	static const struct {
		unsigned int used;
		int event;
	} steps[] = {
		{ 89, -1 }, { 90, MONITOR_DISK_FULL }, { 95, -1 }, { 89, -1 },
		{ 88, MONITOR_DISK_CLEARED }, { 90, MONITOR_DISK_FULL },
	};

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		d.used_percent = steps[i].used;
		check(&a, 0, 90, &d, &s);
		if (steps[i].event < 0) {
			assert_int_equal(s.n, 0);
		} else {
			assert_int_equal(s.n, 1);
			assert_int_equal(s.ev[0], steps[i].event);
		}
	}
	/* A file system that cannot be read changes nothing. */
	d.known = 0;
	d.used_percent = 0;
	check(&a, 0, 90, &d, &s);
	assert_int_equal(s.n, 0);
	check(&a, 0, 90, NULL, &s);
	assert_int_equal(s.n, 0);
}

static void
test_disk_of_a_directory(void **state)
{
	struct monitor_disk d;

	monitor_disk("/", &d);
	assert_int_equal(d.known, 1);
	assert_true(d.size > 0 && d.avail <= d.size && d.used_percent <= 100);
	monitor_disk("/nonexistent/facteur", &d);
	assert_int_equal(d.known, 0);
}

static char *
render(void)
{
	struct evbuffer *b = evbuffer_new();
	size_t len;
	char *text;

	metrics_render(b);
	len = evbuffer_get_length(b);
	text = malloc(len + 1);
	evbuffer_remove(b, text, len);
	text[len] = '\0';
	evbuffer_free(b);
	return text;
}

static void
test_metrics(void **state)
{
	struct stats_daemon *d;
	char *text;

	STATS_SET(smtpd_connections, 5);
	STATS_SET(queue_active, 7);
	STATS_SET(queue_hold, 1);
	d = stats_daemon_row("qmgr");
	STATS_DAEMON_SET(d, pid, 4242);
	STATS_DAEMON_SET(d, restarts, 2);
	STATS_DAEMON_SET(d, started, 1700000000);
	stats_daemon_row("we\"ird\\name");
	text = render();
	assert_non_null(strstr(text, "# HELP facteur_smtpd_connections_total SMTP connections accepted\n"
	    "# TYPE facteur_smtpd_connections_total counter\nfacteur_smtpd_connections_total 5\n"));
	assert_non_null(strstr(text, "# HELP facteur_queue_active messages in active\n"
	    "# TYPE facteur_queue_active gauge\nfacteur_queue_active 7\n"));
	assert_null(strstr(text, "(gauge)"));
	assert_null(strstr(text, "facteur_queue_active_total"));
	assert_non_null(strstr(text, "\nfacteur_queue_messages 8\n"));
	assert_non_null(strstr(text, "\nfacteur_daemon_up{daemon=\"qmgr\"} 1\n"));
	assert_non_null(strstr(text, "\nfacteur_daemon_pid{daemon=\"qmgr\"} 4242\n"));
	assert_non_null(strstr(text, "\nfacteur_daemon_restarts_total{daemon=\"qmgr\"} 2\n"));
	assert_non_null(strstr(text, "\nfacteur_daemon_start_time_seconds{daemon=\"qmgr\"} 1700000000\n"));
	assert_non_null(strstr(text, "\nfacteur_daemon_up{daemon=\"we\\\"ird\\\\name\"} 0\n"));
	/* Every field of the segment, each once. */
	for (unsigned int i = 0; i < stats_nfields; i++) {
		char line[160];

		snprintf(line, sizeof(line), "# TYPE facteur_%s%s %s\n", stats_fields[i].name,
		    stats_is_gauge(i) ? "" : "_total", stats_is_gauge(i) ? "gauge" : "counter");
		assert_non_null(strstr(text, line));
		assert_null(strstr(strstr(text, line) + 1, line));
	}
	free(text);
}

/* The defaults of every parameter (spool_directory, mail_store_directory ...). */
static int
load_defaults(void **state)
{
	const char *error;

	if (config_load("/dev/null", &error) < 0) {
		fprintf(stderr, "config_load: %s\n", error);
		return -1;
	}
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_daemon_down, reset),
		cmocka_unit_test_setup(test_daemon_table_full, reset),
		cmocka_unit_test_setup(test_queue, reset),
		cmocka_unit_test_setup(test_disk, reset),
		cmocka_unit_test_setup(test_disk_of_a_directory, reset),
		cmocka_unit_test_setup(test_metrics, reset),
	};

	return cmocka_run_group_tests(tests, load_defaults, NULL);
}
