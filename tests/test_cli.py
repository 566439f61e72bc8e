import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zerotile.cli import main
from zerotile.workload import DATA_DIR


ROOT = Path(__file__).resolve().parent.parent


def run_cli(args, tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-m", "zerotile", *args], capture_output=True,
                          text=True, cwd=tmp_path, env=env)


@pytest.mark.parametrize("content, args, message", [
    (None, [], "no such file"),
    ("this is not a matrix\n", [], "not a readable Matrix Market file"),
    ("%%MatrixMarket matrix coordinate integer general\n2 5000 1\n1 4999 3\n", [],
     "B scratchpad holds at most"),
    ("%%MatrixMarket matrix coordinate integer general\n2 3 1\n1 2 3\n", ["--n", "0"],
     "--n must be at least 1"),
])
def test_bad_input_gives_one_line_error(tmp_path, content, args, message):
    path = tmp_path / "a.mtx"
    if content is not None:
        path.write_text(content)
    out = run_cli(["run", str(path), *args], tmp_path)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr


def test_generate_writes_verilog(tmp_path):
    assert main(["generate", "-o", str(tmp_path / "z.v"), "--pes", "2", "--lanes", "8"]) == 0
    assert "module zerotile" in (tmp_path / "z.v").read_text()
    out = run_cli(["generate", "--pes", "3"], tmp_path)
    assert out.returncode == 2 and "pes must be a power of two, not 3" in out.stderr


def test_run_reports_json(tmp_path):
    out = run_cli(["run", str(DATA_DIR / "karate.mtx"), "--n", "16", "--compare-dense",
                   "--json", "k.json"], tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    rep = json.loads((tmp_path / "k.json").read_text())
    for key in ("correct", "mismatches", "shape", "nnz_a", "mode", "cycles", "effectual_macs",
                "peak_macs_per_cycle", "ideal_compute_cycles", "min_dram_bytes",
                "ideal_memory_cycles", "bound_cycles", "utilization", "roofline_efficiency",
                "dram_bytes_read", "dram_bytes_written", "sim_seconds", "sim_cycles_per_second",
                "config", "dense_cycles", "speedup_vs_dense"):
        assert key in rep, key
    assert rep["correct"] and rep["mismatches"] == 0 and rep["shape"] == [34, 34, 16]
    assert "values replaced by seeded nonzero int8" in out.stdout
