# SPDX-License-Identifier: MIT
# mta/milter.mk: the milter client of smtpd.
