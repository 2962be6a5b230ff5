# SPDX-License-Identifier: MIT
"""Shared helpers of the reliability tests: reuse tests/daemon's private
bus (busctx) and real QEMU guests (qemuctx), plus low-level calls with an
explicit signature, a snapshot of a guest's books, and mmiod's RSS/fds;
for the stall tests (test-unresponsive.py, tests/libvirt/test-libvirt-stall.py)
timed calls, percentiles, the systemd watchdog's side of sd_notify and the
clients that wait on a stopped guest."""
import os
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "daemon"))
import busctx as t  # noqa: E402
import qemuctx as q  # noqa: E402

D = t.dbus


def raw_call(bus, method, sig, args, path=t.MANAGER_PATH, iface=t.MANAGER, timeout=60):
    """A Manager call with exactly this signature (dbus-python's proxies
    would coerce or refuse); returns ("ok", reply args) or (error name, message)."""
    import dbus.lowlevel
    m = dbus.lowlevel.MethodCallMessage(t.BUS, path, iface, method)
    if sig:
        m.append(signature=sig, *args)
    try:
        r = bus.send_message_with_reply_and_block(m, timeout)
        return ("ok", r.get_args_list())
    except D.DBusException as e:
        return (e.get_dbus_name(), e.get_dbus_message() or "")


def call(fn):
    """(error name, message) of a proxy call, or ("ok", reply)."""
    try:
        return ("ok", fn())
    except D.DBusException as e:
        return (e.get_dbus_name(), e.get_dbus_message() or "")


def snapshot(env, path):
    """What must not change after a refused call."""
    return (q.windows(env, path), sorted(q.devices(env, path)),
            sorted(q.reservations(env, path)), q.attaches(env, path))


def used_bytes(env, path, kinds=("low", "high")):
    """Bytes of the memory windows shown as used (size - free)."""
    return sum(v[1] - v[0] - v[2] for k, v in q.windows(env, path).items() if k.rstrip("+") in kinds)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def cpu_s(pid):
    """User + system CPU seconds the process has used."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def nfds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


# A private bus, real QEMU guests, mmiod on the qmp back end, every guest on the bus.
qemu_env = q.qemu_env


def todo(cond, name, why, diag=None):
    """A TAP test point for a known, documented defect: "not ok ... # TODO"
    (automake's driver counts it as XFAIL, an unexpected pass as XPASS)."""
    t._n += 1
    print(("ok" if cond else "not ok") + " %d - %s # TODO %s" % (t._n, name, why))
    if not cond and diag:
        for line in str(diag).splitlines():
            print("#   " + line)
    sys.stdout.flush()
    return cond


def diag(text):
    print("# " + text)
    sys.stdout.flush()


def timed(fn, *args, **kw):
    """(error name or "ok", reply or message, elapsed ms) of a proxy call.
    The time is printed by the tests, never asserted."""
    t0 = time.monotonic()
    try:
        r = fn(*args, **kw)
        return ("ok", r, (time.monotonic() - t0) * 1000.0)
    except D.DBusException as e:
        return (e.get_dbus_name(), e.get_dbus_message() or "", (time.monotonic() - t0) * 1000.0)


def pct(v, p):
    """The p-th percentile of v (0.0 when v is empty)."""
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))] if v else 0.0


UNRESP = "org.mmiod1.Error.GuestUnresponsive"
REFUSED = "is not answering"    # a call refused at once, not one that timed out


def guest_calls(env, name, n, schedule, victim=None, victim_spec=None, stop=None):
    """Up to n calls on guest name, fewer if stop() turns true (it is asked
    after every call).  schedule(i) says what call i is: ("check", devices),
    ("refresh", devices) (a Check that re-reads the guest through its
    toolstack) or ("status", None) (the guest's GetAll).  Every 50th call
    is followed by a Check of victim_spec on victim, which must be refused
    at once.  Returns the latencies in ms of the calls mmiod answers itself
    and of the re-reads (they wait for the toolstack, whose speed is the
    machine's, not mmiod's), the failures, the victim's latencies, and how
    many calls were answered before stop() turned true."""
    mgr = env.manager()
    path = q.guest_path(env, name)
    props = D.Interface(env.bus.get_object(t.BUS, path), "org.freedesktop.DBus.Properties")
    lat, rlat, bad, vlat = [], [], [], []
    before_stop = 0
    for i in range(n):
        kind, devices = schedule(i)
        if kind == "status":
            r = timed(props.GetAll, t.GUEST)
        else:
            r = timed(mgr.Check, name, devices, {"refresh": kind == "refresh"})
        (rlat if kind == "refresh" else lat).append(r[2])
        if r[0] != "ok":
            bad.append(r[:2])
        if victim and i % 50 == 0:
            v = timed(mgr.Check, victim, [victim_spec], {})
            vlat.append(v[2])
            if v[0] != UNRESP or REFUSED not in v[1]:
                bad.append(("victim", v[:2]))
        if stop and stop():
            break
        before_stop += 1
    return lat, rlat, bad, vlat, before_stop


class Watchdog:
    """systemd's side of sd_notify (the NOTIFY_SOCKET given to mmiod): the
    times WATCHDOG=1 arrived, and every other message (READY=1 after a
    SIGHUP's reload, ...)."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.pings, self.msgs, self.stop = [], [], False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            if b"WATCHDOG=1" in data:
                self.pings.append(time.monotonic())
            else:
                self.msgs.append((time.monotonic(), data.decode(errors="replace")))

    def reload(self, pid, timeout=60):
        """SIGHUP to mmiod, then waits for the READY=1 that ends its reload:
        what the reload changed applies from then on."""
        n = len(self.msgs)
        os.kill(pid, signal.SIGHUP)
        q.wait_for(lambda: any("READY=1" in m for _, m in self.msgs[n:]), timeout, "mmiod's reload")

    def between(self, since, until=None):
        """Pings that came in [since, until)."""
        return [p for p in self.pings if p >= since and (until is None or p < until)]

    def max_gap(self, since):
        """(largest gap between pings since then in s, or None; how many)."""
        p = self.between(since)
        return max((b - a for a, b in zip(p, p[1:])), default=None), len(p)

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.sock.close()


class Clients:
    """mmioctl processes started together (say, on a guest that was just
    stopped).  outstanding() is true while none has ended: an event seen
    while it is true happened before any of their calls was answered."""

    def __init__(self, argvs):
        self.t0 = time.monotonic()
        self.procs = [subprocess.Popen(a, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                      for a in argvs]
        self.ended = {}             # proc -> ms after t0 when it was first seen ended
        self.first_end = None       # monotonic time the first one was seen ended

    def poll(self):
        for p in self.procs:
            if p not in self.ended and p.poll() is not None:
                now = time.monotonic()
                self.ended[p] = (now - self.t0) * 1000.0
                if self.first_end is None:
                    self.first_end = now
        return len(self.ended) == len(self.procs)

    def outstanding(self):
        self.poll()
        return not self.ended

    def results(self):
        """[(exit code, stderr stripped, ms)] once every one has ended."""
        out = []
        for p in self.procs:
            err = p.communicate()[1].strip()
            out.append((p.returncode, err, self.ended.get(p, (time.monotonic() - self.t0) * 1000.0)))
        return out

    def kill(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
