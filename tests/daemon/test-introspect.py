#!/bin/sh
''''exec "$(dirname "$0")/run-py" "$0" "$@" # '''
# SPDX-License-Identifier: MIT
"""dbus/org.mmiod1.xml is the contract: the XML mmiod generates from its
vtables (--bus-introspect) must match it member for member."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import busctx as t  # noqa: E402

with open(os.path.join(t.top_srcdir, "dbus", "org.mmiod1.xml")) as f:
    contract = t.normalise(f.read())
t.ok(len(contract) > 20, "dbus/org.mmiod1.xml parses (%d members)" % len(contract))
for iface in ("org.mmiod1.Manager", "org.mmiod1.Guest"):
    gen = subprocess.run([t.MMIOD, "--bus-introspect=" + iface], capture_output=True, text=True)
    t.ok(gen.returncode == 0, "mmiod --bus-introspect=%s exits 0" % iface, gen.stderr)
    want = [m for m in contract if m[0] == iface]
    got = t.normalise(gen.stdout)
    missing = [m for m in want if m not in got]
    extra = [m for m in got if m not in want]
    t.ok(not missing and not extra, "%s: vtable matches the contract" % iface,
         "only in XML: %s\nonly in vtable: %s" % (missing, extra))
bad = subprocess.run([t.MMIOD, "--bus-introspect=org.example.Nope"], capture_output=True, text=True)
t.ok(bad.returncode == 2 and "unknown interface" in bad.stderr, "unknown interface is refused")

# documentation: every member of the contract has a doc comment just before it
import re  # noqa: E402
with open(os.path.join(t.top_srcdir, "dbus", "org.mmiod1.xml")) as f:
    text = f.read()
undocumented = []
for m in re.finditer(r'<(method|property|signal) name="([A-Za-z]+)"', text):
    before = text[:m.start()].rstrip()
    if not before.endswith("-->"):
        undocumented.append(m.group(2))
t.ok(not undocumented, "every member of org.mmiod1.xml has a doc comment", undocumented)
t.done()
