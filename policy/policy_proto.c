/* SPDX-License-Identifier: MIT */
/*
 * policy_proto - Postfix's policy delegation protocol.  See policy_proto.h.
 *
 * The parser keeps one line being assembled (at most POLICY_LINE_MAX
 * bytes, plus the CR of a CRLF) and the attributes seen so far; nothing
 * it holds grows with what a peer sends.  A protocol error is final: the
 * parser answers -1 until it is reset.
 */
#include "facteur-config.h"

#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "policy/policy_proto.h"

struct policy_parser {
	char line[POLICY_LINE_MAX + 2];	/* + CR + NUL */
	size_t len;
	int done;
	const char *error;		/* sticky until reset */
	struct policy_req req;
};

struct policy_parser *
policy_parser_new(void)
{
	return xcalloc(1, sizeof(struct policy_parser));
}

static void
req_clear(struct policy_req *req)
{
	/* One allocation per attribute: name and value share it. */
	for (size_t i = 0; i < req->nattrs; i++)
		free(req->attrs[i].name);
	req->nattrs = 0;
}

void
policy_parser_free(struct policy_parser **pp)
{
	if (*pp == NULL)
		return;
	req_clear(&(*pp)->req);
	free(*pp);
	*pp = NULL;
}

void
policy_parser_reset(struct policy_parser *pp)
{
	req_clear(&pp->req);
	pp->len = 0;
	pp->done = 0;
	pp->error = NULL;
}

const struct policy_req *
policy_parser_request(const struct policy_parser *pp)
{
	return &pp->req;
}

/* A whole line (without its LF) in pp->line: 1 if it ended the request, 0, or -1. */
static int
end_line(struct policy_parser *pp)
{
	struct policy_attr *a;
	char *copy, *eq;
	size_t len = pp->len;

	pp->len = 0;
	if (len > 0 && pp->line[len - 1] == '\r')
		len--;
	if (len > POLICY_LINE_MAX) {
		pp->error = "attribute line too long";
		return -1;
	}
	if (len == 0)
		return 1;
	if (memchr(pp->line, '\0', len) != NULL) {
		pp->error = "NUL byte in an attribute line";
		return -1;
	}
	if ((eq = memchr(pp->line, '=', len)) == NULL) {
		pp->error = "attribute line without \"=\"";
		return -1;
	}
	if (eq == pp->line) {
		pp->error = "attribute without a name";
		return -1;
	}
	if (pp->req.nattrs >= POLICY_ATTRS_MAX) {
		pp->error = "too many attributes";
		return -1;
	}
	copy = xstrndup(pp->line, len);
	a = &pp->req.attrs[pp->req.nattrs++];
	a->name = copy;
	copy[eq - pp->line] = '\0';
	a->value = copy + (eq - pp->line) + 1;
	return 0;
}

long
policy_parser_feed(struct policy_parser *pp, const char *data, size_t len, int *done,
    const char **error_r)
{
	size_t i;

	*done = 0;
	if (pp->done)
		policy_parser_reset(pp);
	if (pp->error != NULL) {
		*error_r = pp->error;
		return -1;
	}
	for (i = 0; i < len; i++) {
		char c = data[i];
		int rc;

		if (c != '\n') {
			/* Room for POLICY_LINE_MAX bytes and the CR of a CRLF. */
			if (pp->len >= POLICY_LINE_MAX + 1) {
				pp->error = "attribute line too long";
				*error_r = pp->error;
				return -1;
			}
			pp->line[pp->len++] = c;
			continue;
		}
		if ((rc = end_line(pp)) < 0) {
			*error_r = pp->error;
			return -1;
		}
		if (rc == 1) {
			pp->done = 1;
			*done = 1;
			return (long)(i + 1);
		}
	}
	return (long)len;
}

const char *
policy_req_get(const struct policy_req *req, const char *name)
{
	for (size_t i = req->nattrs; i > 0; i--)
		if (strcmp(req->attrs[i - 1].name, name) == 0)
			return req->attrs[i - 1].value;
	return NULL;
}

size_t
policy_format_reply(const char *action, char *out, size_t size)
{
	static const char head[] = "action=", tail[] = "\n\n";
	size_t hlen = sizeof(head) - 1, tlen = sizeof(tail) - 1, alen = strlen(action), n = 0;

	if (size == 0)
		return 0;
	/* Too small for a valid answer: whatever fits, still NUL-terminated. */
	if (size <= hlen + tlen) {
		n = str_copy(out, head, size);
		return n < size ? n : size - 1;
	}
	if (alen > size - 1 - hlen - tlen)
		alen = size - 1 - hlen - tlen;
	memcpy(out, head, hlen);
	n = hlen;
	for (size_t i = 0; i < alen; i++)
		out[n++] = action[i] == '\r' || action[i] == '\n' ? ' ' : action[i];
	memcpy(out + n, tail, tlen);
	n += tlen;
	out[n] = '\0';
	return n;
}
