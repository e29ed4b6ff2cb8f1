#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""gen-params.py - write appliance/facteur.conf.sample from lib/params.h and
add to doc/man/facteur.conf.5 the parameters it does not describe yet
(after the last one, with the help text of params.h; edit them there after).

Run from the source tree after adding parameters: python3 doc/gen-params.py
"""
import re
import textwrap
import sys

MAPS = '''
#[transport]
#lab.example.org = [mail.lab.example.org]:25

#[tls_policy]
#partner.example = verify

#[spam_policy]
#example.org = tag=4 subject=6 quarantine=8 reject=12
'''

rows = []
for line in open("lib/params.h"):
    m = re.match(r'\s*X\((\w+), (\w+), (.*), "(.*)"\)\s*\\?$', line)
    if not m:
        continue
    typ, name, default, help_ = m.groups()
    default = default.strip()
    if default.startswith('"'):
        default = default[1:-1]
    elif default == "FACTEUR_SPOOL_DIR":
        default = "/var/spool/facteur"
    elif default == "FACTEUR_DAEMON_DIR":
        default = "/usr/libexec/facteur"
    rows.append((typ.lower(), name, default.replace('\\"', '"'), help_.replace('\\"', '"')))

with open("appliance/facteur.conf.sample", "w") as out:
    out.write("# facteur.conf - see facteur.conf(5). Every parameter with its default, commented out.\n")
    for typ, name, default, help_ in rows:
        out.write("\n# %s\n#%s = %s\n" % ("\n# ".join(textwrap.wrap(help_, 76)), name, default))
    out.write(MAPS)

man = open("doc/man/facteur.conf.5").read()
add = ""
for typ, name, default, help_ in rows:
    if re.search(r"^\.B %s$" % name, man, re.M):
        continue
    d = default if default else "\\(dqempty\\(dq"
    text = help_[0].upper() + help_[1:]
    add += ".TP\n.B %s\n(%s, default: %s)\n%s.\n" % (name, typ, d.replace("\\", "\\\\").replace("-", "\\-") if default else d, text)
if add:
    man = man.replace(".SH EXAMPLE\n", add + ".SH EXAMPLE\n", 1)
    open("doc/man/facteur.conf.5", "w").write(man)
print("%d parameters" % len(rows), file=sys.stderr)
