# SPDX-License-Identifier: MIT
"""A private system bus and mmiod for the guest tests, and every process
they start tracked so that every exit path (the end, an exception, a
signal) ends them."""
import atexit
import json
import os
import signal
import subprocess
import sys
import threading
import time

import rig

HERE = os.path.dirname(os.path.abspath(__file__))
top_srcdir = os.environ.get("top_srcdir", os.path.abspath(os.path.join(HERE, "..", "..")))
top_builddir = os.environ.get("top_builddir", os.getcwd())
MMIOD = os.environ.get("MMIOD", os.path.join(top_builddir, "daemon", "mmiod"))
MMIOCTL = os.environ.get("MMIOCTL", os.path.join(top_builddir, "client", "mmioctl"))
CATALOGUE = os.path.join(top_srcdir, "data", "profiles.ini")

# ---- every process we start, so that every exit path ends them ---------------
_live = []
_live_lock = threading.Lock()


_stopping = threading.Event()


def track(p):
    with _live_lock:
        _live.append(p)
    if _stopping.is_set():      # started while we are being stopped
        stop(p)
        raise RuntimeError("stopping")
    return p


def untrack(p):
    with _live_lock:
        if p in _live:
            _live.remove(p)


def stop(p, sig=signal.SIGTERM, wait=5):
    if p is None:
        return
    if isinstance(p, rig.Guest):
        p.close()
    else:
        rig.end_process(p, sig, wait)
    untrack(p)


def stop_all():
    with _live_lock:
        ps = list(reversed(_live))
    for p in ps:
        try:
            stop(p)
        except Exception:
            pass


def on_signal(signum, frame):
    # End every guest, mmiod and bus now, so that the worker threads fail
    # fast and start nothing new; then leave.
    _stopping.set()
    stop_all()
    time.sleep(0.5)             # a Popen that was under way in a worker
    stop_all()
    sys.stdout.flush()
    os._exit(128 + signum)


def end_all_at_exit():
    """End every tracked process at exit and on SIGTERM, SIGINT, SIGHUP."""
    atexit.register(stop_all)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)


# ---- a private bus and mmiod ------------------------------------------------

def start_bus(workdir, keep=lambda p: p):
    """A private system bus open to everyone (tests/open-bus.conf) on
    workdir/bus, its process handed to keep at once: (process, address,
    the environment mmiod and mmioctl meet on it with)."""
    bus = keep(subprocess.Popen(
        ["dbus-daemon", "--config-file=" + os.path.join(top_srcdir, "tests", "open-bus.conf"),
         "--address=unix:path=%s/bus" % workdir, "--nofork", "--nopidfile", "--print-address"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
    address = bus.stdout.readline().strip()
    if not address:
        raise RuntimeError("dbus-daemon did not start")
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=address, LC_ALL="C")
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    return bus, address, env


def mmioctl(env, *args, timeout=120):
    """mmioctl --json ARGS: (exit status, its JSON or None, all it printed)."""
    r = subprocess.run([MMIOCTL, "--json", "--timeout", str(timeout)] + list(args),
                       env=env, capture_output=True, text=True, timeout=timeout + 30)
    js = None
    if r.stdout.strip():
        try:
            js = json.loads(r.stdout)
        except ValueError:
            pass
    return r.returncode, js, (r.stdout + r.stderr).strip()


def file_tail(path, n=3000):
    try:
        with open(path) as f:
            return f.read()[-n:]
    except OSError:
        return ""


class Daemon:
    def __init__(self, workdir, start=True):
        self.dir = workdir
        self.qmpdir = os.path.join(workdir, "qmp")
        os.makedirs(self.qmpdir)
        os.makedirs(os.path.join(workdir, "state"))
        # host devices mmiod reads (plug_slot steps with "spelling": "host")
        self.sysfs = os.path.join(workdir, "sysfs")
        os.makedirs(os.path.join(self.sysfs, "bus", "pci", "devices"))
        self.bus = self.mmiod = None
        if start:
            self.start()

    def start(self):
        """The bus and mmiod; a scenario with a start_mmiod step calls this
        later, after plugs mmiod never saw (a real host: mmiod started after
        the guest had devices from other tools)."""
        workdir = self.dir
        self.bus, self.address, self.env = start_bus(workdir, track)
        self.log_path = os.path.join(workdir, "mmiod.log")
        self.log = open(self.log_path, "w")
        self.start_mmiod()

    def start_mmiod(self):
        workdir = self.dir
        # A toolstack deadline far above what a loaded machine makes of a
        # healthy QEMU's answer under TCG (the 5 s default was reached at a
        # load average of 15): these scenarios are about placements, not
        # deadlines (tests/reliability has those).
        conf = os.path.join(workdir, "mmiod.conf")
        with open(conf, "w") as f:
            f.write("[daemon]\ntoolstack_timeout = 60\n")
        self.mmiod = track(subprocess.Popen(
            [MMIOD, "-v", "--bus-address=" + self.address, "--state-dir",
             os.path.join(workdir, "state"), "--config", conf,
             "--sysfs-root", self.sysfs,
             "--backend", "qmp:" + self.qmpdir, "--catalogue", CATALOGUE],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, env=self.env))

    def restart_mmiod(self):
        """mmiod stopped (SIGTERM) and started again on the same bus and
        state: what it works out from QEMU alone must not change."""
        stop(self.mmiod)
        self.log.write("---- mmiod restarted by the test ----\n")
        self.log.flush()
        self.start_mmiod()

    def ctl(self, *args, timeout=120):
        return mmioctl(self.env, *args, timeout=timeout)

    def wait_guest(self, name, timeout=60):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.mmiod.poll() is not None:
                raise RuntimeError("mmiod exited: " + self.logtail())
            rc, js, _ = self.ctl("status", name, timeout=10)
            if rc == 0 and js:
                for g in js.get("guests", []):
                    if g.get("id") == name and g.get("windows"):
                        return g
            time.sleep(0.2)
        raise RuntimeError("mmiod never announced guest %s: %s" % (name, self.logtail()))

    def logtail(self, n=3000):
        if self.bus is None:
            return "(mmiod not started)"
        return file_tail(self.log_path, n)

    def close(self):
        if self.bus is None:
            return
        stop(self.mmiod)
        stop(self.bus)
        self.log.close()
