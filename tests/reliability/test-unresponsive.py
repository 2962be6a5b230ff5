#!/bin/sh
''''exec "$(dirname "$0")/../daemon/run-py" "$0" "$@" # '''
# SPDX-License-Identifier: MIT
"""No guest can stall mmiod (issue #15), qmp back end, real QEMU.

Two QEMU guests; vm1's QMP socket goes through a proxy (qmpfake.Proxy)
so a stop can be placed exactly after device_add and mmiod's commands to
vm1 can be seen.  mmiod runs with toolstack_timeout = 30 s (far above
what a loaded machine makes of a healthy QEMU's answer, so that only the
stopped guest reaches it) and attach_timeout = 3 s (it runs from
device_add, which only a withheld reply outlasts here).  Nothing is
asserted about how long a call took: the order of events says whether a
call waited for the stopped guest, and the latencies are printed.

1. vm1's QEMU is stopped (SIGSTOP): four clients at once run `mmioctl
   check --refresh vm1` and one `mmioctl attach` on vm1 (its first step,
   a re-read, waits in QEMU's socket); all fail with
   org.mmiod1.Error.GuestUnresponsive when the deadline fires (not
   before it; nothing of the attach admitted or held); vm1's
   Unresponsive property turns true (PropertiesChanged: what `mmioctl
   watch` shows); from then on Check, Attach and Reserve on it are
   refused at once (GuestUnresponsive in the refusal's words, not the
   deadline's); Release and the properties still work.
2. Meanwhile, once mmiod's re-read of vm1 is out (the proxy saw it), calls
   on vm2 (Check, Check with a re-read through vm2's QEMU, status =
   GetAll): every one answered, and the first 50 (in practice hundreds) were
   answered while vm1's clients were still waiting, i.e. none waited for
   the stopped guest; the rest of the 1,000 while vm1 is marked, every
   50th with a Check on vm1 that must be refused.  Their latency is printed
   (p50/p99/max, next to the same calls' before vm1 stopped).
3. SIGCONT: vm1 answers again by itself (Unresponsive false), its books
   are what they were (windows, devices, reservation kept).  All the while
   mmiod runs with a systemd watchdog of 1 s (NOTIFY_SOCKET is the test's):
   WATCHDOG=1 kept coming while vm1's calls were out, and no gap between
   pings was anything like the time vm1 was stopped.
4. An attach in flight: device_add reaches QEMU, then QEMU's replies are
   withheld (the proxy); the Attach fails GuestUnresponsive after the
   attach deadline, its hold stays (Attaches: in flight); when QEMU's
   replies come the attach is reconciled as attached (the device is in
   QEMU) and AttachFinished says so.  And an attach whose device_add never
   reached QEMU is settled as not attached once mmiod's own probe
   (query-status, every toolstack_timeout while a guest is marked) finds
   QEMU answering.
5. Misbehaving QMP peers in the watched directory: one that never greets,
   one that sends garbage, one that sends an endless line (5 connections
   of it): mmiod keeps serving, announces none of them, and its RSS stays
   bounded (printed; asserted under 64 MiB above the start, QMP_MAX_LINE
   being 4 MiB) and does not climb from one endless connection to the
   next.

UNRESPONSIVE_CALLS (default 1000) scales part 2, UNRESPONSIVE_DEADLINE_S
(default 30) sets toolstack_timeout; MMIOD_SKIP_UNRESPONSIVE=1 skips the
whole test."""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qmpfake  # noqa: E402
import relctx as R  # noqa: E402
from relctx import t, q  # noqa: E402

if os.environ.get("MMIOD_SKIP_UNRESPONSIVE"):
    t.skip_all("MMIOD_SKIP_UNRESPONSIVE is set")
why = q.missing_tools()
if why:
    t.skip_all(why)

CALLS = int(os.environ.get("UNRESPONSIVE_CALLS", "1000"))
CALL_S = int(os.environ.get("UNRESPONSIVE_DEADLINE_S", "30"))
ATTACH_S = 3
VICTIMS = 4     # clients asking about the stopped guest at once
DURING = 50     # vm2's calls that must be answered while vm1's clients wait (hundreds are)
UNRESP, REFUSED = R.UNRESP, R.REFUSED
SPEC = q.testdev_spec(q.M)
TD = "pci-testdev,membar=1M"

env = t.Env()
qdir = os.path.join(env.dir, "qmp")
real = os.path.join(env.dir, "real")
os.mkdir(qdir)
os.mkdir(real)
vm1 = q.Guest(env, "vm1", real)
vm2 = q.Guest(env, "vm2", qdir)
q.wait_for(lambda: os.path.exists(vm1.mmiod_sock), 20, "vm1's QMP socket")
proxy = qmpfake.Proxy(os.path.join(qdir, "vm1.sock"), vm1.mmiod_sock)
conf = os.path.join(env.dir, "mmiod.conf")
with open(conf, "w") as f:
    f.write("[daemon]\ntoolstack_timeout = %d\nattach_timeout = %d\n" % (CALL_S, ATTACH_S))


WATCHDOG_USEC = 1000000
wd = R.Watchdog(os.path.join(env.dir, "notify.sock"))
env.start_daemon("--backend", "qmp:" + qdir, "--config", conf,
                 env={"NOTIFY_SOCKET": os.path.join(env.dir, "notify.sock"),
                      "WATCHDOG_USEC": str(WATCHDOG_USEC)})
sig = q.SignalBus(env.address)
mgr = env.manager()
# part 5's peer that never greets, started now: mmiod says so once a
# deadline (CALL_S) after connecting, which then has passed by part 5
peers = [qmpfake.Peer(os.path.join(qdir, "silent.sock"), "silent")]
diag, call, pct = R.diag, R.timed, R.pct


def ms(t0):
    return (time.monotonic() - t0) * 1000.0


def unresponsive(path):
    return bool(env.prop(path, t.GUEST, "Unresponsive"))


def other_guest_calls(path, n, victim=None, stop=None):
    """Calls on vm2 (R.guest_calls): Check, Check with a re-read through
    vm2's QEMU, GetAll, in turn."""
    return R.guest_calls(env, "vm2", n, lambda i: (("check", ["profile:nvidia-t4"]),
                                                   ("refresh", [SPEC]), ("status", None))[i % 3],
                         victim=victim, victim_spec=SPEC, stop=stop)


try:
    p1 = q.wait_guest(env, "vm1")
    p2 = q.wait_guest(env, "vm2")
    t.ok(not unresponsive(p1) and not unresponsive(p2), "both guests announced, answering")
    r = call(mgr.Reserve, "vm1", ["bars:mem64p:256M"], {"label": "kept"})
    t.ok(r[0] == "ok", "a reservation on vm1", r)
    before = R.snapshot(env, p1)

    # ---- baseline: the same calls on vm2 with every guest well ----
    base_lat, base_rlat, base_bad, _, _ = other_guest_calls(p2, min(CALLS, 300))
    t.ok(not base_bad, "baseline: %d calls on vm2 answered" % (len(base_lat) + len(base_rlat)),
         base_bad[:3])

    # ---- 1. vm1 stopped ----
    mmioctl = os.path.join(t.top_builddir, "client", "mmioctl")
    watch = subprocess.Popen([mmioctl, "watch"], stdout=subprocess.PIPE, text=True) \
        if os.path.exists(mmioctl) else None
    if watch:
        env.procs.append(watch)  # vm1 turns unresponsive a deadline (CALL_S) from now
    sig.signals.clear()
    seen = len(proxy.seen)
    stopped_at = time.monotonic()
    os.kill(vm1.proc.pid, signal.SIGSTOP)
    wait = ["--timeout", str(CALL_S * 3)]    # mmioctl's own: longer than the deadline
    victims = R.Clients([[mmioctl] + wait + ["check", "--refresh", "vm1", SPEC]] * VICTIMS +
                        [[mmioctl] + wait + ["attach", "--qemu-device", TD, "vm1", SPEC]])
    # vm2 from the moment mmiod's re-read of vm1 is out (in the stopped
    # QEMU's socket, behind the proxy): a call on vm2 answered while every
    # client of vm1 still waits did not wait for vm1
    q.wait_for(lambda: len(proxy.seen) > seen or victims.poll(), CALL_S * 2,
               "mmiod's re-read of the stopped vm1")
    out_at = time.monotonic()
    lat0, rlat0, bad0, _, during = other_guest_calls(p2, CALLS, stop=lambda: not victims.outstanding())
    q.wait_for(victims.poll, CALL_S * 3, "vm1's clients to fail")
    outs = victims.results()
    checks, attach = outs[:VICTIMS], outs[VICTIMS]
    t.ok(all(rc == 4 and "guest vm1" in err and "answer" in err for rc, err, _ in checks),
         "stopped vm1: %d clients' Check --refresh at once fail GuestUnresponsive: %s"
         % (VICTIMS, checks[0][1][:120]), outs)
    diag("stopped vm1's clients failed after %s ms (deadline %d ms); vm2 meanwhile: %d calls "
         "answered before the first of them ended, %d of them Check --refresh"
         % (", ".join("%.0f" % x[2] for x in outs), CALL_S * 1000, during, len(rlat0)))
    # the deadline fired, not anything before it; the upper bound only
    # catches a deadline that never fires (then the clients' 25 s D-Bus
    # timeout, or nothing, ends them)
    t.ok(all(CALL_S * 1000 - 50 <= x[2] < CALL_S * 2000 for x in outs),
         "... when the %d s deadline fired, not before (%.0f ms the first)"
         % (CALL_S, min(x[2] for x in outs)), outs)
    t.ok(attach[0] == 4 and "answer" in attach[1] and REFUSED not in attach[1] and
         q.attaches(env, p1) == [],
         "an attach sent while vm1 stopped unnoticed: GuestUnresponsive at its re-read's deadline, "
         "nothing admitted or held: %s" % attach[1][:120], attach)
    t.ok(unresponsive(p1), "vm1's Unresponsive property is true")
    reason = str(env.prop(p1, t.GUEST, "UnresponsiveReason"))
    t.ok("QEMU" in reason, "UnresponsiveReason says why: %s" % reason)
    fast = [call(mgr.Check, "vm1", [SPEC], {}),
            call(mgr.Attach, "vm1", SPEC, {"qemu-device": TD}),
            call(mgr.Reserve, "vm1", [SPEC], {})]
    t.ok(all(f[0] == UNRESP for f in fast), "Check, Attach, Reserve on it fail GuestUnresponsive",
         fast)
    t.ok(all(REFUSED in f[1] for f in fast), "... refused at once, without waiting for QEMU "
         "(slowest %.1f ms): %s" % (max(f[2] for f in fast), fast[0][1][:100]), fast)
    t.ok(R.snapshot(env, p1) == before, "its books are kept as they were")

    # ---- 2. the other guest meanwhile ----
    t.ok(not bad0 and during >= min(CALLS, DURING) and len(rlat0) > 0,
         "%d calls on vm2 (%d re-reads through its QEMU) answered while vm1's clients still "
         "waited: none waited for the stopped guest" % (during, len(rlat0)), (during, bad0[:3]))
    # the rest of the CALLS (at least 300) while vm1 is marked, every 50th
    # with a Check on vm1 that must be refused
    lat, rlat, bad, vlat, _ = other_guest_calls(p2, max(min(CALLS, 300), CALLS - during),
                                                victim="vm1")
    lat, rlat, bad = lat0 + lat, rlat0 + rlat, bad0 + bad
    t.ok(not bad, "%d calls on vm2 all answered while vm1 is stopped; vm1's own %d meanwhile "
         "refused GuestUnresponsive" % (len(lat) + len(rlat), len(vlat)), bad[:3])
    p50, p99, mx = pct(lat, 50), pct(lat, 99), max(lat)
    b99 = pct(base_lat, 99)
    diag("vm2 while vm1 is stopped: %d Check/status calls, p50 %.2f ms, p99 %.2f ms, max %.2f ms "
         "(before vm1 stopped: p99 %.2f ms); %d Check --refresh through vm2's QEMU: p50 %.2f ms, "
         "p99 %.2f ms (before: p99 %.2f ms); vm1's calls meanwhile: max %.2f ms"
         % (len(lat), p50, p99, mx, b99, len(rlat), pct(rlat, 50), pct(rlat, 99),
            pct(base_rlat, 99), max(vlat) if vlat else 0))

    if watch:
        st = subprocess.run([mmioctl, "status"], capture_output=True, text=True, timeout=30)
        js = subprocess.run([mmioctl, "--json", "status", "vm1"], capture_output=True, text=True,
                            timeout=30)
        ck = subprocess.run([mmioctl, "check", "vm1", SPEC], capture_output=True, text=True,
                            timeout=30)
        g = (json.loads(js.stdout).get("guests") or [{}])[0] if js.returncode == 0 else {}
        t.ok("(not answering)" in st.stdout, "mmioctl status marks vm1 (not answering)", st.stdout)
        t.ok(g.get("unresponsive") is True and "QEMU" in g.get("unresponsive_reason", "") and
             isinstance(g.get("unresponsive_since"), int), "mmioctl --json status: unresponsive, "
             "since, reason", js.stdout[:800])
        t.ok(ck.returncode == 4 and "not answering" in ck.stderr,
             "mmioctl check vm1: exit 4, says so: %s" % ck.stderr.strip()[:160], (ck.returncode, ck.stderr))

    # ---- 3. vm1 runs again ----
    t0 = time.monotonic()
    stopped_for = t0 - stopped_at
    os.kill(vm1.proc.pid, signal.SIGCONT)
    q.wait_for(lambda: not unresponsive(p1), 15, "vm1 answering again")
    t.ok(True, "SIGCONT: vm1 answers again by itself (%.0f ms)" % ms(t0))
    r = call(mgr.Check, "vm1", [SPEC], {"refresh": True})
    t.ok(r[0] == "ok" and bool(r[1][0]), "Check --refresh on vm1 works again", r)
    t.ok(R.snapshot(env, p1) == before, "vm1's books unchanged, the reservation kept",
         (before, R.snapshot(env, p1)))
    if watch:
        watch.terminate()
        out = watch.communicate(timeout=10)[0]
        lines = [x for x in out.splitlines() if x.startswith("unresponsive ")]
        t.ok(len(lines) >= 2 and lines[0].startswith("unresponsive vm1 yes: QEMU") and
             lines[1] == "unresponsive vm1 no", "mmioctl watch told it: %s" % lines[:2], out[-800:])
    gap, n = wd.max_gap(stopped_at)
    out_pings = len(wd.between(out_at, victims.first_end))
    diag("watchdog: %d pings while vm1 was stopped and after, %d while its calls were out, largest "
         "gap %.0f ms (WatchdogSec %d ms)" % (n, out_pings, (gap or 0) * 1000, WATCHDOG_USEC // 1000))
    # structural: a loop waiting for the stopped guest would have sent no
    # ping while its calls were out, and missed them for as long as it was
    # stopped
    t.ok(out_pings >= 2 and gap is not None and gap < stopped_for / 2,
         "the watchdog ping kept coming from the loop while vm1's calls were out (%d pings) and "
         "while it was stopped %.1f s (largest gap %.0f ms)" % (out_pings, stopped_for, (gap or 0) * 1000))

    # ---- 4a. an attach whose device_add reached QEMU, QEMU silent after ----
    sig.signals.clear()
    proxy.hold_after("device_add")
    r = call(mgr.Attach, "vm1", SPEC, {"qemu-device": TD})
    t.ok(r[0] == UNRESP, "attach in flight, QEMU silent after device_add: GuestUnresponsive "
         "after %.0f ms: %s" % (r[2], r[1][:160]), r)
    inflight = q.attaches(env, p1)
    t.ok(len(inflight) == 1 and inflight[0][2] == "unsettled", "its hold is kept, unsettled", inflight)
    aid = inflight[0][0] if inflight else None
    proxy.release()
    q.wait_for(lambda: not unresponsive(p1), 15, "vm1 answering again")
    fin = sig.wait_signal("AttachFinished", lambda a: str(a[1]) == aid, timeout=15)
    t.ok(bool(fin[1][3]), "reconciled when QEMU answered: attached (AttachFinished success)", fin)
    t.ok(vm1.device(aid) is not None, "... and QEMU has the device")
    t.ok(q.attaches(env, p1) == [], "nothing left in flight")

    # ---- 4b. an attach whose device_add never reached QEMU ----
    sig.signals.clear()
    mid = R.snapshot(env, p1)
    proxy.hold_after("device_add", swallow=True)
    r = call(mgr.Attach, "vm1", SPEC, {"qemu-device": TD})
    t.ok(r[0] == UNRESP, "attach whose device_add was lost: GuestUnresponsive", r)
    inflight = q.attaches(env, p1)
    aid = inflight[0][0] if inflight else None
    t.ok(len(inflight) == 1 and inflight[0][2] == "unsettled", "hold kept, unsettled", inflight)
    proxy.release()
    # nothing is owed now: mmiod's own query-status (every toolstack_timeout
    # while vm1 is marked) finds QEMU answering
    fin = sig.wait_signal("AttachFinished", lambda a: str(a[1]) == aid, timeout=CALL_S * 2 + 15)
    t.ok(not bool(fin[1][3]), "settled: the device is not in QEMU, the hold released "
         "(AttachFinished failure: %s)" % str(fin[1][5])[:100], fin)
    t.ok(R.snapshot(env, p1) == mid, "books as before that attach")

    # ---- 5. misbehaving peers ----
    pid = env.daemon.pid
    rss0 = R.rss_kib(pid)
    garbage = qmpfake.Peer(os.path.join(qdir, "garbage.sock"), "garbage")
    peers.append(garbage)
    endless = qmpfake.Peer(os.path.join(qdir, "endless.sock"), "endless")
    peers.append(endless)
    rss = []
    for i in range(5):
        q.wait_for(lambda: len(endless.taken) > i, 30, "mmiod to drop endless connection %d" % (i + 1))
        rss.append(R.rss_kib(pid))
        r = call(mgr.Check, "vm2", ["profile:nvidia-t4"], {})
        if r[0] != "ok":
            break
    diag("endless line: mmiod read %s KiB per connection; RSS %d KiB at the start, then %s KiB"
           % ([n // 1024 for n in endless.taken], rss0, rss))
    t.ok(r[0] == "ok", "vm2 still answers during all that", r)
    t.ok(len(endless.taken) >= 5 and all(n < 8 << 20 for n in endless.taken[:5]),
         "mmiod hangs up on an endless line after QMP_MAX_LINE (4 MiB) plus what was in flight")
    if t.daemon_sanitized():
        t.skip("RSS bounded", "mmiod is built with ASan: its quarantine keeps freed memory")
        t.skip("RSS does not climb", "mmiod is built with ASan")
    else:
        t.ok(max(rss) - rss0 < 64 * 1024, "RSS bounded (+%d KiB at most)" % (max(rss) - rss0))
        t.ok(rss[-1] <= rss[1] + 8 * 1024, "RSS does not climb from one endless connection to the "
             "next", rss)
    t.ok(garbage.connections >= 1, "the garbage peer was tried (%d connections)" % garbage.connections)
    names = sorted(str(g.get("Name")) for g in q.guests(env).values())
    t.ok(names == ["vm1", "vm2"], "none of the three is announced as a guest", names)
    q.wait_for(lambda: "sent no greeting" in env.logtext(), CALL_S * 2 + 10, "the silent peer logged")
    t.ok("sent no greeting" in env.logtext(), "the silent one is logged as not greeting")
    # under ASan a leak makes this exit status non-zero
    t.ok(env.stop_daemon() == 0, "mmiod exits cleanly", env.logtext()[-2000:])
finally:
    if "victims" in globals():
        victims.kill()
    wd.close()
    for p in peers:
        p.close()
    try:
        os.kill(vm1.proc.pid, signal.SIGCONT)
    except OSError:
        pass
    proxy.close()
    env.cleanup()
t.done()
