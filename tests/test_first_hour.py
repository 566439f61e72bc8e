"""The first hour of a new user, defect by defect (issue 34): each test failed on the main
branch before the fix. Subprocess tests run the installed ``zerotile`` exactly as a user does."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from zerotile.cli import main, COMMANDS

ROOT = Path(__file__).resolve().parent.parent
PATTERN_B = ("%%MatrixMarket matrix coordinate pattern general\n34 6 5\n"
             "1 1\n2 3\n5 2\n34 6\n17 4\n")


def zerotile(args, cwd, **kw):
    return subprocess.run([sys.executable, "-m", "zerotile", *args], capture_output=True,
                          text=True, cwd=cwd, **kw)


# 1. --help ---------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["--help"], ["-h"]] +
                         [[c.NAME, "--help"] for c in COMMANDS])
def test_every_help_exits_zero(args, capsys):
    with pytest.raises(SystemExit) as done:
        main(args)
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: zerotile")


def test_every_command_has_a_description_and_every_option_a_help(capsys):
    from zerotile.cli import build_parser
    _, parsers = build_parser()
    for name, p in parsers.items():
        assert p.description, f"{name} has no description"
        for action in p._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"{name} {action.option_strings[0]} has no help"
    with pytest.raises(SystemExit):
        main(["regs", "--help"])
    assert "(default)" in capsys.readouterr().out            # regs --format names its default


# 2. Ctrl-C on the vip engine ---------------------------------------------------------------

def test_ctrl_c_on_the_vip_engine_is_one_line(tmp_path):
    """SIGINT in the middle of a vip run: 'interrupted', exit 130, no cocotb traceback."""
    env = dict(os.environ)
    env.pop("PYTHONUNBUFFERED", None)
    warm = zerotile(["run", "karate", "--n", "4", "--engine", "vip"], tmp_path)   # the build
    assert warm.returncode == 0, warm.stderr[-2000:]
    # as `timeout -s INT` does (the process only), and as a terminal's Ctrl-C does (its group)
    for to_group in (False, True):
        proc = subprocess.Popen([sys.executable, "-m", "zerotile", "run", "west0479", "--mode",
                                 "dense", "--n", "64", "--engine", "vip"], cwd=tmp_path,
                                env=env, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        time.sleep(6)                      # into the simulation (a dense west0479 takes longer)
        if to_group:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 130, stdout + stderr
        assert "Traceback" not in stderr, stderr
        assert stderr.strip().splitlines()[-1] == "zerotile: interrupted"


# 3. The lint commands work from the venv ---------------------------------------------------

def test_the_printed_fusesoc_lint_command_works_from_the_venv(tmp_path):
    bindir = Path(sys.executable).parent
    if not (bindir / "fusesoc").exists():
        pytest.skip("fusesoc is not installed (pip install -e '.[ip]')")
    out = zerotile(["generate", "--fusesoc", "core", "--pes", "2"], tmp_path)
    assert out.returncode == 0, out.stderr
    command = out.stdout.strip().splitlines()[-1].strip()
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}/usr/bin:/bin")   # the venv as it is
    env.pop("VERILATOR_ROOT", None)
    run = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True,
                         text=True)
    assert run.returncode == 0, command + "\n" + run.stdout[-2000:] + run.stderr[-2000:]


def test_the_readme_lint_command_works_from_the_venv(tmp_path):
    readme = (ROOT / "README.md").read_text() + (ROOT / "docs" / "integrating.md").read_text()
    lines = [l.strip() for l in readme.splitlines() if "--lint-only" in l and
             l.strip().startswith("verilator")]
    assert lines, "no lint command in the docs"
    assert (zerotile(["generate", "-o", "zerotile.v"], tmp_path)).returncode == 0
    waivers = ROOT / "rtl" / "lint_waivers.vlt"
    (tmp_path / "rtl").mkdir()
    (tmp_path / "rtl" / "lint_waivers.vlt").write_text(waivers.read_text())
    bindir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}/usr/bin:/bin")
    env.pop("VERILATOR_ROOT", None)
    for line in lines:
        run = subprocess.run(line, shell=True, cwd=tmp_path, env=env, capture_output=True,
                             text=True)
        assert run.returncode == 0, line + "\n" + run.stderr[-2000:]


def test_the_core_version_is_the_documented_one(tmp_path):
    from zerotile.rtl.regmap import VERSION
    from zerotile.synth.fusesoc import write_core, VLNV
    version = f"{VERSION >> 16}.{(VERSION >> 8) & 0xFF}.{VERSION & 0xFF}"
    assert f"name: {VLNV}:{version}" in write_core(tmp_path, __import__(
        "zerotile.rtl.config", fromlist=["TileConfig"]).TileConfig()).read_text()
    import tomllib
    import zerotile
    package = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert package == zerotile.__version__ == version        # one version for the IP
    docs = (ROOT / "docs" / "integrating.md").read_text()
    named = set(re.findall(rf"{VLNV}:(\d+\.\d+\.\d+)", docs))
    assert named == {version}, f"docs name {named}, the core is {version}"


# 4. Every install command keeps the editable install ---------------------------------------

def test_every_pip_install_of_an_extra_is_editable():
    texts = {p: p.read_text() for p in [ROOT / "README.md", *ROOT.glob("docs/*.md"),
                                         *ROOT.glob("*/**/*.py")] if ".venv" not in p.parts}
    bad = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p, t in texts.items()
           for m in re.finditer(r"pip install (?!-e)['\"]?\.\[[a-z,]+\]", t)]
    assert not bad, bad


# 5. A closed stdout loses nothing ----------------------------------------------------------

@pytest.mark.parametrize("mode, out", [("auto", "c.npy"), ("spgemm", "c.npz")])
def test_a_closed_stdout_keeps_the_result_file_and_the_exit_code(tmp_path, mode, out):
    proc = subprocess.Popen([sys.executable, "-m", "zerotile", "run", "karate", "--mode", mode,
                             "--out", out], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    first = [proc.stdout.readline() for _ in range(2)]      # `| head -2`
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 0, err
    assert first[0].startswith("A: ")
    assert "Broken pipe" not in err and "Traceback" not in err
    assert (tmp_path / out).stat().st_size > 0


# 6. DRAM latency: bounded, the timeout scaled, a timeout is not a mismatch -----------------

def test_dram_latency_is_bounded_up_front(tmp_path):
    out = zerotile(["run", "karate", "--dram-latency", "20000"], tmp_path)
    assert out.returncode == 2 and "--dram-latency must be 1..1000" in out.stderr


def test_the_slowest_dram_allowed_still_finishes(tmp_path):
    out = zerotile(["run", "west0479", "--mode", "dense", "--dram-latency", "1000", "--json",
                    "r.json"], tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["correct"] and rep["dram_latency"] == 1000


def test_a_device_timeout_exits_3_not_1(monkeypatch, capsys):
    from zerotile.verif import engines
    monkeypatch.setattr(engines, "default_timeout", lambda plan, read_latency=2: 50)
    assert main(["run", "karate"]) == 3
    assert "DeviceTimeout" in capsys.readouterr().out


# 7-8. One rule for operand values ----------------------------------------------------------

def test_a_pattern_b_gets_the_same_values_in_every_mode(tmp_path):
    from zerotile.workload import load_b, load_sparse_b
    (tmp_path / "b.mtx").write_text(PATTERN_B)
    dense, note = load_b(tmp_path / "b.mtx", 1)
    sparse, _ = load_sparse_b(tmp_path / "b.mtx", 1)
    assert np.array_equal(dense, sparse.toarray())
    assert "pattern file has no values" in note
    assert len(set(dense[dense != 0].tolist())) > 1          # seeded, not all ones
    for mode in ("csr", "spgemm"):
        out = zerotile(["run", "karate", "--b", "b.mtx", "--mode", mode], tmp_path)
        assert out.returncode == 0, out.stderr
        assert "pattern file has no values" in out.stdout.splitlines()[1]
    help_text = " ".join(zerotile(["run", "--help"], tmp_path).stdout.split())
    assert "a pattern file gets seeded nonzero int8" in help_text


def test_a_with_other_values_says_why_or_is_quantised(tmp_path):
    (tmp_path / "a.mtx").write_text("%%MatrixMarket matrix coordinate real general\n"
                                    "3 3 3\n1 1 0.5\n2 3 300\n3 2 -1e9\n")
    out = zerotile(["run", "a.mtx", "--n", "4"], tmp_path)
    assert out.returncode == 0, out.stderr
    line = out.stdout.splitlines()[0]
    assert "holds 0.5 at row 1 col 1, not an int8 integer" in line and "--quantize-a" in line
    out = zerotile(["run", "a.mtx", "--n", "4", "--quantize-a", "--json", "r.json"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "quantised to int8 per tensor (--quantize-a)" in out.stdout.splitlines()[0]
    from zerotile.workload import load_mtx
    a, _ = load_mtx(tmp_path / "a.mtx", 1, quantize=True)
    assert sorted(a.data.tolist()) == [-127, 0, 0]          # 0.5 and 300 vanish beside 1e9


def test_a_non_int8_sparse_b_is_refused_with_its_1_based_position(tmp_path):
    (tmp_path / "b.mtx").write_text("%%MatrixMarket matrix coordinate real general\n"
                                    "34 4 1\n3 2 2.5\n")
    out = zerotile(["run", "karate", "--b", "b.mtx", "--mode", "spgemm"], tmp_path)
    assert out.returncode == 2 and "holds 2.5 at row 3 col 2" in out.stderr


# 9. The small ones -------------------------------------------------------------------------

def test_an_unknown_option_shows_the_commands_usage(tmp_path):
    out = zerotile(["run", "karate", "--frob"], tmp_path)
    assert out.returncode == 2
    assert out.stderr.startswith("usage: zerotile run ") and "--frob" in out.stderr


@pytest.mark.parametrize("args", [["run", "karate", "--json", "/proc/version"],
                                  ["generate", "-o", "/proc/zerotile.v"],
                                  ["header", "-o", "/proc/zerotile.h"],
                                  ["nn", "--json", "/proc/version"]])
def test_an_unwritable_output_is_refused_before_the_work(tmp_path, args):
    out = zerotile(args, tmp_path)
    assert out.returncode == 2 and "cannot be written" in out.stderr, out.stderr
    assert out.stdout == ""                                 # nothing was run


def test_nn_batch_is_refused_before_training(tmp_path):
    for batch, message in (("0", "must be at least 1"), ("100000", "--batch must be in 1..")):
        out = zerotile(["nn", "--batch", batch], tmp_path)
        assert out.returncode == 2 and message in out.stderr
        assert "training" not in out.stdout


def test_the_spgemm_model_build_names_its_configuration():
    from zerotile.rtl.config import TileConfig
    assert TileConfig().describe() == "P=4 L=8 bus=64"
    assert TileConfig().with_spgemm().describe() == "P=4 L=8 bus=64 SpGEMM=2048"


@pytest.mark.parametrize("seed", range(40))
def test_the_mode_estimate_is_never_below_the_bound(seed):
    """golden's bound is proven; the planner's estimate is a guess, but never below it."""
    from zerotile import firmware, golden
    from zerotile.rtl.config import TileConfig
    from zerotile.workload import random_csr, random_b
    rng = np.random.default_rng(seed)
    m, k, n = (int(x) for x in rng.integers(1, 300, 3))
    cfg = TileConfig()
    a = random_csr(m, k, float(rng.uniform(0.001, 0.3)), seed)
    b = random_b(k, n, seed)
    for mode in ("dense", "csr"):
        bound = golden.bounds(a, b, mode=mode, peak_macs_per_cycle=cfg.peak_macs_per_cycle,
                              bus_bytes_per_cycle=cfg.bus_bytes).bound_cycles
        est = firmware.estimate_cycles(mode, m, k, n, a.nnz, cfg)
        assert est >= bound, f"seed {seed} {mode} {m}x{k}x{n}: estimate {est} < bound {bound}"
    # the reported case: west1505 at N = 16 is bound by writing C (12,040 cycles)
    assert firmware.estimate_cycles("csr", 1505, 1505, 16, 5445, cfg) >= 12_040


def test_the_register_table_escapes_pipes():
    from zerotile.rtl.regmap import markdown_table
    version = next(l for l in markdown_table().splitlines() if "| VERSION | ro |" in l)
    assert len(re.split(r"(?<!\\)\|", version)) == 6, version


def test_run_json_names_its_inputs(tmp_path):
    (tmp_path / "b.mtx").write_text(PATTERN_B)
    out = zerotile(["run", "karate", "--b", "b.mtx", "--json", "r.json"], tmp_path)
    assert out.returncode == 0, out.stderr
    inputs = json.loads((tmp_path / "r.json").read_text())["inputs"]
    import hashlib
    assert inputs["a"]["path"].endswith("karate.mtx") and len(inputs["a"]["sha256"]) == 64
    assert inputs["b"]["source"] == "file"
    assert inputs["b"]["sha256"] == hashlib.sha256(PATTERN_B.encode()).hexdigest()
    assert inputs["n"] == 6 and inputs["seed"] == 1
    out = zerotile(["run", "karate", "--n", "5", "--json", "r.json"], tmp_path)
    inputs = json.loads((tmp_path / "r.json").read_text())["inputs"]
    assert inputs["b"]["source"] == "seeded random" and inputs["n"] == 5
