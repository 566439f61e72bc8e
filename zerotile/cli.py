"""The ``zerotile`` command: generate Verilog, run a matrix product on the RTL, demo."""
import argparse
import json
import sys
import time
import timeit
from pathlib import Path

import numpy as np

from firmware import ZerotileError, FormatError
from rtl.config import TileConfig

__all__ = ["main"]


def _config(args):
    kw = {}
    for name in ("pes", "lanes", "bus_bits"):
        v = getattr(args, name, None)
        if v is not None:
            kw[name] = v
    return TileConfig(**kw)


def _add_config_args(p):
    p.add_argument("--pes", type=int, help="processing elements P (default 4)")
    p.add_argument("--lanes", type=int, help="int8 lanes per PE L (default 8)")
    p.add_argument("--bus-bits", type=int, help="AXI4 data width (default 64)")


def cmd_generate(args):
    from rtl.export import accelerator_verilog
    cfg = _config(args)
    text = accelerator_verilog(cfg, icarus_compatible=args.icarus)
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}: module zerotile, P={cfg.pes} L={cfg.lanes} "
              f"bus={cfg.bus_bits} bits ({cfg.peak_macs_per_cycle} int8 MACs/cycle)")
    return 0


def _load_b(args, k, seed):
    from zerotile.workload import load_b, random_b
    if args.b is not None:
        return load_b(args.b, seed + 2)
    n = args.n if args.n is not None else 16
    if n < 1:
        raise FormatError(f"--n must be at least 1, not {n}")
    return random_b(k, n, seed), f"B: {k}x{n} seeded int8 (seed {seed + 1})"


def _print_table(rows, cols):
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in cols]
    print("  ".join(c.rjust(w) for c, w in zip(cols, widths)))
    for r in rows:
        print("  ".join(str(r.get(c, "")).rjust(w) for c, w in zip(cols, widths)))


def _fmt(x, digits=3):
    return "-" if x is None else f"{x:.{digits}f}"


def _engine(args):
    """(engine, DramTiming or None) from --engine, --sim and --dram-latency."""
    from verif.native import DramTiming
    engine = args.engine or ("vip" if args.sim == "icarus" else "native")
    if engine == "native" and args.sim != "verilator":
        raise FormatError(f"--sim {args.sim} runs on the vip engine: add --engine vip")
    if engine == "vip":
        if args.dram_latency is not None:
            raise FormatError("--dram-latency sets the native engine's DRAM model; the vip "
                              "engine uses cocotbext-axi's AxiRam")
        return engine, None
    latency = args.dram_latency if args.dram_latency is not None else DramTiming().read_latency
    if latency < 1:
        raise FormatError(f"--dram-latency must be at least 1 cycle, not {latency}")
    return engine, DramTiming(read_latency=latency)


def cmd_run(args):
    import firmware
    import golden
    from verif import simulate
    from zerotile.workload import load_mtx, report
    if args.n is not None and args.b is not None:
        raise FormatError("give either --n or --b, not both")
    cfg = _config(args)
    a, note = load_mtx(args.matrix, args.seed)
    b, b_note = _load_b(args, a.shape[1], args.seed)
    print(f"A: {args.matrix}: {a.shape[0]}x{a.shape[1]}, {a.nnz} stored entries; {note}")
    print(b_note)
    plans = [firmware.plan(a, b, config=cfg, mode=args.mode)]
    if args.compare_dense:
        plans.append(firmware.plan(a, b, config=cfg, mode="dense"))
    c_ref = golden.spmm(a, b)
    waves_dir = Path("zerotile_waves").resolve() if args.waves else None
    engine, dram = _engine(args)
    t0 = time.monotonic()
    results = simulate(plans, engine=engine, sim=args.sim, dram=dram, waves=args.waves,
                       seed=args.seed, label=Path(args.matrix).name, waves_dir=waves_dir)
    wall = time.monotonic() - t0
    reports = []
    for res in results:
        rep, details = report(res.plan, res, a, b, c_ref=c_ref)
        reports.append(rep)
        for row, col, exp, got in details:
            print(f"  MISMATCH ({rep['mode']}) row {row} col {col}: expected {exp}, got {got}")
    main_rep = dict(reports[0])
    if args.compare_dense and len(reports) > 1 and reports[1].get("cycles"):
        main_rep["dense_cycles"] = reports[1]["cycles"]
        main_rep["dense_correct"] = reports[1]["correct"]
        main_rep["speedup_vs_dense"] = round(reports[1]["cycles"] / main_rep["cycles"], 3) \
            if main_rep.get("cycles") else None
    main_rep["engine"] = engine
    main_rep["simulator"] = args.sim
    main_rep["dram_latency"] = dram.read_latency if dram else None
    main_rep["seed"] = args.seed
    main_rep["wall_seconds"] = round(wall, 2)
    rows = []
    for rep in reports:
        rows.append({"mode": rep["mode"], "correct": rep["correct"],
                     "mismatches": rep["mismatches"], "cycles": rep.get("cycles", "-"),
                     "bound": rep["bound_cycles"], "utilization": _fmt(rep.get("utilization")),
                     "roofline_eff": _fmt(rep.get("roofline_efficiency")),
                     "dram_rd": rep.get("dram_bytes_read", "-"),
                     "dram_wr": rep.get("dram_bytes_written", "-")})
    where = (f"the native engine (Verilator, DRAM read latency {dram.read_latency} cycles)"
             if engine == "native" else f"the vip engine ({args.sim} + cocotbext-axi)")
    print(f"C = A.B, shape {main_rep['shape']} on {where}, P={cfg.pes} L={cfg.lanes} "
          f"bus={cfg.bus_bits}: peak {cfg.peak_macs_per_cycle} MACs/cycle")
    _print_table(rows, ["mode", "correct", "mismatches", "cycles", "bound", "utilization",
                        "roofline_eff", "dram_rd", "dram_wr"])
    if "speedup_vs_dense" in main_rep:
        density = a.nnz / (a.shape[0] * a.shape[1])
        print(f"speedup vs dense: {main_rep['speedup_vs_dense']:.2f}x "
              f"(ideal skip speedup 1/density = {1 / max(density, 1e-12):.1f}x)")
    for rep in reports:
        if rep.get("error"):
            print(f"  {rep['mode']}: {rep['error']}")
    if waves_dir:
        print(f"waveforms: {waves_dir}")
    if args.json:
        Path(args.json).write_text(json.dumps(main_rep, indent=2) + "\n")
    ok = all(r["correct"] for r in reports)
    return 0 if ok else 1


def cmd_demo(args):
    import firmware
    import golden
    from verif import simulate
    from zerotile.workload import load_mtx, random_b, bundled_matrices, report
    cfg = TileConfig()
    n, seed = 16, 1
    names = ["karate", "west0479", "lp_e226", "1138_bus"]
    paths = [p for p in bundled_matrices() if p.stem in names]
    jobs = []
    for path in paths:
        a, _ = load_mtx(path, seed)
        b = random_b(a.shape[1], n, seed)
        for mode in ("csr", "dense"):
            jobs.append((path.stem, a, b, firmware.plan(a, b, config=cfg, mode=mode)))
    from verif.native import DramTiming
    print(f"zerotile demo: {len(paths)} bundled matrices x N={n}, CSR and dense mode, on "
          f"the native Verilator engine (P={cfg.pes}, L={cfg.lanes}, {cfg.bus_bits}-bit AXI, "
          f"{cfg.peak_macs_per_cycle} int8 MACs/cycle, DRAM read latency "
          f"{DramTiming().read_latency} cycles).")
    print("Sparsity patterns are the real ones; values are seeded nonzero int8. "
          "Every C is checked against the NumPy golden model.")
    results = simulate([j[3] for j in jobs], engine="native", seed=seed, label="demo")
    rows, ok = [], True
    by_name = {}
    for (name, a, b, plan), res in zip(jobs, results):
        rep, _ = report(plan, res, a, b, c_ref=golden.spmm(a, b))
        ok &= bool(rep["correct"])
        by_name.setdefault(name, {})[plan.mode] = (a, b, rep)
    for name, modes in by_name.items():
        a, b, csr = modes["csr"]
        dense = modes["dense"][2]
        density = a.nnz / (a.shape[0] * a.shape[1])
        a64, b64 = a.astype(np.int32), b.astype(np.int32)
        scipy_s = min(timeit.repeat(lambda: a64 @ b64, number=20, repeat=5)) / 20
        rows.append({
            "matrix": name, "shape": "x".join(map(str, csr["shape"])), "nnz": csr["nnz_a"],
            "density": f"{density:.4f}",
            "correct": "yes" if csr["correct"] and dense["correct"] else "NO",
            "csr_cycles": csr.get("cycles", "-"), "dense_cycles": dense.get("cycles", "-"),
            "csr_util": _fmt(csr.get("utilization")),
            "csr_roofline": _fmt(csr.get("roofline_efficiency")),
            "speedup": f"{dense['cycles'] / csr['cycles']:.1f}x"
            if csr.get("cycles") and dense.get("cycles") else "-",
            "ideal": f"{1 / density:.0f}x",
            "scipy_us": f"{scipy_s * 1e6:.0f}",
        })
    _print_table(rows, ["matrix", "shape", "nnz", "density", "correct", "csr_cycles",
                        "dense_cycles", "csr_util", "csr_roofline", "speedup", "ideal",
                        "scipy_us"])
    print("cycles: the hardware's CYCLES_BUSY counter; util = ideal compute cycles / cycles; "
          "roofline = max(compute, memory) bound / cycles; speedup = dense / CSR cycles; "
          "ideal = 1/density; scipy_us = scipy.sparse CSR x dense (int32) on this CPU, "
          "measured now, for scale (cycles / Fmax is time: `zerotile synth --target ecp5` "
          "gives the Fmax).")
    return 0 if ok else 1


def _synth_row(rep):
    cfg = rep.config
    return {"target": rep.target, "part": rep.part,
            "config": f"P={cfg['pes']} L={cfg['lanes']} W={cfg['bus_bits']}",
            "luts": rep.luts, "carry": rep.carry or "-", "ffs": rep.ffs,
            "lutram": rep.lutram or "-", "brams": rep.brams, "dsps": rep.dsps,
            "fmax_mhz": _fmt(rep.fmax_mhz, 1), "peak_gops": _fmt(rep.peak_gops, 2)}


def cmd_synth(args):
    import synth
    from dataclasses import replace
    from zerotile.plots import plot_sweep
    if args.sweep:
        pes = [int(x) for x in args.sweep_pes.split(",")]
        lanes = [int(x) for x in args.sweep_lanes.split(",")]
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        csv_path, png_path, md_path = out / "sweep.csv", out / "sweep.png", out / "sweep.md"
        print(f"ECP5 sweep: P in {pes} x L in {lanes} (B scratchpad 32 KiB, 64-bit AXI), "
              f"{args.jobs} flows at a time; tool files under {out}/")
        rows = synth.sweep(pes, lanes, csv_path=csv_path, work_root=out, jobs=args.jobs)
        _print_table(rows, ["pes", "lanes", "macs_per_cycle", "luts", "carry", "ffs", "brams",
                            "dsps", "fmax_mhz", "peak_gops"])
        plot_sweep(rows, png_path)
        md_path.write_text(synth.sweep_markdown(rows))
        print(f"wrote {csv_path}, {png_path} and {md_path}")
        return 0
    cfg = synth.default_config(args.target)
    overrides = {k: v for k, v in (("pes", args.pes), ("lanes", args.lanes),
                                   ("bus_bits", args.bus_bits)) if v is not None}
    cfg = replace(cfg, **overrides)
    print(f"synthesising P={cfg.pes} L={cfg.lanes} bus={cfg.bus_bits} for {args.target} "
          f"(tool files under {args.out}/) ...", flush=True)
    t0 = time.monotonic()
    rep = synth.synthesize(cfg, args.target, work_root=args.out, freq_mhz=args.freq)
    if args.target == "generic":
        row = _synth_row(rep)
        row.update(gates=rep.luts, memories=rep.brams, memory_kbits=f"{rep.memory_bits / 1024:.1f}",
                   transistors=rep.transistors)
        _print_table([row], ["target", "config", "gates", "ffs", "memories", "memory_kbits",
                             "transistors"])
        print("gates: Yosys internal cells after `synth` (memories kept whole, as SRAM macros); "
              "transistors: `stat -tech cmos` estimate of the logic; " + rep.note)
    else:
        _print_table([_synth_row(rep)], ["target", "part", "config", "luts", "carry", "ffs",
                                         "lutram", "brams", "dsps", "fmax_mhz", "peak_gops"])
        if rep.note:
            print(rep.note)
    if rep.critical_path is not None:
        print(f"critical path: {rep.critical_path.describe()}")
    print(f"tools: {', '.join(f'{k} {v}' for k, v in rep.versions.items())}; "
          f"{time.monotonic() - t0:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(rep.as_json(), indent=2) + "\n")
    return 0 if rep.fits else 1


def build_parser():
    p = argparse.ArgumentParser(prog="zerotile", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="write the standalone Verilog of the accelerator")
    g.add_argument("-o", "--output", help="output file (default: stdout)")
    _add_config_args(g)
    g.add_argument("--icarus", action="store_true",
                   help="rewrite start-up initialisers for Icarus in SystemVerilog mode")
    g.set_defaults(func=cmd_generate)
    r = sub.add_parser("run", help="compute C = A.B on the RTL and check it against golden")
    r.add_argument("matrix", help="A, a Matrix Market (.mtx) file")
    r.add_argument("--n", type=int, help="columns of the random dense B (default 16)")
    r.add_argument("--b", help="B as a Matrix Market file instead of random")
    r.add_argument("--mode", choices=["auto", "dense", "csr"], default="auto")
    r.add_argument("--compare-dense", action="store_true",
                   help="also run dense mode and report speedup_vs_dense")
    r.add_argument("--seed", type=int, default=1, help="seed of the int8 values (default 1)")
    r.add_argument("--engine", choices=["native", "vip"],
                   help="native: Verilated model with a C++ clock loop and DRAM model (default, "
                        "fast); vip: cocotb + cocotbext-axi (the verification reference; the "
                        "only engine for --sim icarus)")
    r.add_argument("--dram-latency", type=int, metavar="CYCLES",
                   help="native engine: cycles from a read address to its first data beat "
                        "(default 20, DRAM behind a ~100 MHz fabric)")
    r.add_argument("--sim", choices=["verilator", "icarus"], default="verilator",
                   help="simulator of the vip engine (default verilator)")
    r.add_argument("--json", help="write the metrics to this JSON file")
    r.add_argument("--waves", action="store_true",
                   help="record waveforms into ./zerotile_waves/")
    _add_config_args(r)
    r.set_defaults(func=cmd_run)
    d = sub.add_parser("demo", help="bundled real matrices, dense vs sparse, on Verilator")
    d.set_defaults(func=cmd_demo)
    s = sub.add_parser("synth", help="area and Fmax through Yosys / nextpnr (YoWASP)")
    s.add_argument("--target", choices=["generic", "ecp5", "ice40"], default="ecp5")
    _add_config_args(s)
    s.add_argument("--json", help="write the report to this JSON file")
    s.add_argument("--freq", type=float, default=100, help="nextpnr target clock, MHz")
    s.add_argument("--out", default="zerotile_synth",
                   help="directory for the tools' files (default ./zerotile_synth)")
    s.add_argument("--sweep", action="store_true",
                   help="ECP5 sweep over P and L: CSV and PNG plot in --out")
    s.add_argument("--sweep-pes", default="1,2,4", help="P values of the sweep")
    s.add_argument("--sweep-lanes", default="8,16", help="L values of the sweep")
    s.add_argument("--jobs", type=int, default=2, help="flows run at once in a sweep")
    s.set_defaults(func=cmd_synth)
    return p


def main(argv=None):
    from verif.runner import SimulationError
    from synth.flow import SynthError
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ZerotileError, SimulationError, SynthError, ValueError, OSError) as e:
        print(f"zerotile: error: {e}".splitlines()[0], file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("zerotile: interrupted", file=sys.stderr)
        return 130
