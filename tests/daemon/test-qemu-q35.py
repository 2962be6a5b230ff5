#!/bin/sh
''''exec "$(dirname "$0")/run-py" "$0" "$@" # '''
# SPDX-License-Identifier: MIT
"""q35 hot-plug ports against a real QEMU after its firmware ran (SeaBIOS,
no OS): the Ports property equals the bridges' windows in query-pci, Check
places a device behind the first free port it fits (or the one asked for),
Attach plugs it exactly there, the books survive a restart, and a guest that
hot-plugs with pciehp gets a prediction where the port's current windows hold
the device and where pciehp re-sizes them (lib/pciehp.c), never NotSupported."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import busctx as t  # noqa: E402
import qemuctx as q  # noqa: E402

env, qdir = q.qemu_dir()
PORTS = ["-device", "pcie-root-port,id=rp1,chassis=1,addr=0x10",
         "-device", "pcie-root-port,id=rp2,chassis=2,addr=0x11,pref64-reserve=1G",
         "-device", "pcie-root-port,id=rp3,chassis=3,addr=0x12,io-reserve=0"]
# ivshmem-plain: BAR0 256 B registers, BAR2 64-bit prefetchable = the memdev;
# no I/O BAR (before an OS ran, SeaBIOS gives empty ports no I/O window).
MEM = ["-object", "memory-backend-ram,id=m1,size=512M", "-object", "memory-backend-ram,id=m2,size=512M",
       "-object", "memory-backend-ram,id=m3,size=1M"]
vm = q.Guest(env, "vm1", qdir, mem_mib=512, machine="q35", stopped=False, extra_args=PORTS + MEM)
hp = q.Guest(env, "vm2", qdir, mem_mib=512, machine="q35", stopped=False,
             extra_args=PORTS[:4] + ["-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off"])
D = t.dbus
SPEC = "bars:mem32:256,mem64p:512M@2"
QDEV = "ivshmem-plain,memdev=m1"


def bridges(g):
    return {d["qdev_id"]: d["pci_bridge"]["bus"] for d in g.pci_devices() if "pci_bridge" in d}


def behind(g, port):
    """qdev ids of the devices query-pci lists behind a bridge."""
    for d in g.pci_devices():
        if d.get("qdev_id") == port and "pci_bridge" in d:
            return [x.get("qdev_id") for x in d["pci_bridge"].get("devices", [])]
    return None


def rng(r):
    return (r["base"], r["limit"] + 1) if r["limit"] >= r["base"] else None


try:
    # SeaBIOS numbers the buses and programs the windows within a second or two
    for g in (vm, hp):
        q.wait_for(lambda: all(b["secondary"] for b in bridges(g).values()), 60, "firmware")
    why = q.start_qmp_daemon(env, qdir)
    if why:
        t.skip_all(why)
    path = q.wait_guest(env, "vm1")
    mgr = env.manager()
    mgr.Check("vm1", ["bars:mem32:4K"], {"refresh": True})
    ports = q.ports(env, path)
    br = bridges(vm)
    t.ok(sorted(ports) == ["rp1", "rp2", "rp3"], "Ports lists the three root ports", ports)
    for pid, b in br.items():
        slot, state, by, wins = ports[pid]
        for name, key in (("io", "io_range"), ("mem", "memory_range"), ("pref", "prefetchable_range")):
            want = rng(b[key])
            got = wins.get(name)
            if pid == "rp3" and name == "io":
                continue
            t.ok((got[1], got[2]) == want if want else got is None,
                 "%s %s window equals query-pci's %s" % (pid, name, key), (got, want))
        t.ok(state == "empty", "%s is empty" % pid, state)
    io3 = ports["rp3"][3].get("io")
    others = [ports[p][3]["io"] for p in ("rp1", "rp2") if "io" in ports[p][3]]
    t.ok(rng(br["rp3"]["io_range"]) is None and io3 is not None and io3[3] == "model" and
         io3[2] - io3[1] == 4096 and all(io3[2] <= o[1] or io3[1] >= o[2] for o in others),
         "rp3 (io-reserve=0, read-only I/O registers): a modelled 4 KiB I/O window apart "
         "from the others", (io3, others))
    pref2 = ports["rp2"][3]["pref"]
    t.ok(pref2[2] - pref2[1] == 1 << 30, "rp2's prefetchable window is the 1 GiB pref64-reserve",
         pref2)

    fits, reason, pl = mgr.Check("vm1", [SPEC], {})
    big = [p for p in pl if int(p[1]) == 2][0]
    t.ok(fits and str(big[4]) == "rp2:pref" and int(big[5]) == pref2[1],
         "Check: 512 MiB goes behind rp2, the first port it fits, at its window's start",
         (fits, reason, [tuple(map(str, p)) for p in pl]))
    fits, reason, pl = mgr.Check("vm1", [SPEC], {"port": "rp1"})
    t.ok(not fits and "bridge window [mem" in reason and "64bit pref]" in reason and
         "behind port rp1" in reason,
         "Check port rp1: does not fit, the reason names rp1's bridge windows", reason)
    try:
        mgr.Check("vm1", [SPEC], {"port": "nope"})
        t.ok(False, "Check with an unknown port fails")
    except D.DBusException as e:
        t.ok(e.get_dbus_name() == "org.mmiod1.Error.InvalidDevice" and "rp1, rp2, rp3" in str(e),
             "Check with an unknown port: InvalidDevice naming the ports", str(e))
    fits, reason, pl = mgr.Check("vm1", [SPEC, SPEC], {})
    second = [str(p[4]) for p in pl if int(p[1]) == 2][1]
    t.ok(not fits and second == "" and "behind port rp1" in reason and "port rp3: BAR 2" in reason,
         "Check two 512 MiB devices: the second fits behind no port left (rp2 taken by the first)",
         (reason, second))

    # Attach: admitted behind rp2 and plugged exactly there
    aid, pl = mgr.Attach("vm1", SPEC, {"qemu-device": QDEV}, timeout=60)
    aid = str(aid)
    t.ok(behind(vm, "rp2") == [aid], "Attach: QEMU lists the device behind rp2",
         (aid, behind(vm, "rp2")))
    t.ok(str([p for p in pl if int(p[1]) == 2][0][4]) == "rp2:pref", "Attach: placement says rp2:pref")
    st = q.ports(env, path)["rp2"][1]
    t.ok(st == "occupied", "Ports: rp2 is occupied after the attach", st)

    # a spec whose bus= contradicts the port asked for: refused, nothing held
    try:
        mgr.Attach("vm1", "bars:mem32:256,mem64p:1M@2",
                   {"qemu-device": "ivshmem-plain,memdev=m3,bus=rp1", "port": "rp3"}, timeout=60)
        t.ok(False, "Attach with bus=rp1 but port rp3 fails")
    except D.DBusException as e:
        t.ok("bus=rp1" in str(e) and "rp3" in str(e) and q.attaches(env, path) == [],
             "Attach with bus=rp1 but port rp3: refused naming both, nothing held", str(e))
    t.ok(behind(vm, "rp1") == [] and behind(vm, "rp3") == [], "nothing was plugged behind rp1 or rp3",
         (behind(vm, "rp1"), behind(vm, "rp3")))

    # the books survive a restart: rp2 stays taken
    env.stop_daemon(signal.SIGTERM)
    q.start_qmp_daemon(env, qdir)
    path = q.wait_guest(env, "vm1")
    mgr = env.manager()
    fits, reason, pl = mgr.Check("vm1", [SPEC], {"refresh": True})
    t.ok(not fits and q.ports(env, path)["rp2"][1] == "occupied",
         "after a restart: rp2 is occupied and a second 512 MiB device fits behind no port", reason)

    # pciehp: what fits a port's current windows is predicted (pciehp's first
    # pass is acpiphp's); what does not is placed where the guest re-sizes
    # the port's windows
    q.wait_guest(env, "vm2")
    fits, reason, pl = mgr.Check("vm2", [SPEC], {"refresh": True})
    t.ok(fits and str([p for p in pl if int(p[1]) == 2][0][4]) == "rp2:pref",
         "pciehp guest: 512 MiB fits rp2's current 1 GiB window", (fits, reason))
    fits, reason, pl = mgr.Check("vm2", ["bars:mem32:256,mem64p:2G@2"], {})
    big = [p for p in pl if int(p[1]) == 2][0]
    t.ok(fits and str(big[4]) == "rp1:pref" and int(big[5]) >= 1 << 32 and int(big[5]) % (2 << 30) == 0,
         "pciehp guest, 2 GiB fits no port's current windows: predicted behind rp1 in a re-sized "
         "pref window above 4 GiB", (fits, reason, big))
    fits, reason, pl = mgr.Check("vm2", ["bars:mem32:256,mem64p:64G@2"], {})
    t.ok(not fits and "pciehp released the port's prefetchable window" in str(reason),
         "pciehp guest, 64 GiB: does not fit even after re-sizing, and says why", reason)
finally:
    env.cleanup()
t.done()
