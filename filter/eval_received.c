/* SPDX-License-Identifier: MIT */
/*
 * eval_received - see eval_received.h.  No function is answered yet.
 */
#include "facteur-config.h"

#include <stddef.h>

#include "filter/eval.h"
#include "filter/eval_received.h"

int
eval_received_owns(const char *function)
{
	(void)function;
	return 0;
}

int
eval_received_sa(struct eval_msg *msg, const char *function, const char *args)
{
	(void)msg;
	(void)function;
	(void)args;
	return -1;
}

void
eval_received_clear(struct eval_msg *msg)
{
	(void)msg;
}
