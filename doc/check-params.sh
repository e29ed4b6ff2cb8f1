#!/bin/sh
# SPDX-License-Identifier: MIT
# check-params.sh - every parameter of lib/params.h is in facteur.conf(5)
# and in appliance/facteur.conf.sample.
srcdir=${srcdir:-$(dirname "$0")/..}
missing=0
for p in $(sed -n 's/^[[:space:]]*X([A-Z]*, \([a-z_0-9]*\),.*/\1/p' "$srcdir/lib/params.h"); do
	grep -q "^\.B $p\$" "$srcdir/doc/man/facteur.conf.5" || { echo "facteur.conf.5 lacks $p"; missing=1; }
	grep -q "^#$p = " "$srcdir/appliance/facteur.conf.sample" || { echo "facteur.conf.sample lacks $p"; missing=1; }
done
n=$(grep -c '^[[:space:]]*X([A-Z]*, [a-z_0-9]*,' "$srcdir/lib/params.h")
[ "$n" -gt 40 ] || { echo "found only $n parameters in params.h"; missing=1; }
exit $missing
