"""``zerotile regress``: reproducible runs, the quick campaign (200 random and fault runs on a
LocalCluster, through the same runner as the long campaigns), its table and summary, a rerun
of the failures of a table, and the soak and fault campaigns' draws."""
import csv
import json
import shutil

import pytest

from zerotile.cli import main
from zerotile.regress import MODES, draw, FIELDS
from zerotile.regress.faults import FAULTS
from zerotile.regress.soak import LONG_CHAIN, CHAINS


def test_a_run_is_the_same_run_every_time():
    assert draw(7, 13) == draw(7, 13)
    assert draw(7, 13) != draw(8, 13)


def test_a_campaign_draws_every_mode_and_both_engines():
    specs = [draw(1, i) for i in range(200)]
    assert {s.mode for s in specs} == set(MODES)
    assert {s.engine for s in specs} == {"native", "vip"}
    assert {s.pauses for s in specs} > {0.0}
    assert all(s.chain > 1 for s in specs if s.mode == "chain")


@pytest.mark.parametrize("index", [0, 1, 2])
def test_one_run_reproduces_from_its_command(index, capsys):
    seed = 3
    code = main(["regress", "--seed", str(seed), "--run", str(index), "--json", "-"])
    row = json.loads(capsys.readouterr().out)
    print(f"regress seed {seed} run {index}: {row['mode']} {row['m']}x{row['k']}x{row['n']}")
    assert code == 0 and row["passed"], row
    assert row["command"] == f"zerotile regress --seed {seed} --run {index}"
    assert row["mode"] == draw(seed, index).mode


# the quick campaign: 200 random runs (every mode, one vip run in 100: one on each simulator)
# and 25 fault runs (every fault kind; run 24 on the vip engine)
QUICK_RUNS = {"random": ("200", "100"), "fault": ("25", "25")}


def test_the_quick_campaign_on_a_local_cluster(tmp_path, capsys):
    summary = tmp_path / "summary.json"
    reps = {}
    for campaign, (count, vip_every) in QUICK_RUNS.items():
        runs = int(count)
        table = tmp_path / f"{campaign}.csv"
        print(f"quick {campaign} campaign: {runs} runs, one in {vip_every} on vip, seed 5")
        code = main(["regress", "--campaign", campaign, "--runs", count, "--seed", "5",
                     "--vip-every", vip_every, "--workers", "2", "--table", str(table),
                     "--json", str(summary)])
        rep = reps[campaign] = json.loads(summary.read_text())
        assert code == 0 and rep["failed"] == 0, "\n".join(rep["failures"][:10])
        assert rep["runs"] == rep["passed"] == runs
        assert sum(v["runs"] for v in rep["by_mode"].values()) == runs
        assert 1 <= len(rep["workers"]) <= 2 and rep["wall_seconds"] > 0
        rows = list(csv.DictReader(open(table)))
        assert list(rows[0]) == FIELDS and len(rows) == runs
        assert {int(r["index"]) for r in rows} == set(range(runs))
        assert all(r["worker"].startswith("tcp://") and r["vip_every"] == vip_every and
                   r["command"] == (f"zerotile regress --campaign {campaign} " if campaign !=
                                    "random" else "zerotile regress ")
                   + f"--vip-every {vip_every} --seed 5 --run {r['index']}" for r in rows)
        assert {int(r["index"]) for r in rows if r["engine"] == "vip"} == \
            set(range(int(vip_every) - 1, runs, int(vip_every)))
    assert set(reps["random"]["by_mode"]) == set(MODES)
    assert set(reps["fault"]["by_fault"]) == set(FAULTS)
    assert {e.split("/")[0] for e in reps["random"]["by_engine"]} == {"native", "vip"}
    vip = {e: v["runs"] for e, v in reps["random"]["by_engine"].items() if e.startswith("vip")}
    assert vip == ({"vip/verilator": 1, "vip/icarus": 1} if shutil.which("iverilog") else
                   {"vip/verilator": 2}), vip
    # --rerun-failed runs exactly the failures of a table
    rows = list(csv.DictReader(open(tmp_path / "fault.csv")))
    rows[2]["passed"] = "False"
    with open(tmp_path / "old.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    code = main(["regress", "--rerun-failed", str(tmp_path / "old.csv"), "--workers", "1",
                 "--table", str(tmp_path / "rerun.csv"), "--json", str(summary)])
    rep = json.loads(summary.read_text())
    assert code == 0 and rep["runs"] == 1
    again = list(csv.DictReader(open(tmp_path / "rerun.csv")))
    assert [(r["campaign"], r["index"], r["command"]) for r in again] == \
        [("fault", rows[2]["index"], rows[2]["command"])]


def test_the_soak_takes_no_vip_share(capsys):
    assert main(["regress", "--campaign", "soak", "--vip-every", "10", "--run", "0"]) == 2
    err = capsys.readouterr().err
    assert "--vip-every" in err and "soak" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_kind_reproduces_from_its_command(fault, capsys):
    index = next(i for i in range(200) if draw(11, i, "fault").fault == fault and
                 draw(11, i, "fault").engine == "native")
    code = main(["regress", "--campaign", "fault", "--seed", "11", "--run", str(index),
                 "--json", "-"])
    row = json.loads(capsys.readouterr().out)
    print(f"fault seed 11 run {index}: {row['fault']} -> {row['outcome']}")
    assert code == 0 and row["passed"], row
    assert row["fault"].startswith(fault) and row["outcome"]


def test_a_soak_run_is_a_long_chain_then_a_thousand_chains():
    from zerotile.regress.runs import product
    from zerotile.rtl.config import TileConfig
    import numpy as np
    spec = draw(1, 0, "soak")
    assert spec.engine == "native" and spec.chain == CHAINS >= 1000
    plan = product(spec.mode, spec.m, spec.k, spec.n, spec.density, np.random.default_rng(0),
                   TileConfig())[0]
    assert len(plan.jobs) >= LONG_CHAIN >= 1000
    vip = draw(1, 3, "soak")
    assert vip.engine == "vip" and 0 < vip.chain < CHAINS


def test_options_that_conflict_are_refused(tmp_path, capsys):
    assert main(["regress", "--scheduler", "tcp://127.0.0.1:1", "--workers", "2",
                 "--table", str(tmp_path / "t.csv")]) == 2
    assert "--workers sizes the local cluster" in capsys.readouterr().err


def test_the_configs_campaign_covers_every_configuration_on_both_engines():
    from zerotile.regress.configs import CONFIGS, tile_config
    specs = [draw(1, i, "configs") for i in range(48)]
    assert {s.config for s in specs} == set(CONFIGS)
    assert {s.config for s in specs if s.engine == "vip"} >= {"P2-L2-bus256"}
    assert all(tile_config(s.config).has_spgemm == (s.mode == "spgemm") for s in specs)
