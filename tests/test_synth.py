"""Open synthesis flows: the generic (ASIC-style) flow on the processing element, nextpnr-ecp5
on one small block, the report parsing, and the `zerotile synth` command's error handling.

The flows on the whole tile take minutes each (the generic flow on the smallest tile: ~2.5 min
of WebAssembly Yosys on one core): they are the `zerotile synth` command's job (numbers in the
README). The tile itself is checked after Yosys `proc` (no latches, no problems, no warnings)
in tests/test_verilog.py."""
import json
from pathlib import Path

import pytest

from zerotile.rtl.beat_splitter import BeatSplitter
from zerotile.rtl.config import TileConfig
from zerotile.rtl.export import component_rtlil
from zerotile.synth import fan_out, run_flow, synthesize_block
from zerotile.synth.flow import ROUTERS, _critical_path, _memory_bits, _net_name, _nextpnr_args
from zerotile.synth.run import _config_name
from zerotile.cli import main

# The YoWASP tools cannot see /tmp (nor pytest's tmp_path): work inside the checkout.
WORK = Path(__file__).resolve().parent.parent / ".sim_build" / "synth"
PE = dict(lanes=4, max_chunks=2, b_words=256, fifo_depth=4)


@pytest.fixture(scope="module")
def generic_pe():
    # through the Dask fan-out that `zerotile synth --seeds/--sweep` use (a LocalCluster of one)
    reps = fan_out([dict(block="ProcessingElement", params=PE, target="generic")],
                   work_root=WORK, workers=1, name=lambda task: "fan-out", progress=print)
    assert len(reps) == 1 and Path(reps[0].work_dir).is_relative_to(WORK / "fan-out")
    return reps[0]


@pytest.mark.parametrize("seeds, message", [("1,1", "distinct"), ("a,b", "like 1,2,3"),
                                            ("-1", "non-negative")])
def test_seeds_are_checked_before_any_flow(seeds, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(["synth", "--seeds", seeds])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_seeds_are_placement_seeds(capsys):
    assert main(["synth", "--target", "generic", "--seeds", "1,2"]) == 2
    assert "--seeds are nextpnr placement seeds" in capsys.readouterr().err


def test_generic_flow_no_latches_no_warnings(generic_pe):
    rep = generic_pe
    assert rep.config == {"block": "ProcessingElement", **PE}
    assert rep.latches == 0
    assert rep.warnings == [], "\n".join(rep.warnings[:20])
    assert rep.cells > 1000 and rep.ffs > 200 and rep.transistors > 10 * rep.cells // 4
    # Memories stay whole ($mem_v2): the entry queue, the accumulator, the finished-row FIFO.
    assert rep.brams >= 3
    assert rep.memory_bits > 1000


def test_generic_flow_check_passed(generic_pe):
    log = (Path(generic_pe.work_dir) / "yosys.log").read_text()
    assert "Found and reported 0 problems" in log


def test_a_block_is_named_by_its_class():
    with pytest.raises(ValueError, match="no block named 'Nothing' in zerotile.rtl"):
        synthesize_block("Nothing", {}, "generic", work_root=WORK)


def test_ecp5_flow_on_a_block():
    """synth_ecp5 + nextpnr-ecp5 end to end on a small block: the numbers are parsed."""
    text = component_rtlil(BeatSplitter(bus_bits=64, elem_bits=8), "splitter")
    rep = run_flow("ecp5", text, {"block": "BeatSplitter"}, WORK / "ecp5-splitter",
                   top="splitter", freq_mhz=100)
    assert rep.luts > 10 and rep.ffs > 10 and rep.dsps == 0
    assert rep.fmax_mhz is not None and rep.fmax_mhz > 50
    assert rep.critical_path is not None and rep.critical_path.delay_ns > 0
    assert abs(1000 / rep.critical_path.delay_ns - rep.fmax_mhz) / rep.fmax_mhz < 0.05
    assert rep.utilization["TRELLIS_FF"][0] == rep.ffs
    json.dumps(rep.as_json())   # serialisable


def test_critical_path_summary():
    seg = lambda t, d, a, b: {"type": t, "delay": d, "from": {"cell": a}, "to": {"cell": b}}
    report = {"critical_paths": [{"from": "posedge clk", "to": "posedge clk", "path": [
        seg("clk-to-q", 0.5, "reader.settle1_TRELLIS_FF_Q", "reader.settle1_TRELLIS_FF_Q"),
        seg("routing", 1.0, "reader.settle1_TRELLIS_FF_Q", "reader.want1_LUT4_Z"),
        seg("logic", 0.25, "reader.want1_LUT4_Z", "reader.want1_LUT4_Z"),
        seg("routing", 2.0, "reader.want1_LUT4_Z", "reader.ar_addr_TRELLIS_FF_Q_3"),
        seg("setup", 0.25, "reader.ar_addr_TRELLIS_FF_Q_3", "reader.ar_addr_TRELLIS_FF_Q_3"),
    ]}]}
    cp = _critical_path(report)
    assert (cp.start, cp.end, cp.through) == ("reader.settle1", "reader.ar_addr", ["reader.want1"])
    assert (cp.delay_ns, cp.logic_ns, cp.routing_ns) == (4.0, 1.0, 3.0)
    assert "reader.settle1 -> reader.ar_addr via reader.want1" in cp.describe()


def test_net_names_of_packed_cells():
    assert _net_name("pe0.queue.r_rdy_TRELLIS_FF_Q_3") == "pe0.queue.r_rdy"
    assert _net_name("bad_fields_LUT4_B_D_CCU2C_COUT$CCU2_COMB1") == "bad_fields"
    assert _net_name("\\$signal$91_TRELLIS_FF_Q_18_DI_PFUMX_Z") == "$signal$91"
    assert _net_name("$nextpnr_CCU2C_185$CCU2_COMB0") == "$nextpnr_CCU2C_185"


def test_memory_bits_from_dump():
    dump = ("  cell $mem_v2 $a\n    parameter \\SIZE 512\n    parameter \\WIDTH 32\n  end\n"
            "  cell $mem_v2 $b\n    parameter \\SIZE 4\n    parameter \\WIDTH 256\n  end\n")
    assert _memory_bits(dump) == 512 * 32 + 4 * 256


def test_cli_synth_rejects_bad_configuration(capsys):
    assert main(["synth", "--target", "generic", "--lanes", "3", "--out", str(WORK)]) == 2
    err = capsys.readouterr().err
    assert "lanes must be a power of two" in err and len(err.strip().splitlines()) == 1


def test_cli_synth_rejects_bad_spgemm_columns(capsys):
    assert main(["synth", "--target", "generic", "--spgemm-cols", "100", "--out",
                 str(WORK)]) == 2
    err = capsys.readouterr().err
    assert "spgemm_cols must be 0 or a power of two" in err and "100" in err


def test_nextpnr_command_line_takes_seed_and_router():
    device = ("--85k", "--package", "CABGA381", "--speed", "8")
    default = _nextpnr_args("ecp5", device, "top.json", 100, 1, "router1")
    assert default[default.index("--seed") + 1] == "1" and "--router" not in default
    assert default[:len(device)] == list(device) and "--out-of-context" in default
    routed2 = _nextpnr_args("ecp5", device, "top.json", 100, 3, "router2")
    assert routed2[routed2.index("--seed") + 1] == "3"
    assert routed2[routed2.index("--router") + 1] == "router2"
    assert set(ROUTERS) == {"router1", "router2"}


def test_run_flow_rejects_an_unknown_router(tmp_path):
    with pytest.raises(ValueError, match="router must be one of router1, router2, not 'r3'"):
        run_flow("ecp5", "", {}, tmp_path / "never", router="r3")
    assert not (tmp_path / "never").exists()


def test_tool_files_of_the_engine_tile_go_to_their_own_directory():
    assert _config_name(TileConfig()) == "P4-L8-W64-B4096"
    assert _config_name(TileConfig().with_spgemm(1024)) == "P4-L8-W64-B4096-S1024"


def test_summary_row_names_the_engine_tile():
    from dataclasses import asdict
    from zerotile.synth import SynthReport
    from zerotile.cli.synth import _synth_row
    row = lambda cfg: _synth_row(SynthReport(target="ecp5", part="", config=asdict(cfg),
                                             work_dir=""))["config"]
    assert row(TileConfig()) == "P=4 L=8 W=64"
    assert row(TileConfig().with_spgemm()) == "P=4 L=8 W=64 S=2048"


def test_sweep_plot_is_written():
    from zerotile.plots import plot_sweep
    rows = [{"pes": p, "lanes": l, "macs_per_cycle": p * l, "luts": 1000 * p * l // 8,
             "fmax_mhz": 120 - p * l / 4} for p in (1, 2, 4) for l in (8, 16)]
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / "sweep_test.png"
    plot_sweep(rows, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_sweep_csv_round_trips_and_renders_the_readme_table():
    from zerotile.synth import SWEEP_FIELDS, read_sweep_csv, sweep_markdown, write_sweep_csv
    rows = [dict(zip(SWEEP_FIELDS, (4, 8, 32, 64, 4096, 7616, 2148, 8619, 721, 64, 42, 103.33,
                                    6.61, "9.68 ns (1.73 logic + 7.95 routing): a.b -> c via d"))),
            dict(zip(SWEEP_FIELDS, (4, 16, 64, 64, 2048, 10531, 2669, 12137, 1233, 60, 74, None,
                                    None, "")))]
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / "sweep_test.csv"
    write_sweep_csv(rows, path)
    back = read_sweep_csv(path)
    assert back == rows, f"wrote {rows}, read back {back}"
    lines = sweep_markdown(back).splitlines()
    assert lines[2] == ("| 4 | 8 | 32 | 7,616 | 2,148 | 8,619 | 721 | 64 | 42 | 103.3 | 6.61 "
                        "| a.b -> c |"), lines[2]
    assert lines[3].endswith("| 1,233 | 60 | 74 | - | - | - |"), lines[3]
