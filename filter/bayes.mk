# SPDX-License-Identifier: MIT
# filter/bayes.mk: see filter/local.mk.
