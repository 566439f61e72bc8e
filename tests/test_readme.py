from pathlib import Path

from rtl.regmap import markdown_table

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN, END = "<!-- register-map:begin -->", "<!-- register-map:end -->"


def test_register_map_in_readme_is_current():
    text = README.read_text()
    table = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert table == markdown_table().strip(), (
        "README register map is stale: regenerate with "
        "`python -c 'from rtl.regmap import markdown_table; print(markdown_table())'`")


def test_readme_gives_the_two_commands():
    text = README.read_text()
    assert "zerotile demo" in text
    assert 'pip install ".[test]"' in text and "pytest" in text


def test_ci_runs_the_readme_test_command():
    command = 'python3 -m venv .venv && . .venv/bin/activate && pip install ".[test]" && pytest'
    ci = (README.parent / ".ci" / "run").read_text()
    assert command in README.read_text() and command in ci
