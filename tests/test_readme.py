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
