/* SPDX-License-Identifier: MIT */
/*
 * imap_search - SEARCH, ESEARCH, SEARCHRES and SORT.  See imap_search.h.
 */
#include "facteur-config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "filter/charset.h"
#include "filter/mime_header.h"
#include "filter/strbuf.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "store/imap_message.h"
#include "store/imap_search.h"
#include "store/imap_thread.h"
#include "store/imapd.h"

enum skey_type {
	SK_ALL, SK_NONE, SK_SEQSET, SK_UIDSET, SK_SAVED, SK_FLAG, SK_UNFLAG, SK_KEYWORD,
	SK_UNKEYWORD, SK_LARGER, SK_SMALLER, SK_BEFORE, SK_ON, SK_SINCE, SK_SENTBEFORE, SK_SENTON,
	SK_SENTSINCE, SK_OLDER, SK_YOUNGER, SK_HEADER, SK_BODY, SK_TEXT, SK_MODSEQ, SK_NOT, SK_OR,
	SK_AND,
};

struct imap_search_key {
	enum skey_type type;
	unsigned int flag;
	uint64_t n;
	time_t day;
	char *name;		/* header name, keyword */
	char *value;		/* the string searched, lower-cased */
	struct imap_seqset set;
	struct imap_search_key **sub;
	unsigned int nsub;
};

/* ---- parsing ---- */

static struct imap_search_key *
key_new(enum skey_type type)
{
	struct imap_search_key *k = xcalloc(1, sizeof(*k));

	k->type = type;
	return k;
}

void
imap_search_free(struct imap_search_key **kp)
{
	struct imap_search_key *k = *kp;

	if (k == NULL)
		return;
	for (unsigned int i = 0; i < k->nsub; i++)
		imap_search_free(&k->sub[i]);
	free(k->sub);
	free(k->name);
	free(k->value);
	imap_seqset_free(&k->set);
	free(k);
	*kp = NULL;
}

static void
key_add(struct imap_search_key *parent, struct imap_search_key *child)
{
	parent->sub = xrealloc(parent->sub, (parent->nsub + 1) * sizeof(*parent->sub));
	parent->sub[parent->nsub++] = child;
}

static char *
lower_dup(const char *s)
{
	char *out = xstrdup(s);

	for (char *p = out; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	return out;
}

struct sparse {
	const struct imap_arg *args;
	unsigned int n, i;
	int modseq;
	const char *error;
	unsigned int depth;
};

static struct imap_search_key *parse_key(struct sparse *ps);

static int
next_string(struct sparse *ps, const char **s_r)
{
	if (ps->i >= ps->n || !imap_arg_astring(&ps->args[ps->i], s_r)) {
		ps->error = "a search key lacks its string";
		return -1;
	}
	ps->i++;
	return 0;
}

static int
next_date(struct sparse *ps, time_t *t_r)
{
	const char *s;

	if (ps->i >= ps->n || (!imap_arg_atom(&ps->args[ps->i], &s) &&
	    !imap_arg_string(&ps->args[ps->i], &s)) || imap_parse_date(s, t_r) < 0) {
		ps->error = "bad date";
		return -1;
	}
	ps->i++;
	return 0;
}

static int
next_number(struct sparse *ps, uint64_t *n_r)
{
	if (ps->i >= ps->n || !imap_arg_number64(&ps->args[ps->i], n_r)) {
		ps->error = "bad number";
		return -1;
	}
	ps->i++;
	return 0;
}

static const struct {
	const char *name;
	enum skey_type type;
	unsigned int flag;
} flag_keys[] = {
	{ "ANSWERED", SK_FLAG, MSTORE_F_ANSWERED }, { "UNANSWERED", SK_UNFLAG, MSTORE_F_ANSWERED },
	{ "DELETED", SK_FLAG, MSTORE_F_DELETED }, { "UNDELETED", SK_UNFLAG, MSTORE_F_DELETED },
	{ "DRAFT", SK_FLAG, MSTORE_F_DRAFT }, { "UNDRAFT", SK_UNFLAG, MSTORE_F_DRAFT },
	{ "FLAGGED", SK_FLAG, MSTORE_F_FLAGGED }, { "UNFLAGGED", SK_UNFLAG, MSTORE_F_FLAGGED },
	{ "SEEN", SK_FLAG, MSTORE_F_SEEN }, { "UNSEEN", SK_UNFLAG, MSTORE_F_SEEN },
	/* No \Recent in this server: nothing is new, everything old. */
	{ "OLD", SK_ALL, 0 }, { "NEW", SK_NONE, 0 }, { "RECENT", SK_NONE, 0 },
};

static const struct {
	const char *name;
	enum skey_type type;
} date_keys[] = {
	{ "BEFORE", SK_BEFORE }, { "ON", SK_ON }, { "SINCE", SK_SINCE },
	{ "SENTBEFORE", SK_SENTBEFORE }, { "SENTON", SK_SENTON }, { "SENTSINCE", SK_SENTSINCE },
};

static struct imap_search_key *
parse_key(struct sparse *ps)
{
	const struct imap_arg *arg;
	const struct imap_arg *list;
	unsigned int count;
	struct imap_search_key *k = NULL;
	const char *a, *s;

	if (ps->i >= ps->n) {
		ps->error = "missing search key";
		return NULL;
	}
	if (++ps->depth > IMAP_MAX_DEPTH) {
		ps->error = "search program too deep";
		return NULL;
	}
	arg = &ps->args[ps->i++];
	if (imap_arg_list(arg, &list, &count)) {
		struct sparse sub = { list, count, 0, 0, NULL, ps->depth };
		if (count == 0) {
			ps->error = "empty parenthesized search keys";
			goto out;
		}
		k = key_new(SK_AND);
		while (sub.i < sub.n) {
			struct imap_search_key *c = parse_key(&sub);
			if (c == NULL) {
				ps->error = sub.error;
				imap_search_free(&k);
				goto out;
			}
			key_add(k, c);
		}
		ps->modseq |= sub.modseq;
		goto out;
	}
	if (!imap_arg_atom(arg, &a)) {
		ps->error = "a search key must be an atom";
		goto out;
	}
	if ((a[0] >= '0' && a[0] <= '9') || a[0] == '*' || a[0] == '$') {
		k = key_new(SK_SEQSET);
		if (imap_seqset_parse(a, &k->set) < 0) {
			ps->error = "bad sequence set";
			imap_search_free(&k);
		} else if (k->set.saved) {
			k->type = SK_SAVED;
		}
		goto out;
	}
	for (size_t i = 0; i < sizeof(flag_keys) / sizeof(flag_keys[0]); i++) {
		if (str_casecmp(a, flag_keys[i].name) == 0) {
			k = key_new(flag_keys[i].type);
			k->flag = flag_keys[i].flag;
			goto out;
		}
	}
	for (size_t i = 0; i < sizeof(date_keys) / sizeof(date_keys[0]); i++) {
		if (str_casecmp(a, date_keys[i].name) == 0) {
			k = key_new(date_keys[i].type);
			if (next_date(ps, &k->day) < 0)
				imap_search_free(&k);
			goto out;
		}
	}
	if (str_casecmp(a, "ALL") == 0) {
		k = key_new(SK_ALL);
	} else if (str_casecmp(a, "UID") == 0) {
		k = key_new(SK_UIDSET);
		if (ps->i >= ps->n || !imap_arg_atom(&ps->args[ps->i], &s) ||
		    imap_seqset_parse(s, &k->set) < 0) {
			ps->error = "UID needs a set";
			imap_search_free(&k);
			goto out;
		}
		ps->i++;
		if (k->set.saved)
			k->type = SK_SAVED;
	} else if (str_casecmp(a, "KEYWORD") == 0 || str_casecmp(a, "UNKEYWORD") == 0) {
		k = key_new(a[0] == 'K' || a[0] == 'k' ? SK_KEYWORD : SK_UNKEYWORD);
		if (ps->i >= ps->n || !imap_arg_atom(&ps->args[ps->i], &s)) {
			ps->error = "KEYWORD needs a flag";
			imap_search_free(&k);
			goto out;
		}
		ps->i++;
		k->name = xstrdup(s);
	} else if (str_casecmp(a, "LARGER") == 0 || str_casecmp(a, "SMALLER") == 0) {
		k = key_new(str_casecmp(a, "LARGER") == 0 ? SK_LARGER : SK_SMALLER);
		if (next_number(ps, &k->n) < 0)
			imap_search_free(&k);
	} else if (str_casecmp(a, "OLDER") == 0 || str_casecmp(a, "YOUNGER") == 0) {
		k = key_new(str_casecmp(a, "OLDER") == 0 ? SK_OLDER : SK_YOUNGER);
		if (next_number(ps, &k->n) < 0 || k->n == 0) {
			ps->error = "bad interval";
			imap_search_free(&k);
		}
	} else if (str_casecmp(a, "FROM") == 0 || str_casecmp(a, "TO") == 0 ||
	    str_casecmp(a, "CC") == 0 || str_casecmp(a, "BCC") == 0 ||
	    str_casecmp(a, "SUBJECT") == 0) {
		k = key_new(SK_HEADER);
		k->name = xstrdup(a);
		if (next_string(ps, &s) < 0)
			imap_search_free(&k);
		else
			k->value = lower_dup(s);
	} else if (str_casecmp(a, "HEADER") == 0) {
		const char *name;
		k = key_new(SK_HEADER);
		if (next_string(ps, &name) < 0 || next_string(ps, &s) < 0) {
			imap_search_free(&k);
			goto out;
		}
		k->name = xstrdup(name);
		k->value = lower_dup(s);
	} else if (str_casecmp(a, "BODY") == 0 || str_casecmp(a, "TEXT") == 0) {
		k = key_new(str_casecmp(a, "BODY") == 0 ? SK_BODY : SK_TEXT);
		if (next_string(ps, &s) < 0)
			imap_search_free(&k);
		else
			k->value = lower_dup(s);
	} else if (str_casecmp(a, "MODSEQ") == 0) {
		/* MODSEQ ["entry-name" entry-type] modseq: the entry is accepted, not used. */
		k = key_new(SK_MODSEQ);
		if (ps->i + 2 < ps->n + 0 && ps->args[ps->i].type == IMAP_ARG_QUOTED)
			ps->i += 2;
		if (next_number(ps, &k->n) < 0)
			imap_search_free(&k);
		ps->modseq = 1;
	} else if (str_casecmp(a, "NOT") == 0) {
		struct imap_search_key *c = parse_key(ps);
		if (c != NULL) {
			k = key_new(SK_NOT);
			key_add(k, c);
		}
	} else if (str_casecmp(a, "OR") == 0) {
		struct imap_search_key *c1 = parse_key(ps), *c2 = c1 != NULL ? parse_key(ps) : NULL;
		if (c1 != NULL && c2 != NULL) {
			k = key_new(SK_OR);
			key_add(k, c1);
			key_add(k, c2);
		} else {
			imap_search_free(&c1);
		}
	} else {
		ps->error = "unknown search key";
	}
out:
	ps->depth--;
	return k;
}

struct imap_search_key *
imap_search_parse(const struct imap_arg *args, unsigned int n, int *uses_modseq_r,
    const char **error_r)
{
	struct sparse ps = { args, n, 0, 0, NULL, 0 };
	struct imap_search_key *all;

	if (n == 0) {
		*error_r = "missing search keys";
		return NULL;
	}
	all = key_new(SK_AND);
	while (ps.i < ps.n) {
		struct imap_search_key *k = parse_key(&ps);
		if (k == NULL) {
			*error_r = ps.error != NULL ? ps.error : "bad search key";
			imap_search_free(&all);
			return NULL;
		}
		key_add(all, k);
	}
	*uses_modseq_r = ps.modseq;
	return all;
}

/* ---- dates of headers ---- */

time_t
imap_search_rfc5322_date(const char *v, int day_only)
{
	static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	struct tm tm;
	int day = 0, year = 0, mon = -1, digits = 0, h = 0, m = 0, sec = 0, zone = 0;
	const char *p = v;
	time_t t;

	if (v == NULL)
		return -1;
	/* [day-name ","] day month year [hh:mm[:ss] [zone]] */
	while (*p == ' ' || *p == '\t')
		p++;
	if (isalpha((unsigned char)*p)) {
		while (*p != '\0' && *p != ',' && *p != ' ')
			p++;
		if (*p == ',')
			p++;
	}
	while (*p == ' ' || *p == '\t')
		p++;
	while (isdigit((unsigned char)*p) && digits < 2) {
		day = day * 10 + (*p++ - '0');
		digits++;
	}
	if (digits == 0)
		return -1;
	while (*p == ' ' || *p == '\t' || *p == '-')
		p++;
	for (int i = 0; i < 12; i++)
		if (str_ncasecmp(p, months + 3 * i, 3) == 0)
			mon = i;
	if (mon < 0)
		return -1;
	p += 3;
	while (isalpha((unsigned char)*p))
		p++;
	while (*p == ' ' || *p == '\t' || *p == '-')
		p++;
	digits = 0;
	while (isdigit((unsigned char)*p) && digits < 4) {
		year = year * 10 + (*p++ - '0');
		digits++;
	}
	if (digits == 2)
		year += year < 50 ? 2000 : 1900;
	else if (digits == 3)
		year += 1900;
	else if (digits != 4)
		return -1;
	if (day < 1 || day > 31)
		return -1;
	/* The time and zone, when they are readable; else midnight UTC. */
	while (*p == ' ' || *p == '\t')
		p++;
	if (!day_only && isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1]) && p[2] == ':' &&
	    isdigit((unsigned char)p[3]) && isdigit((unsigned char)p[4])) {
		h = (p[0] - '0') * 10 + (p[1] - '0');
		m = (p[3] - '0') * 10 + (p[4] - '0');
		p += 5;
		if (p[0] == ':' && isdigit((unsigned char)p[1]) && isdigit((unsigned char)p[2])) {
			sec = (p[1] - '0') * 10 + (p[2] - '0');
			p += 3;
		}
		while (*p == ' ' || *p == '\t')
			p++;
		if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
		    isdigit((unsigned char)p[2]) && isdigit((unsigned char)p[3]) &&
		    isdigit((unsigned char)p[4])) {
			zone = ((p[1] - '0') * 10 + (p[2] - '0')) * 60 + (p[3] - '0') * 10 + (p[4] - '0');
			if (*p == '-')
				zone = -zone;
		}
		if (h > 23 || m > 59 || sec > 60)
			h = m = sec = zone = 0;
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_mday = day;
	tm.tm_mon = mon;
	tm.tm_year = year - 1900;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	t = timegm(&tm);
	return t == (time_t)-1 ? -1 : t - (time_t)zone * 60;
}

/* ---- evaluation ---- */

struct smatch {
	struct imapd_session *s;
	const struct mstore_msg *msg;
	uint32_t seq;
	struct imap_message *m;	/* opened when a key needs it */
	char *hdr;		/* or only the cached header block, unparsed */
	size_t hdr_len;
	int open_failed;
	time_t now;
};

/*
 * The message for a key: for header fields only, its header block from
 * the index's cache when it is there (nothing parsed), else the whole
 * message.
 */
static int
message_needed(struct smatch *c, int headers_only)
{
	const char *error;

	if (c->m != NULL || (headers_only && c->hdr != NULL))
		return 1;
	if (headers_only && !c->open_failed &&
	    mstore_headers(imapd_sel_account(c->s), c->msg->blob, &c->hdr, &c->hdr_len) == 1)
		return 1;
	if (!c->open_failed) {
		c->m = imapd_message_open(c->msg->blob, &error);
		if (c->m == NULL) {
			log_warnx("imap: user=%s uid=%u: %s", imapd_user(c->s), c->msg->uid, error);
			c->open_failed = 1;
		}
	}
	return c->m != NULL;
}

/* Header fields of the message, from the whole message or the cached block. */
static char *
msg_header(struct smatch *c, const char *name)
{
	return c->m != NULL ? imap_message_header(c->m, name) :
	    imap_header_block_get(c->hdr, c->hdr_len, name);
}

static int
msg_header_each(struct smatch *c, const char *name, int (*fn)(void *ctx, const char *value),
    void *ctx)
{
	return c->m != NULL ? imap_message_header_each(c->m, name, fn, ctx) :
	    imap_header_block_each(c->hdr, c->hdr_len, name, fn, ctx);
}

/* ASCII case-insensitive substring; needle is lower-case already. */
static int
contains(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	if (n == 0)
		return 1;
	if (len < n)
		return 0;
	for (size_t i = 0; i + n <= len; i++) {
		size_t k = 0;
		while (k < n) {
			char c = hay[i + k];
			if (c >= 'A' && c <= 'Z')
				c = (char)(c + 32);
			if (c != needle[k])
				break;
			k++;
		}
		if (k == n)
			return 1;
	}
	return 0;
}

struct header_match {
	const char *needle;
	struct charset_conv *conv;
	int found;
};

static int
header_value_match(void *arg, const char *value)
{
	struct header_match *h = arg;
	struct strbuf out = { NULL, 0, 0 };

	mime_header_decode(value, strlen(value), &out, &h->conv);
	h->found = contains(out.data != NULL ? out.data : "", out.len, h->needle);
	strbuf_free(&out);
	return h->found;
}

struct text_match {
	const char *needle;
	int found;
};

static void
text_piece(void *arg, const char *utf8, size_t len)
{
	struct text_match *t = arg;

	if (!t->found)
		t->found = contains(utf8, len, t->needle);
}

static int
keyword_has(const char *list, const char *kw)
{
	size_t len = strlen(kw);

	while (*list != '\0') {
		size_t n = strcspn(list, " ");
		if (n == len && str_ncasecmp(list, kw, len) == 0)
			return 1;
		list += n;
		while (*list == ' ')
			list++;
	}
	return 0;
}

static time_t
day_of(int64_t t)
{
	return (time_t)(t - (t % 86400 + 86400) % 86400);
}

static int
match(const struct imap_search_key *k, struct smatch *c)
{
	const struct mstore_msg *msg = c->msg;
	struct imapd_selected *sel = imapd_selected(c->s);

	switch (k->type) {
	case SK_ALL:
		return 1;
	case SK_NONE:
		return 0;
	case SK_SEQSET: {
		struct imap_seqset set = k->set;
		struct imap_range r[1];
		/* Resolve * against the view without changing the key. */
		for (unsigned int i = 0; i < set.count; i++) {
			r[0] = set.v[i];
			if (r[0].lo == IMAP_SEQ_STAR)
				r[0].lo = sel->count;
			if (r[0].hi == IMAP_SEQ_STAR)
				r[0].hi = sel->count;
			if ((c->seq >= r[0].lo && c->seq <= r[0].hi) ||
			    (c->seq >= r[0].hi && c->seq <= r[0].lo))
				return 1;
		}
		return 0;
	}
	case SK_UIDSET: {
		uint32_t max = sel->count > 0 ? sel->msgs[sel->count - 1].uid : 0;
		for (unsigned int i = 0; i < k->set.count; i++) {
			uint32_t lo = k->set.v[i].lo == IMAP_SEQ_STAR ? max : k->set.v[i].lo;
			uint32_t hi = k->set.v[i].hi == IMAP_SEQ_STAR ? max : k->set.v[i].hi;
			if (lo > hi) {
				uint32_t t = lo;
				lo = hi;
				hi = t;
			}
			if (msg->uid >= lo && msg->uid <= hi)
				return 1;
		}
		return 0;
	}
	case SK_SAVED:
		for (size_t i = 0; i < sel->nsaved; i++)
			if (sel->saved[i] == msg->uid)
				return 1;
		return 0;
	case SK_FLAG:
		return (msg->flags & k->flag) != 0;
	case SK_UNFLAG:
		return (msg->flags & k->flag) == 0;
	case SK_KEYWORD:
		return keyword_has(msg->keywords, k->name);
	case SK_UNKEYWORD:
		return !keyword_has(msg->keywords, k->name);
	case SK_LARGER:
		return msg->size > k->n;
	case SK_SMALLER:
		return msg->size < k->n;
	case SK_BEFORE:
		return day_of(msg->internaldate) < k->day;
	case SK_ON:
		return day_of(msg->internaldate) == k->day;
	case SK_SINCE:
		return day_of(msg->internaldate) >= k->day;
	case SK_OLDER:
		return (uint64_t)(c->now - (time_t)msg->internaldate) >= k->n;
	case SK_YOUNGER:
		return c->now - (time_t)msg->internaldate <= (time_t)k->n;
	case SK_MODSEQ:
		return msg->modseq >= k->n;
	case SK_SENTBEFORE:
	case SK_SENTON:
	case SK_SENTSINCE: {
		char *date;
		time_t day;
		if (!message_needed(c, 1))
			return 0;
		date = msg_header(c, "Date");
		/* The day as the sender wrote it, time and zone disregarded (RFC 3501 6.4.4). */
		day = imap_search_rfc5322_date(date, 1);
		free(date);
		/* No readable Date: the internal date stands in (as Dovecot does). */
		if (day == (time_t)-1)
			day = day_of(msg->internaldate);
		return k->type == SK_SENTBEFORE ? day < k->day : k->type == SK_SENTON ?
		    day == k->day : day >= k->day;
	}
	case SK_HEADER: {
		struct header_match h = { k->value, NULL, 0 };
		if (!message_needed(c, 1))
			return 0;
		msg_header_each(c, k->name, header_value_match, &h);
		charset_conv_free(&h.conv);
		return h.found;
	}
	case SK_BODY:
	case SK_TEXT: {
		struct text_match t = { k->value, 0 };
		if (!message_needed(c, 0))
			return 0;
		if (k->type == SK_TEXT) {
			const char *hdr;
			size_t len;
			struct strbuf dec = { NULL, 0, 0 };
			struct charset_conv *conv = NULL;
			imap_message_header_block(c->m, &hdr, &len);
			mime_header_decode(hdr, len, &dec, &conv);
			charset_conv_free(&conv);
			t.found = contains(dec.data != NULL ? dec.data : "", dec.len, k->value) ||
			    contains(hdr, len, k->value);
			strbuf_free(&dec);
			if (t.found)
				return 1;
		}
		imap_message_text(c->m, text_piece, &t);
		return t.found;
	}
	case SK_NOT:
		return !match(k->sub[0], c);
	case SK_OR:
		return match(k->sub[0], c) || match(k->sub[1], c);
	case SK_AND:
		for (unsigned int i = 0; i < k->nsub; i++)
			if (!match(k->sub[i], c))
				return 0;
		return 1;
	}
	return 0;
}

/* ---- the commands ---- */

#define RET_MIN 0x01
#define RET_MAX 0x02
#define RET_COUNT 0x04
#define RET_ALL 0x08
#define RET_SAVE 0x10

struct search_run {
	struct imapd_session *s;
	const struct imap_search_key *key;
	uint32_t *uids, *seqs;
	size_t n, cap;
	uint64_t max_modseq;
	time_t now;
	/* SORT's keys, per match. */
	struct sort_item *items;
};

struct sort_item {
	uint32_t seq, uid;
	int64_t arrival;
	uint64_t size;
	time_t date;
	char blob[MSTORE_BLOB_ID_SIZE];
	char *from, *to, *cc, *subject, *dfrom, *dto;
	char *message_id, *references, *in_reply_to;
	int reply;
};

static int
search_one(const struct mstore_msg *msg, void *arg)
{
	struct search_run *r = arg;
	struct smatch c;
	uint32_t seq = imapd_seq_of(imapd_selected(r->s), msg->uid);

	if (seq == 0)
		return 0;
	memset(&c, 0, sizeof(c));
	c.s = r->s;
	c.msg = msg;
	c.seq = seq;
	c.now = r->now;
	if (match(r->key, &c)) {
		if (r->n == r->cap) {
			r->cap = r->cap < 64 ? 64 : r->cap * 2;
			r->uids = xrealloc(r->uids, r->cap * sizeof(*r->uids));
			r->seqs = xrealloc(r->seqs, r->cap * sizeof(*r->seqs));
			r->items = xrealloc(r->items, r->cap * sizeof(*r->items));
		}
		r->uids[r->n] = msg->uid;
		r->seqs[r->n] = seq;
		memset(&r->items[r->n], 0, sizeof(r->items[0]));
		r->items[r->n].seq = seq;
		r->items[r->n].uid = msg->uid;
		r->items[r->n].arrival = msg->internaldate;
		r->items[r->n].size = msg->size;
		memcpy(r->items[r->n].blob, msg->blob, sizeof(r->items[r->n].blob));
		r->n++;
		if (msg->modseq > r->max_modseq)
			r->max_modseq = msg->modseq;
	}
	imap_message_free(&c.m);
	free(c.hdr);
	return 0;
}

/* Parse [CHARSET x] and run the keys; 0, or -1 after a tagged reply. */
static int
search_keys(struct imapd_session *s, const struct imap_arg *args, unsigned int n,
    struct search_run *r, int *uses_modseq_r)
{
	struct imapd_selected *sel = imapd_selected(s);
	struct imap_search_key *key;
	const char *a, *error;

	if (n >= 2 && imap_arg_atom(&args[0], &a) && str_casecmp(a, "CHARSET") == 0) {
		const char *cs;
		if (!imap_arg_astring(&args[1], &cs)) {
			imapd_bad(s, "CHARSET needs a name");
			return -1;
		}
		if (str_casecmp(cs, "UTF-8") != 0 && str_casecmp(cs, "US-ASCII") != 0) {
			imapd_tagged(s, "NO", "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
			return -1;
		}
		args += 2;
		n -= 2;
	}
	key = imap_search_parse(args, n, uses_modseq_r, &error);
	if (key == NULL) {
		imapd_bad(s, error);
		return -1;
	}
	if (*uses_modseq_r)
		imapd_enable_condstore(s);
	r->s = s;
	r->key = key;
	r->now = time(NULL);
	if (sel->count > 0 && mstore_messages(imapd_sel_account(s), sel->id, NULL, 0, search_one, r,
	    &error) < 0) {
		imap_search_free(&key);
		imapd_tagged(s, "NO", "[SERVERBUG] Search failed");
		return -1;
	}
	imap_search_free(&key);
	return 0;
}

static void
run_free(struct search_run *r)
{
	for (size_t i = 0; i < r->n && r->items != NULL; i++) {
		free(r->items[i].from);
		free(r->items[i].to);
		free(r->items[i].cc);
		free(r->items[i].subject);
		free(r->items[i].dfrom);
		free(r->items[i].dto);
		free(r->items[i].message_id);
		free(r->items[i].references);
		free(r->items[i].in_reply_to);
	}
	free(r->items);
	free(r->uids);
	free(r->seqs);
}

static void
search_common(struct imapd_session *s, const struct imap_command *cmd, int uid)
{
	struct imapd_selected *sel = imapd_selected(s);
	const struct imap_arg *args = cmd->args, *opts;
	unsigned int n = cmd->count, nopts, ret = 0;
	int esearch = 0, uses_modseq = 0;
	struct search_run r;
	const char *a;

	memset(&r, 0, sizeof(r));
	if (n >= 2 && imap_arg_atom(&args[0], &a) && str_casecmp(a, "RETURN") == 0) {
		if (!imap_arg_list(&args[1], &opts, &nopts)) {
			imapd_bad(s, "RETURN needs a list");
			return;
		}
		for (unsigned int i = 0; i < nopts; i++) {
			if (!imap_arg_atom(&opts[i], &a)) {
				imapd_bad(s, "bad RETURN option");
				return;
			}
			if (str_casecmp(a, "MIN") == 0)
				ret |= RET_MIN;
			else if (str_casecmp(a, "MAX") == 0)
				ret |= RET_MAX;
			else if (str_casecmp(a, "COUNT") == 0)
				ret |= RET_COUNT;
			else if (str_casecmp(a, "ALL") == 0)
				ret |= RET_ALL;
			else if (str_casecmp(a, "SAVE") == 0)
				ret |= RET_SAVE;
			else {
				imapd_bad(s, "unknown RETURN option");
				return;
			}
		}
		/* RETURN () is RETURN (ALL). */
		if (ret == 0)
			ret = RET_ALL;
		esearch = 1;
		args += 2;
		n -= 2;
	} else if (imapd_enabled(s) & IMAPD_EN_REV2) {
		/* IMAP4rev2 answers every SEARCH with ESEARCH. */
		esearch = 1;
		ret = RET_ALL;
	}
	if (search_keys(s, args, n, &r, &uses_modseq) < 0) {
		/* A failed SAVE empties $ (RFC 5182). */
		if (ret & RET_SAVE)
			sel->nsaved = 0;
		run_free(&r);
		return;
	}
	if (ret & RET_SAVE) {
		free(sel->saved);
		sel->saved = r.n > 0 ? xmalloc(r.n * sizeof(*sel->saved)) : NULL;
		if (r.n > 0)
			memcpy(sel->saved, r.uids, r.n * sizeof(*sel->saved));
		sel->nsaved = r.n;
	}
	if (!esearch) {
		struct imap_out o = { NULL, 0, 0 };
		imap_out_printf(&o, "* SEARCH");
		for (size_t i = 0; i < r.n; i++)
			imap_out_printf(&o, " %u", uid ? r.uids[i] : r.seqs[i]);
		if (uses_modseq && r.n > 0)
			imap_out_printf(&o, " (MODSEQ %llu)", (unsigned long long)r.max_modseq);
		imap_out_add(&o, "\r\n", 2);
		imapd_send_raw(s, o.data, o.len);
		imap_out_free(&o);
	} else if (ret != RET_SAVE) {
		/* Only SAVE: no ESEARCH response at all (RFC 5182 2.1). */
		struct imap_out o = { NULL, 0, 0 };
		uint32_t *v = uid ? r.uids : r.seqs;
		imap_out_printf(&o, "* ESEARCH (TAG ");
		imap_out_string(&o, imapd_tag(s), strlen(imapd_tag(s)));
		imap_out_printf(&o, ")%s", uid ? " UID" : "");
		if ((ret & RET_MIN) && r.n > 0)
			imap_out_printf(&o, " MIN %u", v[0]);
		if ((ret & RET_MAX) && r.n > 0)
			imap_out_printf(&o, " MAX %u", v[r.n - 1]);
		if (ret & RET_COUNT)
			imap_out_printf(&o, " COUNT %zu", r.n);
		if ((ret & RET_ALL) && r.n > 0) {
			char *buf = NULL;
			size_t size = 0;
			imap_seqset_format(v, r.n, &buf, &size);
			imap_out_printf(&o, " ALL %s", buf);
			free(buf);
		}
		if (uses_modseq && r.n > 0)
			imap_out_printf(&o, " MODSEQ %llu", (unsigned long long)r.max_modseq);
		imap_out_add(&o, "\r\n", 2);
		imapd_send_raw(s, o.data, o.len);
		imap_out_free(&o);
	}
	run_free(&r);
	imapd_tagged(s, "OK", "%s completed", uid ? "UID SEARCH" : "SEARCH");
}

static void
cmd_search(struct imapd_session *s, const struct imap_command *cmd)
{
	search_common(s, cmd, 0);
}

static void
cmd_uid_search(struct imapd_session *s, const struct imap_command *cmd)
{
	search_common(s, cmd, 1);
}

/* ---- SORT (RFC 5256, RFC 5957) ---- */

/* The RFC 5256 base subject of a raw Subject value (encoded-words decoded first). */
static char *
base_subject(const char *raw, int *reply_r)
{
	struct strbuf dec = { NULL, 0, 0 };
	struct charset_conv *conv = NULL;
	char *s;

	*reply_r = 0;
	if (raw == NULL)
		return xstrdup("");
	mime_header_decode(raw, strlen(raw), &dec, &conv);
	charset_conv_free(&conv);
	s = imap_thread_base_subject(dec.data != NULL ? dec.data : "", reply_r);
	strbuf_free(&dec);
	return s;
}

/* The first address's local part (lower-cased), or its display name for DISPLAY* keys. */
static char *
first_address(const char *raw, int display)
{
	struct strbuf dec = { NULL, 0, 0 };
	struct charset_conv *conv = NULL;
	const char *v, *lt, *at;
	char *out, *p;
	size_t len;

	if (raw == NULL)
		return xstrdup("");
	mime_header_decode(raw, strlen(raw), &dec, &conv);
	charset_conv_free(&conv);
	v = dec.data != NULL ? dec.data : "";
	len = strcspn(v, ",");
	lt = memchr(v, '<', len);
	if (display && lt != NULL && lt > v) {
		const char *start = v, *end = lt;
		while (start < end && (*start == ' ' || *start == '"'))
			start++;
		while (end > start && (end[-1] == ' ' || end[-1] == '"'))
			end--;
		if (end > start) {
			out = xstrndup(start, (size_t)(end - start));
			goto done;
		}
	}
	if (lt != NULL) {
		v = lt + 1;
		len = strcspn(v, ">");
	}
	while (len > 0 && *v == ' ') {
		v++;
		len--;
	}
	at = memchr(v, '@', len);
	/* DISPLAYFROM without a name: the whole address (RFC 5957). */
	out = xstrndup(v, display ? strcspn(v, "> ,") : at != NULL ? (size_t)(at - v) : len);
done:
	for (p = out; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	strbuf_free(&dec);
	return out;
}

/* Read what SORT (and THREAD, with thread) needs of a matched message. */
static void
item_fill(struct imapd_session *s, struct sort_item *it, int thread)
{
	struct imap_message *m = NULL;
	const char *error;
	char *v, *hdr = NULL;
	size_t len;

	it->date = (time_t)it->arrival;
	/* Header fields only: the cached header block does. */
	if (mstore_headers(imapd_sel_account(s), it->blob, &hdr, &len) == 1)
		m = imap_message_parse(hdr, len);
	if (m == NULL && (m = imapd_message_open(it->blob, &error)) == NULL) {
		free(hdr);
		log_warnx("imap: user=%s uid=%u: %s", imapd_user(s), it->uid, error);
		it->subject = xstrdup("");
		return;
	}
	v = imap_message_header(m, "Date");
	it->date = imap_search_rfc5322_date(v, 0);
	if (it->date == (time_t)-1)
		it->date = (time_t)it->arrival;
	free(v);
	v = imap_message_header(m, "Subject");
	it->subject = base_subject(v, &it->reply);
	free(v);
	if (thread) {
		it->message_id = imap_message_header(m, "Message-ID");
		it->references = imap_message_header(m, "References");
		it->in_reply_to = imap_message_header(m, "In-Reply-To");
	} else {
		v = imap_message_header(m, "From");
		it->from = first_address(v, 0);
		it->dfrom = first_address(v, 1);
		free(v);
		v = imap_message_header(m, "To");
		it->to = first_address(v, 0);
		it->dto = first_address(v, 1);
		free(v);
		v = imap_message_header(m, "Cc");
		it->cc = first_address(v, 0);
		free(v);
	}
	imap_message_free(&m);
	free(hdr);
}

enum sort_key { SO_ARRIVAL, SO_CC, SO_DATE, SO_FROM, SO_SIZE, SO_SUBJECT, SO_TO, SO_DFROM,
	SO_DTO };

struct sort_crit {
	enum sort_key key;
	int reverse;
};

static struct sort_crit sort_crits[16];
static unsigned int sort_ncrits;

static int
cmp_str(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "");
}

static int
sort_cmp(const void *pa, const void *pb)
{
	const struct sort_item *a = pa, *b = pb;

	for (unsigned int i = 0; i < sort_ncrits; i++) {
		int c = 0;
		switch (sort_crits[i].key) {
		case SO_ARRIVAL:
			c = a->arrival < b->arrival ? -1 : a->arrival > b->arrival;
			break;
		case SO_DATE:
			c = a->date < b->date ? -1 : a->date > b->date;
			break;
		case SO_SIZE:
			c = a->size < b->size ? -1 : a->size > b->size;
			break;
		case SO_FROM:
			c = cmp_str(a->from, b->from);
			break;
		case SO_TO:
			c = cmp_str(a->to, b->to);
			break;
		case SO_CC:
			c = cmp_str(a->cc, b->cc);
			break;
		case SO_SUBJECT:
			c = cmp_str(a->subject, b->subject);
			break;
		case SO_DFROM:
			c = cmp_str(a->dfrom, b->dfrom);
			break;
		case SO_DTO:
			c = cmp_str(a->dto, b->dto);
			break;
		}
		if (c != 0)
			return sort_crits[i].reverse ? -c : c;
	}
	/* Ties: by sequence number (RFC 5256 3). */
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void
sort_common(struct imapd_session *s, const struct imap_command *cmd, int uid)
{
	const struct imap_arg *crit;
	unsigned int ncrit;
	const char *a, *cs;
	struct search_run r;
	int uses_modseq = 0, reverse = 0, need_msg = 0;

	memset(&r, 0, sizeof(r));
	if (cmd->count < 3 || !imap_arg_list(&cmd->args[0], &crit, &ncrit) || ncrit == 0 ||
	    !imap_arg_astring(&cmd->args[1], &cs)) {
		imapd_bad(s, "SORT (criteria) charset keys");
		return;
	}
	sort_ncrits = 0;
	for (unsigned int i = 0; i < ncrit; i++) {
		static const struct { const char *name; enum sort_key key; } keys[] = {
			{ "ARRIVAL", SO_ARRIVAL }, { "CC", SO_CC }, { "DATE", SO_DATE },
			{ "FROM", SO_FROM }, { "SIZE", SO_SIZE }, { "SUBJECT", SO_SUBJECT },
			{ "TO", SO_TO }, { "DISPLAYFROM", SO_DFROM }, { "DISPLAYTO", SO_DTO },
		};
		int found = 0;
		if (!imap_arg_atom(&crit[i], &a)) {
			imapd_bad(s, "bad sort criterion");
			return;
		}
		if (str_casecmp(a, "REVERSE") == 0 && !reverse) {
			reverse = 1;
			continue;
		}
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]) && !found; k++) {
			if (str_casecmp(a, keys[k].name) == 0 && sort_ncrits < 16) {
				sort_crits[sort_ncrits].key = keys[k].key;
				sort_crits[sort_ncrits].reverse = reverse;
				sort_ncrits++;
				found = 1;
				need_msg |= keys[k].key != SO_ARRIVAL && keys[k].key != SO_SIZE;
			}
		}
		if (!found) {
			imapd_bad(s, "bad sort criterion");
			return;
		}
		reverse = 0;
	}
	if (reverse) {
		imapd_bad(s, "REVERSE must precede a criterion");
		return;
	}
	if (str_casecmp(cs, "UTF-8") != 0 && str_casecmp(cs, "US-ASCII") != 0) {
		imapd_tagged(s, "NO", "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
		return;
	}
	if (search_keys(s, cmd->args + 2, cmd->count - 2, &r, &uses_modseq) < 0) {
		run_free(&r);
		return;
	}
	for (size_t i = 0; i < r.n && need_msg; i++)
		item_fill(s, &r.items[i], 0);
	if (r.n > 1)
		qsort(r.items, r.n, sizeof(r.items[0]), sort_cmp);
	{
		struct imap_out o = { NULL, 0, 0 };
		imap_out_printf(&o, "* SORT");
		for (size_t i = 0; i < r.n; i++)
			imap_out_printf(&o, " %u", uid ? r.items[i].uid : r.items[i].seq);
		if (uses_modseq && r.n > 0)
			imap_out_printf(&o, " (MODSEQ %llu)", (unsigned long long)r.max_modseq);
		imap_out_add(&o, "\r\n", 2);
		imapd_send_raw(s, o.data, o.len);
		imap_out_free(&o);
	}
	run_free(&r);
	imapd_tagged(s, "OK", "%s completed", uid ? "UID SORT" : "SORT");
}

static void
cmd_sort(struct imapd_session *s, const struct imap_command *cmd)
{
	sort_common(s, cmd, 0);
}

static void
cmd_uid_sort(struct imapd_session *s, const struct imap_command *cmd)
{
	sort_common(s, cmd, 1);
}

/* ---- THREAD (RFC 5256) ---- */

static void
thread_common(struct imapd_session *s, const struct imap_command *cmd, int uid)
{
	const char *algo_name, *cs;
	enum imap_thread_algo algo;
	struct search_run r;
	struct imap_thread_msg *msgs;
	struct imap_out o = { NULL, 0, 0 };
	int uses_modseq = 0;

	memset(&r, 0, sizeof(r));
	if (cmd->count < 3 || !imap_arg_atom(&cmd->args[0], &algo_name) ||
	    !imap_arg_astring(&cmd->args[1], &cs)) {
		imapd_bad(s, "THREAD algorithm charset keys");
		return;
	}
	if (str_casecmp(algo_name, "REFERENCES") == 0)
		algo = IMAP_THREAD_REFERENCES;
	else if (str_casecmp(algo_name, "ORDEREDSUBJECT") == 0)
		algo = IMAP_THREAD_ORDEREDSUBJECT;
	else {
		imapd_bad(s, "Unknown threading algorithm");
		return;
	}
	if (str_casecmp(cs, "UTF-8") != 0 && str_casecmp(cs, "US-ASCII") != 0) {
		imapd_tagged(s, "NO", "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
		return;
	}
	if (search_keys(s, cmd->args + 2, cmd->count - 2, &r, &uses_modseq) < 0) {
		run_free(&r);
		return;
	}
	msgs = xcalloc(r.n + 1, sizeof(*msgs));
	for (size_t i = 0; i < r.n; i++) {
		struct sort_item *it = &r.items[i];
		item_fill(s, it, 1);
		msgs[i].n = uid ? it->uid : it->seq;
		msgs[i].message_id = it->message_id;
		msgs[i].references = it->references;
		msgs[i].in_reply_to = it->in_reply_to;
		msgs[i].base_subject = it->subject;
		msgs[i].reply = it->reply;
		msgs[i].date = it->date;
	}
	imap_out_printf(&o, "* THREAD ");
	imap_thread(msgs, r.n, algo, &o);
	/* "* THREAD " with nothing after it: no trailing blank. */
	if (r.n == 0)
		o.len--;
	imap_out_add(&o, "\r\n", 2);
	imapd_send_raw(s, o.data, o.len);
	imap_out_free(&o);
	free(msgs);
	run_free(&r);
	imapd_tagged(s, "OK", "%s completed", uid ? "UID THREAD" : "THREAD");
}

static void
cmd_thread(struct imapd_session *s, const struct imap_command *cmd)
{
	thread_common(s, cmd, 0);
}

static void
cmd_uid_thread(struct imapd_session *s, const struct imap_command *cmd)
{
	thread_common(s, cmd, 1);
}

const struct imapd_command imap_search_commands[] = {
	{ "SEARCH", IMAPD_S_SELECTED, cmd_search },
	{ "UID SEARCH", IMAPD_S_SELECTED, cmd_uid_search },
	{ "SORT", IMAPD_S_SELECTED, cmd_sort },
	{ "UID SORT", IMAPD_S_SELECTED, cmd_uid_sort },
	{ "THREAD", IMAPD_S_SELECTED, cmd_thread },
	{ "UID THREAD", IMAPD_S_SELECTED, cmd_uid_thread },
	{ NULL, 0, NULL },
};
