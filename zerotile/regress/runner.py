"""A campaign on Dask: every run a task, each task one self-checking simulation in a process
of its own (``zerotile regress --seed S --run K --json -``, the command that reproduces it),
on a ``LocalCluster`` of this machine's cores or on an existing cluster (``scheduler``).
Rows stream into a CSV table as runs finish; the summary says what passed, per mode, and
which workers ran the tasks."""
import csv
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from .campaign import MODES, reproduce_command

__all__ = ["run_campaign", "read_table", "failed_runs", "FIELDS"]

FIELDS = ["index", "seed", "mode", "engine", "sim", "m", "k", "n", "nnz", "density", "pauses",
          "dram_latency", "chain", "jobs", "passed", "mismatches", "cycles", "error",
          "first_mismatch", "run_seconds", "task_seconds", "worker", "command"]
TASK_TIMEOUT = 1800          # seconds; a run not done by then is a failure, not a hang


def _task(seed, index):
    """One run in a child process of this worker; its table row (never raises)."""
    try:
        from distributed import get_worker
        worker = get_worker().address
    except (ImportError, ValueError):
        worker = "local"
    t0 = time.monotonic()
    cmd = [sys.executable, "-m", "zerotile", "regress", "--seed", str(seed), "--run",
           str(index), "--json", "-"]
    row = {"index": index, "seed": seed, "passed": False,
           "command": reproduce_command(seed, index)}
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=TASK_TIMEOUT,
                              env=dict(os.environ, ZEROTILE_PROGRESS="0"))
        if done.returncode in (0, 1, 3) and done.stdout.strip():
            row.update(json.loads(done.stdout))
        else:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
            row["error"] = f"exit {done.returncode}: {tail[0]}"
    except subprocess.TimeoutExpired:
        row["error"] = f"no result after {TASK_TIMEOUT} s"
    row.update(worker=worker, task_seconds=round(time.monotonic() - t0, 3))
    return row


def read_table(path):
    """The rows of a campaign table (CSV)."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def failed_runs(path):
    """[(seed, index)] of the runs of a table that did not pass."""
    return [(int(r["seed"]), int(r["index"])) for r in read_table(path)
            if r["passed"] != "True"]


def _client(scheduler, workers):
    from distributed import Client, LocalCluster
    if scheduler:
        return Client(scheduler), None
    cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                           processes=True, dashboard_address=None)
    return Client(cluster), cluster


def run_campaign(runs, *, table, scheduler=None, workers=None, progress=None):
    """Run ``runs`` ([(seed, index)]) and write their rows to ``table`` as they finish;
    ``progress(done, total, failed)`` after each. Returns the summary dict."""
    from distributed import as_completed
    t0 = time.monotonic()
    client, cluster = _client(scheduler, workers)
    rows = []
    try:
        futures = [client.submit(_task, seed, index, pure=False) for seed, index in runs]
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
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    runs_by_mode = Counter(r.get("mode", "?") for r in rows)
    fails_by_mode = Counter(r.get("mode", "?") for r in rows if not r["passed"])
    return {"runs": len(rows), "passed": sum(bool(r["passed"]) for r in rows),
            "failed": sum(not r["passed"] for r in rows),
            "by_mode": {m: {"runs": runs_by_mode[m], "failed": fails_by_mode[m]}
                        for m in [*MODES, *sorted(set(runs_by_mode) - set(MODES))]
                        if runs_by_mode[m]},
            "by_engine": dict(Counter(f"{r.get('engine')}/{r.get('sim')}" for r in rows)),
            "workers": sorted({r["worker"] for r in rows}),
            "wall_seconds": round(time.monotonic() - t0, 2), "table": str(table),
            "failures": [r["command"] for r in rows if not r["passed"]]}
