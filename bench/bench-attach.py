#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/bench-attach.py [N] — Attach path overhead (issue "Performance and
scale", item 4): the time from the client issuing Attach to the toolstack
call (QMP device_add) arriving, against a fake QMP responder
(bench/fake-qmp.py) that answers at once and timestamps every command.

Run from the build directory (needs daemon/mmiod, dbus-daemon, python3
with the dbus module: `make bench` runs it with one that has it).  One
private dbus-daemon, one mmiod --backend qmp:DIR, one fake pc guest.  N
(default 200) sequential Attach("vm1", "bars:mem32:4K",
{"qemu-device": "pci-testdev"}) calls, each with the id mmiod gives it
(the device_add "id"); the client takes time.monotonic() just before
each call, the responder when device_add arrives (both CLOCK_MONOTONIC).
Baseline in the same run: the same client's round trip of
Get(org.mmiod1.Manager, Version), N times, interleaved with the attaches.

What mmiod sends before device_add (both reads of the windows and
query-pci) is reported phase by phase; the responder's own service time
(arrival to reply written, summed over those commands) is reported and
subtracted for "mmiod's own" figure.  Never fails on time.
"""
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

try:
    import dbus
except ImportError:
    print("# bench-attach: skipped (python3 has no dbus module)")
    sys.exit(0)

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "daemon"))
from busctx import end_all  # noqa: E402
TOP = os.environ.get("top_srcdir", os.path.join(HERE, ".."))
B = os.environ.get("top_builddir", os.getcwd())
MMIOD = os.path.join(B, "daemon", "mmiod")
STATE_PARENT = os.environ.get("BENCH_STATE_PARENT")   # where the state file goes (fsync cost)

procs = []
work = tempfile.mkdtemp(prefix="bench-attach.")
sdir = tempfile.mkdtemp(prefix="bench-attach-state.", dir=STATE_PARENT) if STATE_PARENT else os.path.join(work, "state")


def cleanup():
    end_all(procs)
    shutil.rmtree(work, ignore_errors=True)
    if STATE_PARENT:
        shutil.rmtree(sdir, ignore_errors=True)


def pct(v, p):
    s = sorted(v)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def busy_time(rows):
    """Time the responder spent between commands' arrival and its replies:
    the union of the [arrived, replied] intervals (pipelined commands
    arrive together and overlap)."""
    t, end = 0.0, None
    for a, r, _, _ in sorted(rows):
        if end is None or a > end:
            t += r - a
            end = r
        elif r > end:
            t += r - end
            end = r
    return t


def cpu_s(pid):
    """utime + stime of a process, in seconds (/proc/PID/stat)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            v = f.read().rsplit(")", 1)[1].split()
        return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def us(x):
    return "%.1f" % (x * 1e6)


def main():
    if not shutil.which("dbus-daemon"):
        print("# bench-attach: skipped (no dbus-daemon)")
        return
    os.makedirs(sdir, exist_ok=True)
    qdir = os.path.join(work, "qmp")
    os.mkdir(qdir)
    bus = subprocess.Popen(["dbus-daemon", "--config-file=" + os.path.join(TOP, "bench", "bench-bus.conf"),
                            "--address=unix:path=%s/bus" % work, "--nofork", "--print-address"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    procs.append(bus)
    addr = bus.stdout.readline().strip()
    log = os.path.join(work, "qmp.log")
    fake = subprocess.Popen([sys.executable, os.path.join(HERE, "fake-qmp.py"), qdir, "vm1", log],
                            stdout=subprocess.PIPE, text=True)
    procs.append(fake)
    fake.stdout.readline()
    mlog = open(os.path.join(work, "mmiod.log"), "w")
    wrap = os.environ.get("BENCH_MMIOD_WRAP", "").split()   # e.g. "perf record -o FILE" (profiling)
    d = subprocess.Popen(wrap + [MMIOD, "--bus-address=" + addr, "--state-dir", sdir, "--config", "/dev/null",
                          "--catalogue", os.path.join(TOP, "data", "profiles.ini"), "--backend", "qmp:" + qdir],
                         stderr=mlog, stdout=mlog)
    procs.append(d)
    conn = dbus.bus.BusConnection(addr)
    end = time.monotonic() + 20
    mgr = None
    while time.monotonic() < end:
        try:
            o = conn.get_object("org.mmiod1", "/org/mmiod1")
            objs = o.GetManagedObjects(dbus_interface="org.freedesktop.DBus.ObjectManager")
            if any(str(p.get("org.mmiod1.Guest", {}).get("Name", "")) == "vm1" for p in objs.values()):
                mgr = dbus.Interface(o, "org.mmiod1.Manager")
                props = dbus.Interface(o, "org.freedesktop.DBus.Properties")
                break
        except dbus.DBusException:
            pass
        time.sleep(0.05)
    if mgr is None:
        print("# bench-attach: mmiod did not list the fake guest:")
        with open(os.path.join(work, "mmiod.log")) as f:
            print("".join("# " + line for line in f.readlines()[-10:]))
        return
    opts = {"qemu-device": "pci-testdev"}
    for _ in range(5):   # warm up
        props.Get("org.mmiod1.Manager", "Version")
        mgr.Attach("vm1", "bars:mem32:4K", opts)
    calls = []
    rtt = []
    cpu0 = cpu_s(d.pid)
    for i in range(N):
        t0 = time.monotonic()
        props.Get("org.mmiod1.Manager", "Version")
        rtt.append(time.monotonic() - t0)
        t0 = time.monotonic()
        aid, _ = mgr.Attach("vm1", "bars:mem32:4K", opts)
        t1 = time.monotonic()
        calls.append((str(aid), t0, t1))
    cpu1 = cpu_s(d.pid)
    time.sleep(0.2)
    fake.send_signal(signal.SIGINT)
    fake.wait(5)
    rows = []
    with open(log) as f:
        for line in f:
            a, r, ex, did = line.split()
            rows.append((float(a), float(r), ex, did))
    over, own, total, phases, nbefore = [], [], [], [], []
    for aid, t0, t1 in calls:
        add = [x for x in rows if x[2] == "device_add" and x[3] == aid]
        if not add:
            continue
        ta = add[0][0]
        before = [x for x in rows if t0 <= x[0] < ta]
        svc = busy_time(before)
        over.append(ta - t0)
        own.append(ta - t0 - svc)
        total.append(t1 - t0)
        nbefore.append(len(before))
        if len(before) == 10:   # refresh (4 qom-get + query-pci), then the back end's own re-read
            phases.append((before[0][0] - t0,                 # call -> first command
                           before[4][1] - before[0][0],       # daemon refresh round on the responder
                           before[5][0] - before[4][1],       # admission + state save + attach start
                           before[9][1] - before[5][0],       # back end re-reads windows + query-pci
                           ta - before[9][1]))                # slot choice, device_add sent
    cmds = {}
    for x in rows:
        if calls and calls[0][1] <= x[0] <= calls[-1][2]:
            cmds[x[2]] = cmds.get(x[2], 0) + 1
    print("# bench-attach: %d x Attach(vm1, bars:mem32:4K, qemu-device=pci-testdev) through a private dbus-daemon "
          "to mmiod --backend qmp:DIR with bench/fake-qmp.py; state dir %s" % (N, sdir if STATE_PARENT else "in " + tempfile.gettempdir()))
    print("# %d CPUs, %s, load average %s" % (os.cpu_count(), time.strftime("%Y-%m-%d", time.gmtime()),
                                              " ".join(open("/proc/loadavg").read().split()[:3])))
    if not over:
        print("# no device_add matched an Attach id; mmiod log:")
        return
    print("%-44s %10s %10s" % ("", "p50 us", "p99 us"))
    print("%-44s %10s %10s" % ("Attach call -> device_add arrives", us(statistics.median(over)), us(pct(over, 99))))
    print("%-44s %10s %10s" % ("  minus the responder's service time", us(statistics.median(own)), us(pct(own, 99))))
    q = max(1, len(over) // 4)
    print("%-44s %10s %10s" % ("  first quarter (%d attach records or fewer)" % (5 + q), us(statistics.median(over[:q])),
                               us(pct(over[:q], 99))))
    print("%-44s %10s %10s" % ("  last quarter (up to %d attach records)" % (5 + len(over)), us(statistics.median(over[-q:])),
                               us(pct(over[-q:], 99))))
    print("%-44s %10s %10s" % ("Attach call -> reply (whole call)", us(statistics.median(total)), us(pct(total, 99))))
    print("%-44s %10s %10s" % ("baseline: Get(Version) round trip", us(statistics.median(rtt)), us(pct(rtt, 99))))
    print("# ratio overhead p50 / Get(Version) p50 = %.2f; matched %d of %d attaches" %
          (statistics.median(over) / statistics.median(rtt), len(over), N))
    if cpu0 is not None and cpu1 is not None and not os.environ.get("BENCH_MMIOD_WRAP"):
        print("# mmiod CPU time (utime+stime) per Attach + Get(Version) pair, whole call: %.0f us" %
              ((cpu1 - cpu0) / N * 1e6))
    print("# QMP commands per attach before device_add: %s; during the run: %s" %
          (sorted(set(nbefore)), ", ".join("%s %d" % kv for kv in sorted(cmds.items()))))
    if phases:
        names = ["call -> first QMP command (D-Bus, parse, authz, resolve)",
                 "daemon refresh: 4 qom-get + query-pci (round)",
                 "admission + state file + attach start",
                 "back end re-read: 4 qom-get + query-pci (round)",
                 "slot choice -> device_add arrives"]
        print("# phases (p50 us, over %d attaches):" % len(phases))
        for i, n in enumerate(names):
            v = [p[i] for p in phases]
            print("#   %-58s %8s  (p99 %s)" % (n, us(statistics.median(v)), us(pct(v, 99))))


try:
    main()
finally:
    cleanup()
