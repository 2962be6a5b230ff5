#!/bin/sh
''''exec "$(dirname "$0")/../daemon/run-py" "$0" "$@" # '''
# SPDX-License-Identifier: MIT
"""Malformed calls over the real bus to the real mmiod with a real QEMU
guest (qmp back end): every one is answered with a precise D-Bus error
(name and part of the message), and afterwards mmiod still answers and the
guest's Windows, Devices, Reservations and Attaches are unchanged.  The
guest already has one attached device and one reservation, so "unchanged"
covers both."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import relctx as R  # noqa: E402
from relctx import t, q, D  # noqa: E402

env, qdir, vms, paths = R.qemu_env(1)
path = paths["vm1"]
bus = env.bus
mgr = env.manager()

IA = "org.freedesktop.DBus.Error.InvalidArgs"
UM = "org.freedesktop.DBus.Error.UnknownMethod"
UO = "org.freedesktop.DBus.Error.UnknownObject"
NG = "org.mmiod1.Error.NoSuchGuest"
ID = "org.mmiod1.Error.InvalidDevice"
NS = "org.mmiod1.Error.NoSpace"
NR = "org.mmiod1.Error.NoSuchReservation"
ND = "org.mmiod1.Error.NoSuchDevice"
MiB1 = "x" * (1 << 20)
S = D.String
B = D.Boolean
U = D.UInt32
opts = D.Dictionary({}, signature="sv")


def o(**kw):
    return D.Dictionary({k.replace("_", "-"): v for k, v in kw.items()}, signature="sv")


TD = "pci-testdev,membar=1M"
# (name, method, signature, args, error name, part of the message)
CASES = [
    # ---- wrong types: sd-bus checks the signature against the vtable ----
    ("Check with no arguments", "Check", "", [], IA, "expecting 'sasa{sv}'"),
    ("Check with devices as a string", "Check", "ssa{sv}", ["vm1", "bars:mem32:4K", opts], IA,
     "expecting 'sasa{sv}'"),
    ("Check with an extra argument", "Check", "sasa{sv}u", ["vm1", ["bars:mem32:4K"], opts, U(1)], IA,
     "expecting 'sasa{sv}'"),
    ("Attach with devices as an array", "Attach", "sasa{sv}", ["vm1", ["bars:mem32:4K"], opts], IA,
     "expecting 'ssa{sv}'"),
    ("Attach without options", "Attach", "ss", ["vm1", "bars:mem32:4K"], IA, "expecting 'ssa{sv}'"),
    ("Reserve with options as a{ss}", "Reserve", "sasa{ss}", ["vm1", ["bars:mem32:4K"], {}], IA,
     "expecting 'sasa{sv}'"),
    ("Release with the id as u", "Release", "sua{sv}", ["vm1", U(1), opts], IA, "expecting 'ssa{sv}'"),
    ("Detach with a boolean guest", "Detach", "bsa{sv}", [B(True), "x", opts], IA, "expecting 'ssa{sv}'"),
    ("Plan with arguments swapped", "Plan", "sasa{sv}", ["vm1", ["bars:mem32:4K"], opts], IA,
     "expecting 'assa{sv}'"),
    ("ListProfiles with an argument", "ListProfiles", "s", ["x"], IA, "expecting ''"),
    ("unknown method", "Frobnicate", "", [], UM, "Frobnicate"),
    # ---- empty strings ----
    ("Check: empty guest", "Check", "sasa{sv}", ["", ["bars:mem32:4K"], opts], NG, 'no guest ""; known guests: vm1'),
    ("Check: empty device spec", "Check", "sasa{sv}", ["vm1", [""], opts], ID, "empty device"),
    ("Check: no devices", "Check", "sasa{sv}", ["vm1", [], opts], IA, "no devices given"),
    ("Attach: empty device spec", "Attach", "ssa{sv}", ["vm1", "", o(qemu_device=TD)], ID, "empty device"),
    ("Attach: empty guest", "Attach", "ssa{sv}", ["", "bars:mem32:4K", o(qemu_device=TD)], NG, 'no guest ""'),
    ("Reserve: empty device list", "Reserve", "sasa{sv}", ["vm1", [], opts], IA, "no devices given"),
    ("Release: empty id", "Release", "ssa{sv}", ["vm1", "", opts], NR, 'guest vm1 has no reservation ""'),
    ("Detach: empty device", "Detach", "ssa{sv}", ["vm1", "", opts], ND, '"" is not a device mmiod attached to vm1'),
    ("Plan: empty device list", "Plan", "assa{sv}", [[], "", opts], IA, "no devices given"),
    # ---- over-long strings (1 MiB) ----
    ("Check: 1 MiB guest name", "Check", "sasa{sv}", [MiB1, ["bars:mem32:4K"], opts], NG, "no guest"),
    ("Check: 1 MiB device spec", "Check", "sasa{sv}", ["vm1", [MiB1], opts], ID, "xxxxxxxx"),
    ("Attach: 1 MiB device spec", "Attach", "ssa{sv}", ["vm1", MiB1, o(qemu_device=TD)], IA,
     "device spec too long"),
    ("Attach: 1 MiB qemu-device", "Attach", "ssa{sv}", ["vm1", "bars:mem32:4K", o(qemu_device=MiB1)], IA,
     'option "qemu-device" is too long (1048576 bytes'),
    ("Reserve: 1 MiB label", "Reserve", "sasa{sv}", ["vm1", ["bars:mem32:4K"], o(label=MiB1)], IA,
     'option "label" is too long'),
    ("Release: 1 MiB id", "Release", "ssa{sv}", ["vm1", MiB1, opts], NR, 'guest vm1 has no reservation "xxxx'),
    ("Detach: 1 MiB device", "Detach", "ssa{sv}", ["vm1", MiB1, opts], ND, "is not a device mmiod attached to vm1"),
    # ---- unknown guests ----
    ("Check: unknown guest", "Check", "sasa{sv}", ["nosuch", ["bars:mem32:4K"], opts], NG,
     'no guest "nosuch"; known guests: vm1'),
    ("Attach: unknown guest", "Attach", "ssa{sv}", ["nosuch", "bars:mem32:4K", o(qemu_device=TD)], NG,
     'no guest "nosuch"'),
    ("Reserve: unknown guest", "Reserve", "sasa{sv}", ["nosuch", ["bars:mem32:4K"], opts], NG, 'no guest "nosuch"'),
    ("Release: unknown guest", "Release", "ssa{sv}", ["nosuch", "r1", opts], NG, 'no guest "nosuch"'),
    ("Detach: unknown guest", "Detach", "ssa{sv}", ["nosuch", "a1", opts], NG, 'no guest "nosuch"'),
    ("Plan: unknown guest", "Plan", "assa{sv}", [["bars:mem32:4K"], "nosuch", opts], NG, 'no guest "nosuch"'),
    # ---- BDFs out of range ----
    ("Check: device 32", "Check", "sasa{sv}", ["vm1", ["0000:00:20.0"], opts], ID, "device 0x20 out of range 0x00-0x1f"),
    ("Check: function 8", "Check", "sasa{sv}", ["vm1", ["0000:00:01.8"], opts], ID, "function 8 out of range 0-7"),
    ("Check: bus 256", "Check", "sasa{sv}", ["vm1", ["0000:100:00.0"], opts], ID, 'bus "100" must be 2 hex digits'),
    ("Check: domain 0x10000", "Check", "sasa{sv}", ["vm1", ["10000:00:00.0"], opts], ID, 'domain "10000" must be 4 hex digits'),
    ("Attach: host BDF not present", "Attach", "ssa{sv}", ["vm1", "0000:ff:1f.7", opts], ID, "no PCI device 0000:ff:1f.7"),
    # ---- sizes ----
    ("Check: 2^64 bytes", "Check", "sasa{sv}", ["vm1", ["bars:mem64p:18446744073709551616"], opts], ID,
     'size "18446744073709551616" overflows 64 bits'),
    ("Check: 16 EiB", "Check", "sasa{sv}", ["vm1", ["bars:mem64p:16E"], opts], ID, 'size "16E" overflows 64 bits'),
    ("Check: 2^64-1 bytes", "Check", "sasa{sv}", ["vm1", ["bars:mem64p:0xffffffffffffffff"], opts], ID,
     "BAR size 0xffffffffffffffff is not a power of two"),
    ("Reserve: 2^63 bytes (valid, does not fit)", "Reserve", "sasa{sv}", ["vm1", ["bars:mem64p:8E"], opts], NS,
     "[mem size 0x8000000000000000 64bit pref]: can't assign; no space"),
    ("Attach: 2^63 bytes (valid, does not fit)", "Attach", "ssa{sv}", ["vm1", "bars:mem64p:8E", o(qemu_device=TD)],
     NS, "[mem size 0x8000000000000000 64bit pref]: can't assign; no space"),
    ("Check: 3 KiB (not a power of two)", "Check", "sasa{sv}", ["vm1", ["bars:mem32:3K"], opts], ID, "BAR size 0xc00 is not a power of two"),
    ("Reserve: 0x3000 bytes", "Reserve", "sasa{sv}", ["vm1", ["bars:mem32:0x3000"], opts], ID,
     "BAR size 0x3000 is not a power of two"),
    ("Check: zero bytes", "Check", "sasa{sv}", ["vm1", ["bars:mem32:0"], opts], ID, "BAR size 0x0 is not a power of two"),
    ("Check: unknown BAR kind", "Check", "sasa{sv}", ["vm1", ["bars:mem128:4K"], opts], ID, 'unknown BAR kind "mem128"'),
    ("Check: unknown profile", "Check", "sasa{sv}", ["vm1", ["profile:no-such-card"], opts], ID, 'unknown profile "no-such-card"'),
    # ---- thousands of devices in one call ----
    ("Check: 5000 devices", "Check", "sasa{sv}", ["vm1", ["bars:mem32:4K"] * 5000, opts], IA,
     "at most 64 devices at once"),
    ("Reserve: 5000 devices", "Reserve", "sasa{sv}", ["vm1", ["bars:mem32:4K"] * 5000, opts], IA,
     "at most 64 devices at once"),
    ("Plan: 5000 devices", "Plan", "assa{sv}", [["bars:mem32:4K"] * 5000, "", opts], IA,
     "at most 64 devices at once"),
    # ---- unknown options ----
    ("Check: unknown option", "Check", "sasa{sv}", ["vm1", ["bars:mem32:4K"], o(frobnicate=B(True))], IA,
     'unknown option "frobnicate" (this method takes: refresh port)'),
    ("Attach: Check's option", "Attach", "ssa{sv}", ["vm1", "bars:mem32:4K", o(refresh=B(True))], IA,
     'unknown option "refresh"'),
    ("Reserve: unknown option", "Reserve", "sasa{sv}", ["vm1", ["bars:mem32:4K"], o(wait=B(False))], IA,
     'unknown option "wait"'),
    ("Release: unknown option", "Release", "ssa{sv}", ["vm1", "r", o(label=S("x"))], IA, 'unknown option "label"'),
    ("Detach: unknown option", "Detach", "ssa{sv}", ["vm1", "a", o(force=B(True))], IA, 'unknown option "force"'),
    ("Plan: unknown option", "Plan", "assa{sv}", [["bars:mem32:4K"], "", o(nosuch=S("x"))], IA,
     'unknown option "nosuch"'),
    ("Check: empty option name", "Check", "sasa{sv}", ["vm1", ["bars:mem32:4K"], o(**{"": B(True)})], IA,
     'unknown option ""'),
    ("Check: 1 MiB option name", "Check", "sasa{sv}", ["vm1", ["bars:mem32:4K"], D.Dictionary({MiB1: B(True)},
     signature="sv")], IA, "unknown option"),
    # ---- wrong option types ----
    ("Check: refresh as a string", "Check", "sasa{sv}", ["vm1", ["bars:mem32:4K"], o(refresh=S("yes"))], IA,
     'option "refresh" must be of type b, got s'),
    ("Attach: wait as u", "Attach", "ssa{sv}", ["vm1", "bars:mem32:4K", o(wait=U(0), qemu_device=TD)], IA,
     'option "wait" must be of type b, got u'),
    ("Attach: qemu-device as an array", "Attach", "ssa{sv}",
     ["vm1", "bars:mem32:4K", o(qemu_device=D.Array([S("pci-testdev")], signature="s"))], IA,
     'option "qemu-device" must be of type s, got as'),
    ("Reserve: label as b", "Reserve", "sasa{sv}", ["vm1", ["bars:mem32:4K"], o(label=B(True))], IA,
     'option "label" must be of type s, got b'),
    ("Release: interactive as s", "Release", "ssa{sv}", ["vm1", "r", o(interactive=S("true"))], IA,
     'option "interactive" must be of type b, got s'),
    ("Plan: xen-memory-mib as s", "Plan", "assa{sv}", [["bars:mem32:4K"], "", o(xen_memory_mib=S("4096"))], IA,
     'option "xen-memory-mib" must be of type u, got s'),
    ("Plan: unknown machine", "Plan", "assa{sv}", [["bars:mem32:4K"], "", o(machine=S("vax"))], IA, "vax"),
    # ---- references to nothing ----
    ("Attach: unknown reservation", "Attach", "ssa{sv}",
     ["vm1", "bars:mem32:4K", o(qemu_device=TD, reservation=S("nosuch"))], NR,
     'no reservation "nosuch" on guest vm1'),
    ("Release: unknown reservation", "Release", "ssa{sv}", ["vm1", "nosuch", opts], NR, 'guest vm1 has no reservation "nosuch"'),
    ("Detach: unknown device", "Detach", "ssa{sv}", ["vm1", "nosuch", opts], ND, '"nosuch" is not a device mmiod attached'),
]

try:
    # a device attached and a reservation, so that "unchanged" means something
    aid = str(mgr.Attach("vm1", q.testdev_spec(q.M), {"qemu-device": TD}, timeout=120)[0])
    rid = str(mgr.Reserve("vm1", ["bars:mem32:16M"], {"label": "keep"})[0])
    base = R.snapshot(env, path)
    t.ok(len(base[1]) >= 3 and len(base[2]) == 1, "setup: one device attached (%s), one reservation (%s)" % (aid, rid))
    for name, method, sig, args, want, part in CASES:
        got = R.raw_call(bus, method, sig, args)
        if os.environ.get("SHOW"):
            print("# %s: %s %s" % (name, got[0], got[1][:200]))
        t.ok(got[0] == want and part in got[1], "%s -> %s%s" % (name, want.split(".")[-1],
             (' "%s"' % part[:60]) if part else ""), "got %s: %s" % (got[0], got[1][:300]))
    # caller-given strings come back capped, not as a 1 MiB error message
    for method, sig, args in (("Check", "sasa{sv}", [MiB1, ["bars:mem32:4K"], opts]),
                              ("Check", "sasa{sv}", ["vm1", [MiB1], opts]),
                              ("Release", "ssa{sv}", ["vm1", MiB1, opts]),
                              ("Detach", "ssa{sv}", ["vm1", MiB1, opts])):
        got = R.raw_call(bus, method, sig, args)
        t.ok(got[0] and len(got[1]) < 4096, "%s with a 1 MiB string: error message capped (%d bytes)"
             % (method, len(got[1])), got[1][:300])
    # a few on the Guest object and its properties
    gi = "org.freedesktop.DBus.Properties"
    got = R.raw_call(bus, "Get", "ss", [t.GUEST, "NoSuchProperty"], path=path, iface=gi)
    t.ok(got[0] == "org.freedesktop.DBus.Error.UnknownProperty", "Get of an unknown property -> UnknownProperty",
         got)
    got = R.raw_call(bus, "Set", "ssv", [t.GUEST, "Name", S("evil")], path=path, iface=gi)
    t.ok(got[0] in ("org.freedesktop.DBus.Error.PropertyReadOnly", IA) and "Name" in got[1],
         "Set of a read-only property -> PropertyReadOnly", got)
    got = R.raw_call(bus, "Get", "ss", [t.GUEST, "Name"], path="/org/mmiod1/guest/nosuch", iface=gi)
    t.ok(got[0] == UO, "Get on an unknown guest object -> UnknownObject", got)
    got = R.raw_call(bus, "Get", "u", [U(5)], path=path, iface=gi)
    t.ok(got[0] == IA, "Get with a wrong signature -> InvalidArgs", got)

    # still answering, and nothing changed
    t.ok(int(env.prop(t.MANAGER_PATH, t.MANAGER, "Version")) == 1, "mmiod still answers (Version)")
    t.ok(env.daemon.poll() is None, "mmiod is still running")
    after = R.snapshot(env, path)
    t.ok(after == base, "Windows, Devices, Reservations and Attaches unchanged after %d bad calls" % len(CASES),
         (base, after))
    fits = mgr.Check("vm1", ["bars:mem32:4K"], {})[0]
    t.ok(bool(fits), "a good Check still works")
    mgr.Release("vm1", rid, {})
    t.ok(q.reservations(env, path) == [], "the reservation is released normally")
    t.ok(env.stop_daemon() == 0, "mmiod exits cleanly", env.logtext()[-2000:])
except Exception as e:
    import traceback
    t.ok(False, "unexpected exception: %s" % e, traceback.format_exc() + "\n" + env.logtext()[-3000:])
t.done()
