"""The one simulate-and-report path of the commands that run plans on the RTL: the engine
options, the simulation, the comparison with golden, the table, ``--out``, ``--json`` and
the exit code. A command describes its product as a ``Product``; this module does the rest."""
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from zerotile.firmware import FormatError
from .common import Console, EXIT_OK, EXIT_MISMATCH, EXIT_DEVICE, non_negative, write_json

__all__ = ["add_engine_args", "engine_from", "Product", "simulate_and_report",
           "MAX_DRAM_LATENCY"]

# The native DRAM model's read latency is bounded: 1,000 cycles is 10 us at 100 MHz, far
# beyond any DRAM; the hang timeout grows with the latency below it.
MAX_DRAM_LATENCY = 1000


def add_engine_args(p):
    g = p.add_argument_group("simulation")
    g.add_argument("--engine", choices=["native", "vip"],
                   help="native: Verilated model with a C++ clock loop and DRAM model (default, "
                        "fast); vip: cocotb + cocotbext-axi (the verification reference; the "
                        "only engine for --sim icarus)")
    g.add_argument("--dram-latency", type=int, metavar="CYCLES",
                   help=f"native engine: cycles from a read address to its first data beat, "
                        f"1..{MAX_DRAM_LATENCY} (default 20, DRAM behind a ~100 MHz fabric)")
    g.add_argument("--sim", choices=["verilator", "icarus"], default="verilator",
                   help="simulator of the vip engine (default verilator; icarus needs "
                        "apt-get install iverilog)")
    g.add_argument("--seed", type=non_negative, default=1,
                   help="seed of the seeded int8 values (default 1)")
    g.add_argument("--json", metavar="FILE",
                   help="write the metrics and the inputs they are the result of as JSON to "
                        "FILE ('-': stdout, the table goes to stderr)")
    g.add_argument("--waves", action="store_true",
                   help="record an FST waveform into ./zerotile_waves/ (a new file each run)")
    g.add_argument("--waves-from", type=non_negative, metavar="CYCLE",
                   help="native engine: first cycle recorded (default 0)")
    g.add_argument("--waves-to", type=non_negative, metavar="CYCLE",
                   help="native engine: cycle after the last one recorded (default: the end)")


def engine_from(args):
    """(engine, DramTiming or None, waves window or None) from the simulation options."""
    from zerotile.verif import default_engine
    from zerotile.verif.native import DramTiming
    engine = args.engine or default_engine(args.sim)
    if engine == "native" and args.sim != "verilator":
        raise FormatError(f"--sim {args.sim} runs on the vip engine: add --engine vip")
    window = None
    if args.waves_from is not None or args.waves_to is not None:
        if not args.waves:
            raise FormatError("--waves-from/--waves-to go with --waves")
        lo = args.waves_from or 0
        hi = args.waves_to if args.waves_to is not None else 2**64 - 1
        if hi <= lo:
            raise FormatError(f"--waves-to {hi} must be after --waves-from {lo}")
        window = (lo, hi)
    if engine == "vip":
        if args.dram_latency is not None:
            raise FormatError("--dram-latency sets the native engine's DRAM model; the vip "
                              "engine uses cocotbext-axi's AxiRam")
        if window is not None:
            raise FormatError("--waves-from/--waves-to need the native engine; the vip engine "
                              "records the whole run")
        return engine, None, None
    latency = args.dram_latency if args.dram_latency is not None else DramTiming().read_latency
    if not 1 <= latency <= MAX_DRAM_LATENCY:
        raise FormatError(f"--dram-latency must be 1..{MAX_DRAM_LATENCY} cycles, not {latency}")
    return engine, DramTiming(read_latency=latency), window


@dataclass
class Product:
    """One product a command runs: its plans (the first is the main one), how each result is
    compared with golden, and how it is shown.

    ``report(i, result)`` -> (report dict, [(row, col, expected, got)]) for plan ``i``;
    ``combine(reports)`` -> the main report (with any comparison folded in);
    ``headline(main, where)`` -> the line above the table; ``notes(main, reports)`` -> the
    lines under it; ``save_out(path, result)`` -> the line saying what ``--out`` holds."""
    plans: list
    label: str
    inputs: dict
    report: Callable
    columns: list
    row: Callable
    headline: Callable
    combine: Callable = lambda reports: dict(reports[0])
    notes: Callable = lambda main, reports: []
    save_out: Callable = None


def simulate_and_report(args, console: Console, product: Product):
    """Simulate ``product`` with the command's engine options, compare, print, write
    ``--out`` and ``--json`` (the caller has checked both writable before its work); the exit
    code (0 exact, 1 mismatch, 3 device error)."""
    from zerotile.verif import simulate
    engine, dram, window = engine_from(args)
    name = product.label
    t0 = time.monotonic()
    results = simulate(product.plans, engine=engine, sim=args.sim, dram=dram, waves=args.waves,
                       seed=args.seed, label=name,
                       waves_dir=Path("zerotile_waves").resolve() if args.waves else None,
                       waves_window=window, waves_name=f"{Path(name).stem}-{engine}")
    wall = time.monotonic() - t0
    reports = []
    for i, res in enumerate(results):
        rep, details = product.report(i, res)
        reports.append(rep)
        for row, col, exp, got in details:
            console.say(f"  MISMATCH ({rep['mode']}) row {row} col {col}: expected {exp}, "
                        f"got {got}")
    main = product.combine(reports)
    sim_cycles = sum(r.sim_cycles for r in results)
    sim_seconds = sum(r.sim_seconds for r in results)
    main.update(inputs=product.inputs, engine=engine, simulator=args.sim,
                dram_latency=dram.read_latency if dram else None, seed=args.seed,
                wall_seconds=round(wall, 2), sim_cycles=sim_cycles,
                sim_seconds=round(sim_seconds, 3),
                sim_cycles_per_second=round(sim_cycles / sim_seconds) if sim_seconds else None,
                command=["zerotile", *args.argv])
    # the files first: a closed stdout never costs a result
    out_line = None
    out = getattr(args, "out", None)
    if out is not None and results and results[0].c is not None and product.save_out:
        out_line = product.save_out(out, results[0])
    write_json(console, args.json, main)

    cfg = product.plans[0].config
    where = (f"the native engine (Verilator, DRAM read latency {dram.read_latency} cycles)"
             if engine == "native" else f"the vip engine ({args.sim} + cocotbext-axi)")
    console.say(product.headline(main, f"{where}, {cfg.describe()}"))
    console.table([product.row(r) for r in reports], product.columns)
    for line in product.notes(main, reports):
        console.say(line)
    for rep in reports:
        if rep.get("error"):
            console.say(f"  {rep['mode']}: {rep['error']}")
    if out_line:
        console.say(out_line)
    console.say(f"simulated {sim_cycles:,} cycles in {sim_seconds:.2f} s "
                f"({main['sim_cycles_per_second'] or 0:,} cycles/s); {wall:.2f} s with set-up")
    if args.waves and results:
        for f in results[0].waves:
            size = Path(f).stat().st_size if Path(f).exists() else 0
            console.say(f"waveforms: {f} ({size / 1e6:.1f} MB); open with: gtkwave {f}  "
                        f"(or surfer {f})")
    if any(r.get("error") for r in reports) or len(results) < len(product.plans):
        return EXIT_DEVICE
    return EXIT_OK if all(r["correct"] for r in reports) else EXIT_MISMATCH
