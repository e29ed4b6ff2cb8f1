# SPDX-License-Identifier: MIT
include tests/unit/local.mk
include tests/fuzz/local.mk
include tests/integration/local.mk
include tests/bench/filter/local.mk
include tests/bench/policy/local.mk
