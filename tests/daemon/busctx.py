# SPDX-License-Identifier: MIT
"""A private system bus and a real mmiod for integration tests (TAP).

Starts dbus-daemon with tests/daemon/system-bus.conf: the system bus's
deny-by-default shape plus dbus/org.mmiod1.conf, exports
DBUS_SYSTEM_BUS_ADDRESS, starts mmiod with a temporary --state-dir and
waits until Manager.Version answers (no fixed sleeps).  Everything started
is killed on exit, even on failure.
"""
import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import dbus

BUS = "org.mmiod1"
MANAGER_PATH = "/org/mmiod1"
MANAGER = "org.mmiod1.Manager"
GUEST = "org.mmiod1.Guest"

top_srcdir = os.environ.get("top_srcdir", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
top_builddir = os.environ.get("top_builddir", os.getcwd())
MMIOD = os.environ.get("MMIOD", os.path.join(top_builddir, "daemon", "mmiod"))

_n = 0
_failed = 0


def ok(cond, name, diag=None):
    global _n, _failed
    _n += 1
    print(("ok" if cond else "not ok") + " %d - %s" % (_n, name))
    if not cond:
        _failed += 1
        if diag:
            for line in str(diag).splitlines():
                print("#   " + line)
    sys.stdout.flush()
    return cond


def skip(name, why):
    """One test that cannot be judged in this build (TAP SKIP)."""
    global _n
    _n += 1
    print("ok %d - %s # SKIP %s" % (_n, name, why))
    sys.stdout.flush()


def daemon_sanitized():
    """True when mmiod is built with AddressSanitizer: its quarantine and
    shadow memory make RSS grow by design, so RSS-flatness means nothing."""
    try:
        with open(MMIOD, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def done():
    print("1..%d" % _n)
    sys.exit(1 if _failed else 0)


def end_all(procs, wait=5):
    """Ends every process in procs still running, the last started first:
    SIGTERM, up to wait seconds each, then SIGKILL; all reaped."""
    for p in reversed(procs):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(wait)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def dbus_error(fn):
    """(name, message) of the D-Bus error fn() raises, or None."""
    try:
        fn()
        return None
    except dbus.DBusException as e:
        return e.get_dbus_name(), e.get_dbus_message()


def skip_all(why):
    print("1..0 # SKIP " + why)
    sys.exit(0)


# mmiod's toolstack_timeout in every test that does not set its own.
HARNESS_TOOLSTACK_TIMEOUT_S = 60


class Env:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mmiod-test.")
        self.procs = []
        self.daemon = None
        self.state_dir = os.path.join(self.dir, "state")
        os.mkdir(self.state_dir)
        atexit.register(self.cleanup)
        for s in (signal.SIGTERM, signal.SIGINT):
            signal.signal(s, lambda *a: sys.exit(1))
        self.start_bus()

    def start_bus(self):
        conf = os.path.join(top_srcdir, "tests", "daemon", "system-bus.conf")
        p = subprocess.Popen(["dbus-daemon", "--config-file=" + conf, "--address=unix:path=%s/bus" % self.dir,
                              "--nofork", "--print-address"],
                             stdout=subprocess.PIPE, text=True)
        self.procs.append(p)
        self.address = p.stdout.readline().strip()
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = self.address
        self.bus = dbus.bus.BusConnection(self.address)

    def start_daemon(self, *args, env=None, wait=True):
        e = dict(os.environ)
        e.update(env or {})
        e["MMIOD_CATALOGUE"] = e.get("MMIOD_CATALOGUE", os.path.join(top_srcdir, "data", "profiles.ini"))
        self.log = open(os.path.join(self.dir, "mmiod.log"), "a")
        # Toolstack deadlines far above what a loaded machine makes of a
        # healthy QEMU's answer (5 s, the default, was reached under a load
        # average of 15): a test about deadlines configures its own with
        # --config, which comes later and wins.
        conf = os.path.join(self.dir, "harness.conf")
        with open(conf, "w") as f:
            f.write("[daemon]\ntoolstack_timeout = %d\n" % HARNESS_TOOLSTACK_TIMEOUT_S)
        cmd = [MMIOD, "-v", "--state-dir", self.state_dir, "--config", conf] + list(args)
        # MMIOD_VALGRIND=DIR runs the daemon under valgrind, one log per
        # process in DIR; scripts/check then requires every log to be clean.
        vg = os.environ.get("MMIOD_VALGRIND")
        if vg:
            os.makedirs(vg, exist_ok=True)
            cmd = ["valgrind", "--quiet", "--leak-check=full", "--errors-for-leak-kinds=definite",
                   "--show-leak-kinds=definite", "--track-fds=no",
                   "--log-file=" + os.path.join(vg, "mmiod-%p.log")] + cmd
        self.daemon = subprocess.Popen(cmd, env=e, stderr=self.log)
        self.procs.append(self.daemon)
        if wait:
            self.wait_ready()
        return self.daemon

    def wait_ready(self, timeout=60 if os.environ.get("MMIOD_VALGRIND") else 20):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.daemon.poll() is not None:
                raise RuntimeError("mmiod exited with %s:\n%s" % (self.daemon.returncode, self.logtext()))
            try:
                return self.prop(MANAGER_PATH, MANAGER, "Version")
            except dbus.DBusException:
                time.sleep(0.05)
        raise RuntimeError("mmiod did not answer within %ss:\n%s" % (timeout, self.logtext()))

    def stop_daemon(self, sig=signal.SIGTERM):
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(sig)
            try:
                self.daemon.wait(60 if os.environ.get("MMIOD_VALGRIND") else 10)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        return self.daemon.returncode

    def logtext(self):
        try:
            with open(os.path.join(self.dir, "mmiod.log")) as f:
                return f.read()
        except OSError:
            return ""

    def manager(self):
        return dbus.Interface(self.bus.get_object(BUS, MANAGER_PATH), MANAGER)

    def prop(self, path, iface, name):
        o = self.bus.get_object(BUS, path)
        return o.Get(iface, name, dbus_interface="org.freedesktop.DBus.Properties")

    def introspect(self, path):
        o = self.bus.get_object(BUS, path)
        return o.Introspect(dbus_interface="org.freedesktop.DBus.Introspectable")

    def cleanup(self):
        end_all(self.procs)
        if os.environ.get("MMIOD_TEST_KEEP"):
            sys.stderr.write("kept %s\n" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def normalise(xml_text, prefix="org.mmiod1."):
    """The members of our interfaces, order-free, without comments and
    without the standard interfaces: what the contract test compares."""
    import xml.etree.ElementTree as ET
    # drop the DOCTYPE, which ElementTree does not need
    body = xml_text[xml_text.index("<node"):] if "<node" in xml_text else xml_text
    root = ET.fromstring(body)
    out = []
    for iface in root.findall("interface"):
        name = iface.get("name")
        if not name.startswith(prefix):
            continue
        for m in iface:
            ann = tuple(sorted((a.get("name"), a.get("value")) for a in m.findall("annotation")
                               if a.get("name") != "org.freedesktop.systemd1.Privileged"))
            args = tuple((a.get("type"), a.get("name"), a.get("direction", "")) for a in m.findall("arg"))
            out.append((name, m.tag, m.get("name"), m.get("type", ""), m.get("access", ""), args, ann))
    return sorted(out)
