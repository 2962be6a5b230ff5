# SPDX-License-Identifier: MIT
"""The steps of a guest scenario that plug devices and read mmiod's view:
a plug (mmioctl check, then mmioctl attach or another tool's device_add,
then the guest's outcome compared), a multi-function slot, the plugs made
before mmiod starts, and mmiod's view of every BAR against the guest's."""
import os
import re
import time

import rig
from guest_devices import (compare, fmt_addr, layout, make_rom, pred_map, qemu_spec, real_layout,
                           size_name, spec_of)


def plug_via(scn, stp):
    """"qmp" when another tool makes this plug (the step, the scenario or
    MMIOD_GUEST_VIA=qmp say so), else None (mmioctl attach when it fits)."""
    if os.environ.get("MMIOD_GUEST_VIA") == "qmp":
        return "qmp"
    return stp.get("via", scn.get("via"))


def plug_enable(scn, stp):
    """Whether the guest enables decode of the plugged device (a driver
    binds); MMIOD_GUEST_ENABLE=0/1 overrides the step and the scenario."""
    env = os.environ.get("MMIOD_GUEST_ENABLE")
    if env in ("0", "1"):
        return env == "1"
    return stp.get("enable", scn.get("enable", True))


def plug_step(scn, i, stp, d, g, guest_id, objects, via, res, work, unpredictable_all):
    name = scn["name"]
    drv, sid = stp["driver"], stp["id"]
    props = dict(stp.get("props", {}))
    if props.get("romfile") == "@dummy":
        props["romfile"] = make_rom(work)
    decl = layout(drv, stp.get("props", {}), objects)
    if decl is None:
        raise rig.RigError("no BAR layout known for %s %s" % (drv, props))
    spec = spec_of(decl)
    unpredictable = unpredictable_all or stp.get("mmiod") == "unpredictable"
    why_unpred = stp.get("mmiod_why") or scn.get("mmiod_why") or "mmiod cannot predict this"
    t0 = time.time()
    # Behind a hot-plug port (q35 pcie-root-port): ask for that port, the
    # one the scenario plugs into.
    port = props.get("bus") if props.get("bus") not in (None, "pci.0", "pcie.0") else None
    port_args = ["--port", port] if port else []
    rc, chk, txt = d.ctl("check", "--refresh", guest_id, spec, *port_args)
    declines = stp.get("mmiod", scn.get("mmiod")) == "declines"
    # Plugged by another tool (QMP device_add), as on a real host; the guest
    # enables decode (a driver would) unless the step says it does not.
    outside = plug_via(scn, stp) == "qmp"
    enable = plug_enable(scn, stp)
    if declines:
        # mmiod knowingly does not model what the guest does here (pciehp
        # re-sizing a port's windows): it must say so instead of answering.
        ok = rc == 4 and "does not model" in txt
        res.point(ok, "%s step %d: %s %s - mmiod declines to predict (%s)" % (
            name, i, sid, spec, stp.get("mmiod_why") or scn.get("mmiod_why", "")),
            "mmioctl check rc %d: %s" % (rc, txt))
        r = g.plug(drv, sid, enable=enable, **props)
        via[sid] = ("qmp", sid)
        gfits = all(b["assigned"] for b in r["bars"])
        res.table.append({"step": i, "op": "plug", "id": sid, "driver": drv, "spec": spec,
                          "via": "qmp", "pred_fits": None, "guest_fits": gfits,
                          "pred": "declined", "guest": ", ".join(
                              "BAR%d %s" % (b["bar"], fmt_addr(b["guest_start"] if b["assigned"] else None))
                              for b in r["bars"]),
                          "mismatch": [], "seconds": round(time.time() - t0, 1),
                          "unpredictable": False, "note": txt.splitlines()[-1] if txt else ""})
        exp = stp.get("expect")
        if exp in ("fits", "no-fit"):
            res.point((exp == "fits") == gfits, "%s step %d: guest outcome as the scenario expects" % (name, i),
                      "expected %s" % exp)
        return
    if rc not in (0, 1) or not chk or "fits" not in chk:
        raise rig.RigError("mmioctl check %s %s: rc %d: %s" % (guest_id, spec, rc, txt))
    pred_fits = chk["fits"]
    pred = pred_map(chk["placement"])
    if outside and not port and scn.get("machine") == "q35":
        # pcie.0 takes no hot-plug: the other tool plugs behind the port
        # mmiod chose (as an administrator asking mmiod first would)
        chosen = {p["window"].split(":")[0] for p in chk["placement"]
                  if p.get("placed") and ":" in (p.get("window") or "")}
        if len(chosen) == 1:
            props.update(bus=chosen.pop(), addr="0x0")
    qspec = qemu_spec(drv, props)
    how = "qmp"
    attach_note = ""
    if pred_fits and not unpredictable and qspec is not None and not outside:
        rc, att, txt = d.ctl("attach", guest_id, spec, "--qemu-device", qspec, *port_args)
        if rc != 0 and "device_add" in txt:
            # QEMU refused what mmiod sent (every property as a string;
            # rombar=0): plug this one with QMP, the comparison stays.
            attach_note = "mmiod attach failed (%s); plugged with QMP" % txt.split(": ", 2)[-1]
            qspec = None
        elif rc != 0 or not att:
            res.point(False, "%s step %d: mmioctl attach %s" % (name, i, sid), txt)
            raise rig.RigError("attach refused after check said fits: " + txt)
    if qspec is not None and how == "qmp" and pred_fits and not unpredictable and not outside:
        qid = att["attach_id"]
        apred = pred_map(att["placement"])
        if apred != pred:
            attach_note = "attach placed %s, check said %s" % (apred, pred)
            pred = apred
        qd = g.find_pci(qid)
        if qd is None:
            raise rig.RigError("%s (%s) not in query-pci after attach" % (sid, qid))
        bdf = g._bdf(qd)
        rcw, _ = g.command("waitdev %s 60" % bdf, 70)
        if rcw != 0:
            raise rig.RigError("guest never saw %s at %s" % (sid, bdf))
        r = g.outcome(qid, enable=enable)
        how = "mmiod"
        via[sid] = ("mmiod", qid)
    else:
        r = g.plug(drv, sid, enable=enable, **props)
        qid = sid
        via[sid] = ("qmp", sid)
    secs = round(time.time() - t0, 1)
    qd = g.find_pci(qid)
    real = real_layout(qd) if qd else None
    if real is not None and real != sorted(decl):
        res.point(False, "%s step %d: %s's declared BARs are what QEMU built" % (name, i, sid),
                  "declared %s\nQEMU %s" % (sorted(decl), real))
    gfits, mm = compare(pred_fits, pred, r["bars"])
    klog = [l for l in r.get("klog_dev", []) if re.search(r"assign|space|BAR|ROM|enabl", l)]
    guest_s = ", ".join("BAR%d %s" % (b["bar"], fmt_addr(b["guest_start"] if b["assigned"] else None))
                        for b in r["bars"])
    pred_s = ", ".join("BAR%d %s" % (b, fmt_addr(a)) for b, a in sorted(pred.items()))
    diag = "\n".join(["scenario %s step %d: %s %s %s" % (name, i, drv, sid, spec),
                      "mmiod: %s: %s%s" % ("fits" if pred_fits else "no-fit", pred_s,
                                           ("  (" + chk.get("reason", "") + ")") if chk.get("reason") else ""),
                      "guest: %s: %s" % ("fits" if gfits else "no-fit", guest_s),
                      "guest resource lines: " + "; ".join(
                          "%d %#x-%#x %#x" % (b["bar"], b["guest_start"] or 0, b["guest_end"] or 0,
                                               b["guest_flags"] or 0) for b in r["bars"])]
                     + ["kernel: " + l for l in klog] + ([attach_note] if attach_note else []))
    row = {"step": i, "op": "plug", "id": sid, "driver": drv, "spec": spec, "via": how,
           "pred_fits": pred_fits, "guest_fits": gfits, "pred": pred_s, "guest": guest_s,
           "mismatch": mm, "seconds": secs, "unpredictable": unpredictable,
           "enabled": bool(enable), "note": attach_note or (chk.get("reason", "") if pred_fits else "")}
    res.table.append(row)
    text = "%s step %d: %s %s - mmiod %s, guest %s" % (
        name, i, sid, spec, "fits" if pred_fits else "no-fit", "fits" if gfits else "no-fit")
    if unpredictable:
        res.point(True, text, diag if mm else None,
                  directive="SKIP %s%s" % (why_unpred, " (mmiod differed: %s)" % "; ".join(mm) if mm else ""))
    elif stp.get("known_mismatch"):
        res.point(not mm, text, diag, directive="TODO " + stp["known_mismatch"])
    else:
        res.point(not mm, text, diag)
    guest_expectations(name, i, stp, r, diag, res)


def guest_expectations(name, i, stp, r, diag, res):
    """The scenario's own reading of the guest (independent of mmiod)."""
    gfits = all(b["assigned"] for b in r["bars"])
    exp = stp.get("expect")
    ebars = stp.get("expect_bars") or {}
    if exp or ebars:
        emm = []
        if exp in ("fits", "no-fit") and (exp == "fits") != gfits:
            emm.append("expected %s" % exp)
        gb = {b["bar"]: (b["guest_start"] if b["assigned"] else None) for b in r["bars"]}
        for k, v in ebars.items():
            want = None if v == "unassigned" else int(v, 16)
            if gb.get(int(k), "absent") != want:
                emm.append("BAR %s: expected %s, guest %s" % (k, v, fmt_addr(gb.get(int(k)))))
        res.point(not emm, "%s step %d: guest outcome as the scenario expects" % (name, i),
                  "\n".join(emm + [diag]))


# ---- multi-function slots ------------------------------------------------------

SYSFS_FLAGS = {"mem32": 0x40200, "mem32p": 0x42208, "mem64": 0x140204, "mem64p": 0x14220c,
               "io": 0x40101, "rom": 0x46200}


def write_host_slot(sysfs, bus, decls):
    """A host slot 0000:BUS:00 in a private sysfs tree whose functions have
    the BARs QEMU's emulated functions have: mmiod reads "0000:BUS:00" from
    there (nothing is passed through; the plug itself is emulated)."""
    for fn, decl in enumerate(decls):
        d = os.path.join(sysfs, "bus", "pci", "devices", "0000:%02x:00.%d" % (bus, fn))
        os.makedirs(d, exist_ok=True)
        lines = ["0x%016x 0x%016x 0x%016x" % (0, 0, 0)] * 13
        base = 0xE0000000 + fn * 0x10000000
        for bar, kind, size in decl:
            lines[bar] = "0x%016x 0x%016x 0x%016x" % (base, base + size - 1, SYSFS_FLAGS[kind])
            base += size
        with open(os.path.join(d, "resource"), "w") as f:
            f.write("\n".join(lines) + "\n")
    return "0000:%02x:00" % bus


def plug_slot_step(scn, i, stp, d, g, guest_id, objects, via, res, work):
    """A multi-function slot: mmioctl check with the functions joined by "+"
    (or, "spelling": "host", the host slot address 0000:BB:DD), then the
    plug through mmioctl attach (one qemu-device spec per function, also
    joined by "+") when it fits, else with QMP; every BAR of every function
    compared with the guest."""
    name, sid = scn["name"], stp["id"]
    fns = stp["functions"]
    props = dict(stp.get("props", {}))
    decls, specs, qspecs, qfns = [], [], [], []
    for f in fns:
        fp = dict(f.get("props", {}))
        if fp.get("romfile") == "@dummy":
            fp["romfile"] = make_rom(work)
        decl = layout(f["driver"], f.get("props", {}), objects)
        if decl is None:
            raise rig.RigError("no BAR layout known for %s %s" % (f["driver"], fp))
        decls.append(decl)
        specs.append(spec_of(decl))
        qspecs.append(qemu_spec(f["driver"], fp))
        qfns.append((f["driver"], fp))
    bars_spec = "+".join(specs)
    spec = bars_spec
    if stp.get("spelling") == "host":
        spec = write_host_slot(d.sysfs, int(stp.get("host_bus", "0x3d"), 16), decls)
    port = props.get("bus") if props.get("bus") not in (None, "pci.0", "pcie.0") else None
    port_args = ["--port", port] if port else []
    t0 = time.time()
    rc, chk, txt = d.ctl("check", "--refresh", guest_id, spec, *port_args)
    if rc not in (0, 1) or not chk or "fits" not in chk:
        raise rig.RigError("mmioctl check %s %s: rc %d: %s" % (guest_id, spec, rc, txt))
    pred_fits = chk["fits"]
    pred = {(p["function"], p["bar"]): (p["address"] if p.get("placed") else None)
            for p in chk["placement"]}
    how, note = "qmp", ""
    # Plugged by another tool (QMP device_add) when the step says so, and
    # enabled by the guest unless it says otherwise.
    outside = plug_via(scn, stp) == "qmp"
    enable = plug_enable(scn, stp)
    if pred_fits and not outside:
        rc, att, txt = d.ctl("attach", guest_id, bars_spec, "--qemu-device", "+".join(qspecs),
                             *port_args)
        if rc != 0 or not att:
            res.point(False, "%s step %d: mmioctl attach %s" % (name, i, sid), txt)
            raise rig.RigError("attach refused after check said fits: " + txt)
        qid = att["attach_id"]
        apred = {(p["function"], p["bar"]): (p["address"] if p.get("placed") else None)
                 for p in att["placement"]}
        if apred != pred:
            note = "attach placed %s, check said %s" % (apred, pred)
            pred = apred
        ids = [qid] + ["%s.%d" % (qid, fn) for fn in range(1, len(fns))]
        qd = g.find_pci(qid)
        if qd is None:
            raise rig.RigError("%s (%s) not in query-pci after attach" % (sid, qid))
        rcw, _ = g.command("waitdev %s 60" % g._bdf(qd), 70)
        if rcw != 0:
            raise rig.RigError("guest never saw %s at %s" % (sid, g._bdf(qd)))
        recs = [g.outcome(x, enable=enable) for x in ids]
        how = "mmiod"
        via[sid] = ("mmiod", qid)
    else:
        recs = g.plug_slot(qfns, sid, bus=port, enable=enable)
        via[sid] = ("qmp", sid)
    secs = round(time.time() - t0, 1)
    gbars = {}
    for fn, r in enumerate(recs):
        qd = g.find_pci(r["id"])
        real = real_layout(qd) if qd else None
        if real is not None and real != sorted(decls[fn]):
            res.point(False, "%s step %d: %s function %d's declared BARs are what QEMU built" % (
                name, i, sid, fn), "declared %s\nQEMU %s" % (sorted(decls[fn]), real))
        for b in r["bars"]:
            gbars[(fn, b["bar"])] = b["guest_start"] if b["assigned"] else None
    gfits = all(v is not None for v in gbars.values())
    mm = []
    if pred_fits != gfits:
        mm.append("mmiod: %s, guest: %s" % ("fits" if pred_fits else "no-fit", "fits" if gfits else "no-fit"))
    for k in sorted(set(gbars) | set(pred)):
        pa, ga = pred.get(k, "absent"), gbars.get(k, "absent")
        if pa != ga:
            mm.append("function %d BAR%d: mmiod %s, guest %s" % (
                k[0], k[1], pa if pa == "absent" else fmt_addr(pa), ga if ga == "absent" else fmt_addr(ga)))
    fmt = lambda m: ", ".join("%d:%d %s" % (f, b, fmt_addr(a)) for (f, b), a in sorted(m.items()))
    klog = [l for r in recs for l in r.get("klog_dev", []) if re.search(r"assign|space|BAR|ROM|enabl", l)]
    diag = "\n".join(["scenario %s step %d: slot %s %s" % (name, i, sid, spec),
                      "mmiod: %s: %s%s" % ("fits" if pred_fits else "no-fit", fmt(pred),
                                           ("  (" + chk.get("reason", "") + ")") if chk.get("reason") else ""),
                      "guest: %s: %s" % ("fits" if gfits else "no-fit", fmt(gbars))]
                     + ["kernel: " + l for l in klog] + mm + ([note] if note else []))
    res.table.append({"step": i, "op": "plug", "id": sid, "driver": "+".join(f["driver"] for f in fns),
                      "spec": spec, "via": how, "pred_fits": pred_fits, "guest_fits": gfits,
                      "pred": fmt(pred), "guest": fmt(gbars), "mismatch": mm, "seconds": secs,
                      "unpredictable": False, "enabled": bool(enable), "note": note})
    res.point(not mm, "%s step %d: slot %s %s - mmiod %s, guest %s" % (
        name, i, sid, spec, "fits" if pred_fits else "no-fit", "fits" if gfits else "no-fit"), diag)
    exp, ebars = stp.get("expect"), stp.get("expect_bars") or {}
    if exp or ebars:
        emm = []
        if exp in ("fits", "no-fit") and (exp == "fits") != gfits:
            emm.append("expected %s" % exp)
        for k, v in ebars.items():      # "F:BAR": address
            fn, bar = (int(x) for x in k.split(":"))
            want = None if v == "unassigned" else int(v, 16)
            if gbars.get((fn, bar), "absent") != want:
                emm.append("function %d BAR %d: expected %s, guest %s" % (fn, bar, v, fmt_addr(gbars.get((fn, bar)))))
        res.point(not emm, "%s step %d: guest outcome as the scenario expects" % (name, i),
                  "\n".join(emm + [diag]))


def setup_plug(scn, i, stp, g, objects, via, res, work):
    """A plug before mmiod runs: another tool plugged it (QMP device_add),
    and mmiod will have to work out what it holds when it starts."""
    drv, sid = stp["driver"], stp["id"]
    props = dict(stp.get("props", {}))
    if props.get("romfile") == "@dummy":
        props["romfile"] = make_rom(work)
    t0 = time.time()
    r = g.plug(drv, sid, enable=plug_enable(scn, stp), **props)
    via[sid] = ("qmp", sid)
    gfits = all(b["assigned"] for b in r["bars"])
    guest_s = ", ".join("BAR%d %s" % (b["bar"], fmt_addr(b["guest_start"] if b["assigned"] else None))
                        for b in r["bars"])
    res.table.append({"step": i, "op": "plug", "id": sid, "driver": drv, "via": "qmp-before-mmiod",
                      "pred_fits": None, "guest_fits": gfits, "pred": "", "guest": guest_s,
                      "mismatch": [], "seconds": round(time.time() - t0, 1), "unpredictable": False,
                      "enabled": bool(plug_enable(scn, stp)), "note": ""})
    guest_expectations(scn["name"], i, stp, r, "guest: " + guest_s, res)


def setup_slot(scn, i, stp, g, via, res, work):
    """A multi-function slot plugged before mmiod runs, by another tool."""
    sid = stp["id"]
    qfns = []
    for f in stp["functions"]:
        fp = dict(f.get("props", {}))
        if fp.get("romfile") == "@dummy":
            fp["romfile"] = make_rom(work)
        qfns.append((f["driver"], fp))
    port = stp.get("props", {}).get("bus")
    port = port if port not in (None, "pci.0", "pcie.0") else None
    enable = plug_enable(scn, stp)
    t0 = time.time()
    recs = g.plug_slot(qfns, sid, bus=port, enable=enable)
    via[sid] = ("qmp", sid)
    gbars = {(fn, b["bar"]): (b["guest_start"] if b["assigned"] else None)
             for fn, r in enumerate(recs) for b in r["bars"]}
    gfits = all(v is not None for v in gbars.values())
    guest_s = ", ".join("%d:%d %s" % (f, b, fmt_addr(a)) for (f, b), a in sorted(gbars.items()))
    res.table.append({"step": i, "op": "plug", "id": sid,
                      "driver": "+".join(f["driver"] for f in stp["functions"]),
                      "via": "qmp-before-mmiod", "pred_fits": None, "guest_fits": gfits, "pred": "",
                      "guest": guest_s, "mismatch": [], "seconds": round(time.time() - t0, 1),
                      "unpredictable": False, "enabled": bool(enable), "note": ""})
    exp = stp.get("expect")
    if exp in ("fits", "no-fit"):
        res.point((exp == "fits") == gfits, "%s step %d: guest outcome as the scenario expects" % (
            scn["name"], i), "expected %s, guest: %s" % (exp, guest_s))


# A boot VGA's ROM resource is the shadow copy (IORESOURCE_ROM_SHADOW):
# its ROM BAR holds no space in the guest.
IORESOURCE_ROM_SHADOW = 0x2


def occupancy_point(scn, when, d, g, guest_id, res, status=None):
    """mmiod's Devices (every BAR of every device: shown by QEMU, predicted,
    inferred) against the guest's sysfs resources."""
    name = scn["name"]
    if status is None:
        d.ctl("check", "--refresh", guest_id, "bars:mem32:4K")
        rc, js, txt = d.ctl("status", guest_id)
        if rc != 0 or not js or not js.get("guests"):
            res.point(False, "%s %s: mmioctl status" % (name, when), txt)
            return
        status = js["guests"][0]
    devs, _ = g.dump()
    mm, counts, uncertain = [], {}, []
    for b in status.get("devices", []):
        m = re.match(r"^([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$", b.get("slot") or "")
        if not m:
            continue
        gd = devs.get("0000:" + b["slot"])
        if gd is None:
            continue
        gr = gd["res"].get(int(b["bar"]))
        gaddr = None
        if gr and gr[2] and gr[1] > gr[0] and not (int(b["bar"]) == 6 and gr[2] & IORESOURCE_ROM_SHADOW):
            gaddr = gr[0]
        src = b.get("source")
        counts[src] = counts.get(src, 0) + 1
        if b.get("address") != gaddr:
            line = "%s (%s) BAR%d %s %s: mmiod %s (%s), guest %s" % (
                b["device"], b["slot"], b["bar"], b["kind"], size_name(b["size"]),
                fmt_addr(b.get("address")), src, fmt_addr(gaddr))
            (uncertain if src == "uncertain" else mm).append(line)
    text = "%s %s: mmiod's view of every BAR in the guest is the guest's (%s)" % (
        name, when, ", ".join("%d %s" % (n, k) for k, n in sorted(counts.items())))
    res.point(not mm, text, "\n".join(mm + ["(uncertain, counted at every reading) " + u for u in uncertain]))
    res.occupancy = getattr(res, "occupancy", []) + [{"when": when, "counts": counts,
                                                     "mismatch": mm, "uncertain": uncertain}]
