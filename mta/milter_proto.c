/* SPDX-License-Identifier: MIT */
/*
 * milter_proto - milter packets encoded and decoded, no I/O.
 * See milter_proto.h.  Everything a milter sends is hostile input here:
 * lengths are bounded and every string must end inside its packet.
 */
#include "facteur-config.h"

#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/mem.h"
#include "milter_proto.h"

static void
buf_reserve(struct milter_buf *b, size_t more)
{
	size_t need = b->len + more;

	if (need < b->len)
		panic("milter_buf: size overflow");
	if (need <= b->size)
		return;
	size_t size = b->size > 0 ? b->size : 256;
	while (size < need)
		size *= 2;
	b->data = xrealloc(b->data, size);
	b->size = size;
}

static void
buf_add(struct milter_buf *b, const void *data, size_t len)
{
	if (len == 0)
		return;
	buf_reserve(b, len);
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

static void
buf_add_u32(struct milter_buf *b, uint32_t v)
{
	unsigned char x[4] = { v >> 24, v >> 16, v >> 8, v };

	buf_add(b, x, 4);
}

/* Begin a packet; returns the offset of its length, fixed by pkt_end(). */
static size_t
pkt_begin(struct milter_buf *b, char cmd)
{
	size_t off = b->len;

	buf_add_u32(b, 0);
	buf_add(b, &cmd, 1);
	return off;
}

static void
pkt_end(struct milter_buf *b, size_t off)
{
	size_t n = b->len - off - 4;

	if (n > UINT32_MAX)
		panic("milter packet of %zu bytes", n);
	b->data[off] = (unsigned char)(n >> 24);
	b->data[off + 1] = (unsigned char)(n >> 16);
	b->data[off + 2] = (unsigned char)(n >> 8);
	b->data[off + 3] = (unsigned char)n;
}

static void
buf_add_str(struct milter_buf *b, const char *s)
{
	buf_add(b, s, strlen(s) + 1);
}

void
milter_buf_reset(struct milter_buf *b)
{
	b->len = 0;
}

void
milter_buf_free(struct milter_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->size = 0;
}

void
milter_enc_packet(struct milter_buf *b, char cmd, const void *data, size_t len)
{
	size_t off = pkt_begin(b, cmd);

	buf_add(b, data, len);
	pkt_end(b, off);
}

void
milter_enc_optneg(struct milter_buf *b, uint32_t version, uint32_t actions, uint32_t protocol)
{
	size_t off = pkt_begin(b, SMFIC_OPTNEG);

	buf_add_u32(b, version);
	buf_add_u32(b, actions);
	buf_add_u32(b, protocol);
	pkt_end(b, off);
}

void
milter_enc_macro(struct milter_buf *b, char stage, const char *const *nv)
{
	size_t off = pkt_begin(b, SMFIC_MACRO);

	buf_add(b, &stage, 1);
	for (; nv[0] != NULL; nv += 2) {
		if (nv[1] == NULL)
			continue;
		buf_add_str(b, nv[0]);
		buf_add_str(b, nv[1]);
	}
	pkt_end(b, off);
}

void
milter_enc_connect(struct milter_buf *b, const char *hostname, char family, uint16_t port,
    const char *addr)
{
	size_t off = pkt_begin(b, SMFIC_CONNECT);
	unsigned char p[2] = { port >> 8, port };

	buf_add_str(b, hostname);
	buf_add(b, &family, 1);
	if (family != SMFIA_UNKNOWN) {
		buf_add(b, p, 2);
		buf_add_str(b, addr);
	}
	pkt_end(b, off);
}

void
milter_enc_strings(struct milter_buf *b, char cmd, const char *const *strs, size_t n)
{
	size_t off = pkt_begin(b, cmd);

	for (size_t i = 0; i < n; i++)
		buf_add_str(b, strs[i]);
	pkt_end(b, off);
}

void
milter_enc_header(struct milter_buf *b, const char *name, size_t name_len, const char *value,
    size_t value_len)
{
	size_t off = pkt_begin(b, SMFIC_HEADER);

	buf_add(b, name, name_len);
	buf_add(b, "", 1);
	buf_add(b, value, value_len);
	buf_add(b, "", 1);
	pkt_end(b, off);
}

int
milter_packet_split(const unsigned char *buf, size_t len, char *cmd_r,
    const unsigned char **data_r, size_t *data_len_r, size_t *used_r)
{
	uint32_t n;

	if (len < 4)
		return 0;
	n = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
	if (n == 0 || n > MILTER_PACKET_MAX)
		return -1;
	if (len - 4 < n)
		return 0;
	*cmd_r = (char)buf[4];
	*data_r = buf + 5;
	*data_len_r = n - 1;
	*used_r = 4 + (size_t)n;
	return 1;
}

static uint32_t
get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int
milter_dec_optneg(const unsigned char *data, size_t len, struct milter_optneg *r,
    const char **error_r)
{
	/* Later versions may append data (macro lists); the first 12 bytes are fixed. */
	if (len < 12) {
		*error_r = "short option negotiation";
		return -1;
	}
	r->version = get_u32(data);
	r->actions = get_u32(data + 4);
	r->protocol = get_u32(data + 8);
	if (r->version < 2) {
		*error_r = "milter protocol version below 2";
		return -1;
	}
	return 0;
}

/*
 * Take a NUL-terminated string at *pos inside data; advance *pos past its
 * NUL.  NULL if no NUL ends it inside the data.
 */
static const char *
take_str(const unsigned char *data, size_t len, size_t *pos)
{
	const unsigned char *start = data + *pos, *nul;

	if (*pos >= len)
		return NULL;
	nul = memchr(start, '\0', len - *pos);
	if (nul == NULL)
		return NULL;
	*pos = (size_t)(nul - data) + 1;
	return (const char *)start;
}

int
milter_dec_reply(char cmd, const unsigned char *data, size_t len, struct milter_action *a,
    const char **error_r)
{
	size_t pos = 0;

	memset(a, 0, sizeof(*a));
	a->cmd = cmd;
	switch (cmd) {
	case SMFIR_ACCEPT:
	case SMFIR_CONTINUE:
	case SMFIR_DISCARD:
	case SMFIR_REJECT:
	case SMFIR_TEMPFAIL:
	case SMFIR_SKIP:
	case SMFIR_PROGRESS:
	case SMFIR_SHUTDOWN:
	case SMFIR_CONN_FAIL:
		/* No data expected; libmilter sends none, extra bytes are harmless. */
		return 0;
	case SMFIR_REPLYCODE:
		if ((a->text = take_str(data, len, &pos)) == NULL) {
			*error_r = "reply code without its end";
			return -1;
		}
		return 0;
	case SMFIR_QUARANTINE:
		if ((a->text = take_str(data, len, &pos)) == NULL) {
			*error_r = "quarantine reason without its end";
			return -1;
		}
		return 0;
	case SMFIR_ADDHEADER:
	case SMFIR_INSHEADER:
	case SMFIR_CHGHEADER:
		if (cmd != SMFIR_ADDHEADER) {
			if (len < 4) {
				*error_r = "header change without an index";
				return -1;
			}
			a->index = get_u32(data);
			pos = 4;
		}
		if ((a->name = take_str(data, len, &pos)) == NULL ||
		    (a->value = take_str(data, len, &pos)) == NULL) {
			*error_r = "header change without name and value";
			return -1;
		}
		if (a->name[0] == '\0') {
			*error_r = "header change with an empty name";
			return -1;
		}
		for (const char *p = a->name; *p != '\0'; p++) {
			if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || *p == ':') {
				*error_r = "header change with a bad field name";
				return -1;
			}
		}
		/* A line end must start a continuation, or the value would add fields. */
		for (const char *p = a->value; *p != '\0'; p++) {
			if (*p == '\r' && p[1] != '\n') {
				*error_r = "header value with a bare CR";
				return -1;
			}
			if (*p == '\n' && p[1] != ' ' && p[1] != '\t') {
				*error_r = "header value with a line that is not a continuation";
				return -1;
			}
		}
		return 0;
	case SMFIR_ADDRCPT:
	case SMFIR_DELRCPT:
	case SMFIR_ADDRCPT_PAR:
	case SMFIR_CHGFROM:
		if ((a->name = take_str(data, len, &pos)) == NULL || a->name[0] == '\0') {
			*error_r = "envelope change without an address";
			return -1;
		}
		if (cmd == SMFIR_ADDRCPT_PAR || cmd == SMFIR_CHGFROM)
			a->value = take_str(data, len, &pos);	/* optional */
		for (const char *p = a->name; *p != '\0'; p++) {
			if ((unsigned char)*p < ' ' || *p == 0x7f) {
				*error_r = "envelope change with a control character";
				return -1;
			}
		}
		return 0;
	case SMFIR_REPLBODY:
		a->body = data;
		a->body_len = len;
		return 0;
	case SMFIR_SETSYMLIST:
		if (len < 5) {
			*error_r = "short symbol list";
			return -1;
		}
		/* A 4-byte stage number then the list; we send our macros anyway. */
		a->stage = (char)get_u32(data);
		pos = 4;
		if ((a->text = take_str(data, len, &pos)) == NULL) {
			*error_r = "symbol list without its end";
			return -1;
		}
		return 0;
	default:
		*error_r = "unknown reply";
		return -1;
	}
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int
milter_reply_check(const char *text, char *out, size_t size)
{
	const char *p = text;
	size_t o = 0, last_start = 0;
	int code = -1;

	if (size < 8)
		return -1;
	for (;;) {
		const char *eol = strchr(p, '\n');
		size_t n = eol != NULL ? (size_t)(eol - p) : strlen(p);
		int more;

		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n < 3 || !is_digit(p[0]) || !is_digit(p[1]) || !is_digit(p[2]) ||
		    (p[0] != '4' && p[0] != '5') || (n > 3 && p[3] != ' ' && p[3] != '-'))
			return -1;
		if (code < 0)
			code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
		else if ((p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0') != code)
			return -1;
		more = eol != NULL && eol[1] != '\0';
		if (n > 3 && p[3] == '-' && !more)
			return -1;	/* a continuation must be followed by a line */
		if (n == 3 && more)
			return -1;
		/* The first line is cut to fit; later ones are kept whole or dropped. */
		if (o == 0 && n + 1 > size)
			n = size - 1;
		if (o + (o > 0 ? 2 : 0) + n + 1 <= size) {
			if (o > 0) {
				out[o++] = '\r';
				out[o++] = '\n';
			}
			last_start = o;
			for (size_t i = 0; i < n; i++) {
				unsigned char c = (unsigned char)p[i];
				out[o++] = c < ' ' || c == 0x7f ? '?' : (char)c;
			}
		}
		if (!more)
			break;
		p = eol + 1;
	}
	out[o] = '\0';
	/* The last line kept ends the reply. */
	if (o - last_start > 3)
		out[last_start + 3] = ' ';
	return code;
}

static int
is_field_name_char(unsigned char c)
{
	return c > ' ' && c < 0x7f && c != ':';
}

/* The end of the line starting at p (after its LF, or at end). */
static size_t
line_end(const char *msg, size_t len, size_t p)
{
	const char *lf = memchr(msg + p, '\n', len - p);

	return lf != NULL ? (size_t)(lf - msg) + 1 : len;
}

size_t
milter_message_split(const char *msg, size_t len, struct milter_header **hdrs_r,
    size_t *body_off_r)
{
	struct milter_header *hdrs = NULL;
	size_t n = 0, alloc = 0, p = 0;

	while (p < len) {
		size_t e = line_end(msg, len, p), name_end;

		/* The empty line ends the header. */
		if (msg[p] == '\n' || (msg[p] == '\r' && p + 1 < len && msg[p + 1] == '\n')) {
			p = e;
			break;
		}
		for (name_end = p; name_end < e && is_field_name_char((unsigned char)msg[name_end]);
		    name_end++)
			;
		/* Postfix allows blanks between the name and the colon. */
		size_t colon = name_end;
		while (colon < e && (msg[colon] == ' ' || msg[colon] == '\t'))
			colon++;
		if (name_end == p || colon >= e || msg[colon] != ':')
			break;	/* not a header field: the body starts here */
		/* Continuation lines. */
		while (e < len && (msg[e] == ' ' || msg[e] == '\t'))
			e = line_end(msg, len, e);
		if (n == alloc) {
			alloc = alloc > 0 ? alloc * 2 : 32;
			hdrs = xrealloc(hdrs, alloc * sizeof(*hdrs));
		}
		struct milter_header *h = &hdrs[n++];
		size_t vend = e;
		if (vend > p && msg[vend - 1] == '\n')
			vend--;
		if (vend > colon + 1 && msg[vend - 1] == '\r')
			vend--;
		h->name = msg + p;
		h->name_len = name_end - p;
		h->value = msg + colon + 1;
		h->value_len = vend - (colon + 1);
		h->line = msg + p;
		h->line_len = e - p;
		p = e;
	}
	*hdrs_r = hdrs;
	*body_off_r = p;
	return n;
}

size_t
milter_header_value(const struct milter_header *h, int leadspc, char *out)
{
	size_t i = 0, o = 0;

	if (!leadspc)
		while (i < h->value_len && (h->value[i] == ' ' || h->value[i] == '\t'))
			i++;
	for (; i < h->value_len; i++) {
		if (h->value[i] == '\r' && i + 1 < h->value_len && h->value[i + 1] == '\n')
			continue;
		out[o++] = h->value[i] == '\0' ? ' ' : h->value[i];
	}
	out[o] = '\0';
	return o;
}
