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
