"""The project's shape: one namespace, imports that run one way, files of one contract each,
a README that is short and links its reference pages."""
import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# folder in the repository -> the name it installs as
PACKAGES = {"zerotile": "zerotile", "rtl": "zerotile.rtl", "golden": "zerotile.golden",
            "firmware": "zerotile.firmware", "verif": "zerotile.verif",
            "synth": "zerotile.synth"}


def project_modules():
    """{module name: path} of every module the wheel installs."""
    out = {}
    for folder, name in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join([name, *parts])] = path
    return out


def import_graph():
    """{module: {modules it imports}}, every import statement counted (also the ones inside
    functions), each edge to the module named (a package's __init__ when a package is)."""
    modules = project_modules()
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[:len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]
            else:
                continue
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def cycles(graph):
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                found.append(sorted(scc))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_the_projects_modules():
    graph = import_graph()
    assert len(graph) > 60 and "zerotile.verif.native" in graph
    assert "zerotile.verif.toolchain" in graph["zerotile.verif.native"]
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_engines_import_one_way():
    """toolchain and errors <- engines (native, vip) <- simulate (verif.engines): no engine
    imports the other or the dispatch."""
    graph = import_graph()
    v = "zerotile.verif."
    assert {v + "native", v + "vip"} <= graph[v + "engines"]
    for engine in ("native", "vip"):
        assert v + "engines" not in graph[v + engine]
        assert not ({v + "native", v + "vip"} - {v + engine}) & graph[v + engine]
    for base in ("toolchain", "errors", "result"):
        assert not {v + "native", v + "vip", v + "engines"} & graph[v + base]


def test_the_wheel_installs_one_top_level_name():
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert all(p == "zerotile" or p.startswith("zerotile.") for p in conf["packages"])
    assert conf["package-dir"] == {v: k for k, v in PACKAGES.items() if k != "zerotile"}


def test_the_layers_import_by_their_namespace_only(tmp_path):
    """Outside the checkout: zerotile.rtl ... import, rtl / firmware ... do not."""
    code = ("import importlib\n"
            "for m in ('zerotile.rtl', 'zerotile.firmware', 'zerotile.golden', "
            "'zerotile.verif', 'zerotile.synth', 'zerotile.cli'):\n"
            "    importlib.import_module(m)\n"
            "for m in ('rtl', 'firmware', 'golden', 'verif', 'synth'):\n"
            "    try:\n"
            "        importlib.import_module(m)\n"
            "    except ModuleNotFoundError:\n"
            "        continue\n"
            "    raise SystemExit(f'{m} is importable at the top level')\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_source_names_the_layers_at_the_top_level():
    bad = []
    for name, path in project_modules().items():
        for m in re.finditer(r"^\s*(from|import) (rtl|golden|firmware|verif|synth)\b",
                             path.read_text(), re.M):
            bad.append(f"{path.relative_to(ROOT)}: {m.group(0).strip()}")
    for path in (ROOT / "tests").glob("*.py"):
        for m in re.finditer(r"^\s*(from|import) (rtl|golden|firmware|verif|synth)\b",
                             path.read_text(), re.M):
            bad.append(f"{path.relative_to(ROOT)}: {m.group(0).strip()}")
    assert not bad, bad


def test_no_file_of_the_command_line_package_is_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / "zerotile").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def test_each_command_is_a_module_of_its_own():
    from zerotile.cli import COMMANDS
    files = [Path(c.__file__).name for c in COMMANDS]
    assert len(set(files)) == len(files) and "__init__.py" not in files
    for c in COMMANDS:
        assert Path(c.__file__).stem == c.NAME, c.__file__
        assert callable(c.run) and callable(c.add_arguments)


def test_the_readme_is_short_and_its_links_resolve():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 300
    links = re.findall(r"\]\(((?:docs/|CHANGELOG)[^)#]*)", text)
    assert {"docs/architecture.md", "docs/register-map.md", "docs/using.md",
            "docs/integrating.md", "docs/verification.md", "docs/synthesis.md",
            "docs/results.md", "docs/limits.md", "docs/timing-closure.md",
            "CHANGELOG.md"} <= set(links)
    for link in links:
        assert (ROOT / link).is_file(), link
    for page in (ROOT / "docs").glob("*.md"):
        for link in re.findall(r"\]\(([^)#:]+\.(?:md|png|csv|json))", page.read_text()):
            assert (page.parent / link).exists(), f"{page.name}: {link}"


@pytest.mark.parametrize("word", ["last session", "issue 1", "not released", "this release"])
def test_the_readme_is_not_a_lab_notebook(word):
    assert word not in (ROOT / "README.md").read_text().lower()
