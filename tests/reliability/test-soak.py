#!/bin/sh
''''exec "$(dirname "$0")/../daemon/run-py" "$0" "$@" # '''
# SPDX-License-Identifier: MIT
"""Soak: 16 client processes, each on its own bus connection, make mixed
Check / Reserve / Release / Plan calls against 3 real QEMU guests for
SOAK_SECONDS (60; make soak: 600); one of them attaches and detaches
pci-testdevs on vm1 (the unplug completed by a system_reset through the
test's own QMP socket, as no guest OS ejects the device).  Loopback only:
a private bus, unix sockets.  At the end every guest's Windows show as
used exactly its own BARs plus every reservation (nothing attached is
left), no unexpected error was returned, mmiod's RSS sampled every second
is flat and its open fds are what they were."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import relctx as R  # noqa: E402
from relctx import t, q, D  # noqa: E402

SECONDS = float(os.environ.get("SOAK_SECONDS", "60"))
CLIENTS = int(os.environ.get("SOAK_CLIENTS", "16"))
NAMES = ["vm1", "vm2", "vm3"]
KINDS = ("low", "high", "io")

env, qdir, vms, paths = R.qemu_env(names=NAMES)
mgr = env.manager()
pid = env.daemon.pid
HERE = os.path.dirname(os.path.abspath(__file__))


def balance(name):
    p = paths[name]
    res = sum(r[3] for r in q.reservations(env, p))
    return R.used_bytes(env, p, KINDS), base[name] + res


try:
    base = {n: R.used_bytes(env, paths[n], KINDS) for n in NAMES}
    snaps = {n: R.snapshot(env, paths[n]) for n in NAMES}
    fds0 = R.nfds(pid)
    # the attacher takes over vm1's test QMP socket (QEMU serves one client)
    vms["vm1"].qmp.f.close()          # the makefile holds the socket open too
    vms["vm1"].qmp.close()
    procs = []
    for i in range(CLIENTS):
        cmd = [sys.executable, os.path.join(HERE, "soak-client.py"), env.address, str(i), str(SECONDS),
               ",".join(NAMES)]
        if i == 0:
            cmd += ["attacher", vms["vm1"].test_sock, "vm1"]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        env.procs.append(p)
        procs.append(p)
    rss = []
    t0 = time.monotonic()
    while any(p.poll() is None for p in procs):
        rss.append((round(time.monotonic() - t0, 1), R.rss_kib(pid), R.nfds(pid), R.cpu_s(pid)))
        if env.daemon.poll() is not None:
            break
        time.sleep(1)
    counts, unexpected, left = {}, [], 0
    progress = {}
    for p in procs:
        out, err = p.communicate(timeout=120)
        for line in err.splitlines():
            if line.startswith("progress "):
                _, mark, n = line.split()
                progress[int(mark)] = progress.get(int(mark), 0) + int(n)
        try:
            s = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            unexpected.append(("client died", p.returncode, err[-500:]))
            continue
        for k, v in s["counts"].items():
            counts[k] = counts.get(k, 0) + v
        unexpected += s["unexpected"]
        left += len(s["left"])
    total = sum(counts.values())
    marks = sorted(progress)
    rates = [(m, (progress[m] - (progress[p] if p else 0)) / (m - (p or 0)))
             for p, m in zip([None] + marks[:-1], marks)]
    print("# calls/s per 10 s: " + " ".join("%d" % r for _, r in rates))
    cpu = {int(x[0]) // 10 * 10: x[3] for x in rss}
    print("# mmiod CPU ms per call, per 10 s: " + " ".join(
        "%.2f" % (1000 * (cpu.get(m, 0) - cpu.get(m - 10, 0)) / max(1, r * 10)) for m, r in rates if m - 10 in cpu))
    t.ok(env.daemon.poll() is None, "mmiod survived %.0f s of %d clients" % (SECONDS, CLIENTS))
    t.ok(not unexpected, "no unexpected error in %d calls" % total, unexpected[:10])
    print("# calls: " + ", ".join("%s=%d" % kv for kv in sorted(counts.items())))
    t.ok(counts.get("attach:ok", 0) >= 1 and counts.get("attach:ok", 0) == counts.get("detach:ok", 0),
         "attach/detach cycles on vm1: %d attached, %d detached" % (counts.get("attach:ok", 0),
                                                                   counts.get("detach:ok", 0)))
    for n in NAMES:
        q.wait_for(lambda: q.attaches(env, paths[n]) == [], 10, "nothing in flight on " + n)
        used, want = balance(n)
        t.ok(used == want, "%s: Windows used %d = own BARs %d + %d reservations (%d bytes)" %
             (n, used, base[n], len(q.reservations(env, paths[n])), want - base[n]), (used, want))
    nres = sum(len(q.reservations(env, paths[n])) for n in NAMES)
    t.ok(nres == left, "the reservations left are the clients' (%d)" % left, (nres, left))
    for n in NAMES:
        for r in q.reservations(env, paths[n]):
            mgr.Release(n, r[0], {})
    vms["vm1"].qmp = q.QMP(vms["vm1"].test_sock)
    for n in NAMES:
        mgr.Check(n, ["bars:mem32:4K"], {"refresh": True})
        snap = R.snapshot(env, paths[n])
        t.ok(snap == snaps[n], "%s: all released -> books as at the start" % n, (snaps[n], snap))
    fds1 = R.nfds(pid)
    t.ok(fds1 == fds0, "mmiod's open fds unchanged (%d -> %d)" % (fds0, fds1),
         os.listdir("/proc/%d/fd" % pid))
    vals = [r[1] for r in rss]
    first, last, mx = vals[0], vals[-1], max(vals)
    # flat: after the first quarter (allocator warm-up) no growth beyond 2 MiB
    warm = vals[len(vals) // 4]
    if t.daemon_sanitized():
        t.skip("RSS flat: first %d KiB, after warm-up %d, last %d, max %d" % (first, warm, last, mx),
               "mmiod is built with ASan, whose quarantine grows RSS by design")
    else:
        t.ok(last - warm <= 2048, "RSS flat: first %d KiB, after warm-up %d, last %d, max %d (%d samples)" %
             (first, warm, last, mx, len(vals)), rss)
    print("# figures: seconds=%.0f clients=%d calls=%d calls_per_s=%.0f rss_first=%d rss_warm=%d rss_last=%d "
          "rss_max=%d fds=%d" % (SECONDS, CLIENTS, total, total / SECONDS, first, warm, last, mx, fds0))
    t.ok(env.stop_daemon() == 0, "mmiod exits cleanly", env.logtext()[-2000:])
except Exception as e:
    import traceback
    t.ok(False, "unexpected exception: %s" % e, traceback.format_exc() + "\n" + env.logtext()[-3000:])
t.done()
