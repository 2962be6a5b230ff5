#!/bin/sh
''''exec "$(dirname "$0")/../daemon/run-py" "$0" "$@" # '''
# SPDX-License-Identifier: MIT
"""No guest can stall mmiod (issue #15), libvirt back end, a real libvirtd.

A private system libvirtd (libvirtd.py) runs two small TCG domains,
started paused (QEMU with its monitor up, no guest OS needed); mmiod runs
with --backend libvirt:qemu:///system?socket=... , toolstack_timeout =
30 s (far above what a loaded machine makes of a healthy re-read through
libvirtd, so that only the stopped guest reaches it), under a 1 s systemd
watchdog (the test's NOTIFY_SOCKET).  Nothing is asserted about how long
a call took: the order of events says whether a call waited for the
stopped guest, and the latencies are printed.

1. vm1's QEMU stopped (SIGSTOP): libvirtd waits for its monitor, so
   mmiod's re-read of vm1 does too, on a pool thread.  Four clients at
   once run `mmioctl check --refresh vm1`: all fail GuestUnresponsive when
   the deadline fires, not before, and mmiod sent libvirtd one call for
   vm1, not four (the others would each hold a libvirtd worker for
   libvirt's 30 s job wait): libvirtd's worker pool, sampled all along
   (virt-admin), never has more than two workers busy (vm1's stuck call,
   vm2's current one) nor a call queued.  Unresponsive turns true, later
   calls are refused at once (in the refusal's words, not the deadline's).
   Calls on vm2 (Check, status = GetAll, Check --refresh through libvirtd
   and vm2's QEMU) start once libvirtd has vm1's call: the first 50 (in
   practice hundreds, or all 1,000) are answered while every client of vm1
   still waits, so none waited behind vm1's stuck call (on a libvirt
   connection, in mmiod's pool or in libvirtd's); then more while vm1 is
   marked.
2. SIGCONT: the call libvirtd was waiting on comes back, vm1 answers
   again by itself, its books (a reservation) are as they were.
3. libvirtd stopped (SIGSTOP): each guest's Check --refresh (one client
   per guest, at once) fails GuestUnresponsive at the deadline, then at
   once (refused); for 3 s clients keep calling on both guests; mmiod's
   own properties answer meanwhile; its RSS is sampled and must stay
   within 8 MiB of where it was (nothing piles up: one call per guest is
   out, later ones are refused).  SIGCONT: both guests answer again,
   Check --refresh works, the books are as they were.  Then libvirtd
   stopped again, until keepalive (5 s x 3) closes mmiod's connection:
   a Check --refresh on each guest made then, and the first ones right
   after SIGCONT, are answered (calls run on connections of their own),
   not failed with the lost connection's message until mmiod reconnects.
4. The watchdog ping kept coming while vm1's calls were out and never
   paused for a deadline's length.

UNRESPONSIVE_DEADLINE_S (default 30) sets toolstack_timeout,
UNRESPONSIVE_CALLS (default 1000) scales the calls on vm2.
MMIOD_SKIP_UNRESPONSIVE=1 skips it; so does a host where
libvirtd cannot run (not root, libvirt-daemon-system missing, ...)."""
import os
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "reliability"))
import libvirtd  # noqa: E402
import relctx as R  # noqa: E402
from relctx import t, q  # noqa: E402

if os.environ.get("MMIOD_SKIP_UNRESPONSIVE"):
    t.skip_all("MMIOD_SKIP_UNRESPONSIVE is set")
why = libvirtd.skip_reason() or q.missing_tools()
if why:
    t.skip_all(why)

CALLS = int(os.environ.get("UNRESPONSIVE_CALLS", "1000"))
VICTIMS = 4     # clients asking about the stopped guest at once
CALL_S = int(os.environ.get("UNRESPONSIVE_DEADLINE_S", "30"))
DURING = 50     # vm2's calls that must be answered while vm1's clients wait (hundreds are)
UNRESP, REFUSED = R.UNRESP, R.REFUSED
SPEC = "bars:mem32:16M"
WATCHDOG_USEC = 1000000
DOMAIN = """<domain type='qemu'>
  <name>%s</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <emulator>%s</emulator>
  </devices>
</domain>
"""


diag, call, pct = R.diag, R.timed, R.pct


T0 = time.monotonic()


def phase(what):
    diag("%.1f s: %s" % (time.monotonic() - T0, what))


env = t.Env()
lv = libvirtd.Libvirtd(os.path.join(env.dir, "libvirt"))
wd = None
stopped = []        # pids to SIGCONT whatever happens


def unresponsive(name):
    p = q.guest_path(env, name)
    return p is not None and bool(env.prop(p, t.GUEST, "Unresponsive"))


def calls_of(method):
    """How many calls of method mmiod has taken (Manager.Calls: counted
    once its handler ran)."""
    return dict((str(m), int(n)) for m, n, _ in env.prop(t.MANAGER_PATH, t.MANAGER, "Calls")).get(method, 0)


def calls_on(name, n, victim=None, stop=None):
    """Calls on a guest (R.guest_calls): Check and GetAll, one in twenty a
    Check --refresh (through libvirtd and the guest's QEMU: the slow ones)."""
    return R.guest_calls(env, name, n, lambda i: ("refresh" if i % 20 == 5 else "check", [SPEC])
                         if i % 20 < 10 else ("status", None),
                         victim=victim, victim_spec=SPEC, stop=stop)


class PoolSampler:
    """libvirtd's worker pool, every 0.2 s (virt-admin): the most workers
    busy at once, the deepest queue of calls not yet taken by a worker (a
    call may be seen there for the moment it takes to wake one), and the
    samples where every worker was busy with calls waiting."""

    def __init__(self):
        self.busy, self.queued, self.samples, self.full, self.errors = 0, 0, 0, 0, []
        self.now_busy = 0       # in the last sample
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            r = subprocess.run(["virt-admin", "-c", lv.admin_uri, "server-threadpool-info", "libvirtd"],
                               capture_output=True, text=True, timeout=30)
            v = dict((k.strip(), int(x)) for k, _, x in (ln.partition(":") for ln in r.stdout.splitlines())
                     if x.strip().isdigit())
            if r.returncode != 0 or "nWorkers" not in v:
                self.errors.append(r.stderr.strip())
            else:
                self.now_busy = v["nWorkers"] - v["freeWorkers"]
                self.busy = max(self.busy, self.now_busy)
                self.queued = max(self.queued, v["jobQueueDepth"])
                self.full += v["freeWorkers"] == 0 and v["jobQueueDepth"] > 0
                self.samples += 1
            time.sleep(0.2)

    def close(self):
        self.stop = True
        self.thread.join(30)


try:
    lv.start()
    phase("libvirtd up")
    emulator = q.shutil.which(q.QEMU) or "/usr/bin/qemu-system-x86_64"
    pids, creating = {}, []
    for name in ("vm1", "vm2"):
        path = os.path.join(env.dir, name + ".xml")
        with open(path, "w") as f:
            f.write(DOMAIN % (name, emulator))
        creating.append(subprocess.Popen(["virsh", "-q", "-c", lv.uri, "create", path, "--paused"],
                                         stdout=subprocess.DEVNULL))
    for p in creating:
        if p.wait(120) != 0:
            raise RuntimeError("virsh create failed: " + lv.log_tail())
    for name in ("vm1", "vm2"):
        with open(os.path.join(lv.dir, "run", "qemu", name + ".pid")) as f:
            pids[name] = int(f.read().strip())
    phase("domains up")
    conf = os.path.join(env.dir, "mmiod.conf")

    def write_conf(deadline_s):
        with open(conf, "w") as f:
            f.write("[daemon]\ntoolstack_timeout = %d\n" % deadline_s)
    write_conf(CALL_S)
    wd = R.Watchdog(os.path.join(env.dir, "notify.sock"))
    env.start_daemon("--backend", "libvirt:" + lv.uri, "--config", conf,
                     env={"NOTIFY_SOCKET": os.path.join(env.dir, "notify.sock"),
                          "WATCHDOG_USEC": str(WATCHDOG_USEC)})
    mgr = env.manager()
    p1, p2 = q.wait_guest(env, "vm1"), q.wait_guest(env, "vm2")
    phase("mmiod serves them")
    t.ok(not unresponsive("vm1") and not unresponsive("vm2"), "both libvirt guests announced")
    r = call(mgr.Reserve, "vm1", ["bars:mem64p:256M"], {"label": "kept"})
    t.ok(r[0] == "ok", "a reservation on vm1", r)
    before = R.snapshot(env, p1)
    base_lat, base_rlat, base_bad, _, _ = calls_on("vm2", min(CALLS, 200))
    t.ok(not base_bad, "baseline: calls on vm2 answered", base_bad[:3])

    phase("baseline done")
    # ---- 1. vm1's QEMU stopped under libvirtd ----
    mmioctl = os.path.join(t.top_builddir, "client", "mmioctl")
    wait = ["--timeout", str(CALL_S * 3)]    # mmioctl's own: longer than the deadline
    sampler = PoolSampler()
    t0 = time.monotonic()
    os.kill(pids["vm1"], signal.SIGSTOP)
    stopped.append(pids["vm1"])
    victims = R.Clients([[mmioctl] + wait + ["check", "--refresh", "vm1", SPEC]] * VICTIMS)
    # vm2 from the moment libvirtd has vm1's call (a worker busy with it):
    # a call on vm2 answered while every client of vm1 still waits did not
    # wait behind vm1's
    q.wait_for(lambda: sampler.now_busy >= 1 or victims.poll(), CALL_S * 2,
               "libvirtd to take vm1's call")
    out_at = time.monotonic()
    lat, rlat, bad, _, during = calls_on("vm2", CALLS, stop=lambda: not victims.outstanding())
    q.wait_for(victims.poll, CALL_S * 3, "vm1's clients to fail")
    outs = victims.results()
    diag("vm1's %d clients failed after %s ms (deadline %d ms); vm2 meanwhile: %d calls answered "
         "before the first of them ended, %d of them Check --refresh through libvirtd"
         % (VICTIMS, ", ".join("%.0f" % x[2] for x in outs), CALL_S * 1000, during, len(rlat)))
    t.ok(all(rc == 4 and "guest vm1" in err and "answer" in err for rc, err, _ in outs),
         "vm1's QEMU stopped: %d clients' Check --refresh at once fail GuestUnresponsive: %s"
         % (VICTIMS, outs[0][1][:140]), outs)
    # the deadline fired, not anything before it; the upper bound only
    # catches a deadline that never fires
    t.ok(all(CALL_S * 1000 - 50 <= x[2] < CALL_S * 2000 for x in outs),
         "... when the %d s deadline fired, not before (%.0f ms the first)"
         % (CALL_S, min(x[2] for x in outs)), outs)
    t.ok(not bad and during >= min(CALLS, DURING) and len(rlat) > 0,
         "%d calls on vm2 (%d re-reads through libvirtd) answered while vm1's clients still "
         "waited: none waited behind vm1's stuck call" % (during, len(rlat)), (during, bad[:3]))
    t.ok(unresponsive("vm1"), "vm1's Unresponsive is true")
    r = call(mgr.Check, "vm1", [SPEC], {})
    t.ok(r[0] == UNRESP and REFUSED in r[1], "then Check is refused at once (%.1f ms): %s"
         % (r[2], r[1][:100]), r)
    # more while vm1 is marked (at least 300), every 50th with a Check on
    # vm1 that must be refused
    lat2, rlat2, bad2, vlat, _ = calls_on("vm2", max(min(CALLS, 300), CALLS - during), victim="vm1")
    lat, rlat, bad = lat + lat2, rlat + rlat2, bad + bad2
    sampler.close()
    t.ok(not bad, "%d calls on vm2 answered while vm1's QEMU is stopped; vm1's own %d refused"
         % (len(lat) + len(rlat), len(vlat)), bad[:3])
    diag("libvirtd's workers meanwhile (%d samples): at most %d busy, at most %d calls not yet taken "
         "by one, %d samples with all busy and calls waiting%s"
         % (sampler.samples, sampler.busy, sampler.queued, sampler.full,
            "; virt-admin: " + sampler.errors[0] if sampler.errors else ""))
    t.ok(sampler.samples > 0 and sampler.busy <= 2 and sampler.full == 0,
         "libvirtd got one call for vm1 however many clients asked: at most %d of its workers busy "
         "(vm1's stuck call, vm2's)" % sampler.busy,
         (sampler.samples, sampler.busy, sampler.full, sampler.errors[:1]))
    p99, b99 = pct(lat, 99), pct(base_lat, 99)
    diag("vm2 (libvirt) while vm1 is stopped: %d Check/status calls, p50 %.2f ms, p99 %.2f ms, max "
         "%.2f ms (before: p99 %.2f ms); %d Check --refresh through libvirtd: p50 %.1f ms, p99 %.1f ms, "
         "max %.1f ms (before: p99 %.1f ms); vm1's calls meanwhile: max %.2f ms"
         % (len(lat), pct(lat, 50), p99, max(lat), b99, len(rlat), pct(rlat, 50), pct(rlat, 99),
            max(rlat), pct(base_rlat, 99), max(vlat) if vlat else 0))

    phase("calls done")
    # ---- 2. vm1 runs again ----
    t1 = time.monotonic()
    os.kill(pids["vm1"], signal.SIGCONT)
    stopped.remove(pids["vm1"])
    q.wait_for(lambda: not unresponsive("vm1"), CALL_S * 2 + 20, "vm1 answering again")
    t.ok(True, "SIGCONT: vm1 answers again by itself (%.0f ms)" % ((time.monotonic() - t1) * 1000))
    r = call(mgr.Check, "vm1", [SPEC], {"refresh": True})
    t.ok(r[0] == "ok", "Check --refresh on vm1 works again", r)
    t.ok(R.snapshot(env, p1) == before, "vm1's books unchanged, the reservation kept",
         (before, R.snapshot(env, p1)))

    phase("vm1 recovered")
    # ---- 3. libvirtd itself stopped ----
    # with a 5 s deadline: libvirt's keepalive (5 s x 3) closes mmiod's
    # connections to a libvirtd that hangs longer than that, and then the
    # calls fail ToolstackFailed (connection lost), not GuestUnresponsive;
    # nothing here needs a healthy answer in time until libvirtd runs again
    write_conf(5)
    wd.reload(env.daemon.pid)
    pid = env.daemon.pid
    lpid = lv.libvirtd.pid
    os.kill(lpid, signal.SIGSTOP)
    stopped.append(lpid)
    lstop_at = time.monotonic()
    rss0 = R.rss_kib(pid)
    firsts = R.Clients([[mmioctl] + wait + ["check", "--refresh", n, SPEC] for n in ("vm1", "vm2")])
    q.wait_for(firsts.poll, CALL_S * 3, "the first calls while libvirtd hangs")
    first = firsts.results()
    t.ok(all(rc == 4 and "answer" in err and REFUSED not in err and x >= 5000 - 50
             for rc, err, x in first),
         "libvirtd stopped: each guest's Check --refresh fails GuestUnresponsive when the 5 s "
         "deadline fires (%s ms)" % ", ".join("%.0f" % x[2] for x in first), first)
    end = time.monotonic() + 3
    n, worst, plat, rss, wrong = 0, 0.0, [], [], []
    while time.monotonic() < end:
        for name in ("vm1", "vm2"):
            r = call(mgr.Check, name, [SPEC], {"refresh": True})
            n += 1
            worst = max(worst, r[2])
            if r[0] != UNRESP or REFUSED not in r[1]:
                wrong.append(r[:2])
        plat.append(call(env.prop, t.MANAGER_PATH, t.MANAGER, "Version")[2])
        if n % 200 == 0:
            rss.append(R.rss_kib(pid))
    rss.append(R.rss_kib(pid))
    diag("libvirtd stopped: %d calls in 3 s, slowest %.1f ms; a Manager "
         "property meanwhile: p99 %.2f ms; mmiod RSS %d KiB before, %s KiB during"
         % (n, worst, pct(plat, 99), rss0, rss))
    t.ok(not wrong, "... then all %d refused at once while libvirtd hangs (slowest %.1f ms)" % (n, worst),
         wrong[:3])
    if t.daemon_sanitized():
        t.skip("mmiod's memory does not grow", "mmiod is built with ASan: its quarantine keeps "
               "freed memory")
    else:
        t.ok(max(rss) - rss0 < 8 * 1024, "mmiod's memory does not grow while libvirtd hangs "
             "(+%d KiB)" % (max(rss) - rss0))
    os.kill(lpid, signal.SIGCONT)
    stopped.remove(lpid)
    t2 = time.monotonic()
    lv_pings = len(wd.between(lstop_at, t2))
    write_conf(CALL_S)
    wd.reload(env.daemon.pid)
    q.wait_for(lambda: not unresponsive("vm1") and not unresponsive("vm2"), CALL_S * 2 + 30,
               "both answering")
    t.ok(True, "SIGCONT libvirtd: both guests answer again (%.0f ms)" % ((time.monotonic() - t2) * 1000))
    rr = [call(mgr.Check, nm, [SPEC], {"refresh": True}) for nm in ("vm1", "vm2")]
    t.ok(all(x[0] == "ok" for x in rr), "Check --refresh works on both", rr)
    t.ok(R.snapshot(env, p1) == before, "vm1's books as they were")

    phase("libvirtd stopped past keepalive")
    # ---- 3b. libvirtd stopped longer than libvirt's keepalive (5 s x 3),
    # no call out: keepalive closes the back end's connection, and the
    # reconnection waits for libvirtd.  Calls made then (one Check
    # --refresh per guest, the 30 s deadline back) wait for libvirtd on
    # connections of their own and are answered once it runs again, not
    # failed with the lost connection's message until mmiod has
    # reconnected; so are the first calls right after SIGCONT.
    logpos = len(env.logtext())
    os.kill(lpid, signal.SIGSTOP)
    stopped.append(lpid)
    q.wait_for(lambda: "keepalive timed out" in env.logtext()[logpos:], 120,
               "keepalive to close mmiod's connection")
    checks0 = calls_of("Check")
    during = R.Clients([[mmioctl] + wait + ["check", "--refresh", n, SPEC] for n in ("vm1", "vm2")])
    q.wait_for(lambda: calls_of("Check") >= checks0 + 2 or during.poll(), 60, "both calls taken")
    os.kill(lpid, signal.SIGCONT)
    stopped.remove(lpid)
    rr = [call(mgr.Check, nm, [SPEC], {"refresh": True}) for nm in ("vm1", "vm2")]
    q.wait_for(during.poll, CALL_S * 3, "the calls made while libvirtd hung")
    outs = during.results()
    diag("libvirtd stopped past keepalive: the calls made then %s (%s ms); right after SIGCONT %s"
         % (", ".join(str(x[0]) for x in outs), ", ".join("%.0f" % x[2] for x in outs),
            ", ".join(x[0] for x in rr)))
    t.ok(all(rc == 0 for rc, _, _ in outs), "libvirtd stopped past keepalive (mmiod's connection "
         "closed): a Check --refresh on each guest waits for it and is answered after SIGCONT, not "
         "failed with the lost connection's message", outs)
    t.ok(all(x[0] == "ok" for x in rr), "... so are the first ones right after SIGCONT", rr)
    q.wait_for(lambda: ("connected to " + lv.uri) in env.logtext()[logpos:], CALL_S * 2,
               "the back end to reconnect")
    q.wait_for(lambda: not unresponsive("vm1") and not unresponsive("vm2"), CALL_S * 2, "both answering")
    rr = [call(mgr.Check, nm, [SPEC], {"refresh": True}) for nm in ("vm1", "vm2")]
    t.ok(all(x[0] == "ok" for x in rr), "... and after the reconnection too", rr)
    t.ok(R.snapshot(env, p1) == before, "vm1's books as they were")
    gap, pings = wd.max_gap(t0)
    out_pings = len(wd.between(out_at, victims.first_end))
    diag("watchdog: %d pings, %d while vm1's calls were out, %d while libvirtd was stopped, largest "
         "gap %.0f ms (WatchdogSec %d ms)" % (pings, out_pings, lv_pings, (gap or 0) * 1000,
                                              WATCHDOG_USEC // 1000))
    t.ok(out_pings >= 2 and lv_pings >= 2 and gap is not None and gap < CALL_S,
         "the watchdog ping kept coming while vm1's calls were out (%d pings) and while libvirtd "
         "was stopped (%d), never paused for a deadline's length (largest gap %.0f ms)"
         % (out_pings, lv_pings, (gap or 0) * 1000))
    phase("libvirtd recovered")
    # under ASan a leak makes this exit status non-zero
    t.ok(env.stop_daemon() == 0, "mmiod exits cleanly", env.logtext()[-2000:])
finally:
    for c in ("victims", "firsts", "during"):
        if c in globals():
            globals()[c].kill()
    for p in stopped:
        try:
            os.kill(p, signal.SIGCONT)
        except OSError:
            pass
    if wd:
        wd.close()
    try:
        env.stop_daemon()
        lv.close()
        phase("cleaned up")
    except Exception as e:  # noqa: BLE001
        print("# cleanup: %s" % e)
t.done()
