# SPDX-License-Identifier: MIT
"""One soak client (run by test-soak.py, not a test itself): mixed calls
on its own bus connection until the deadline; prints a JSON summary.
argv: ADDRESS INDEX SECONDS GUESTS(comma) [attacher TEST_QMP_SOCKET GUEST]"""
import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "daemon"))
import dbus  # noqa: E402
import dbus.lowlevel  # noqa: E402

address, idx, seconds, guests = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4].split(",")
attacher = len(sys.argv) > 5 and sys.argv[5] == "attacher"
bus = dbus.bus.BusConnection(address)
mgr = dbus.Interface(bus.get_object("org.mmiod1", "/org/mmiod1"), "org.mmiod1.Manager")
rnd = random.Random(1000 + idx)
counts = {}
unexpected = []
mine = []           # (guest, reservation id)
EXPECTED = ("org.mmiod1.Error.NoSpace",)


def note(op, name):
    counts["%s:%s" % (op, name)] = counts.get("%s:%s" % (op, name), 0) + 1


def call(op, fn, expected=EXPECTED):
    try:
        r = fn()
        note(op, "ok")
        return r
    except dbus.DBusException as e:
        n = e.get_dbus_name()
        note(op, n.split(".")[-1])
        if n not in expected and len(unexpected) < 20:
            unexpected.append((op, n, (e.get_dbus_message() or "")[:300]))
        return None


def spec():
    kind = rnd.choice(["mem32", "mem64p", "mem64p", "mem32p"])
    size = 1 << rnd.randint(12, 28)         # 4 KiB .. 256 MiB
    return "bars:%s:%d" % (kind, size)


qmp = None
if attacher:
    import qemuctx
    qmp = qemuctx.QMP(sys.argv[6])
    aguest = sys.argv[7]

start = time.monotonic()
end = start + seconds
next_mark = 10
while time.monotonic() < end:
    if time.monotonic() - start >= next_mark:    # progress, for the rate over time
        sys.stderr.write("progress %d %d\n" % (next_mark, sum(counts.values())))
        next_mark += 10
    if attacher:
        # Attach a pci-testdev, then Detach it; no guest OS ejects it, so a
        # system_reset through the test's own QMP socket completes the unplug.
        r = call("attach", lambda: mgr.Attach(aguest, "bars:mem32:4K,io:256,mem64p:1M",
                                              {"qemu-device": "pci-testdev,membar=1M"}, timeout=60))
        if r:
            aid = str(r[0])
            res = {}

            def detach():   # blocks until the unplug completes: in a thread, own connection
                b2 = dbus.bus.BusConnection(address)
                m2 = dbus.Interface(b2.get_object("org.mmiod1", "/org/mmiod1"), "org.mmiod1.Manager")
                try:
                    m2.Detach(aguest, aid, {}, timeout=60)
                    res["ok"] = True
                except dbus.DBusException as e:
                    res["error"] = (e.get_dbus_name(), e.get_dbus_message())
                b2.close()
            th = threading.Thread(target=detach)
            th.start()
            t0 = time.monotonic()
            while time.monotonic() - t0 < 10:
                g = [p for p, ifs in bus.get_object("org.mmiod1", "/org/mmiod1").GetManagedObjects(
                    dbus_interface="org.freedesktop.DBus.ObjectManager").items()
                    if str(ifs.get("org.mmiod1.Guest", {}).get("Name", "")) == aguest]
                att = bus.get_object("org.mmiod1", g[0]).Get("org.mmiod1.Guest", "Attaches",
                                                              dbus_interface="org.freedesktop.DBus.Properties")
                if any(str(a[2]) != "attaching" for a in att):
                    break
                time.sleep(0.02)
            # device_del may reach QEMU just after "detaching" shows: reset
            # until the Detach returns
            t0 = time.monotonic()
            while th.is_alive() and time.monotonic() - t0 < 30:
                qmp.cmd("system_reset")
                th.join(0.3)
            th.join(60)
            if res.get("ok"):
                note("detach", "ok")
            else:
                note("detach", "failed")
                unexpected.append(("detach", aid, res.get("error", "no reply")))
        continue
    g = rnd.choice(guests)
    op = rnd.random()
    if op < 0.40:
        n = rnd.randint(1, 4)
        call("check", lambda: mgr.Check(g, [spec() for _ in range(n)], {"refresh": rnd.random() < 0.2}))
    elif op < 0.70 or not mine:
        r = call("reserve", lambda: mgr.Reserve(g, [spec() for _ in range(rnd.randint(1, 2))],
                                                {"label": "soak%d" % idx}))
        if r:
            mine.append((g, str(r[0])))
        if len(mine) > 3:
            gg, rid = mine.pop(0)
            call("release", lambda: mgr.Release(gg, rid, {}), expected=())
    else:
        gg, rid = mine.pop(rnd.randrange(len(mine)))
        call("release", lambda: mgr.Release(gg, rid, {}), expected=())
    if rnd.random() < 0.05:
        call("plan", lambda: mgr.Plan([spec()], g, {}), expected=())
# leave the reservations in place: the test checks the books with them,
# then releases them itself
print(json.dumps({"counts": counts, "unexpected": unexpected, "left": mine}))
