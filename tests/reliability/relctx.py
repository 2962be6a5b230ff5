# SPDX-License-Identifier: MIT
"""Shared helpers of the reliability tests: reuse tests/daemon's private
bus (busctx) and real QEMU guests (qemuctx), plus low-level calls with an
explicit signature, a snapshot of a guest's books, and mmiod's RSS/fds."""
import os
import sys

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
