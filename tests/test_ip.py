"""zerotile for other tools: the SystemRDL model (and PeakRDL exporters) and the FuseSoC core,
all generated from the one definition in rtl/ (regmap.py, export.py)."""
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from zerotile.rtl.config import TileConfig
from zerotile.rtl.regmap import REGISTERS, FIELDS

ROOT = Path(__file__).resolve().parent.parent
systemrdl = pytest.importorskip("systemrdl", reason="pip install -e '.[ip]' (systemrdl-compiler)")

SW = {"ro": "r", "rw": "rw", "w1c": "rw", "wo": "w"}


def _expected():
    """(register, offset, field, lsb, msb, sw access, onwrite) from rtl/regmap.py."""
    out = []
    for r in REGISTERS:
        for f in FIELDS.get(r.name) or [None]:
            kind = f.access if f else r.access
            lsb, width = (f.lsb, f.width) if f else (0, 32)
            out.append((r.name, r.offset, f.name if f else r.name, lsb, lsb + width - 1,
                        SW[kind], "woclr" if kind == "w1c" else None))
    return out


def _facts(top):
    return [(reg.inst_name, reg.absolute_address, f.inst_name, f.lsb, f.msb,
             f.get_property("sw").name,
             f.get_property("onwrite").name if f.get_property("onwrite") else None)
            for reg in top.registers() for f in reg.fields()]


def test_systemrdl_model_matches_the_register_map():
    from zerotile.firmware.systemrdl import rdl_root
    assert _facts(rdl_root().top) == _expected()


def test_exported_systemrdl_text_round_trips(tmp_path):
    from zerotile.firmware.systemrdl import export
    from systemrdl import RDLCompiler
    export("rdl", tmp_path / "zerotile.rdl")
    rdlc = RDLCompiler()
    rdlc.compile_file(str(tmp_path / "zerotile.rdl"))
    assert _facts(rdlc.elaborate("zerotile").top) == _expected()


def test_ipxact_and_html_exporters_run(tmp_path):
    pytest.importorskip("peakrdl_ipxact")
    pytest.importorskip("peakrdl_html")
    from zerotile.firmware.systemrdl import export
    export("ipxact", tmp_path / "zerotile.xml")
    ns = {"ipxact": "http://www.accellera.org/XMLSchema/IPXACT/1685-2014"}
    tree = ET.parse(tmp_path / "zerotile.xml")
    offset = lambda text: int(text.split("'h")[-1], 16) if "'h" in text else int(text, 0)
    regs = {r.find("ipxact:name", ns).text: offset(r.find("ipxact:addressOffset", ns).text)
            for r in tree.iter(f"{{{ns['ipxact']}}}register")}
    assert regs == {r.name: r.offset for r in REGISTERS}
    export("html", tmp_path / "html")
    assert (tmp_path / "html" / "index.html").exists()


def test_cli_writes_the_header_and_the_register_formats(tmp_path):
    for args in (["header", "-o", "regs.h", "--expect-config"],
                 ["regs", "--format", "rdl", "-o", "z.rdl"],
                 ["regs", "--format", "ipxact", "-o", "z.xml"]):
        out = subprocess.run([sys.executable, "-m", "zerotile", *args], cwd=tmp_path,
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
    header = (tmp_path / "regs.h").read_text()
    assert "#define ZT_EXPECTED_CONFIG 0x08080804u" in header
    assert "#define ZT_EXPECTED_SPGEMM_COLS 0u" in header   # the default tile has no engine
    assert "addrmap zerotile" in (tmp_path / "z.rdl").read_text()


def test_fusesoc_core_lints_clean(tmp_path):
    if shutil.which("fusesoc") is None and not (Path(sys.executable).parent / "fusesoc").exists():
        pytest.skip("fusesoc is not installed (pip install -e '.[ip]')")
    from zerotile.synth.fusesoc import write_core, VLNV
    from zerotile.verif.toolchain import verilator_bin
    core = write_core(tmp_path / "core", TileConfig(pes=2, lanes=8))
    text = core.read_text()
    from zerotile.rtl.regmap import VERSION
    version = f"{VERSION >> 16}.{(VERSION >> 8) & 0xFF}.{VERSION & 0xFF}"
    assert f"name: {VLNV}:{version}" in text and "P=2 L=8" in text
    fusesoc = shutil.which("fusesoc") or str(Path(sys.executable).parent / "fusesoc")
    env = dict(os.environ, PATH=f"{verilator_bin()}{os.pathsep}{os.environ['PATH']}")
    env.pop("VERILATOR_ROOT", None)
    run = subprocess.run([fusesoc, "--cores-root", str(tmp_path / "core"), "run", "--target",
                          "lint", VLNV], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    # and lint is real: without the waivers the same core fails on Yosys' Verilog style
    core.write_text(text.replace("filesets: [lint_waivers, rtl]", "filesets: [rtl]"))
    shutil.rmtree(tmp_path / "build", ignore_errors=True)
    run = subprocess.run([fusesoc, "--cores-root", str(tmp_path / "core"), "run", "--target",
                          "lint", VLNV], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode != 0 and "%Warning" in run.stdout + run.stderr
