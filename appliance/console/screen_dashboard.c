/* SPDX-License-Identifier: MIT */
/*
 * screen_dashboard - facteur at a glance, read again every 2 seconds:
 * the master and its daemons, the queue by state, the counters of the
 * stats segment (the numbers facteurctl stats prints), the spool's free
 * space and whether the antivirus database and the rules are loaded.
 */
#include "facteur-config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "console.h"
#include "lib/config.h"
#include "lib/mem.h"
#include "status.h"
#include "ui.h"

#define REFRESH_MS 2000

static const char help[] =
    "What runs and what passed, read every 2 seconds from the master's pid file, "
    "/proc and the stats segment (the counters of \"facteurctl stats\", since the "
    "master started).\n"
    "\n"
    "Queue: messages in each queue directory now.  Messages: SMTP connections, "
    "messages and recipients accepted, recipients delivered, deferred (attempts) and "
    "bounced, and what was refused (by the policy: unknown recipients, lists, DNSBL, "
    "greylisting, rates; by smtpd: relay denied, size, protocol, storage).  Filter: messages checked and the verdicts.\n"
    "\n"
    "r: read again now   q: back";

/* One "label  value" row of a column. */
static void
row(int y, int x, int w, const char *label, unsigned long long v)
{
	ui_put(y, x + 1, w - 12, UI_NORMAL, label);
	ui_putf(y, x + w - 12, 11, UI_NORMAL, "%10llu", v);
}

/* The master and the daemons the configuration asks for; the rows used. */
static int
draw_services(const struct status *st, int y, int x, int w)
{
	char others[256] = "";
	int y0 = y;

	ui_put(y, x, w, UI_HEADING, "Services");
	if (st->master_pid != 0 && st->stats_ok) {
		long up = (long)(time(NULL) - (time_t)st->stats.started);
		if (up >= 0)
			ui_putf(y, x + 9, w - 10, UI_NORMAL, "(up %ldd %02ldh %02ldm)", up / 86400,
			    up % 86400 / 3600, up % 3600 / 60);
	}
	y++;
	ui_put(y, x + 1, 16, UI_NORMAL, "facteur master");
	if (st->master_pid != 0)
		ui_putf(y, x + 17, w - 18, UI_GOOD, "running  pid %ld", (long)st->master_pid);
	else
		ui_put(y, x + 17, w - 18, UI_BAD, "STOPPED");
	y++;
	for (int i = 0; i < st->ndaemons; i++) {
		const struct status_daemon *d = &st->daemons[i];

		if (!d->wanted && d->pid == 0) {
			snprintf(others + strlen(others), sizeof(others) - strlen(others), "%s%s",
			    others[0] != '\0' ? " " : "", d->name);
			continue;
		}
		ui_put(y, x + 1, 16, UI_NORMAL, d->name);
		if (d->pid != 0 && d->restarts > 0)
			ui_putf(y, x + 17, w - 18, UI_WARN, "running  pid %ld  %llu restart%s", (long)d->pid,
			    d->restarts, d->restarts == 1 ? "" : "s");
		else if (d->pid != 0)
			ui_putf(y, x + 17, w - 18, UI_GOOD, "running  pid %ld", (long)d->pid);
		else if (st->master_pid != 0)
			ui_put(y, x + 17, w - 18, UI_BAD, "NOT RUNNING");
		else
			ui_put(y, x + 17, w - 18, UI_BAD, "stopped");
		y++;
	}
	/*
	 * The others by name, in the rows left beside the queue (7): the
	 * services screen lists them all.
	 */
	if (others[0] != '\0') {
		char line[256] = "not configured:";
		for (char *save = NULL, *name = strtok_r(others, " ", &save); name != NULL;
		    name = strtok_r(NULL, " ", &save)) {
			if ((int)(strlen(line) + 1 + strlen(name)) > w - 2 && y - y0 < 7) {
				ui_put(y++, x + 1, w - 1, UI_NORMAL, line);
				str_copy(line, " ", sizeof(line));
			}
			snprintf(line + strlen(line), sizeof(line) - strlen(line), " %s", name);
		}
		if (y - y0 < 7)
			ui_put(y++, x + 1, w - 1, UI_NORMAL, line);
	}
	return y - y0;
}

/* The rows used. */
static int
draw_queue(const struct status *st, int y, int x, int w)
{
	static const enum queue_state order[] = { Q_INCOMING, Q_ACTIVE, Q_DEFERRED, Q_HOLD,
		Q_QUARANTINE, Q_CORRUPT };

	ui_put(y++, x, w, UI_HEADING, "Queue");
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++, y++) {
		long n = st->queue[order[i]];
		if (n < 0)
			ui_putf(y, x + 1, w - 1, UI_NORMAL, "%-16s %10s", queue_state_name(order[i]), "-");
		else
			row(y, x, w < 30 ? w : 30, queue_state_name(order[i]), (unsigned long long)n);
	}
	return 1 + (int)(sizeof(order) / sizeof(order[0]));
}

static void
draw_counters(const struct status *st, int y, int x, int w)
{
	int cw = w < 30 ? w : 30;
	unsigned long long smtp = status_counter(st, "smtpd_reject_relay") +
	    status_counter(st, "smtpd_reject_size") + status_counter(st, "smtpd_reject_protocol") +
	    status_counter(st, "smtpd_reject_bare_newline") + status_counter(st, "smtpd_reject_storage");

	ui_put(y++, x, w, UI_HEADING, "Messages");
	if (!st->stats_ok) {
		ui_put(y++, x + 1, w - 1, UI_WARN, "no counters:");
		ui_put(y, x + 1, w - 1, UI_WARN, st->stats_error);
		return;
	}
	row(y++, x, cw, "connections", status_counter(st, "smtpd_connections"));
	row(y++, x, cw, "accepted", status_counter(st, "smtpd_messages_accepted"));
	row(y++, x, cw, "recipients", status_counter(st, "smtpd_recipients_accepted"));
	row(y++, x, cw, "delivered", status_counter(st, "qmgr_delivered"));
	row(y++, x, cw, "deferred", status_counter(st, "qmgr_deferred"));
	row(y++, x, cw, "bounced", status_counter(st, "qmgr_bounced"));
	row(y++, x, cw, "refused: policy", status_counter(st, "policy_rejects"));
	row(y, x, cw, "refused: smtp", smtp);
}

static void
draw_filter(const struct status *st, int y, int x, int w)
{
	int cw = w < 30 ? w : 30;

	ui_put(y++, x, w, UI_HEADING, "Filter");
	if (!st->stats_ok)
		return;
	row(y++, x, cw, "checked", status_counter(st, "filter_messages"));
	row(y++, x, cw, "ham", status_counter(st, "filter_ham"));
	row(y++, x, cw, "spam", status_counter(st, "filter_spam"));
	row(y++, x, cw, "viruses", status_counter(st, "av_viruses"));
	row(y++, x, cw, "rejected", status_counter(st, "filter_rejected"));
	row(y++, x, cw, "quarantined", status_counter(st, "filter_quarantined"));
	row(y, x, cw, "tempfailed", status_counter(st, "filter_tempfailed"));
}

static void
draw_bottom(const struct status *st, int y, int half)
{
	char avail[32], size[32];

	if (st->disk_ok) {
		unsigned long long used = st->disk_size - st->disk_avail;
		status_size_text(st->disk_avail, avail, sizeof(avail));
		status_size_text(st->disk_size, size, sizeof(size));
		ui_put(y, 0, 7, UI_HEADING, "Spool");
		ui_putf(y, 7, ui_cols() - 8,
		    st->disk_size > 0 && st->disk_avail * 10 < st->disk_size ? UI_BAD : UI_NORMAL,
		    "%s free of %s (%llu%% used)  %s", avail, size,
		    st->disk_size > 0 ? used * 100 / st->disk_size : 0, var_spool_directory);
	} else {
		ui_putf(y, 0, ui_cols(), UI_BAD, "Spool %s: cannot read its file system", var_spool_directory);
	}
	y++;
	if (!var_av_enable)
		ui_put(y, 0, half - 1, UI_NORMAL, "Antivirus off (av_enable = no)");
	else if (st->stats_ok && st->stats.av_ready)
		ui_putf(y, 0, half - 1, UI_GOOD, "Antivirus ready, %llu signatures",
		    (unsigned long long)st->stats.av_signatures);
	else
		ui_put(y, 0, half - 1, UI_BAD, "Antivirus NOT READY (no database)");
	if (var_filter_rules[0] == '\0')
		ui_put(y, half, ui_cols() - half, UI_NORMAL, "Rules: none configured");
	else if (st->stats_ok && st->stats.filter_rules_ready)
		ui_putf(y, half, ui_cols() - half, UI_GOOD, "Rules ready, %llu in use",
		    (unsigned long long)st->stats.filter_rules_loaded);
	else
		ui_put(y, half, ui_cols() - half, UI_BAD, "Rules NOT READY");
}

void
screen_dashboard(struct console *c)
{
	struct status st;
	struct timespec last = { 0, 0 };

	for (;;) {
		struct timespec now;
		int top = ui_body_top(), half = ui_cols() / 2, key, rows, q;
		long waited;

		clock_gettime(CLOCK_MONOTONIC, &now);
		waited = (now.tv_sec - last.tv_sec) * 1000 + (now.tv_nsec - last.tv_nsec) / 1000000;
		if (waited >= REFRESH_MS) {
			status_read(&st);
			last = now;
			waited = 0;
		}
		ui_frame("Dashboard", "r: refresh now  F1/?: help  q/Esc: back    (refreshed every 2 s)");
		rows = draw_services(&st, top, 0, half);
		q = draw_queue(&st, top, half, ui_cols() - half);
		rows = rows > q ? rows : q;
		draw_counters(&st, top + rows, 0, half);
		draw_filter(&st, top + rows, half, ui_cols() - half);
		draw_bottom(&st, top + rows + 9, half);
		ui_refresh();
		key = ui_getkey(REFRESH_MS - (int)waited, 0);
		switch (key) {
		case UI_KEY_BACK:
			return;
		case UI_KEY_HELP:
			ui_help("Dashboard", help);
			break;
		case 'r': case 'R':
			last.tv_sec = 0;
			last.tv_nsec = 0;
			break;
		default:
			break;
		}
	}
}
