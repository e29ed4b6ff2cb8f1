# SPDX-License-Identifier: MIT
# filter/av.mk: see filter/local.mk.
