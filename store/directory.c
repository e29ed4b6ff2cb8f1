/* SPDX-License-Identifier: MIT */
#include "facteur-config.h"

#include "store/directory.h"
