#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""mmiod's predictions against real Linux guests (TAP).

For every scenario (tests/guest/scenarios/*.json) this boots the rig's guest
(rig.py: Debian kernel, QEMU TCG) with two QMP sockets - one in the directory
mmiod's qmp back end watches, one for the rig - starts a private dbus-daemon
and mmiod (--backend qmp:DIR), and for every "plug" step:

  1. `mmioctl --json check --refresh GUEST bars:...` - the prediction (the
     declaration comes from guest_devices.layout(); after the plug it is
     compared with what QEMU really built, query-pci);
  2. hot-plugs the device: through `mmioctl attach GUEST bars:...
     --qemu-device SPEC` when mmiod admits it, else (mmiod refuses, the
     step is marked "mmiod": "unpredictable", or the QEMU properties cannot
     be written as a mmiod device spec) directly with QMP device_add;
  3. reads the guest's sysfs resource lines and kernel messages, then
     enables decode in the guest (echo 1 > .../enable) so that query-pci,
     and with it mmiod's occupancy at the next --refresh, shows the
     addresses the guest really assigned (observation O4; the ROM stays -1);
  4. compares: predicted fits <=> every BAR (incl. the ROM) got an address,
     and every BAR mmiod placed is where the guest put it (an unplaced BAR
     must be unassigned in the guest too).

"unplug" steps go through `mmioctl detach` for devices mmiod attached, else
device_del.  Each scenario also compares mmiod's memory windows with the
guest's root bus resources, and keeps the scenario author's expect /
expect_bars as assertions on the guest's outcome.

Scenario subset: MMIOD_GUEST_SCENARIOS = "ci" (default: the scenarios with
"ci": true), "all", or names separated by spaces/commas.  MMIOD_GUEST_JOBS
(default 2) guests run in parallel.  MMIOD_GUEST_KEEP=1 keeps the work dirs.
MMIOD_GUEST_VIA=qmp makes every plug another tool's (QMP device_add; mmiod's
check is still compared, its attach is not used), MMIOD_GUEST_ENABLE=0 (or
1) overrides every step's "enable": run so, the whole suite looks like a
host where mmiod attached nothing and no driver bound.  The end of the
output counts the plugs by who made them and how many agreed.
Skips when QEMU, dbus-daemon or the built mmiod/mmioctl are missing, or the
guest kernel cannot be fetched (no network, no busybox-static).

The pieces: guest_devices.py (what QEMU's devices expose, the comparison),
guest_mmiod.py (the private bus, mmiod and every process started),
guest_steps.py (plug, slot and occupancy steps); this file runs the
scenarios and prints TAP.

Steps with "known_mismatch": "why" (and scenarios with "known_window_drift")
report a known, reported mmiod bug as TAP TODO: the suite stays green while
it is open and fails (XPASS) once it is fixed, so the marker gets removed.
"""
import concurrent.futures
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import rig  # noqa: E402
from guest_devices import guest_windows_match, make_rom  # noqa: E402
from guest_mmiod import MMIOCTL, MMIOD, Daemon, end_all_at_exit, stop, track  # noqa: E402
from guest_steps import (occupancy_point, plug_slot_step, plug_step, setup_plug,  # noqa: E402
                         setup_slot)

SCN_DIR = os.path.join(HERE, "scenarios")

end_all_at_exit()


# ---- one scenario -------------------------------------------------------------

def load(name):
    path = name if os.path.exists(name) else os.path.join(SCN_DIR, name + ".json")
    with open(path) as f:
        s = json.load(f)
    s.setdefault("name", os.path.basename(path)[:-5])
    return rig.on_stack(s)


class Result:
    """TAP points of one scenario, printed together."""

    def __init__(self, name):
        self.name = name
        self.points = []      # (ok, text, directive, diag)
        self.table = []       # rows for docs/verification.md
        self.seconds = None
        self.error = None

    def point(self, ok, text, diag=None, directive=None):
        self.points.append((bool(ok), text, directive, diag))


def run_scenario(scn, base_tmp, keep):
    name = scn["name"]
    res = Result(name)
    res.boot = res.kernel = None
    t0 = time.time()
    work = tempfile.mkdtemp(prefix=name + ".", dir=base_tmp)
    d = g = None
    guest_id = "g" + re.sub(r"[^A-Za-z0-9]", "", name)[:20]
    objects = {}
    via = {}          # scenario device id -> ("mmiod", attach_id) | ("qmp", id)
    late = any(stp["op"] == "start_mmiod" for stp in scn["steps"])
    try:
        d = Daemon(work, start=not late)
        g = rig.Guest(machine=scn.get("machine", "pc"), memory=scn.get("memory", "512M"),
                      machine_opts=scn.get("machine_opts"), globals_=scn.get("globals"),
                      devices=[dv.replace("romfile=@dummy", "romfile=" + make_rom(work))
                               for dv in scn.get("boot_devices", [])],
                      objects=scn.get("boot_objects"),
                      append=scn.get("append", ""), smp=scn.get("smp", 1),
                      firmware=scn.get("firmware"), fw_cfg=scn.get("fw_cfg"),
                      workdir=os.path.join(work, "guest"),
                      extra_args=["-name", guest_id, "-qmp",
                                  "unix:%s,server=on,wait=off" % os.path.join(d.qmpdir, guest_id + ".sock")])
        track(g)
        g.start()
        res.boot = round(g.boot_seconds, 1)
        res.kernel = g.kernel_release
        w = g.windows()
        g.dump()   # consume boot-time kernel messages

        def mmiod_up(when="at mmiod's start"):
            # mmioctl status's windows against the guest kernel's root bus
            # resources (after a restart: what mmiod works out from QEMU alone)
            st = d.wait_guest(guest_id)
            same, gm, mm = guest_windows_match(w, st["windows"])
            res.point(same, "%s: mmiod's memory windows are the guest's root bus windows%s" % (
                name, "" if when == "at mmiod's start" else " " + when),
                "guest: %s\nmmiod: %s" % ([(hex(a), hex(b)) for a, b in gm],
                                          [(hex(a), hex(b)) for a, b in mm]))
            occupancy_point(scn, when, d, g, guest_id, res)
        if not late:
            mmiod_up()
        unpredictable_all = scn.get("mmiod") == "unpredictable"
        drift = None
        for i, stp in enumerate(scn["steps"]):
            op = stp["op"]
            if op == "object_add":
                props = stp.get("props", {})
                g.object_add(stp["qom_type"], stp["id"], **props)
                if "size" in props:
                    objects[stp["id"]] = rig.parse_size(props["size"])
            elif op == "start_mmiod":
                d.start()
                mmiod_up()
            elif op == "restart_mmiod":
                d.restart_mmiod()
                mmiod_up("after mmiod's restart")
            elif op == "plug" and d.bus is None:
                setup_plug(scn, i, stp, g, objects, via, res, work)
            elif op == "plug":
                plug_step(scn, i, stp, d, g, guest_id, objects, via, res, work, unpredictable_all)
            elif op == "plug_slot" and d.bus is None:
                setup_slot(scn, i, stp, g, via, res, work)
            elif op == "plug_slot":
                plug_slot_step(scn, i, stp, d, g, guest_id, objects, via, res, work)
            elif op == "unplug":
                how = via.pop(stp["id"], ("qmp", stp["id"]))
                if how[0] == "mmiod":
                    qd = g.find_pci(how[1])
                    bdf = g._bdf(qd) if qd else None
                    rc, js, txt = d.ctl("detach", guest_id, how[1])
                    okd = rc == 0
                    if okd and bdf:
                        rcg, _ = g.command("waitgone %s 30" % bdf, 40)
                        okd = rcg == 0
                    g.command("klog")
                    res.point(okd, "%s step %d: mmioctl detach %s (%s) and the guest removed it" % (
                        name, i, stp["id"], how[1]), txt)
                else:
                    r = g.unplug(how[1])
                    res.point(r["gone"], "%s step %d: device_del %s, gone from the guest" % (
                        name, i, stp["id"]))
                res.table.append({"step": i, "op": "unplug", "id": stp["id"], "via": how[0]})
            elif op in ("iomem", "shell"):
                pass
            else:
                raise rig.RigError("unknown op %r" % op)
            if op in ("plug", "plug_slot", "unplug") and d.bus is not None and drift is None:
                # status has no --refresh: a check --refresh re-reads QEMU first
                d.ctl("check", "--refresh", guest_id, "bars:mem32:4K")
                rc, js, txt = d.ctl("status", guest_id)
                if rc != 0 or not js or not js.get("guests"):
                    drift = "after step %d: mmioctl status failed: %s" % (i, txt)
                else:
                    occupancy_point(scn, "after step %d (%s %s)" % (i, op, stp["id"]), d, g,
                                    guest_id, res, js["guests"][0])
                    same, gm, mm = guest_windows_match(w, js["guests"][0]["windows"])
                    if not same:
                        drift = "after step %d (%s %s): guest %s, mmiod %s" % (
                            i, op, stp["id"], [(hex(a), hex(b)) for a, b in gm],
                            [(hex(a), hex(b)) for a, b in mm])
        # The guest's _CRS windows never change; mmiod's must not either.
        known = scn.get("known_window_drift")
        res.point(drift is None, "%s: mmiod's memory windows stay the guest's after every plug/unplug"
                  % name, drift, directive=("TODO " + known) if known else None)
    except Exception as e:
        res.error = "%s: %s" % (type(e).__name__, e)
        res.point(False, "%s: runs to the end" % name,
                  traceback.format_exc() + ("\nmmiod log:\n" + d.logtail(1500) if d else ""))
    finally:
        if g is not None:
            stop(g)
        if d is not None:
            d.close()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    res.seconds = round(time.time() - t0, 1)
    return res


# ---- main ------------------------------------------------------------------------

def skip_all(why):
    print("1..0 # SKIP " + why)
    sys.exit(0)


def select(all_scns):
    sel = os.environ.get("MMIOD_GUEST_SCENARIOS", "ci").strip()
    if sel == "all":
        return all_scns
    if sel == "none":
        skip_all("MMIOD_GUEST_SCENARIOS=none")
    if sel == "ci":
        return [s for s in all_scns if s.get("ci")]
    if sel in ("ovmf", "seabios"):      # every scenario of that firmware (the matrix)
        return [s for s in all_scns if s.get("firmware", "seabios") == sel]
    want = [x for x in re.split(r"[\s,]+", sel) if x]
    by = {s["name"]: s for s in all_scns}
    out = []
    for w in want:
        hits = [s for n, s in by.items() if n == w or n.startswith(w + "-")]
        if not hits:
            print("Bail out! unknown scenario %s" % w)
            sys.exit(1)
        out += hits
    return out


BRIDGES = ("pcie-root-port", "pci-bridge", "pcie-pci-bridge", "i82801b11-bridge",
           "x3130-upstream", "xio3130-downstream", "ioh3420")


def count_plugs(scns, summary):
    """Who made the plugs and how many agreed: the figures verification.md
    gives for a run."""
    c = {"compared": 0, "attach": 0, "qmp": 0, "slots": 0, "before_mmiod": 0, "not_enabled": 0,
         "fits_agree": 0, "bars_agree": 0, "both_fit": 0, "both_fit_agree": 0,
         "boot_devices": 0, "occupancy_points": 0, "occupancy_bars": {}, "occupancy_mismatch": 0,
         "mismatches": []}
    for scn in scns:
        c["boot_devices"] += sum(1 for dv in scn.get("boot_devices", [])
                                 if dv.split(",")[0] not in BRIDGES)
    for sc in summary:
        for row in sc["steps"]:
            if row.get("op") != "plug":
                continue
            if row.get("enabled") is False:
                c["not_enabled"] += 1
            if row["via"] == "qmp-before-mmiod":
                c["before_mmiod"] += 1
                continue
            if row.get("pred_fits") is None or row.get("unpredictable"):
                continue
            c["compared"] += 1
            c["attach" if row["via"] == "mmiod" else "qmp"] += 1
            c["slots"] += "+" in row.get("driver", "")
            mm = row.get("mismatch") or []
            fits_mm = [m for m in mm if m.startswith("mmiod: ")]
            c["fits_agree"] += not fits_mm
            c["bars_agree"] += not mm
            if row["pred_fits"] and row["guest_fits"]:
                c["both_fit"] += 1
                c["both_fit_agree"] += not mm
            if mm:
                c["mismatches"].append("%s step %s %s: %s" % (sc["scenario"], row["step"], row["id"],
                                                             "; ".join(mm)))
        for oc in sc.get("occupancy", []):
            c["occupancy_points"] += 1
            for k, v in oc["counts"].items():
                c["occupancy_bars"][k] = c["occupancy_bars"].get(k, 0) + v
            c["occupancy_mismatch"] += len(oc["mismatch"])
    outside = c["qmp"] + c["before_mmiod"]
    allp = c["compared"] + c["before_mmiod"]
    c["lines"] = [
        "plugs: %d, %d of them outside mmiod (%d by QMP while mmiod ran, %d before mmiod started), "
        "%d through mmioctl attach; %d multi-function slots; %d never enabled; %d boot devices"
        % (allp, outside, c["qmp"], c["before_mmiod"], c["attach"], c["slots"], c["not_enabled"],
           c["boot_devices"]),
        "predicted and compared: %d; fits/no-fit agree %d/%d; every BAR agrees %d/%d; "
        "both fit %d, every address agrees %d/%d"
        % (c["compared"], c["fits_agree"], c["compared"], c["bars_agree"], c["compared"],
           c["both_fit"], c["both_fit_agree"], c["both_fit"]),
        "mmiod's view of every BAR against the guest's: %d checks, %s; %d BAR(s) not where the guest has them"
        % (c["occupancy_points"], ", ".join("%d %s" % (v, k) for k, v in sorted(c["occupancy_bars"].items())),
           c["occupancy_mismatch"]),
    ] + ["mismatch: " + m for m in c["mismatches"]]
    return c


def main():
    for tool in (rig.QEMU, "dbus-daemon"):
        if not shutil.which(tool):
            skip_all("%s not installed" % tool)
    for p in (MMIOD, MMIOCTL):
        if not os.access(p, os.X_OK):
            skip_all("%s not built" % p)
    scns = select([load(p) for p in sorted(glob.glob(os.path.join(SCN_DIR, "*.json")))])
    try:
        img = rig.guest_image()
    except subprocess.CalledProcessError as e:
        skip_all("guest kernel/initramfs cannot be built (no network or no busybox-static?): %s" % e)
    except OSError as e:
        skip_all("guest kernel/initramfs cannot be built: %s" % e)
    # OVMF scenarios need OVMF: the installed package (scripts/deps) or a
    # fetch-stack component MMIOD_GUEST_STACK names; never a download here.
    skipped = []
    if not os.path.exists("/usr/share/OVMF/OVMF_CODE_4M.fd") and "ovmf" not in rig.stack_components():
        skipped = [s["name"] for s in scns if s.get("firmware") == "ovmf"]
        scns = [s for s in scns if s.get("firmware") != "ovmf"]
    jobs = int(os.environ.get("MMIOD_GUEST_JOBS", "2"))
    keep = bool(os.environ.get("MMIOD_GUEST_KEEP"))
    base = tempfile.mkdtemp(prefix="mmiod-guests.")
    print("# kernel package %s, %d scenario(s), -j%d" % (img.get("package"), len(scns), jobs))
    t0 = time.time()
    n = 0
    failed = 0
    summary = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as ex:
        futs = [ex.submit(run_scenario, s, base, keep) for s in scns]
        for f in futs:
            res = f.result()
            for ok, text, directive, diag in res.points:
                n += 1
                line = "%s %d - %s" % ("ok" if ok else "not ok", n, text)
                if directive:
                    line += " # " + directive
                print(line)
                if diag and (not ok or directive):
                    for dl in str(diag).splitlines():
                        print("#   " + dl)
                if not ok and not (directive or "").startswith("TODO"):
                    failed += 1
            print("# %s: %.1fs%s" % (res.name, res.seconds, " ERROR " + res.error if res.error else ""))
            summary.append({"scenario": res.name, "seconds": res.seconds, "error": res.error,
                            "points": [[ok, text, directive] for ok, text, directive, _ in res.points],
                            "kernel": res.kernel, "boot": res.boot,
                            "steps": res.table, "occupancy": getattr(res, "occupancy", [])})
            sys.stdout.flush()
    for name in skipped:
        n += 1
        print("ok %d - %s # SKIP OVMF is not installed (apt install ovmf, or MMIOD_GUEST_STACK=ovmf-...)"
              % (n, name))
    total = time.time() - t0
    counts = count_plugs(scns, summary)
    for line in counts["lines"]:
        print("# " + line)
    print("# total %.1fs for %d scenario(s), -j%d" % (total, len(scns), jobs))
    out = os.environ.get("MMIOD_GUEST_RESULTS")
    if out:
        with open(out, "w") as f:
            json.dump({"total_seconds": round(total, 1), "jobs": jobs, "counts": counts,
                       "scenarios": summary}, f, indent=1)
    if keep:
        print("# kept %s" % base)
    else:
        shutil.rmtree(base, ignore_errors=True)
    print("1..%d" % n)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
