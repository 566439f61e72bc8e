"""`zerotile nn`: the pruned int8 MLP on the digits, end to end on the RTL."""
import json
import subprocess
import sys


def test_nn_demo_meets_its_targets(tmp_path):
    out = tmp_path / "nn.json"
    done = subprocess.run([sys.executable, "-m", "zerotile", "nn", "--json", str(out)],
                          capture_output=True, text=True, timeout=600)
    print(done.stdout[-3000:], done.stderr[-3000:])
    assert done.returncode == 0, done.stderr[-2000:]
    rep = json.loads(out.read_text())
    for key in ("float_accuracy", "int8_accuracy", "rtl_accuracy", "rtl_matches_golden",
                "weight_sparsity", "images", "cycles_per_image", "dense_cycles_per_image",
                "energy_pj_per_image"):
        assert key in rep, f"--json lacks {key}"
    assert rep["rtl_matches_golden"] and rep["images_matching_golden"] == rep["images"]
    assert rep["rtl_accuracy"] == rep["int8_accuracy"]
    assert rep["float_accuracy"] >= 0.95, f"float accuracy {rep['float_accuracy']}"
    assert rep["int8_accuracy"] >= rep["float_accuracy"] - 0.02, \
        f"int8 {rep['int8_accuracy']} vs float {rep['float_accuracy']}"
    assert rep["weight_sparsity"] >= 0.9
    assert rep["images"] == 540 and rep["chains"] == 9
    # cycle counts are deterministic: the sparse network must beat the dense one
    assert rep["cycles_per_image"] < rep["dense_cycles_per_image"]
    assert 0 < rep["dram_energy_share"] < 1 and rep["energy_pj_per_image"] > 0
