import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from zerotile.cli import main
from zerotile.workload import DATA_DIR


ROOT = Path(__file__).resolve().parent.parent


def run_cli(args, tmp_path):
    return subprocess.run([sys.executable, "-m", "zerotile", *args], capture_output=True,
                          text=True, cwd=tmp_path)


SMALL = "%%MatrixMarket matrix coordinate integer general\n2 3 1\n1 2 3\n"


@pytest.mark.parametrize("content, args, message", [
    (None, [], "no such file"),
    ("this is not a matrix\n", [], "not a readable Matrix Market file"),
    # Rejected from the header, before anything is read or allocated:
    ("%%MatrixMarket matrix coordinate integer general\n2 300000000 1\n1 4999 3\n", [],
     "the accelerator addresses 4 GiB"),
    (SMALL, ["--n", "0"], "--n must be at least 1"),
    (SMALL, ["--n", "1000000000"], "the accelerator addresses 4 GiB"),
    (SMALL, ["--json", "/nonexistent/x.json"], "directory /nonexistent does not exist"),
    (SMALL, ["--b", "b_float.mtx"], "holds 0.5 at row 1 col 1, not an int8 integer"),
    (SMALL, ["--b", "b_128.mtx"], "holds 128 at row 2 col 1, not an int8 integer"),
    (SMALL, ["--waves-from", "5"], "--waves-from/--waves-to go with --waves"),
    (SMALL, ["--engine", "vip", "--dram-latency", "5"], "native engine's DRAM model"),
    (SMALL, ["--engine", "native", "--sim", "icarus"], "runs on the vip engine"),
    (SMALL, ["--multiplier", "m.npy"], "needs --multiplier and --shift"),
    (SMALL, ["--relu"], "go with the epilogue"),
    (SMALL, ["--multiplier", "m.npy", "--shift", "bad_shift.npy"], "shift[1] = 40 is outside"),
    (SMALL, ["--multiplier", "m.npy", "--shift", "missing.npy"], "not a readable .npy file"),
    (SMALL, ["--out", "c.txt"], "--out writes a NumPy .npy file"),
    (SMALL, ["--b-density", "0.1"], "--b-density goes with --mode spgemm"),
    (SMALL, ["--mode", "spgemm", "--out", "c.npy"], "writes C as a scipy.sparse .npz"),
    (SMALL, ["--mode", "spgemm", "--b-density", "1.5"], "--b-density must be in 0..1"),
    (SMALL, ["--mode", "spgemm", "--relu"], "not available in SpGEMM mode"),
    (SMALL, ["--mode", "spgemm", "--pes", "2"], "has no SpGEMM engine"),
    (SMALL, ["--mode", "spgemm", "--b", "a.mtx"], "inner dimensions differ"),
])
def test_bad_input_gives_one_line_error(tmp_path, content, args, message):
    path = tmp_path / "a.mtx"
    if content is not None:
        path.write_text(content)
    (tmp_path / "b_float.mtx").write_text(
        "%%MatrixMarket matrix coordinate real general\n3 2 2\n1 1 0.5\n2 2 3\n")
    (tmp_path / "b_128.mtx").write_text(
        "%%MatrixMarket matrix coordinate integer general\n3 2 2\n1 1 7\n2 1 128\n")
    np.save(tmp_path / "m.npy", np.array(1 << 30))
    np.save(tmp_path / "bad_shift.npy", np.array([0, 40]))
    t0 = time.monotonic()
    out = run_cli(["run", str(path), *args], tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr
    assert time.monotonic() - t0 < 30, "rejected only after a long time"


def test_a_directory_or_an_unknown_name_is_named(tmp_path):
    out = run_cli(["run", str(tmp_path)], tmp_path)
    assert out.returncode == 2 and "is a directory, not a Matrix Market file" in out.stderr
    out = run_cli(["run", "no_such_matrix"], tmp_path)
    assert out.returncode == 2 and "no bundled matrix of that name" in out.stderr


def test_options_are_named_in_their_errors(tmp_path):
    out = run_cli(["run", "karate", "--seed", "-1"], tmp_path)
    assert out.returncode == 2 and "argument --seed: must be 0 or more, not -1" in out.stderr
    assert out.stderr.count("--seed") == 1 + out.stderr.count("[--seed")   # named once
    assert "Traceback" not in out.stderr


def test_version_and_help_read_as_plain_text(tmp_path):
    out = run_cli(["--version"], tmp_path)
    assert out.returncode == 0 and out.stdout.startswith("zerotile ")
    out = run_cli(["--help"], tmp_path)
    assert out.returncode == 0 and "``" not in out.stdout
    out = run_cli(["run", "--help"], tmp_path)
    for option in ("--mode", "--sim", "--engine", "--dram-latency", "--waves-from"):
        assert option in out.stdout
    assert "lower cycle estimate" in " ".join(out.stdout.split())   # the auto rule
    out = run_cli(["synth", "--help"], tmp_path)
    assert "ecp5 (default)" in out.stdout and "20-30 min" in out.stdout
    for option in ("--spgemm-cols", "--seed", "--router"):
        assert option in out.stdout


def test_bundled_matrices_by_name_and_list(tmp_path):
    out = run_cli(["run", "--list"], tmp_path)
    assert out.returncode == 0
    for name in ("karate", "west0479", "lp_e226", "1138_bus", "rajat19", "can_1072",
                 "email-Eu-core", "dnn_n1024_l1"):
        assert name in out.stdout
    out = run_cli(["run", "karate", "--n", "8", "--mode", "auto"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "mode auto chose csr" in out.stdout
    assert "(--seed 1)" in out.stdout and "seed 2" not in out.stdout


def test_quantize_b_says_what_it_did(tmp_path):
    (tmp_path / "b.mtx").write_text(
        "%%MatrixMarket matrix coordinate real general\n34 2 2\n1 1 0.5\n2 2 -3.25\n")
    out = run_cli(["run", "karate", "--b", "b.mtx", "--quantize-b"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "quantised to int8 per tensor" in out.stdout


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
    assert rep["engine"] == "native" and rep["dram_latency"] == 20
    dense = rep["dense"]
    for key in ("cycles", "bound_cycles", "utilization", "roofline_efficiency", "mismatches",
                "dram_bytes_read", "dram_bytes_written", "correct"):
        assert key in dense, key
    # the speed covers both runs
    assert rep["sim_cycles"] > rep["cycles"] + dense["cycles"]
    for key in ("correct", "mismatches", "shape", "nnz_a", "mode", "cycles", "effectual_macs",
                "peak_macs_per_cycle", "ideal_compute_cycles", "min_dram_bytes",
                "min_dram_bytes_read", "min_dram_bytes_written", "dram_traffic_ratio",
                "ideal_memory_cycles", "bound_cycles", "utilization", "roofline_efficiency",
                "dram_bytes_read", "dram_bytes_written", "sim_seconds", "sim_cycles_per_second",
                "config", "dense_cycles", "speedup_vs_dense"):
        assert key in rep, key
    assert rep["correct"] and rep["mismatches"] == 0 and rep["shape"] == [34, 34, 16]
    assert 0 < rep["roofline_efficiency"] <= 1 and 0 < rep["dense"]["roofline_efficiency"] <= 1
    assert rep["dram_traffic_ratio"] >= 1
    assert "values replaced by seeded nonzero int8" in out.stdout


def test_json_to_stdout(tmp_path):
    out = run_cli(["run", "karate", "--n", "4", "--json", "-"], tmp_path)
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    assert rep["correct"] and "C = A.B" in out.stderr
    assert not (tmp_path / "-").exists()


def test_vip_engine_from_the_command_line(tmp_path):
    out = run_cli(["run", "karate", "--n", "8", "--engine", "vip", "--json", "v.json"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "$finish" not in out.stdout + out.stderr
    rep = json.loads((tmp_path / "v.json").read_text())
    assert rep["engine"] == "vip" and rep["dram_latency"] is None and rep["correct"]


@pytest.mark.skipif(subprocess.run(["g++", "-E", "-x", "c++", "-"], input="#include <lz4.h>\n",
                                   capture_output=True, text=True).returncode != 0,
                    reason="FST needs the LZ4 headers (apt-get install liblz4-dev)")
def test_waves_are_fst_with_a_window_and_a_new_file_each_run(tmp_path):
    sizes = []
    # a small tile: the traced model is a build of its own, and compiling the default tile
    # with FST tracing takes minutes
    small = ["--pes", "1", "--lanes", "4", "--bus-bits", "32"]
    for extra in ([], ["--waves-from", "100", "--waves-to", "200"]):
        out = run_cli(["run", "west0479", "--n", "8", *small, "--waves", *extra], tmp_path)
        assert out.returncode == 0, out.stderr
        line = next(l for l in out.stdout.splitlines() if l.startswith("waveforms: "))
        path = Path(line.split()[1])
        assert path.suffix == ".fst" and path.exists() and "MB)" in line and "gtkwave" in line
        sizes.append(path.stat().st_size)
        time.sleep(1.1)                     # file names carry the second
    assert len(list((tmp_path / "zerotile_waves").glob("*.fst"))) == 2
    assert sizes[1] < sizes[0] / 2, f"a 100-cycle window is not smaller: {sizes}"


def test_ctrl_c_is_one_line(tmp_path):
    """SIGINT in the middle of a long native simulation: 'interrupted', exit 130, no traceback."""
    env = dict(os.environ)
    env.pop("PYTHONUNBUFFERED", None)     # stdout is a pipe: the CLI itself must flush its lines
    run_cli(["run", "karate", "--n", "4"], tmp_path)          # the model is built by now
    # dense 1024x1024x256: about 8 M cycles, far longer than the 1.5 s before the signal even
    # on a loaded machine, so the signal always lands mid-simulation
    # SIGINT at its default in the child: a test run started as a background job of a
    # non-interactive shell inherits SIGINT ignored, and Python keeps it ignored
    proc = subprocess.Popen([sys.executable, "-m", "zerotile", "run", "dnn_n1024_l1", "--n", "256",
                             "--mode", "dense"], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stdout.readline().startswith("A: ")
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr and stderr.strip().splitlines()[-1] == "zerotile: interrupted"


def test_bench_writes_its_plots_and_follows_the_bound(tmp_path):
    """`zerotile bench`: CSV, Markdown and two PNGs; every product correct; CSR never beats its
    roofline floor, and the measured speedup stays within reach of what the bound explains."""
    import csv
    out = run_cli(["bench", "--out", "b"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    for name in ("bench.csv", "bench.md", "speedup.png", "roofline.png"):
        assert (tmp_path / "b" / name).stat().st_size > 0, name
    rows = list(csv.DictReader(open(tmp_path / "b" / "bench.csv")))
    assert all(r["correct"] == "True" for r in rows)
    sweep = [r for r in rows if r["kind"] == "density"]
    assert len(sweep) == 8
    for r in sweep:
        speedup, bound = float(r["speedup"]), float(r["bound_speedup"])
        assert speedup <= bound * 1.0001, r
        assert speedup >= 0.6 * bound, f"density {r['name']}: {speedup}x of {bound}x explained"
        assert float(r["scipy_us"]) > 0 and float(r["tile_us"]) > 0


def test_accumulate_from_the_command_line(tmp_path):
    out = run_cli(["run", "karate", "--n", "20", "--accumulate", "--json", "a.json"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "C += A.B" in out.stdout
    rep = json.loads((tmp_path / "a.json").read_text())
    assert rep["accumulate"] and rep["correct"] and rep["mismatches"] == 0
    # the old C is read: at least C's bytes more than without accumulating
    assert rep["min_dram_bytes_read"] >= 34 * 20 * 4


def test_run_int8_layer_from_files(tmp_path):
    """A quantised layer run from its files: A's int8 values as given, per-row bias,
    multiplier and shift, ReLU; --out holds exactly what the RTL wrote, equal to golden."""
    from zerotile import golden
    import scipy.sparse as sp
    rng = np.random.default_rng(7)
    a = sp.random_array((20, 30), density=0.3, rng=rng, format="coo",
                        data_sampler=lambda size: rng.integers(-128, 128, size))
    lines = [f"{i + 1} {j + 1} {int(v)}" for i, j, v in zip(a.row, a.col, a.data)]
    (tmp_path / "w.mtx").write_text("%%MatrixMarket matrix coordinate integer general\n"
                                    f"20 30 {len(lines)}\n" + "\n".join(lines) + "\n")
    b = rng.integers(-128, 128, (30, 12))
    (tmp_path / "x.mtx").write_text(
        "%%MatrixMarket matrix array integer general\n30 12\n" +
        "\n".join(str(int(v)) for v in b.T.ravel()) + "\n")
    bias, mult = rng.integers(-5000, 5000, 20), rng.integers(1 << 30, 1 << 31, 20)
    shift = rng.integers(-12, -6, 20)
    for name, arr in (("bias", bias), ("mult", mult), ("shift", shift)):
        np.save(tmp_path / f"{name}.npy", arr)
    out = run_cli(["run", "w.mtx", "--b", "x.mtx", "--bias", "bias.npy", "--multiplier",
                   "mult.npy", "--shift", "shift.npy", "--out-zero-point", "-3", "--relu",
                   "--out", "c.npy", "--json", "r.json"], tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "values of w as given (int8 integers)" in out.stdout
    assert "int8 output: bias + TFLite requantisation (per row, 20 rows)" in out.stdout
    assert "energy estimate" in out.stdout and "pJ/effectual_MAC" in out.stdout
    c = np.load(tmp_path / "c.npy")
    ref = golden.requantize(golden.spmm(sp.csr_array(a).astype(np.int8), b.astype(np.int8)),
                            bias, mult, shift, out_zero_point=-3, act_min=-3, act_max=127)
    assert c.dtype == np.int8 and np.array_equal(c, ref)
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["output"] == "int8" and rep["correct"]
    assert rep["dram_bytes_written"] == 20 * 16      # int8 rows of 2 chunks of 8
    assert rep["pj_per_effectual_mac"] > 0 and 0 < rep["dram_energy_share"] < 1


def test_spgemm_from_the_command_line(tmp_path):
    """A.A on the bundled karate graph in SpGEMM mode beside CSR mode with B dense: JSON with
    nnz_c, the counters and speedup_vs_spmm; C saved as .npz equals golden."""
    import scipy.sparse as sp
    from zerotile import golden
    from zerotile.workload import load_mtx, load_sparse_b, resolve_matrix
    out = run_cli(["run", "karate", "--mode", "spgemm", "--b", str(DATA_DIR / "karate.mtx"),
                   "--compare-dense", "--out", "c.npz", "--json", "r.json"], tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["mode"] == "spgemm" and rep["correct"] and rep["spmm_correct"]
    assert rep["nnz_c"] == rep["output_nnz"] > 0
    assert rep["partial_products"] == rep["golden_partial_products"]
    assert rep["speedup_vs_spmm"] == round(rep["spmm_cycles"] / rep["cycles"], 3)
    assert rep["roofline_efficiency"] <= 1
    a, _ = load_mtx(resolve_matrix("karate"), 1, as_given=True)
    b, _ = load_sparse_b(resolve_matrix("karate"), 1)
    c = sp.load_npz(tmp_path / "c.npz")
    ref = golden.spgemm(a, b)
    assert (c != ref).nnz == 0 and np.array_equal(c.indptr, ref.indptr)
    out = run_cli(["run", "karate", "--mode", "spgemm", "--n", "40", "--b-density", "0.2",
                   "--json", "-"], tmp_path)
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    assert rep["shape"] == [34, 34, 40] and rep["correct"] and rep["nnz_b"] > 0
