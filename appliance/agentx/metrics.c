/* SPDX-License-Identifier: MIT */
/*
 * metrics - Prometheus text format of the stats segment.  See metrics.h.
 */
#include "facteur-config.h"

#include <inttypes.h>
#include <string.h>

#include "lib/config.h"
#include "metrics.h"
#include "monitor.h"

/* HELP text: backslash and newline escaped, as the format asks. */
static void
put_help(struct evbuffer *out, const char *name, const char *help, size_t len)
{
	evbuffer_add_printf(out, "# HELP %s ", name);
	for (size_t i = 0; i < len; i++) {
		if (help[i] == '\\')
			evbuffer_add(out, "\\\\", 2);
		else if (help[i] == '\n')
			evbuffer_add(out, "\\n", 2);
		else
			evbuffer_add(out, &help[i], 1);
	}
	evbuffer_add(out, "\n", 1);
}

static void
put_head(struct evbuffer *out, const char *name, const char *help, const char *type)
{
	put_help(out, name, help, strlen(help));
	evbuffer_add_printf(out, "# TYPE %s %s\n", name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static void
put_label(struct evbuffer *out, const char *value, size_t max)
{
	for (size_t i = 0; i < max && value[i] != '\0'; i++) {
		if (value[i] == '\\' || value[i] == '"')
			evbuffer_add_printf(out, "\\%c", value[i]);
		else if (value[i] == '\n')
			evbuffer_add(out, "\\n", 2);
		else
			evbuffer_add(out, &value[i], 1);
	}
}

static void
put_fields(struct evbuffer *out)
{
	static const char mark[] = " (gauge)";

	for (unsigned int i = 0; i < stats_nfields; i++) {
		const char *help = stats_fields[i].help;
		size_t len = strlen(help);
		char name[128];

		if (stats_is_gauge(i)) {
			snprintf(name, sizeof(name), "facteur_%s", stats_fields[i].name);
			if (len >= sizeof(mark) - 1 && strcmp(help + len - (sizeof(mark) - 1), mark) == 0)
				len -= sizeof(mark) - 1;
			put_help(out, name, help, len);
			evbuffer_add_printf(out, "# TYPE %s gauge\n", name);
		} else {
			snprintf(name, sizeof(name), "facteur_%s_total", stats_fields[i].name);
			put_head(out, name, help, "counter");
		}
		evbuffer_add_printf(out, "%s %" PRIu64 "\n", name, stats_value(i));
	}
}

static void
put_disks(struct evbuffer *out)
{
	struct monitor_disk disk[2];
	static const char *const fs[2] = { "spool", "store" };
	char path[4096];

	monitor_disk(var_spool_directory, &disk[0]);
	monitor_disk(monitor_store_directory(path, sizeof(path)), &disk[1]);
	put_head(out, "facteur_filesystem_size_bytes",
	    "size of the file system holding the spool or the mail store", "gauge");
	for (int i = 0; i < 2; i++)
		if (disk[i].known)
			evbuffer_add_printf(out, "facteur_filesystem_size_bytes{filesystem=\"%s\"} %" PRIu64 "\n",
			    fs[i], disk[i].size);
	put_head(out, "facteur_filesystem_avail_bytes",
	    "bytes still free for unprivileged writers on that file system", "gauge");
	for (int i = 0; i < 2; i++)
		if (disk[i].known)
			evbuffer_add_printf(out, "facteur_filesystem_avail_bytes{filesystem=\"%s\"} %" PRIu64 "\n",
			    fs[i], disk[i].avail);
}

static void
put_daemons(struct evbuffer *out)
{
	static const struct {
		const char *name, *help, *type;
	} series[] = {
		{ "facteur_daemon_up", "1 if the daemon runs now, 0 if not", "gauge" },
		{ "facteur_daemon_pid", "process id of the daemon (0: not running)", "gauge" },
		{ "facteur_daemon_restarts_total", "restarts of the daemon after it exited unasked", "counter" },
		{ "facteur_daemon_start_time_seconds", "time of the daemon's last start, in seconds since the epoch", "gauge" },
	};
	unsigned int n = stats_daemon_count();

	for (size_t s = 0; s < sizeof(series) / sizeof(series[0]); s++) {
		put_head(out, series[s].name, series[s].help, series[s].type);
		for (unsigned int i = 0; i < n; i++) {
			const struct stats_daemon *d = &stats->daemons[i];
			uint64_t pid = STATS_DAEMON_GET(d, pid);
			uint64_t v = s == 0 ? (pid != 0) : s == 1 ? pid : s == 2 ?
			    STATS_DAEMON_GET(d, restarts) : STATS_DAEMON_GET(d, started);

			evbuffer_add_printf(out, "%s{daemon=\"", series[s].name);
			put_label(out, d->name, sizeof(d->name));
			evbuffer_add_printf(out, "\"} %" PRIu64 "\n", v);
		}
	}
}

void
metrics_render(struct evbuffer *out)
{
	put_fields(out);
	put_head(out, "facteur_start_time_seconds",
	    "time the master started, in seconds since the epoch", "gauge");
	evbuffer_add_printf(out, "facteur_start_time_seconds %" PRIu64 "\n",
	    __atomic_load_n(&stats->started, __ATOMIC_RELAXED));
	put_head(out, "facteur_uptime_seconds", "seconds since the master started", "gauge");
	evbuffer_add_printf(out, "facteur_uptime_seconds %" PRIu64 "\n", monitor_uptime());
	put_head(out, "facteur_queue_messages",
	    "messages in the queue: incoming, active, deferred and hold together", "gauge");
	evbuffer_add_printf(out, "facteur_queue_messages %" PRIu64 "\n", monitor_queue_messages());
	put_disks(out);
	put_daemons(out);
}
