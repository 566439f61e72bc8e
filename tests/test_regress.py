"""``zerotile regress``: reproducible runs, a campaign on a LocalCluster, its table and
summary, and a rerun of the failures of a table."""
import csv
import json

import pytest

from zerotile.cli import main
from zerotile.regress import MODES, draw, FIELDS


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


def test_a_campaign_on_a_local_cluster(tmp_path, capsys):
    table, summary = tmp_path / "runs.csv", tmp_path / "summary.json"
    code = main(["regress", "--runs", "4", "--seed", "5", "--workers", "2", "--table",
                 str(table), "--json", str(summary)])
    rep = json.loads(summary.read_text())
    assert code == 0, rep
    assert rep["runs"] == 4 and rep["passed"] == 4 and rep["failed"] == 0
    assert sum(v["runs"] for v in rep["by_mode"].values()) == 4
    assert 1 <= len(rep["workers"]) <= 2 and rep["wall_seconds"] > 0
    rows = list(csv.DictReader(open(table)))
    assert list(rows[0]) == FIELDS and len(rows) == 4
    assert {int(r["index"]) for r in rows} == set(range(4))
    assert all(r["worker"].startswith("tcp://") and r["command"].startswith("zerotile regress")
               for r in rows)
    # --rerun-failed runs exactly the failures of a table
    rows[2]["passed"] = "False"
    with open(tmp_path / "old.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    code = main(["regress", "--rerun-failed", str(tmp_path / "old.csv"), "--workers", "1",
                 "--table", str(tmp_path / "rerun.csv"), "--json", str(summary)])
    rep = json.loads(summary.read_text())
    assert code == 0 and rep["runs"] == 1
    assert [r["index"] for r in csv.DictReader(open(tmp_path / "rerun.csv"))] == \
        [rows[2]["index"]]


def test_options_that_conflict_are_refused(tmp_path, capsys):
    assert main(["regress", "--scheduler", "tcp://127.0.0.1:1", "--workers", "2",
                 "--table", str(tmp_path / "t.csv")]) == 2
    assert "--workers sizes the local cluster" in capsys.readouterr().err
