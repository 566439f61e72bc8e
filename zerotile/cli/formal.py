"""``zerotile formal``: the formal checks of the bus-facing blocks, with SymbiYosys."""
import time
from pathlib import Path

from .common import Console, EXIT_OK, EXIT_MISMATCH, positive, check_output_path, write_json

NAME = "formal"
HELP = "prove the bus rules of the read engine, write engine and register file (SymbiYosys)"
DESCRIPTION = ("Check every formal harness (zerotile.verif.formal) with SymbiYosys and z3: "
               "k-induction (prove) by default, which holds for all time, or bounded model "
               "checking (--bmc) to --depth cycles. Reports each harness's mode, depth, result "
               "and time; exit 1 if any check fails. Needs the synth extra "
               "(pip install -e \".[synth]\").")


def add_arguments(p):
    p.add_argument("harness", nargs="*", metavar="HARNESS",
                   help="harnesses to check (default all: read_engine, write_engine, "
                        "register_file)")
    p.add_argument("--bmc", action="store_true",
                   help="bounded model checking instead of k-induction")
    p.add_argument("--depth", type=positive,
                   help="induction length k, or the BMC depth (default: each harness's own "
                        "for prove, 20 for --bmc)")
    p.add_argument("--work", default="zerotile_formal",
                   help="working folder, inside the project tree (the YoWASP tools cannot "
                        "see /tmp; default zerotile_formal)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON ('-': stdout)")


def run(args):
    from zerotile.verif.formal import HARNESSES, PROVE_DEPTH, run_sby
    check_output_path("--json", args.json)
    console = Console(json_to_stdout=args.json == "-")
    from zerotile.firmware import FormatError
    unknown = [h for h in args.harness if h not in HARNESSES]
    if unknown:
        raise FormatError(f"no harness named {unknown[0]!r}; choose from {', '.join(HARNESSES)}")
    mode = "bmc" if args.bmc else "prove"
    rows = []
    t0 = time.monotonic()
    for name in args.harness or HARNESSES:
        depth = args.depth or (20 if args.bmc else PROVE_DEPTH[name])
        res = run_sby(name, mode, depth, Path(args.work))
        rows.append({"harness": name, "mode": mode, "depth": depth,
                     "result": "pass" if res.passed else "FAIL", "seconds": res.seconds,
                     "work_dir": res.work_dir})
        console.say(f"{name}: {mode} depth {depth}: {rows[-1]['result']} in {res.seconds} s")
        if not res.passed:
            console.say("  " + res.summary.replace("\n", "\n  "))
    console.table(rows, ["harness", "mode", "depth", "result", "seconds"])
    write_json(console, args.json, {"checks": rows, "passed": all(r["result"] == "pass"
                                                                   for r in rows),
                                    "wall_seconds": round(time.monotonic() - t0, 1),
                                    "command": "zerotile " + " ".join(args.argv)})
    return EXIT_OK if all(r["result"] == "pass" for r in rows) else EXIT_MISMATCH
