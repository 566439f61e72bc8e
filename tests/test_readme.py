from pathlib import Path

from rtl.regmap import markdown_table
from synth import read_sweep_csv, sweep_markdown

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def readme_section(name):
    """The README text between ``<!-- name:begin -->`` and ``<!-- name:end -->``."""
    text = README.read_text()
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    assert begin in text and end in text, f"README lacks the {begin} ... {end} markers"
    return text.split(begin, 1)[1].split(end, 1)[0].strip()


def test_register_map_in_readme_is_current():
    assert readme_section("register-map") == markdown_table().strip(), (
        "README register map is stale: regenerate with "
        "`python -c 'from rtl.regmap import markdown_table; print(markdown_table())'`")


def test_sweep_table_in_readme_matches_the_csv():
    csv_path = ROOT / "docs" / "synth_sweep.csv"
    assert readme_section("synth-sweep") == sweep_markdown(read_sweep_csv(csv_path)).strip(), (
        f"README sweep table differs from {csv_path.name}: regenerate with `python -c "
        "'from synth import *; print(sweep_markdown(read_sweep_csv(\"docs/synth_sweep.csv\")))'`")


def test_readme_gives_the_two_commands():
    text = README.read_text()
    assert "zerotile demo" in text
    assert 'pip install ".[test]"' in text and "pytest" in text


def test_ci_runs_the_readme_test_command():
    command = 'python3 -m venv .venv && . .venv/bin/activate && pip install ".[test]" && pytest'
    ci = (README.parent / ".ci" / "run").read_text()
    assert command in README.read_text() and command in ci
