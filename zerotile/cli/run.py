"""``zerotile run``: C = A.B on the RTL, every element compared with the golden model."""
import numpy as np

from zerotile.firmware import FormatError
from zerotile.workload import OPERAND_RULE
from .common import Console, table_lines, fmt, EXIT_OK, add_config_args, config_from, check_output_path
from .operands import shape_from_headers, inputs_record, result_row
from .run_spgemm import spgemm_product
from .simulation import add_engine_args, engine_from, Product, simulate_and_report

NAME = "run"
HELP = "compute C = A.B on the RTL and check it against golden"
DESCRIPTION = ("Compute C = A.B on the RTL and compare every element with the golden model. "
               "Operands: " + OPERAND_RULE + "; A's other values are replaced by seeded ones "
               "(the line says why) unless --quantize-a, B's are refused unless --quantize-b. "
               "Exit 0: correct; 1: a mismatch; 2: bad input (one line naming the problem); "
               "3: the hardware reported an error or did not finish.")

def add_arguments(p):
    p.add_argument("matrix", nargs="?",
                   help="A: a Matrix Market file (.mtx, .mtx.gz) or a bundled name (--list)")
    p.add_argument("--list", action="store_true", help="list the bundled matrices and exit")
    p.add_argument("--quantize-a", action="store_true",
                   help="map an A whose values are not int8 integers to int8 (one symmetric "
                        "per-tensor scale, 127 / max |A|) instead of seeded values")
    b = p.add_mutually_exclusive_group()
    b.add_argument("--n", type=int, help="columns of the seeded random B (default 16)")
    b.add_argument("--b", help="B as a Matrix Market file: int8 integer values as given, a "
                               "pattern file gets seeded nonzero int8 (in every mode); other "
                               "values are refused (or see --quantize-b)")
    p.add_argument("--quantize-b", action="store_true",
                   help="map a B whose values are not int8 integers to int8 (one symmetric "
                        "per-tensor scale, 127 / max |B|)")
    p.add_argument("--b-density", type=float, metavar="D",
                   help="SpGEMM: stored fraction of the seeded random sparse B (default 0.05)")
    p.add_argument("--mode", choices=["auto", "dense", "csr", "spgemm"], default="auto",
                   help="dense: every element of A is issued; csr: only stored entries; auto "
                        "(default): the mode with the lower cycle estimate among those whose "
                        "limits the job fits (printed); spgemm: B sparse too (--b as sparse, or "
                        "--n with --b-density), C written as CSR")
    p.add_argument("--compare-dense", action="store_true",
                   help="also run dense mode and report speedup_vs_dense (spgemm: run CSR "
                        "mode with B dense and report speedup_vs_spmm)")
    p.add_argument("--accumulate", action="store_true",
                   help="C += A.B: C starts as seeded int32 values (read back by the hardware)")
    p.add_argument("--out", metavar="FILE",
                   help="write C as the RTL produced it: .npy (int32, or int8 with the "
                        "epilogue); SpGEMM: a scipy.sparse .npz")
    e = p.add_argument_group("int8 output (the epilogue)")
    e.add_argument("--bias", metavar="FILE.npy",
                   help="int32 bias per row of A (or one value), .npy")
    e.add_argument("--multiplier", metavar="FILE.npy",
                   help="requantisation multiplier per row (0 or in [2^30, 2^31)), .npy")
    e.add_argument("--shift", metavar="FILE.npy",
                   help="requantisation shift per row (-31..30), .npy")
    e.add_argument("--out-zero-point", type=int, metavar="Z",
                   help="zero point added after rescaling (default 0)")
    e.add_argument("--relu", action="store_true", help="clamp below at the zero point (ReLU)")
    add_engine_args(p)
    add_config_args(p)


def run(args):
    if args.list:
        return _list_bundled()
    if args.matrix is None:
        raise FormatError("give A: a Matrix Market file or a bundled name (zerotile run --list)")
    if args.n is not None and args.n < 1:
        raise FormatError(f"--n must be at least 1, not {args.n}")
    if args.quantize_b and args.b is None:
        raise FormatError("--quantize-b goes with --b")
    check_output_path("--json", args.json)
    check_output_path("--out", args.out)
    console = Console(json_to_stdout=args.json == "-")
    if args.mode == "spgemm":
        product = spgemm_product(args, console)
    else:
        product = _spmm_product(args, console)
    return simulate_and_report(args, console, product)


def _spmm_product(args, console):
    from zerotile import firmware
    from zerotile.workload import (load_mtx, load_b, random_b, random_c, report, golden_result)
    if args.b_density is not None:
        raise FormatError("--b-density goes with --mode spgemm (a random sparse B)")
    if args.out is not None and not args.out.endswith(".npy"):
        raise FormatError(f"--out writes a NumPy .npy file, not {args.out}")
    want_epilogue = any(x is not None for x in (args.bias, args.multiplier, args.shift))
    if want_epilogue and (args.multiplier is None or args.shift is None):
        raise FormatError("the int8 epilogue needs --multiplier and --shift (and optionally "
                          "--bias, --out-zero-point, --relu)")
    if not want_epilogue and (args.relu or args.out_zero_point is not None):
        raise FormatError("--relu and --out-zero-point go with the epilogue (--multiplier, "
                          "--shift)")
    engine_from(args)                      # the engine options, checked before any work
    cfg = config_from(args)
    # Sizes from the headers first: nothing large is allocated for a job that cannot run.
    path, m, k, n, entries = shape_from_headers(args)
    firmware.check_size(m, k, n, entries, mode=args.mode, config=cfg)

    a, note = load_mtx(path, args.seed, as_given=True, quantize=args.quantize_a)
    epilogue = _load_epilogue(args, m) if want_epilogue else None
    if args.b is not None:
        b, b_note = load_b(args.b, args.seed, quantize=args.quantize_b)
    else:
        b, b_note = random_b(k, n, args.seed), f"B: {k}x{n} seeded int8 (--seed {args.seed})"
    console.say(f"A: {path}: {m}x{k}, {a.nnz} stored entries; {note}")
    console.say(b_note)
    c_old = random_c(m, n, args.seed) if args.accumulate else None
    if c_old is not None:
        console.say(f"C += A.B: the old C is {m}x{n} seeded int32 (--seed {args.seed})")
    if epilogue is not None:
        console.say(f"int8 output: {epilogue.describe()}")
    plans = [firmware.plan(a, b, c=c_old, config=cfg, mode=args.mode, epilogue=epilogue)]
    if args.mode == "auto":
        est = {md: firmware.estimate_cycles(md, m, k, n, a.nnz, cfg)
               for md in firmware.check_size(m, k, n, a.nnz, config=cfg)}
        console.say(f"mode auto chose {plans[0].mode}: the lower cycle estimate of the modes "
                    f"that fit (" + ", ".join(f"{md} ~{v:,.0f}" for md, v in est.items()) + ")")
    if args.compare_dense:
        plans.append(firmware.plan(a, b, c=c_old, config=cfg, mode="dense", epilogue=epilogue))
    c_ref = golden_result(a, b, c_old, epilogue)

    def combine(reports):
        main = dict(reports[0])
        if len(reports) > 1:
            dense = reports[1]
            main.update(dense=dense, dense_cycles=dense.get("cycles"),
                        dense_correct=dense["correct"],
                        speedup_vs_dense=round(dense["cycles"] / main["cycles"], 3)
                        if main.get("cycles") and dense.get("cycles") else None)
        return main

    def notes(main, reports):
        lines = ["bound = max(compute, reads / bus, writes / bus) cycles (reads and writes have "
                 "their own AXI channels); traffic = bytes moved / minimum bytes"]
        if main.get("speedup_vs_dense"):
            density = a.nnz / (a.shape[0] * a.shape[1])
            lines.append(f"speedup vs dense: {main['speedup_vs_dense']:.2f}x "
                         f"(ideal skip speedup 1/density = {1 / max(density, 1e-12):.1f}x)")
        return lines + _energy_lines(reports)

    def save_out(out, result):
        np.save(out, result.c)
        return (f"C as the RTL wrote it ({result.c.dtype}, {result.c.shape[0]}x"
                f"{result.c.shape[1]}): {out}")

    return Product(
        plans=plans, label=path.name,
        inputs=inputs_record(args, path, note, b_note, n, dtype="int8"),
        report=lambda i, res: report(res.plan, res, a, b, c_ref=c_ref),
        columns=["mode", "correct", "mismatches", "cycles", "bound", "utilization",
                 "roofline_eff", "dram_rd", "dram_wr", "traffic"],
        row=lambda rep: {**result_row(rep), "utilization": fmt(rep.get("utilization"))},
        headline=lambda main, where: (f"C = A.B, shape {main['shape']} on {where}: peak "
                                      f"{cfg.peak_macs_per_cycle} MACs/cycle"),
        combine=combine, notes=notes, save_out=save_out)


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


def _energy_lines(reports):
    """The energy estimate of each run: a table of events times Horowitz's 45 nm energies."""
    from zerotile import golden
    rows = [r for r in reports if r.get("energy_pj") is not None]
    if not rows:
        return []
    t = golden.HOROWITZ_45NM
    cols = ["mode", "total_nJ", "pJ/effectual_MAC", "dram_share", "multiplies_nJ",
            "accumulator_updates_nJ", "scratchpad_reads_nJ", "epilogue_nJ", "dram_nJ"]
    table = [{"mode": r["mode"], "total_nJ": fmt(r["energy_pj"] / 1000, 2),
              "pJ/effectual_MAC": fmt(r["pj_per_effectual_mac"]),
              "dram_share": fmt(r["dram_energy_share"], 3),
              **{f"{k}_nJ": fmt(v / 1000, 2) for k, v in r["energy_pj_by_event"].items()}}
             for r in rows]
    return [f"energy estimate ({t.source}, {t.node}: "
            + "; ".join(f"{e} {v}" for e, v in t.rows()) + "):",
            *table_lines(table, cols), f"not modelled: {golden.NOT_MODELLED}"]


def _list_bundled():
    from zerotile.workload import bundled_matrices, mtx_header, matrix_name
    rows = []
    for p in bundled_matrices():
        m, k, entries = mtx_header(p)
        rows.append({"name": matrix_name(p), "rows x cols": f"{m}x{k}", "entries in file": entries,
                     "file": p.name})
    console = Console()
    console.table(rows, ["name", "rows x cols", "entries in file", "file"])
    console.say("run one with: zerotile run NAME [--n N] [--compare-dense]")
    return EXIT_OK
