"""zerotile: an open sparse/dense int8 matrix-multiplication tile. Generate its Verilog, run
a matrix product on the RTL and check it against the golden model, run the demo, synthesise."""
import argparse
import json
import os
import sys
import time
import timeit
from dataclasses import replace
from pathlib import Path

import numpy as np

from zerotile.firmware import ZerotileError, FormatError
from zerotile.rtl.config import TileConfig

__all__ = ["main"]


def _config(args, base=None):
    """``base`` (default ``TileConfig()``) with the command's --pes, --lanes, --bus-bits and
    --spgemm-cols where given."""
    kw = {name: getattr(args, name) for name in ("pes", "lanes", "bus_bits", "spgemm_cols")
          if getattr(args, name, None) is not None}
    return replace(base or TileConfig(), **kw)


def _add_config_args(p):
    p.add_argument("--pes", type=int, help="processing elements P (default 4)")
    p.add_argument("--lanes", type=int, help="int8 lanes per PE L (default 8)")
    p.add_argument("--bus-bits", type=int, help="AXI4 data width (default 64)")
    p.add_argument("--spgemm-cols", type=int, metavar="N",
                   help="add the SpGEMM engine, its row accumulators N columns deep (a power "
                        "of two, 64..65536; 2,048 is TileConfig.with_spgemm()'s); 0 or absent: "
                        "left out, the default tile (run --mode spgemm adds 2,048)")


def cmd_generate(args):
    from zerotile.rtl.export import accelerator_verilog
    cfg = _config(args)
    if args.fusesoc:
        from zerotile.synth.fusesoc import write_core, VLNV
        core = write_core(args.fusesoc, cfg)
        print(f"wrote {core} and zerotile.v (P={cfg.pes} L={cfg.lanes} bus={cfg.bus_bits}); "
              f"lint it with: fusesoc --cores-root {args.fusesoc} run --target lint {VLNV}")
        return 0
    text = accelerator_verilog(cfg, icarus_compatible=args.icarus)
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}: module zerotile, P={cfg.pes} L={cfg.lanes} "
              f"bus={cfg.bus_bits} bits ({cfg.peak_macs_per_cycle} int8 MACs/cycle)")
    return 0


def _print_table(rows, cols, file=None):
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in cols]
    print("  ".join(c.rjust(w) for c, w in zip(cols, widths)), file=file)
    for r in rows:
        print("  ".join(str(r.get(c, "")).rjust(w) for c, w in zip(cols, widths)), file=file)


def _fmt(x, digits=3):
    return "-" if x is None else f"{x:.{digits}f}"


def _engine(args):
    """(engine, DramTiming or None) from --engine, --sim and --dram-latency."""
    from zerotile.verif.native import DramTiming
    from zerotile.verif import default_engine
    engine = args.engine or default_engine(args.sim)
    if engine == "native" and args.sim != "verilator":
        raise FormatError(f"--sim {args.sim} runs on the vip engine: add --engine vip")
    if engine == "vip":
        if args.dram_latency is not None:
            raise FormatError("--dram-latency sets the native engine's DRAM model; the vip "
                              "engine uses cocotbext-axi's AxiRam")
        if args.waves_from is not None or args.waves_to is not None:
            raise FormatError("--waves-from/--waves-to need the native engine; the vip engine "
                              "records the whole run")
        return engine, None
    latency = args.dram_latency if args.dram_latency is not None else DramTiming().read_latency
    if latency < 1:
        raise FormatError(f"--dram-latency must be at least 1 cycle, not {latency}")
    return engine, DramTiming(read_latency=latency)


def _check_output_path(option, path):
    """Fail before any work when an output file cannot be written."""
    if path is None or path == "-":
        return
    p = Path(path)
    if p.is_dir():
        raise FormatError(f"{option} {path}: is a directory")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise FormatError(f"{option} {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise FormatError(f"{option} {path}: directory {parent} is not writable")


def _waves_window(args):
    if args.waves_from is None and args.waves_to is None:
        return None
    if not args.waves:
        raise FormatError("--waves-from/--waves-to go with --waves")
    lo = args.waves_from or 0
    hi = args.waves_to if args.waves_to is not None else 2**64 - 1
    if hi <= lo:
        raise FormatError(f"--waves-to {hi} must be after --waves-from {lo}")
    return lo, hi


def _shape_from_headers(args):
    """(path of A, M, K, N, A's stored entries) from the Matrix Market headers of A and --b
    (or --n, default 16): nothing large is read before the sizes are known."""
    from zerotile.workload import mtx_header, resolve_matrix
    path = resolve_matrix(args.matrix)
    m, k, entries = mtx_header(path)
    if args.b is not None:
        kb, n, _ = mtx_header(args.b)
        if kb != k:
            raise FormatError(f"A is {m}x{k} but B is {kb}x{n}: inner dimensions differ")
    else:
        n = args.n if args.n is not None else 16
    return path, m, k, n, entries


def _sim_summary(rep, results, wall, engine, dram, args):
    """Adds the simulation's engine, speed and wall time to ``rep``; (cycles, seconds)."""
    sim_cycles = sum(r.sim_cycles for r in results)
    sim_seconds = sum(r.sim_seconds for r in results)
    rep.update(engine=engine, simulator=args.sim,
               dram_latency=dram.read_latency if dram else None, seed=args.seed,
               wall_seconds=round(wall, 2), sim_cycles=sim_cycles,
               sim_seconds=round(sim_seconds, 3),
               sim_cycles_per_second=round(sim_cycles / sim_seconds) if sim_seconds else None)
    return sim_cycles, sim_seconds


def _write_json(args, rep):
    if args.json == "-":
        sys.stdout.write(json.dumps(rep, indent=2) + "\n")
    elif args.json:
        Path(args.json).write_text(json.dumps(rep, indent=2) + "\n")


def cmd_run(args):
    if args.list:
        return _list_bundled()
    if args.matrix is None:
        raise FormatError("give A: a Matrix Market file or a bundled name (zerotile run --list)")
    from zerotile import firmware
    from zerotile import golden
    from zerotile.verif import simulate
    from zerotile.workload import (load_mtx, load_b, random_b, random_c, mtx_header,
                                   resolve_matrix, matrix_name, report, golden_result)
    out = sys.stderr if args.json == "-" else sys.stdout     # keep stdout for the JSON
    # each line leaves at once, also into a pipe (a log, `tee`, a test waiting for it)
    say = lambda *a: print(*a, file=out, flush=True)
    if args.n is not None and args.b is not None:
        raise FormatError("give either --n or --b, not both")
    if args.n is not None and args.n < 1:
        raise FormatError(f"--n must be at least 1, not {args.n}")
    if args.quantize_b and args.b is None:
        raise FormatError("--quantize-b goes with --b")
    _check_output_path("--json", args.json)
    _check_output_path("--out", args.out)
    if args.mode == "spgemm":
        return _run_spgemm(args, say, out)
    if args.b_density is not None:
        raise FormatError("--b-density goes with --mode spgemm (a random sparse B)")
    if args.out is not None and not args.out.endswith(".npy"):
        raise FormatError(f"--out writes a NumPy .npy file, not {args.out}")
    epilogue_flags = [args.bias, args.multiplier, args.shift]
    want_epilogue = any(x is not None for x in epilogue_flags)
    if want_epilogue and (args.multiplier is None or args.shift is None):
        raise FormatError("the int8 epilogue needs --multiplier and --shift (and optionally "
                          "--bias, --out-zero-point, --relu)")
    if not want_epilogue and (args.relu or args.out_zero_point is not None):
        raise FormatError("--relu and --out-zero-point go with the epilogue (--multiplier, "
                          "--shift)")
    engine, dram = _engine(args)
    window = _waves_window(args)
    cfg = _config(args)
    # Sizes from the headers first: nothing large is allocated for a job that cannot run.
    path, m, k, n, entries = _shape_from_headers(args)
    firmware.check_size(m, k, n, entries, mode=args.mode, config=cfg)

    a, note = load_mtx(path, args.seed, as_given=True)
    epilogue = _load_epilogue(args, m) if want_epilogue else None
    if args.b is not None:
        b, b_note = load_b(args.b, args.seed, quantize=args.quantize_b)
    else:
        b, b_note = random_b(k, n, args.seed), f"B: {k}x{n} seeded int8 (--seed {args.seed})"
    say(f"A: {path}: {m}x{k}, {a.nnz} stored entries; {note}")
    say(b_note)
    c_old = random_c(m, n, args.seed) if args.accumulate else None
    if c_old is not None:
        say(f"C += A.B: the old C is {m}x{n} seeded int32 (--seed {args.seed})")
    if epilogue is not None:
        say(f"int8 output: {epilogue.describe()}")
    plans = [firmware.plan(a, b, c=c_old, config=cfg, mode=args.mode, epilogue=epilogue)]
    if args.mode == "auto":
        est = {md: firmware.estimate_cycles(md, m, k, n, a.nnz, cfg)
               for md in firmware.check_size(m, k, n, a.nnz, config=cfg)}
        say(f"mode auto chose {plans[0].mode}: the lower cycle estimate of the modes that fit ("
            + ", ".join(f"{md} ~{v:,.0f}" for md, v in est.items()) + ")")
    if args.compare_dense:
        plans.append(firmware.plan(a, b, c=c_old, config=cfg, mode="dense", epilogue=epilogue))
    c_ref = golden_result(a, b, c_old, epilogue)
    waves_dir = Path("zerotile_waves").resolve() if args.waves else None
    t0 = time.monotonic()
    results = simulate(plans, engine=engine, sim=args.sim, dram=dram, waves=args.waves,
                       seed=args.seed, label=path.name, waves_dir=waves_dir,
                       waves_window=window, waves_name=f"{matrix_name(path)}-{engine}")
    wall = time.monotonic() - t0
    reports = []
    for res in results:
        rep, details = report(res.plan, res, a, b, c_ref=c_ref)
        reports.append(rep)
        for row, col, exp, got in details:
            say(f"  MISMATCH ({rep['mode']}) row {row} col {col}: expected {exp}, got {got}")
    main_rep = dict(reports[0])
    if args.compare_dense and len(reports) > 1:
        dense = reports[1]
        main_rep["dense"] = dense
        main_rep["dense_cycles"] = dense.get("cycles")
        main_rep["dense_correct"] = dense["correct"]
        main_rep["speedup_vs_dense"] = round(dense["cycles"] / main_rep["cycles"], 3) \
            if main_rep.get("cycles") and dense.get("cycles") else None
    sim_cycles, sim_seconds = _sim_summary(main_rep, results, wall, engine, dram, args)
    rows = []
    for rep in reports:
        rows.append({"mode": rep["mode"], "correct": rep["correct"],
                     "mismatches": rep["mismatches"], "cycles": rep.get("cycles", "-"),
                     "bound": rep["bound_cycles"], "utilization": _fmt(rep.get("utilization")),
                     "roofline_eff": _fmt(rep.get("roofline_efficiency")),
                     "dram_rd": rep.get("dram_bytes_read", "-"),
                     "dram_wr": rep.get("dram_bytes_written", "-"),
                     "traffic": _fmt(rep.get("dram_traffic_ratio"), 2)})
    where = (f"the native engine (Verilator, DRAM read latency {dram.read_latency} cycles)"
             if engine == "native" else f"the vip engine ({args.sim} + cocotbext-axi)")
    say(f"C = A.B, shape {main_rep['shape']} on {where}, P={cfg.pes} L={cfg.lanes} "
        f"bus={cfg.bus_bits}: peak {cfg.peak_macs_per_cycle} MACs/cycle")
    _print_table(rows, ["mode", "correct", "mismatches", "cycles", "bound", "utilization",
                        "roofline_eff", "dram_rd", "dram_wr", "traffic"], file=out)
    say("bound = max(compute, reads / bus, writes / bus) cycles (reads and writes have their own "
        "AXI channels); traffic = bytes moved / minimum bytes")
    if main_rep.get("speedup_vs_dense"):
        density = a.nnz / (a.shape[0] * a.shape[1])
        say(f"speedup vs dense: {main_rep['speedup_vs_dense']:.2f}x "
            f"(ideal skip speedup 1/density = {1 / max(density, 1e-12):.1f}x)")
    for rep in reports:
        if rep.get("error"):
            say(f"  {rep['mode']}: {rep['error']}")
    _say_energy(say, reports, out)
    if args.out is not None and results and results[0].c is not None:
        np.save(args.out, results[0].c)
        say(f"C as the RTL wrote it ({results[0].c.dtype}, {results[0].c.shape[0]}x"
            f"{results[0].c.shape[1]}): {args.out}")
    say(f"simulated {sim_cycles:,} cycles in {sim_seconds:.2f} s "
        f"({main_rep['sim_cycles_per_second'] or 0:,} cycles/s); {wall:.2f} s with set-up")
    if args.waves:
        for f in results[0].waves:
            size = Path(f).stat().st_size if Path(f).exists() else 0
            say(f"waveforms: {f} ({size / 1e6:.1f} MB); open with: gtkwave {f}  (or surfer {f})")
    _write_json(args, main_rep)
    ok = all(r["correct"] for r in reports)
    return 0 if ok else 1


# --compare-dense in SpGEMM mode builds B dense: refused above this many bytes
MAX_DENSE_B_BYTES = 1 << 28


def _run_spgemm(args, say, out):
    """``zerotile run --mode spgemm``: C = A.B with B sparse, written by the tile as CSR."""
    from zerotile import firmware
    from zerotile import golden
    import scipy.sparse as sp
    from zerotile.verif import simulate
    from zerotile.workload import (load_mtx, load_sparse_b, random_sparse_b, mtx_header,
                                   resolve_matrix, matrix_name, report, spgemm_report)
    if args.n is not None and args.b is not None:
        raise FormatError("give either --n (with --b-density) or --b, not both")
    if args.n is not None and args.n < 1:
        raise FormatError(f"--n must be at least 1, not {args.n}")
    if args.b is not None and args.b_density is not None:
        raise FormatError("--b-density sets a random B; --b gives one")
    if args.b_density is not None and not 0 <= args.b_density <= 1:
        raise FormatError(f"--b-density must be in 0..1, not {args.b_density}")
    unsupported = [name for name, given in (
        ("--accumulate", args.accumulate), ("--quantize-b", args.quantize_b),
        ("--bias/--multiplier/--shift", any(x is not None for x in
                                            (args.bias, args.multiplier, args.shift))),
        ("--relu", args.relu), ("--out-zero-point", args.out_zero_point is not None)) if given]
    if unsupported:
        raise FormatError(f"{', '.join(unsupported)}: not available in SpGEMM mode (C = A.B, "
                          f"int32, written as CSR)")
    if args.out is not None and not args.out.endswith(".npz"):
        raise FormatError(f"--out in SpGEMM mode writes C as a scipy.sparse .npz file, not "
                          f"{args.out}")
    engine, dram = _engine(args)
    window = _waves_window(args)
    # the SpGEMM engine is a generator option (TileConfig.spgemm_cols): simulated here with it
    cfg = _config(args).with_spgemm()
    if not cfg.has_spgemm:
        raise FormatError(f"this configuration has no SpGEMM engine (it needs pes >= 4 and "
                          f"lanes >= 4; P={cfg.pes} L={cfg.lanes})")
    path, m, k, n, entries = _shape_from_headers(args)
    if args.compare_dense and k * n > MAX_DENSE_B_BYTES:
        raise FormatError(f"--compare-dense runs B dense: {k}x{n} int8 is {k * n:,} bytes, "
                          f"more than {MAX_DENSE_B_BYTES:,}")
    if args.compare_dense:
        firmware.check_size(m, k, n, entries, mode="csr", config=cfg)
    a, note = load_mtx(path, args.seed, as_given=True)
    if args.b is not None:
        b, b_note = load_sparse_b(args.b, args.seed)
    else:
        density = 0.05 if args.b_density is None else args.b_density
        b = random_sparse_b(k, n, density, args.seed)
        b_note = (f"B: {k}x{n} seeded random sparse, density {density} ({b.nnz} stored "
                  f"entries, nonzero int8; --seed {args.seed})")
    say(f"A: {path}: {m}x{k}, {a.nnz} stored entries; {note}")
    say(b_note)
    plans = [firmware.plan_spgemm(a, b, config=cfg)]
    if args.compare_dense:
        plans.append(firmware.plan(a, b.toarray(), config=cfg, mode="csr"))
    c_ref = golden.spgemm(a, b)
    waves_dir = Path("zerotile_waves").resolve() if args.waves else None
    t0 = time.monotonic()
    results = simulate(plans, engine=engine, sim=args.sim, dram=dram, waves=args.waves,
                       seed=args.seed, label=path.name, waves_dir=waves_dir,
                       waves_window=window, waves_name=f"{matrix_name(path)}-{engine}")
    wall = time.monotonic() - t0
    main_rep, details = spgemm_report(plans[0], results[0], a, b, c_ref=c_ref)
    for row, col, exp, got in details:
        say(f"  MISMATCH (spgemm) row {row} col {col}: expected {exp}, got {got}")
    reports = [main_rep]
    if args.compare_dense and len(results) > 1:
        b_dense = b.toarray()
        spmm, spmm_details = report(plans[1], results[1], a, b_dense,
                                    c_ref=golden.spmm(a, b_dense))
        for row, col, exp, got in spmm_details:
            say(f"  MISMATCH (csr, B dense) row {row} col {col}: expected {exp}, got {got}")
        spmm["mode"] = "csr (B dense)"
        reports.append(spmm)
        main_rep.update(spmm=spmm, spmm_cycles=spmm.get("cycles"), spmm_correct=spmm["correct"],
                        speedup_vs_spmm=round(spmm["cycles"] / main_rep["cycles"], 3)
                        if main_rep.get("cycles") and spmm.get("cycles") else None)
    sim_cycles, sim_seconds = _sim_summary(main_rep, results, wall, engine, dram, args)
    rows = [{"mode": r["mode"], "correct": r["correct"], "mismatches": r["mismatches"],
             "cycles": r.get("cycles", "-"), "bound": r["bound_cycles"],
             "products/cycle": _fmt(r.get("products_per_cycle")),
             "roofline_eff": _fmt(r.get("roofline_efficiency")),
             "dram_rd": r.get("dram_bytes_read", "-"), "dram_wr": r.get("dram_bytes_written", "-"),
             "traffic": _fmt(r.get("dram_traffic_ratio"), 2)} for r in reports]
    where = (f"the native engine (Verilator, DRAM read latency {dram.read_latency} cycles)"
             if engine == "native" else f"the vip engine ({args.sim} + cocotbext-axi)")
    say(f"C = A.B (SpGEMM), shape {main_rep['shape']}, nnz(C) = {main_rep['nnz_c']} on {where}, "
        f"P={cfg.pes} L={cfg.lanes} bus={cfg.bus_bits} with the SpGEMM engine (spgemm_cols = "
        f"{cfg.spgemm_cols}): it forms {cfg.spgemm_products_per_cycle} partial products per cycle "
        f"at most")
    _print_table(rows, ["mode", "correct", "mismatches", "cycles", "bound", "products/cycle",
                        "roofline_eff", "dram_rd", "dram_wr", "traffic"], file=out)
    if main_rep.get("cycles") is not None:
        say(f"partial products {main_rep['partial_products']:,} (golden "
            f"{main_rep['golden_partial_products']:,}), merges {main_rep['merges']:,}, output "
            f"nonzeros {main_rep['output_nnz']:,}; entries that cancel to 0 are dropped")
    say(f"bound = max(effectual products / {cfg.spgemm_products_per_cycle} per cycle, reads / bus, "
        f"writes / bus) cycles, with "
        "A, B and C at their compressed sizes")
    if main_rep.get("speedup_vs_spmm"):
        say(f"speedup vs the same product with B dense (CSR mode): "
            f"{main_rep['speedup_vs_spmm']:.2f}x")
    for r in reports:
        if r.get("error"):
            say(f"  {r['mode']}: {r['error']}")
    if args.out is not None and results and results[0].c is not None:
        sp.save_npz(args.out, sp.csr_matrix(results[0].c))
        say(f"C as the RTL wrote it (CSR int32, {m}x{n}, {results[0].c.nnz} nonzeros): "
            f"{args.out}")
    say(f"simulated {sim_cycles:,} cycles in {sim_seconds:.2f} s "
        f"({main_rep['sim_cycles_per_second'] or 0:,} cycles/s); {wall:.2f} s with set-up")
    if args.waves:
        for f in results[0].waves:
            say(f"waveforms: {f}")
    _write_json(args, main_rep)
    return 0 if all(r["correct"] for r in reports) else 1


def _load_epilogue(args, m):
    """The --bias/--multiplier/--shift arrays (.npy, one value per row of A or one value)."""
    from zerotile.firmware.requant import Requant

    def load(option, path):
        if path is None:
            return 0
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise FormatError(f"{option} {path}: not a readable .npy file ({e})") from None
        return arr.reshape(()) if arr.size == 1 else arr
    return Requant.for_rows(m, bias=load("--bias", args.bias),
                            multiplier=load("--multiplier", args.multiplier),
                            shift=load("--shift", args.shift),
                            out_zero_point=args.out_zero_point or 0, relu=args.relu)


def _say_energy(say, reports, out):
    """The energy estimate of each run: a table of events times Horowitz's 45 nm energies."""
    from zerotile import golden
    rows = [r for r in reports if r.get("energy_pj") is not None]
    if not rows:
        return
    t = golden.HOROWITZ_45NM
    say(f"energy estimate ({t.source}, {t.node}: "
        + "; ".join(f"{e} {v}" for e, v in t.rows()) + "):")
    _print_table([{"mode": r["mode"], "total_nJ": _fmt(r["energy_pj"] / 1000, 2),
                   "pJ/effectual_MAC": _fmt(r["pj_per_effectual_mac"]),
                   "dram_share": _fmt(r["dram_energy_share"], 3),
                   **{f"{k}_nJ": _fmt(v / 1000, 2) for k, v in r["energy_pj_by_event"].items()}}
                  for r in rows],
                 ["mode", "total_nJ", "pJ/effectual_MAC", "dram_share", "multiplies_nJ",
                  "accumulator_updates_nJ", "scratchpad_reads_nJ", "epilogue_nJ", "dram_nJ"],
                 file=out)
    say(f"not modelled: {golden.NOT_MODELLED}")


def _list_bundled():
    from zerotile.workload import bundled_matrices, mtx_header, matrix_name
    rows = []
    for p in bundled_matrices():
        m, k, entries = mtx_header(p)
        rows.append({"name": matrix_name(p), "rows x cols": f"{m}x{k}", "entries in file": entries,
                     "file": p.name})
    _print_table(rows, ["name", "rows x cols", "entries in file", "file"])
    print("run one with: zerotile run NAME [--n N] [--compare-dense]")
    return 0


def cmd_nn(args):
    """A pruned int8 MLP on scikit-learn's digits, classified on the RTL."""
    from zerotile import golden
    from zerotile import nn
    _check_output_path("--json", args.json)
    out = sys.stderr if args.json == "-" else sys.stdout
    say = lambda *a: print(*a, file=out, flush=True)
    t0 = time.monotonic()
    say(f"training a 64-{'-'.join(map(str, nn.DEFAULT_HIDDEN))}-10 MLP on scikit-learn's "
        f"bundled digits (seed {args.seed}), pruning it by magnitude to 90 % zeros with a "
        f"masked fine-tune, quantising it to int8 (TFLite per-channel scheme)...")
    setup = nn.build(seed=args.seed)
    say(f"  {time.monotonic() - t0:.1f} s; weights per layer (nonzero): "
        + ", ".join(f"{l.weights.shape[0]}x{l.weights.shape[1]} ({l.weights.nnz})"
                    for l in setup.layers))
    rep = nn.run(setup, batch=args.batch, seed=args.seed)
    say(f"classified {rep['images']} held-out images on the RTL (native engine, P=4 L=8 "
        f"bus=64) in {rep['chains']} descriptor chains of {rep['jobs_per_chain']} jobs "
        f"(batch = N = {rep['batch']}): the int8 output of each layer is the next layer's B "
        f"in DRAM, no host step between layers")
    _print_table([
        {"": "float (dense)", "accuracy": _fmt(rep["dense_float_accuracy"], 4)},
        {"": "float (90 % pruned)", "accuracy": _fmt(rep["float_accuracy"], 4)},
        {"": "int8 golden", "accuracy": _fmt(rep["int8_accuracy"], 4)},
        {"": "int8 RTL", "accuracy": _fmt(rep["rtl_accuracy"], 4)}], ["", "accuracy"], file=out)
    say(f"RTL logits equal golden's on {rep['images_matching_golden']} of {rep['images']} "
        f"images" + ("" if rep["rtl_matches_golden"] else "  <-- MISMATCH"))
    _print_table([
        {"mode": "sparse (CSR)", "cycles/image": rep["cycles_per_image"],
         "pJ/image": f"{rep['energy_pj_per_image']:,.0f}",
         "pJ/effectual_MAC": _fmt(rep["pj_per_effectual_mac"]),
         "dram_share": _fmt(rep["dram_energy_share"], 3)},
        {"mode": "dense", "cycles/image": rep["dense_cycles_per_image"],
         "pJ/image": f"{rep['dense_energy_pj_per_image']:,.0f}",
         "pJ/effectual_MAC": _fmt(rep["dense_pj_per_effectual_mac"]),
         "dram_share": _fmt(rep["dense_dram_energy_share"], 3)}],
        ["mode", "cycles/image", "pJ/image", "pJ/effectual_MAC", "dram_share"], file=out)
    t = golden.HOROWITZ_45NM
    say(f"speedup vs dense: {rep['speedup_vs_dense']:.2f}x; energy: event counters x "
        f"{t.source} ({t.node}) table, not a measurement; not modelled: {golden.NOT_MODELLED}")
    say(f"done in {time.monotonic() - t0:.1f} s")
    if args.json == "-":
        sys.stdout.write(json.dumps(rep, indent=2) + "\n")
    elif args.json:
        Path(args.json).write_text(json.dumps(rep, indent=2) + "\n")
    return 0 if rep["rtl_matches_golden"] and rep["dense_rtl_matches_golden"] else 1


def cmd_demo(args):
    from zerotile import firmware
    from zerotile import golden
    from zerotile.verif import simulate
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
    from zerotile.verif.native import DramTiming
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


def cmd_header(args):
    from zerotile.firmware.c_header import c_header
    text = c_header(_config(args) if args.expect_config else None)
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        _check_output_path("-o", args.output)
        Path(args.output).write_text(text)
        print(f"wrote {args.output}")
    return 0


def cmd_regs(args):
    try:
        from zerotile.firmware.systemrdl import export
        import systemrdl  # noqa: F401
    except ImportError:
        raise FormatError("zerotile regs needs the ip extra: pip install -e '.[ip]'") from None
    if args.format != "html":              # html writes a directory
        _check_output_path("-o", args.output)
    export(args.format, args.output)
    print(f"wrote {args.output} ({args.format}, from rtl/regmap.py through systemrdl-compiler)")
    return 0


def cmd_bench(args):
    from zerotile.bench import run_bench, run_matrix_bench, matrix_markdown, ECP5_FMAX_MHZ
    fmax = ECP5_FMAX_MHZ if args.fmax is None else args.fmax
    if fmax <= 0:
        raise FormatError(f"--fmax must be positive, not {fmax}")
    if args.epilogue and not args.matrices:
        raise FormatError("--epilogue goes with --matrices DIR")
    if args.spgemm and not args.matrices:
        raise FormatError("--spgemm goes with --matrices DIR")
    if args.spgemm and args.epilogue:
        raise FormatError("give --spgemm or --epilogue, not both")
    if args.matrices:
        folder = Path(args.matrices)
        paths = sorted(folder.glob("*.mtx")) + sorted(folder.glob("*.mtx.gz"))
        if not paths:
            raise FormatError(f"--matrices {folder}: no .mtx or .mtx.gz files there")
        try:
            ns = [int(x) for x in args.n.split(",")]
        except ValueError:
            raise FormatError(f"--n must be comma-separated integers, not {args.n!r}") from None
        if any(n < 1 for n in ns):
            raise FormatError(f"--n must be positive, not {args.n!r}")
        progress = lambda msg: print(msg, file=sys.stderr)
        if args.spgemm:
            from zerotile.bench import run_spgemm_bench, spgemm_markdown
            rows = run_spgemm_bench(paths, args.out, min_nnz=args.min_nnz, progress=progress)
            print(spgemm_markdown(rows))
            print(f"wrote spgemm.csv and spgemm.md to {args.out}/")
            return 0 if all(r["mismatches"] == 0 and r["spmm_mismatches"] in (None, 0)
                            for r in rows) else 1
        if args.epilogue:
            from zerotile.bench import run_epilogue_bench, epilogue_markdown
            rows = run_epilogue_bench(paths, args.out, ns=ns, min_nnz=args.min_nnz,
                                      progress=progress)
            print(epilogue_markdown(rows))
            print(f"wrote epilogue.csv and epilogue.md to {args.out}/")
        else:
            rows = run_matrix_bench(paths, args.out, ns=ns, min_nnz=args.min_nnz,
                                    progress=progress)
            print(matrix_markdown(rows))
            print(f"wrote matrices.csv and matrices.md to {args.out}/")
        return 0 if all(r["mismatches"] == 0 for r in rows) else 1
    rows = run_bench(args.out, fmax_mhz=fmax)
    from zerotile.bench import markdown
    print(markdown(rows, fmax))
    print(f"wrote bench.csv, bench.md, speedup.png and roofline.png to {args.out}/")
    return 0 if all(r["correct"] for r in rows) else 1


def cmd_readme(args):
    from zerotile import docs
    names = args.section or None
    stale = docs.write_sections(names, check=args.check)
    if args.check:
        print("README sections stale: " + ", ".join(stale) if stale else "README is current")
        return 1 if stale else 0
    print(f"rewrote {', '.join(stale)} in {docs.README}" if stale else "README is current")
    return 0


def _synth_row(rep):
    cfg = rep.config
    return {"target": rep.target, "part": rep.part,
            "config": f"P={cfg['pes']} L={cfg['lanes']} W={cfg['bus_bits']}"
                      + (f" S={cfg['spgemm_cols']}" if cfg.get("spgemm_cols") else ""),
            "luts": rep.luts, "carry": rep.carry or "-", "ffs": rep.ffs,
            "lutram": rep.lutram or "-", "brams": rep.brams, "dsps": rep.dsps,
            "fmax_mhz": _fmt(rep.fmax_mhz, 1), "peak_gops": _fmt(rep.peak_gops, 2)}


def cmd_synth(args):
    from zerotile import synth
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
    cfg = _config(args, synth.default_config(args.target))
    engine = f" with the SpGEMM engine ({cfg.spgemm_cols} columns)" if cfg.has_spgemm else ""
    print(f"synthesising P={cfg.pes} L={cfg.lanes} bus={cfg.bus_bits}{engine} for {args.target} "
          f"(nextpnr seed {args.seed}, {args.router}; tool files under {args.out}/) ...",
          flush=True)
    t0 = time.monotonic()
    rep = synth.synthesize(cfg, args.target, work_root=args.out, freq_mhz=args.freq,
                           seed=args.seed, router=args.router)
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


def _non_negative(option):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option} takes a whole number, not {text!r}")
        if value < 0:
            raise argparse.ArgumentTypeError(f"{option} must be 0 or more, not {value}")
        return value
    return parse


def build_parser():
    from zerotile import __version__
    from zerotile.synth.flow import ROUTERS
    p = argparse.ArgumentParser(prog="zerotile", description=__doc__)
    p.add_argument("--version", action="version", version=f"zerotile {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="write the standalone Verilog of the accelerator")
    g.add_argument("-o", "--output", help="output file (default: stdout)")
    _add_config_args(g)
    g.add_argument("--icarus", action="store_true",
                   help="rewrite start-up initialisers for Icarus in SystemVerilog mode")
    g.add_argument("--fusesoc", metavar="DIR",
                   help="write a FuseSoC core into DIR instead: zerotile.v, its lint waivers "
                        "and zerotile.core (targets default and lint)")
    g.set_defaults(func=cmd_generate)
    r = sub.add_parser("run", help="compute C = A.B on the RTL and check it against golden",
                       description="Compute C = A.B on the RTL and compare every element with "
                                   "the golden model. Exit 0: correct; 1: a mismatch; 2: bad "
                                   "input (one line naming the problem).")
    r.add_argument("matrix", nargs="?",
                   help="A: a Matrix Market file (.mtx, .mtx.gz) or a bundled name (--list)")
    r.add_argument("--list", action="store_true", help="list the bundled matrices and exit")
    r.add_argument("--n", type=int, help="columns of the random dense B (default 16)")
    r.add_argument("--b", help="B as a Matrix Market file; its values must be int8 integers "
                               "(or see --quantize-b)")
    r.add_argument("--quantize-b", action="store_true",
                   help="map a B whose values are not int8 integers to int8 (one symmetric "
                        "per-tensor scale, 127 / max |B|)")
    r.add_argument("--b-density", type=float, metavar="D",
                   help="SpGEMM: stored fraction of the seeded random sparse B (default 0.05)")
    r.add_argument("--mode", choices=["auto", "dense", "csr", "spgemm"], default="auto",
                   help="dense: every element of A is issued; csr: only stored entries; auto "
                        "(default): the mode with the lower cycle estimate among those whose "
                        "limits the job fits (printed); spgemm: B sparse too (--b as sparse, or "
                        "--n with --b-density), C written as CSR")
    r.add_argument("--compare-dense", action="store_true",
                   help="also run dense mode and report speedup_vs_dense (spgemm: run CSR "
                        "mode with B dense and report speedup_vs_spmm)")
    r.add_argument("--bias", metavar="FILE.npy",
                   help="int8 output: int32 bias per row of A (or one value), .npy")
    r.add_argument("--multiplier", metavar="FILE.npy",
                   help="int8 output: requantisation multiplier per row (0 or in [2^30, 2^31)), "
                        ".npy")
    r.add_argument("--shift", metavar="FILE.npy",
                   help="int8 output: requantisation shift per row (-31..30), .npy")
    r.add_argument("--out-zero-point", type=int, metavar="Z",
                   help="int8 output: zero point added after rescaling (default 0)")
    r.add_argument("--relu", action="store_true",
                   help="int8 output: clamp below at the zero point (ReLU)")
    r.add_argument("--out", metavar="FILE.npy",
                   help="write C as the RTL produced it (int32, or int8 with the epilogue)")
    r.add_argument("--accumulate", action="store_true",
                   help="C += A.B: C starts as seeded int32 values (read back by the hardware)")
    r.add_argument("--seed", type=_non_negative("--seed"), default=1,
                   help="seed of the int8 values (default 1)")
    r.add_argument("--engine", choices=["native", "vip"],
                   help="native: Verilated model with a C++ clock loop and DRAM model (default, "
                        "fast); vip: cocotb + cocotbext-axi (the verification reference; the "
                        "only engine for --sim icarus)")
    r.add_argument("--dram-latency", type=int, metavar="CYCLES",
                   help="native engine: cycles from a read address to its first data beat "
                        "(default 20, DRAM behind a ~100 MHz fabric)")
    r.add_argument("--sim", choices=["verilator", "icarus"], default="verilator",
                   help="simulator of the vip engine (default verilator; icarus needs "
                        "apt-get install iverilog)")
    r.add_argument("--json", metavar="FILE",
                   help="write the metrics as JSON to FILE ('-': stdout, the table goes to "
                        "stderr)")
    r.add_argument("--waves", action="store_true",
                   help="record an FST waveform into ./zerotile_waves/ (a new file each run)")
    r.add_argument("--waves-from", type=_non_negative("--waves-from"), metavar="CYCLE",
                   help="native engine: first cycle recorded (default 0)")
    r.add_argument("--waves-to", type=_non_negative("--waves-to"), metavar="CYCLE",
                   help="native engine: cycle after the last one recorded (default: the end)")
    _add_config_args(r)
    r.set_defaults(func=cmd_run)
    nnp = sub.add_parser("nn", help="a 90 %%-pruned int8 MLP on scikit-learn's digits, "
                                     "classified on the RTL (sparse vs dense, energy)")
    nnp.add_argument("--json", metavar="FILE", help="write the report as JSON ('-': stdout)")
    nnp.add_argument("--seed", type=_non_negative("--seed"), default=0,
                     help="seed of the split, training and pruning (default 0)")
    nnp.add_argument("--batch", type=int, default=64,
                     help="images per descriptor chain: the N of every layer (default 64)")
    nnp.set_defaults(func=cmd_nn)
    d = sub.add_parser("demo", help="bundled real matrices, dense vs sparse, on the native engine")
    d.set_defaults(func=cmd_demo)
    h = sub.add_parser("header", help="write the C header of the register map (from "
                                      "rtl/regmap.py)")
    h.add_argument("-o", "--output", help="output file (default: stdout)")
    h.add_argument("--expect-config", action="store_true",
                   help="also define ZT_EXPECTED_CONFIG / _B_WORDS / _SPGEMM_COLS for --pes etc.")
    _add_config_args(h)
    h.set_defaults(func=cmd_header)
    rg = sub.add_parser("regs", help="the register map for other tools: SystemRDL, HTML or "
                                     "IP-XACT (PeakRDL exporters)")
    rg.add_argument("--format", choices=["rdl", "html", "ipxact"], default="rdl")
    rg.add_argument("-o", "--output", required=True,
                    help="output file (rdl, ipxact) or directory (html)")
    rg.set_defaults(func=cmd_regs)
    bn = sub.add_parser("bench", help="speedup against density, a roofline of the bundled "
                                      "matrices and scipy.sparse on this CPU: CSV, Markdown, PNG")
    bn.add_argument("--out", default="zerotile_bench", help="output folder (default "
                                                            "./zerotile_bench)")
    bn.add_argument("--fmax", type=float, default=None,
                    help="clock for the tile's time in microseconds (default: the default "
                         "configuration's ECP5 Fmax, zerotile.bench.ECP5_FMAX_MHZ)")
    bn.add_argument("--matrices", metavar="DIR",
                    help="instead: every .mtx / .mtx.gz in DIR in CSR mode at each --n, "
                         "roofline efficiency and DRAM traffic (matrices.csv, matrices.md)")
    bn.add_argument("--spgemm", action="store_true",
                    help="with --matrices: SpGEMM (A.A, and A.B for random sparse B at 1, 5, 10 "
                         "and 20 %% density, N = 256), each also with B dense in CSR mode "
                         "(speedup_vs_spmm); writes spgemm.csv / spgemm.md")
    bn.add_argument("--epilogue", action="store_true",
                    help="with --matrices: int8 output through the epilogue (per-row parameters, "
                         "plain and with ReLU + accumulate) beside int32 (epilogue.csv, "
                         "epilogue.md)")
    bn.add_argument("--n", default="16,64", help="with --matrices: columns of B, "
                                                 "comma-separated (default 16,64)")
    bn.add_argument("--min-nnz", type=int, default=0,
                    help="with --matrices: skip matrices with fewer stored entries")
    bn.set_defaults(func=cmd_bench)
    m = sub.add_parser("readme", help="regenerate the README's tables of numbers (register map, "
                                      "performance targets, matrix results, synthesis sweep)")
    m.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 if any section is stale")
    m.add_argument("section", nargs="*", help="only these sections")
    m.set_defaults(func=cmd_readme)
    s = sub.add_parser("synth", help="area and Fmax through Yosys / nextpnr (YoWASP); "
                                     "ECP5 by default, 20-30 minutes")
    s.add_argument("--target", choices=["generic", "ecp5", "ice40"], default="ecp5",
                   help="ecp5 (default): synth_ecp5 + nextpnr on an LFE5U-85F, 20-30 min on "
                        "one core; "
                        "generic: Yosys gates and transistor estimate, about 1 min; ice40: "
                        "UP5K in a pin wrapper (does not fit)")
    _add_config_args(s)
    s.add_argument("--json", help="write the report to this JSON file")
    s.add_argument("--freq", type=float, default=100, help="nextpnr target clock, MHz")
    s.add_argument("--seed", type=_non_negative("--seed"), default=1,
                   help="nextpnr placement seed (default 1, the README's figures)")
    s.add_argument("--router", choices=ROUTERS, default=ROUTERS[0],
                   help="nextpnr router (default router1; router2 routes the tile with the "
                        "SpGEMM engine, which router1 does not finish)")
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
    from zerotile.verif import SimulationError
    from zerotile.synth.flow import SynthError
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ZerotileError, SimulationError, SynthError, ValueError, OSError) as e:
        print(f"zerotile: error: {e}".splitlines()[0], file=sys.stderr)
        return 2
    except MemoryError:
        print("zerotile: error: out of memory (the operands or C do not fit this machine)",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("zerotile: interrupted", file=sys.stderr)
        return 130
