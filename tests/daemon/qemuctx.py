# SPDX-License-Identifier: MIT
"""Real QEMU guests for mmiod's integration tests.

Each guest is started stopped (-S, TCG, no display, no NIC) with two QMP
sockets: one in the directory mmiod's qmp back end watches, and one for
the test itself outside it (QEMU serves one client per QMP socket).  A
glib-driven bus connection catches signals and makes concurrent calls.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import busctx as t

QEMU = os.environ.get("QEMU", "qemu-system-x86_64")
G = 1 << 30
M = 1 << 20

# pci-testdev as QEMU 7.2 builds it (hw/misc/pci-testdev.c): BAR0 4 KiB
# memory, BAR1 256 I/O ports, BAR2 64-bit prefetchable memory of "membar"
# bytes (query-pci: mem_type_64, prefetch).  The declaration must match.
def testdev_spec(membar):
    return "bars:mem32:4K,io:256,mem64p:%s" % size_name(membar)


def size_name(n):
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return "%d%s" % (n >> shift, unit)
    return str(n)


def missing_tools():
    for tool in (QEMU, "dbus-daemon"):
        if not shutil.which(tool):
            return "%s not installed" % tool
    if not os.path.exists(t.MMIOD):
        return "mmiod not built"
    try:
        import dbus.mainloop.glib  # noqa: F401
        from gi.repository import GLib  # noqa: F401
    except ImportError as e:
        return "python3 lacks dbus.mainloop.glib or gi: %s" % e
    return None


def wait_for(cond, timeout=30, what="condition", step=0.05):
    """Short polling, never a fixed sleep: returns cond()'s value or raises."""
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise TimeoutError("timed out after %ss waiting for %s" % (timeout, what))
        Loop.iterate()
        time.sleep(step)


class QMP:
    """A minimal synchronous QMP client (events are kept, not needed)."""

    def __init__(self, path, timeout=20):
        wait_for(lambda: os.path.exists(path), timeout, "QMP socket " + path)
        # QEMU binds the socket file a moment before it listens; on a loaded
        # machine a connect in between is refused, so retry until timeout.
        end = time.monotonic() + timeout
        while True:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.sock.connect(path)
                break
            except ConnectionRefusedError:
                self.sock.close()
                if time.monotonic() > end:
                    raise
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.f = self.sock.makefile("rw")
        self.greeting = self._read()
        self.events = []
        self.cmd("qmp_capabilities")

    def _read(self):
        line = self.f.readline()
        if not line:
            raise ConnectionError("QMP connection closed")
        return json.loads(line)

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        self.f.flush()
        while True:
            m = self._read()
            if "event" in m:
                self.events.append(m)
                continue
            if "error" in m:
                raise RuntimeError("QMP %s: %s" % (name, m["error"].get("desc")))
            return m["return"]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Guest:
    def __init__(self, env, name, watched_dir, mem_mib=1024, machine="pc", stopped=True,
                 extra_args=()):
        self.name = name
        self.log = open(os.path.join(env.dir, "qemu-%s.log" % name), "w")
        self.test_sock = os.path.join(env.dir, "test-%s.sock" % name)
        self.mmiod_sock = os.path.join(watched_dir, "%s.sock" % name)
        cmd = [QEMU, "-machine", machine, "-accel", "tcg", "-m", str(mem_mib), "-nographic",
               "-display", "none", "-nic", "none"] + (["-S"] if stopped else []) + [
               "-name", name,
               "-qmp", "unix:%s,server=on,wait=off" % self.mmiod_sock,
               "-qmp", "unix:%s,server=on,wait=off" % self.test_sock] + list(extra_args)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        env.procs.append(self.proc)
        self.qmp = QMP(self.test_sock)
        self.host = "/machine/q35" if machine == "q35" else "/machine/i440fx"

    def qom(self, prop):
        return self.qmp.cmd("qom-get", path=self.host, property=prop)

    def pci_devices(self):
        return [d for bus in self.qmp.cmd("query-pci") for d in bus["devices"]]

    def device(self, qdev_id):
        for d in self.pci_devices():
            if d.get("qdev_id") == qdev_id:
                return d
        return None

    def kill(self):
        self.qmp.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


class Loop:
    """dbus-python on the glib main loop: signals and asynchronous calls."""

    ctx = None

    @staticmethod
    def iterate():
        if Loop.ctx is not None:
            while Loop.ctx.iteration(False):
                pass


class SignalBus:
    def __init__(self, address):
        import dbus
        from dbus.mainloop.glib import DBusGMainLoop
        from gi.repository import GLib
        Loop.ctx = GLib.MainContext.default()
        self.dbus = dbus
        self.bus = dbus.bus.BusConnection(address, mainloop=DBusGMainLoop())
        self.signals = []
        self.bus.add_signal_receiver(self._on_signal, dbus_interface=t.MANAGER,
                                     member_keyword="member", path=t.MANAGER_PATH)

    def _on_signal(self, *args, member=None):
        self.signals.append((str(member), args))

    def manager(self):
        return self.dbus.Interface(self.bus.get_object(t.BUS, t.MANAGER_PATH), t.MANAGER)

    def wait_signal(self, member, pred=lambda args: True, timeout=30):
        def hit():
            for m, a in self.signals:
                if m == member and pred(a):
                    return (m, a)
            return None
        return wait_for(hit, timeout, "signal " + member)

    def call_async(self, method, *args, timeout=120):
        """Starts a Manager call; returns a dict filled with reply or error."""
        res = {}
        getattr(self.manager(), method)(*args, reply_handler=lambda *r: res.update(reply=r),
                                        error_handler=lambda e: res.update(error=e),
                                        timeout=timeout)
        return res


# ---- the daemon's view -------------------------------------------------------

def guests(env):
    om = env.bus.get_object(t.BUS, t.MANAGER_PATH).GetManagedObjects(
        dbus_interface="org.freedesktop.DBus.ObjectManager")
    return {str(p): ifs.get(t.GUEST, {}) for p, ifs in om.items() if t.GUEST in ifs}


def guest_path(env, name):
    for p, props in guests(env).items():
        if str(props.get("Name")) == name:
            return p
    return None


def wait_guest(env, name, timeout=30):
    """Until the guest is announced and its windows are known."""
    def ready():
        p = guest_path(env, name)
        if p and len(env.prop(p, t.GUEST, "Windows")) > 0:
            return p
        if env.daemon.poll() is not None:
            raise RuntimeError("mmiod exited (%s):\n%s" % (env.daemon.returncode, env.logtext()))
        return None
    return wait_for(ready, timeout, "guest %s with windows" % name)


def windows(env, path):
    """{kind: (start, end, free, largest, source)}; several of one kind get kind#n."""
    out = {}
    for w in env.prop(path, t.GUEST, "Windows"):
        k = str(w[0])
        while k in out:
            k += "+"
        out[k] = (int(w[1]), int(w[2]), int(w[3]), int(w[4]), str(w[5]))
    return out


def total_free(ws, kinds=("low", "high")):
    return sum(v[2] for k, v in ws.items() if k.rstrip("+") in kinds)


def devices(env, path):
    return [(str(d[0]), str(d[1]), int(d[2]), str(d[3]), int(d[4]), int(d[5]), str(d[6]))
            for d in env.prop(path, t.GUEST, "Devices")]


def attaches(env, path):
    return [tuple(map(str, a)) for a in env.prop(path, t.GUEST, "Attaches")]


def ports(env, path):
    """{id: (slot, state, by, {name: (kind, start, end, source)})}"""
    out = {}
    for p in env.prop(path, t.GUEST, "Ports"):
        out[str(p[0])] = (str(p[1]), str(p[2]), str(p[3]),
                          {str(w[0]): (str(w[1]), int(w[2]), int(w[3]), str(w[4])) for w in p[4]})
    return out


def reservations(env, path):
    return [(str(r[0]), str(r[1]), [str(x) for x in r[2]], int(r[3]))
            for r in env.prop(path, t.GUEST, "Reservations")]


def start_qmp_daemon(env, qdir, extra_env=None):
    """Starts mmiod on the qmp back end; returns None or the reason it cannot run."""
    env.start_daemon("--backend", "qmp:" + qdir, env=extra_env)
    try:
        wait_for(lambda: list(env.prop(t.MANAGER_PATH, t.MANAGER, "Backends")) or
                 env.daemon.poll() is not None, 10, "the qmp back end")
    except TimeoutError:
        pass
    if ("qmp:" + qdir) not in [str(b) for b in env.prop(t.MANAGER_PATH, t.MANAGER, "Backends")]:
        return "the qmp back end is not running in this build: " + \
            " | ".join(l for l in env.logtext().splitlines() if "qmp" in l)[-300:]
    return None


def qemu_dir(env=None):
    """A private bus (env, else a new busctx.Env) and the directory of QMP
    sockets mmiod's qmp back end will watch; skips the whole test when QEMU
    or its tools are missing."""
    why = missing_tools()
    if why:
        t.skip_all(why)
    env = env or t.Env()
    qdir = os.path.join(env.dir, "qmp")
    os.mkdir(qdir)
    return env, qdir


def qemu_env(nguests=1, names=None, extra_env=None, env=None, wait=True):
    """qemu_dir, a stopped pc guest per name (vm1, vm2, ... by default) and
    mmiod on the qmp back end; skips the whole test when something is
    missing.  Returns env, qdir, {name: Guest}, {name: object path} (empty
    unless wait: then every guest is on the bus)."""
    env, qdir = qemu_dir(env)
    names = names or ["vm%d" % (i + 1) for i in range(nguests)]
    vms = {n: Guest(env, n, qdir) for n in names}
    why = start_qmp_daemon(env, qdir, extra_env)
    if why:
        t.skip_all(why)
    paths = {n: wait_guest(env, n) for n in names} if wait else {}
    return env, qdir, vms, paths
