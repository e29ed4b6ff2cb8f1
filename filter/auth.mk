# SPDX-License-Identifier: MIT
# filter/auth.mk: see filter/local.mk.
