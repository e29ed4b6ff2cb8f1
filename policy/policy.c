/* SPDX-License-Identifier: MIT */
#include "facteur-config.h"

#include "policy/policy.h"
