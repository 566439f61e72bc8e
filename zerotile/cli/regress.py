"""``zerotile regress``: a campaign of self-checking random runs on Dask."""
import sys

from zerotile.firmware import FormatError
from zerotile.regress.campaign import CAMPAIGNS
from .common import (Console, EXIT_OK, EXIT_MISMATCH, non_negative, positive,
                     check_output_path, write_json)

NAME = "regress"
HELP = "a regression campaign: many self-checking random runs, locally or on a Dask cluster"
DESCRIPTION = ("Run a campaign, each run one simulation in a process of its own, checked "
               "against golden. random: every mode (dense, CSR, accumulate, int8 epilogue, "
               "SpGEMM, chains of jobs) with random shapes, densities, AXI pauses and DRAM "
               "latency. fault: one bus error, soft reset, malformed descriptor or window cut "
               "per run, which must end exact or with the right error code and address, then "
               "a clean job that must be exact. soak: a 1,000-job chain and 1,000 chains "
               "without a reset. configs: random jobs on six tiles other than the default. "
               "One run in 25 (soak: 4, configs: 8; --vip-every N: one in N) is on the vip "
               "engine, on Verilator and Icarus. Without --scheduler a LocalCluster runs on "
               "this machine's cores. Rows stream into --table (CSV) with the command that "
               "reproduces each run; exit 1 if any run failed. --run K runs one run here.")


def add_arguments(p):
    p.add_argument("--campaign", choices=CAMPAIGNS, default="random",
                   help="which campaign (default random)")
    p.add_argument("--runs", type=positive, default=200, help="runs in the campaign (default 200)")
    p.add_argument("--seed", type=non_negative, default=1, help="campaign seed (default 1)")
    p.add_argument("--vip-every", type=positive, metavar="N",
                   help="one run in N on the vip engine (default: 25; configs 8); not with "
                        "the soak campaign")
    p.add_argument("--scheduler", metavar="ADDR",
                   help="an existing Dask scheduler (tcp://HOST:PORT); its workers need "
                        "zerotile installed")
    p.add_argument("--workers", type=positive,
                   help="LocalCluster worker processes (default: this machine's cores)")
    p.add_argument("--table", default="zerotile_regress/runs.csv",
                   help="the results table, one row per run (default "
                        "zerotile_regress/runs.csv)")
    p.add_argument("--json", metavar="FILE", help="write the summary as JSON ('-': stdout)")
    p.add_argument("--rerun-failed", metavar="TABLE",
                   help="run only the runs that failed in TABLE (a previous --table)")
    p.add_argument("--run", type=non_negative, metavar="K",
                   help="run only run K of the campaign, in this process (the reproduce "
                        "command of a table row)")


def run(args):
    from zerotile import regress
    check_output_path("--json", args.json)
    console = Console(json_to_stdout=args.json == "-")
    vip_every = args.vip_every or 0
    if vip_every and args.campaign == "soak":
        raise FormatError("--vip-every: the soak campaign's vip share is fixed (every fourth "
                          "run)")
    if args.run is not None:
        row = regress.run_one(regress.draw(args.seed, args.run, args.campaign, vip_every))
        write_json(console, args.json, row)
        if args.json != "-":
            console.say(f"{args.campaign} run {args.run} ({row['mode']}, {row['engine']}/"
                        f"{row['sim']}{', ' + row['fault'] if row.get('fault') else ''}): "
                        f"{'passed' if row['passed'] else 'FAILED'}"
                        + (f" - {row['error'] or row['first_mismatch']}" if not row['passed']
                           else ""))
        return EXIT_OK if row["passed"] else EXIT_MISMATCH
    if args.scheduler and args.workers:
        raise FormatError("--workers sizes the local cluster; --scheduler uses an existing one")
    check_output_path("--table", args.table)
    if args.rerun_failed:
        runs = regress.failed_runs(args.rerun_failed)
        what = f"{len(runs)} failed runs of {args.rerun_failed}"
    else:
        runs = [(args.campaign, args.seed, i, vip_every) for i in range(args.runs)]
        what = f"{args.runs} {args.campaign} runs, campaign seed {args.seed}"
    where = args.scheduler or f"a LocalCluster of {args.workers or 'every core as'} workers"
    console.say(f"zerotile regress: {what}, on {where}; rows into {args.table}")
    tty = sys.stderr.isatty()

    def progress(done, total, failed):
        if tty or done == total or done % max(1, total // 10) == 0:
            console.write(f"\r  {done}/{total} runs, {failed} failed" + ("" if tty and
                          done < total else "\n"), sys.stderr)

    summary = regress.run_campaign(runs, table=args.table, scheduler=args.scheduler,
                                   workers=args.workers, progress=progress)
    summary.update(campaign=None if args.rerun_failed else args.campaign,
                   seed=None if args.rerun_failed else args.seed,
                   command="zerotile " + " ".join(args.argv))
    write_json(console, args.json, summary)
    console.say(f"{summary['runs']} runs: {summary['passed']} passed, {summary['failed']} "
                f"failed, in {summary['wall_seconds']:.1f} s on {len(summary['workers'])} "
                f"workers")
    for key, name in (("by_mode", "mode"), ("by_fault", "fault"), ("by_config", "config"),
                      ("by_engine", "engine")):
        if summary[key]:
            console.table([{name: m, **v} for m, v in summary[key].items()],
                          [name, "runs", "failed"])
    for command in summary["failures"][:10]:
        console.say(f"  failed: {command}")
    return EXIT_OK if summary["failed"] == 0 else EXIT_MISMATCH
