"""The README's numbers and commands are current: every generated section equals what
``zerotile readme`` renders now (the simulated tables run on the native engine)."""
from pathlib import Path

import pytest

from zerotile import docs

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


@pytest.mark.parametrize("name", list(docs.sections()))
def test_generated_section_is_current(name):
    assert docs.read_section(name) == docs.render(name), (
        f"README section {name} is stale: regenerate it with `zerotile readme {name}`")


def test_performance_targets():
    """Cycle counts are deterministic: the targets on the default tile, simulated now on the
    native engine (default DRAM timing), each exact, give exactly the cycles of the committed
    docs/bench/targets.json that the README's table is rendered from (the other tiles' rows
    are re-measured by `zerotile readme` and exercised by the configs campaign). The
    thresholds guard against regressions."""
    from zerotile.rtl.config import TileConfig
    default = [name for name, *_, cfg in docs.target_workloads() if cfg == TileConfig()]
    now = docs.measure_targets(default)
    committed = dict(zip([w[0] for w in docs.target_workloads()], docs.run_targets()))
    for name in default:
        assert now[name]["correct"], name
        assert now[name]["cycles"] == committed[name]["cycles"], (
            f"{name}: {now[name]['cycles']} cycles now, {committed[name]['cycles']} committed: "
            f"re-measure with `zerotile readme performance-targets`")
    dense, csr, csr_dense, big, _ = docs.run_targets()
    speedup = csr_dense["cycles"] / csr["cycles"]
    print(f"dense 256^3: {dense['cycles']} cycles, utilization {dense['utilization']:.3f}; "
          f"CSR 256x256 10% N=32: {csr['cycles']} cycles, roofline efficiency "
          f"{csr['roofline_efficiency']:.3f}; same A dense: {csr_dense['cycles']} cycles, "
          f"speedup {speedup:.2f}; P8 L16 bus128 N=64: utilization {big['utilization']:.3f}")
    assert dense["utilization"] >= 0.95
    assert csr["roofline_efficiency"] >= 0.80
    assert speedup >= 8.5
    assert big["utilization"] >= 0.80
    for r in docs.run_targets():              # nothing beats the honest floor
        assert r["bound_cycles"] <= r["cycles"], r


def test_readme_gives_the_two_commands():
    text = README.read_text()
    assert 'pip install -e . && zerotile demo' in text
    assert 'pip install -e ".[test]" && pytest' in text


def test_ci_runs_the_readme_test_command():
    command = ('python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]" '
               '&& pytest')
    ci = (README.parent / ".ci" / "run").read_text()
    assert command in README.read_text() and command in ci


def test_no_figure_is_typed_by_hand():
    """Clock rates, speedups and simulation rates appear only inside generated sections."""
    assert docs.untracked_figures() == []


def test_a_typed_figure_is_found(tmp_path, monkeypatch):
    page = tmp_path / "page.md"
    page.write_text("The tile runs at 123.4 MHz, 9.5x faster.\n"
                    "<!-- fig-fmax:begin -->101.6 MHz<!-- fig-fmax:end -->\n"
                    "```\nzerotile run x   # 2x in a code block is an example\n```\n")
    monkeypatch.setattr(docs, "pages", lambda: [page])
    monkeypatch.setattr(docs, "ROOT", tmp_path)
    assert [f for _, _, f in docs.untracked_figures()] == ["123.4 MHz", "9.5x"]


def test_every_generated_section_sits_on_a_page():
    on_pages = set()
    for page in docs.pages():
        on_pages |= set(docs._found(page.read_text()))
    assert set(docs.sections()) <= on_pages
