"""``zerotile bench``: speedup against density, a roofline, and scipy.sparse on this CPU."""
import sys
from pathlib import Path

from zerotile.firmware import FormatError
from .common import Console, EXIT_OK, EXIT_MISMATCH, check_output_path

NAME = "bench"
HELP = ("speedup against density, a roofline of the bundled matrices and scipy.sparse on this "
        "CPU: CSV, Markdown, PNG")
DESCRIPTION = ("Run the bundled matrices (or every matrix in --matrices DIR) on the native "
               "engine, every result compared with golden, and write the tables and plots "
               "that README.md and docs/results.md are generated from.")


def add_arguments(p):
    p.add_argument("--out", default="zerotile_bench", help="output folder (default "
                                                           "./zerotile_bench)")
    p.add_argument("--fmax", type=float, default=None,
                   help="clock for the tile's time in microseconds (default: the default "
                        "configuration's ECP5 Fmax from docs/synth/ecp5-seed1.json)")
    p.add_argument("--matrices", metavar="DIR",
                   help="instead: every .mtx / .mtx.gz in DIR in CSR mode at each --n, "
                        "roofline efficiency and DRAM traffic (matrices.csv, matrices.md)")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--spgemm", action="store_true",
                      help="with --matrices: SpGEMM (A.A, and A.B for random sparse B at 1, 5, "
                           "10 and 20 %% density, N = 256), each also with B dense in CSR mode "
                           "(speedup_vs_spmm); writes spgemm.csv / spgemm.md")
    kind.add_argument("--epilogue", action="store_true",
                      help="with --matrices: int8 output through the epilogue (per-row "
                           "parameters, plain and with ReLU + accumulate) beside int32 "
                           "(epilogue.csv, epilogue.md)")
    p.add_argument("--n", default="16,64", help="with --matrices: columns of B, "
                                                "comma-separated (default 16,64)")
    p.add_argument("--min-nnz", type=int, default=0,
                   help="with --matrices: skip matrices with fewer stored entries")


def run(args):
    from zerotile.bench import run_bench, run_matrix_bench, matrix_markdown, ECP5_FMAX_MHZ
    console = Console()
    fmax = ECP5_FMAX_MHZ if args.fmax is None else args.fmax
    if fmax is None:
        raise FormatError("no committed ECP5 report (docs/synth/ecp5-seed1.json) to take the "
                          "clock from: give --fmax MHz")
    if fmax <= 0:
        raise FormatError(f"--fmax must be positive, not {fmax}")
    if args.epilogue and not args.matrices:
        raise FormatError("--epilogue goes with --matrices DIR")
    if args.spgemm and not args.matrices:
        raise FormatError("--spgemm goes with --matrices DIR")
    check_output_path("--out", args.out, directory=True)
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
        progress = lambda msg: console.write(msg + "\n", sys.stderr)
        if args.spgemm:
            from zerotile.bench import run_spgemm_bench, spgemm_markdown
            rows = run_spgemm_bench(paths, args.out, min_nnz=args.min_nnz, progress=progress)
            console.say(spgemm_markdown(rows))
            console.say(f"wrote spgemm.csv and spgemm.md to {args.out}/")
            return EXIT_OK if all(r["mismatches"] == 0 and r["spmm_mismatches"] in (None, 0)
                            for r in rows) else EXIT_MISMATCH
        if args.epilogue:
            from zerotile.bench import run_epilogue_bench, epilogue_markdown
            rows = run_epilogue_bench(paths, args.out, ns=ns, min_nnz=args.min_nnz,
                                      progress=progress)
            console.say(epilogue_markdown(rows))
            console.say(f"wrote epilogue.csv and epilogue.md to {args.out}/")
        else:
            rows = run_matrix_bench(paths, args.out, ns=ns, min_nnz=args.min_nnz,
                                    progress=progress)
            console.say(matrix_markdown(rows))
            console.say(f"wrote matrices.csv and matrices.md to {args.out}/")
        return EXIT_OK if all(r["mismatches"] == 0 for r in rows) else EXIT_MISMATCH
    rows = run_bench(args.out, fmax_mhz=fmax)
    from zerotile.bench import markdown
    console.say(markdown(rows, fmax))
    console.say(f"wrote bench.csv, bench.md, speedup.png and roofline.png to {args.out}/")
    return EXIT_OK if all(r["correct"] for r in rows) else EXIT_MISMATCH
