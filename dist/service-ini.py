#!/usr/bin/env python3
"""Writes /etc/prepd/prepd.ini: prepd.ini.example with the service's values.

Only the lines below change; every comment stays, so the installed file is
the documented example. Fails if a line to change is missing, so the
example and this script cannot drift apart silently."""
import sys

CHANGES = {
    "http = :8080": "http = :80",
    ";access_log = /var/log/prepd/access.log": "access_log = /var/log/prepd/access.log",
}
HEADER = """; /etc/prepd/prepd.ini, installed by the prepd package from
; prepd.ini.example. prepd.service listens on port 80 through prepd.socket
; (see man 8 prepd to add HTTPS on 443). Check a change with
;   prepd --check-config --config /etc/prepd/prepd.ini
; and apply it with systemctl restart prepd (visitors wait, none is refused).
;
"""

src, dst = sys.argv[1], sys.argv[2]
lines = open(src, encoding="utf-8").read().split("\n")
done = set()
for i, line in enumerate(lines):
    if line in CHANGES and line not in done:
        lines[i] = CHANGES[line]
        done.add(line)
missing = set(CHANGES) - done
if missing:
    sys.exit(f"service-ini.py: {src} has no line {sorted(missing)!r}")
with open(dst, "w", encoding="utf-8") as f:
    f.write(HEADER + "\n".join(lines))
