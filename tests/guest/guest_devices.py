# SPDX-License-Identifier: MIT
"""What QEMU 7.2's devices really expose and how a prediction is compared
with the guest (docs/verification.md section 3): the BAR declarations of
the scenarios' devices, device_add props as mmiod --qemu-device specs, and
the comparison of mmiod's placement and windows with the guest's.  Pure:
no process is started here.  Used by tests/guest/test-guests.py,
tests/libvirt/test-libvirt-guests.py and tests/xen/test-xen.py."""
import os

import rig

K, M, G = 1 << 10, 1 << 20, 1 << 30


def size_name(n):
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return "%d%s" % (n >> shift, unit)
    return str(n)


def pow2_at_least(n):
    p = 1
    while p < n:
        p <<= 1
    return p


def rom_bar(props, default_file_size=None):
    """The ROM BAR QEMU gives a device with these props, or None."""
    rf = props.get("romfile")
    if rf == "" or str(props.get("rombar", "1")) == "0":
        return None
    if "romsize" in props:
        return (6, "rom", rig.parse_size(props["romsize"]))
    if rf == "@dummy":
        return (6, "rom", 2048)
    if default_file_size:
        return (6, "rom", default_file_size)
    return None


def layout(driver, props, objects):
    """[(bar, kind, size)] as QEMU builds the device; None if unknown."""
    p = props
    if driver == "pci-testdev":
        bars = [(0, "mem32", 4 * K), (1, "io", 256)]
        mb = rig.parse_size(p.get("membar", 0))
        if mb:
            bars.append((2, "mem64p", mb))
    elif driver == "e1000":
        bars = [(0, "mem32", 128 * K), (1, "io", 64)]
    elif driver == "secondary-vga":
        bars = [(0, "mem32p", int(p.get("vgamem_mb", 16)) * M), (2, "mem32", 4 * K)]
    elif driver == "bochs-display":
        bars = [(0, "mem32p", rig.parse_size(p.get("vgamem", "16M"))), (2, "mem32", 4 * K)]
    elif driver == "qxl":
        ram = pow2_at_least(rig.parse_size(p.get("ram_size", "64M")))
        vram = pow2_at_least(rig.parse_size(p.get("vram_size", "64M")))
        bars = [(0, "mem32", ram), (1, "mem32", vram), (2, "mem32", 8 * K), (3, "io", 32)]
        v64 = int(p.get("vram64_size_mb", 0)) * M
        if v64 > vram:
            bars.append((4, "mem64p", pow2_at_least(v64)))
    elif driver == "nvme":
        bars = [(0, "mem64", 16 * K)]
    elif driver == "virtio-net-pci":
        bars = [(0, "io", 32), (1, "mem32", 4 * K), (4, "mem64p", 16 * K)]
    elif driver == "edu":
        bars = [(0, "mem32", 1 * M)]
    elif driver == "ivshmem-plain":
        size = objects.get(p.get("memdev"))
        if size is None:
            return None
        bars = [(0, "mem32", 256), (2, "mem64p", size)]
    else:
        return None
    r = rom_bar(p)
    if r:
        bars.append(r)
    return bars


def spec_of(bars):
    items = []
    for bar, kind, size in bars:
        items.append("%s:%s@%d" % (kind, size_name(size), bar))
    return "bars:" + ",".join(items)


def real_layout(qdev):
    out = []
    for r in qdev.get("regions", []):
        if r["bar"] == 6:
            kind = "rom"
        elif r["type"] == "io":
            kind = "io"
        else:
            kind = ("mem64" if r.get("mem_type_64") else "mem32") + ("p" if r.get("prefetch") else "")
        out.append((r["bar"], kind, r["size"]))
    return sorted(out)


def make_rom(tmpdir):
    p = os.path.join(tmpdir, "dummy.rom")
    if not os.path.exists(p):
        data = bytearray(2048)
        data[0:3] = b"\x55\xaa\x04"
        with open(p, "wb") as f:
            f.write(data)
    return p


def fmt_addr(a):
    return "unassigned" if a is None else "%#x" % a


# VGA-class devices accept rombar=0 on hot-plug; e1000, virtio-net and
# bochs-display (class 0x0380) refuse it
# ("Hot-plugged device without ROM bar can't have an option ROM").
VGA_CLASS = ("secondary-vga", "qxl")
# Devices QEMU 7.2 gives no default romfile: romfile="" changes nothing.
NO_DEFAULT_ROM = ("nvme", "pci-testdev", "edu", "ivshmem-plain")


def qemu_spec(driver, props):
    """device_add props as a mmiod --qemu-device spec.  Empty values ("romfile=")
    go through as empty strings (B1) and integer properties QEMU refuses as
    strings are retried as numbers by the back end (B2)."""
    items = [driver]
    for k, v in props.items():
        v = str(v)
        if k == "romfile" and v == "" and driver in NO_DEFAULT_ROM:
            continue                    # no ROM file by default: nothing to disable
        if k == "romfile" and v == "" and driver in VGA_CLASS:
            items.append("rombar=0")    # same device, no ROM BAR (QEMU loads no file)
            continue
        if k in INT_PROPS:
            # integer qdev properties take no size suffix, on -device as on QMP
            v = str(rig.parse_size(v))
        items.append("%s=%s" % (k, v.replace(",", ",,")))
    return ",".join(items)


# qdev properties of an integer (not "size") type used by the scenarios:
# "128M" is said as bytes.  QEMU 7.2 refuses them as JSON strings ("Parameter
# 'romsize' expects integer"); mmiod's QMP back end then sends them again as
# numbers (B2), which these plugs exercise.
INT_PROPS = ("romsize", "ram_size", "vram_size")


def pred_map(placement):
    return {int(p["bar"]): (p["address"] if p.get("placed") else None) for p in placement}


def compare(pred_fits, pred, guest_bars):
    """Mismatch strings between mmiod's placement and the guest's outcome."""
    g = {b["bar"]: (b["guest_start"] if b["assigned"] else None) for b in guest_bars}
    gfits = all(v is not None for v in g.values())
    mm = []
    if bool(pred_fits) != gfits:
        mm.append("mmiod: %s, guest: %s" % ("fits" if pred_fits else "no-fit",
                                           "fits" if gfits else "no-fit"))
    for bar in sorted(set(g) | set(pred)):
        pa, ga = pred.get(bar, "absent"), g.get(bar, "absent")
        if pa != ga:
            mm.append("BAR%d: mmiod %s, guest %s" % (
                bar, pa if pa == "absent" else fmt_addr(pa), ga if ga == "absent" else fmt_addr(ga)))
    return gfits, mm


def guest_windows_match(gwin, mwin):
    """Memory windows >= 1 MiB the guest logged vs mmiod's low/high windows."""
    gm = sorted((w["start"], w["end"] + 1) for w in gwin["mem"] if w["end"] + 1 - w["start"] >= M)
    mm = sorted((w["start"], w["end"]) for w in mwin if w["kind"] in ("low", "high"))
    return gm == mm, gm, mm
