"""``zerotile synth``: area and Fmax through Yosys and nextpnr (YoWASP)."""
from pathlib import Path
import time

from .common import (Console, fmt, non_negative, positive, add_config_args, config_from,
                     check_output_path, write_json, EXIT_OK, EXIT_MISMATCH)

NAME = "synth"
HELP = "area and Fmax through Yosys / nextpnr (YoWASP); ECP5 by default, 20-30 minutes"
DESCRIPTION = ("Synthesise the tile with Yosys and place and route it with nextpnr (the YoWASP "
               "packages: pip install -e '.[synth]'). --json writes the report that "
               "docs/synthesis.md and the README's figures are rendered from. Exit 1: the "
               "design does not fit the part.")


def add_arguments(p):
    from zerotile.synth.flow import ROUTERS
    p.add_argument("--target", choices=["generic", "ecp5", "ice40"], default="ecp5",
                   help="ecp5 (default): synth_ecp5 + nextpnr on an LFE5U-85F, 20-30 min on "
                        "one core; generic: Yosys gates and transistor estimate, about 1 min; "
                        "ice40: UP5K in a pin wrapper (does not fit)")
    add_config_args(p)
    p.add_argument("--json", help="write the report to this JSON file")
    p.add_argument("--freq", type=float, default=100, help="nextpnr target clock, MHz")
    p.add_argument("--seed", type=non_negative, default=1,
                   help="nextpnr placement seed (default 1)")
    p.add_argument("--seeds", type=seed_list, metavar="S1,S2,...",
                   help="place and route the same netlist at each of these nextpnr seeds, in "
                        "parallel on a Dask LocalCluster (or --scheduler); reports each seed's "
                        "Fmax and critical path, and the minimum")
    p.add_argument("--scheduler", metavar="ADDR",
                   help="run --seeds or --sweep flows on this Dask cluster (tcp://HOST:PORT)")
    p.add_argument("--router", choices=ROUTERS, default=ROUTERS[0],
                   help="nextpnr router (default router1; router2 routes the tile with the "
                        "SpGEMM engine, which router1 does not finish)")
    p.add_argument("--out", default="zerotile_synth",
                   help="directory for the tools' files (default ./zerotile_synth)")
    p.add_argument("--sweep", action="store_true",
                   help="ECP5 sweep over P and L: CSV and PNG plot in --out")
    p.add_argument("--sweep-pes", default="1,2,4", help="P values of the sweep (default 1,2,4)")
    p.add_argument("--sweep-lanes", default="8,16", help="L values of the sweep (default 8,16)")
    p.add_argument("--jobs", type=positive, default=2,
                   help="flows run at once on this machine (--sweep, --seeds; default 2)")


def seed_list(text):
    """'1,2,3' -> [1, 2, 3]: distinct non-negative seeds."""
    import argparse
    try:
        seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"expected distinct non-negative seeds like 1,2,3, "
                                         f"not {text!r}")
    return seeds


def _synth_row(rep):
    cfg = rep.config
    return {"target": rep.target, "part": rep.part,
            "config": f"P={cfg['pes']} L={cfg['lanes']} W={cfg['bus_bits']}"
                      + (f" S={cfg['spgemm_cols']}" if cfg.get("spgemm_cols") else ""),
            "luts": rep.luts, "carry": rep.carry or "-", "ffs": rep.ffs,
            "lutram": rep.lutram or "-", "brams": rep.brams, "dsps": rep.dsps,
            "fmax_mhz": fmt(rep.fmax_mhz, 1), "peak_gops": fmt(rep.peak_gops, 2)}


def run(args):
    from zerotile import synth
    from zerotile.plots import plot_sweep
    console = Console()
    check_output_path("--json", args.json)
    if args.sweep:
        pes = [int(x) for x in args.sweep_pes.split(",")]
        lanes = [int(x) for x in args.sweep_lanes.split(",")]
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        csv_path, png_path, md_path = out / "sweep.csv", out / "sweep.png", out / "sweep.md"
        console.say(f"ECP5 sweep: P in {pes} x L in {lanes} (B scratchpad 32 KiB, 64-bit AXI), "
              f"{args.jobs} flows at a time; tool files under {out}/")
        rows = synth.sweep(pes, lanes, csv_path=csv_path, work_root=out, jobs=args.jobs,
                           scheduler=args.scheduler, progress=console.say)
        console.table(rows, ["pes", "lanes", "macs_per_cycle", "luts", "carry", "ffs", "brams",
                            "dsps", "fmax_mhz", "peak_gops"])
        plot_sweep(rows, png_path)
        md_path.write_text(synth.sweep_markdown(rows))
        console.say(f"wrote {csv_path}, {png_path} and {md_path}")
        return EXIT_OK
    cfg = config_from(args, synth.default_config(args.target))
    if args.seeds:
        return _seeds(args, cfg, console)
    pnr = "" if args.target == "generic" else f"nextpnr seed {args.seed}, {args.router}; "
    console.say(f"synthesising {cfg.describe()} for {args.target} ({pnr}tool files under "
                f"{args.out}/) ...")
    t0 = time.monotonic()
    rep = synth.synthesize(cfg, args.target, work_root=args.out, freq_mhz=args.freq,
                           seed=args.seed, router=args.router)
    if args.target == "generic":
        row = _synth_row(rep)
        row.update(gates=rep.luts, memories=rep.brams, memory_kbits=f"{rep.memory_bits / 1024:.1f}",
                   transistors=rep.transistors)
        console.table([row], ["target", "config", "gates", "ffs", "memories", "memory_kbits",
                             "transistors"])
        console.say("gates: Yosys internal cells after `synth` (memories kept whole, as SRAM macros); "
              "transistors: `stat -tech cmos` estimate of the logic; " + rep.note)
    else:
        console.table([_synth_row(rep)], ["target", "part", "config", "luts", "carry", "ffs",
                                         "lutram", "brams", "dsps", "fmax_mhz", "peak_gops"])
        if rep.note:
            console.say(rep.note)
    if rep.critical_path is not None:
        console.say(f"critical path: {rep.critical_path.describe()}")
    console.say(f"tools: {', '.join(f'{k} {v}' for k, v in rep.versions.items())}; "
          f"{time.monotonic() - t0:.0f} s")
    if args.json:
        write_json(console, args.json, rep.as_json())
    return EXIT_OK if rep.fits else EXIT_MISMATCH


def _seeds(args, cfg, console):
    """``--seeds``: the same netlist at several nextpnr seeds, fanned out on Dask."""
    from zerotile import synth
    from zerotile.firmware import FormatError
    if args.target == "generic":
        raise FormatError("--seeds are nextpnr placement seeds: use --target ecp5 or ice40")
    where = args.scheduler or f"a LocalCluster of {min(args.jobs, len(args.seeds))} workers"
    console.say(f"synthesising {cfg.describe()} for {args.target} at nextpnr seeds "
                f"{','.join(map(str, args.seeds))} ({args.router}) on {where}; tool files "
                f"under {args.out}/seed<N>/ ...")
    t0 = time.monotonic()
    reps = synth.synthesize_seeds(cfg, args.target, args.seeds, work_root=args.out,
                                  freq_mhz=args.freq, router=args.router,
                                  scheduler=args.scheduler,
                                  workers=None if args.scheduler else
                                  min(args.jobs, len(args.seeds)), progress=console.say)
    rows = [{"seed": r.seed, **_synth_row(r), "critical_path": r.critical_path.describe()
             if r.critical_path else "-"} for r in reps]
    console.table(rows, ["seed", "luts", "ffs", "brams", "dsps", "fmax_mhz"])
    for r in rows:
        console.say(f"seed {r['seed']}: {r['critical_path']}")
    fmax = [r.fmax_mhz for r in reps if r.fmax_mhz]
    low = min(fmax) if len(fmax) == len(reps) else None
    console.say(f"minimum Fmax over {len(reps)} seeds: {fmt(low, 1)} MHz; "
                f"{time.monotonic() - t0:.0f} s")
    if args.json:
        write_json(console, args.json, {
            "target": args.target, "config": reps[0].config, "seeds": args.seeds,
            "router": args.router, "min_fmax_mhz": low,
            "reports": [r.as_json() for r in reps],
            "command": "zerotile " + " ".join(args.argv)})
    return EXIT_OK if all(r.fits for r in reps) else EXIT_MISMATCH
