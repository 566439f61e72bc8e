"""Markdown tables of committed campaigns (``--table C.csv --json C.json`` in one folder), for
the docs (``zerotile readme`` renders docs/regress/ into docs/verification.md)."""
import json
import re
from collections import Counter
from pathlib import Path

from .runner import read_table

__all__ = ["campaign_table", "campaign_breakdown"]


def _summaries(folder):
    """[(campaign table stem, summary, rows)] of the campaigns in ``folder``."""
    out = []
    for path in sorted(Path(folder).glob("*.json")):
        table = path.with_suffix(".csv")
        out.append((path.stem, json.loads(path.read_text()), read_table(table)))
    return out


def _campaign_command(rep, kind, seed):
    """The command that ran a campaign (as recorded; built from its table for older ones),
    without the options that only name its output files."""
    if not rep.get("command"):
        return f"zerotile regress {kind}--runs {rep['runs']} --seed {seed}"
    words, keep = rep["command"].split(), []
    for i, w in enumerate(words):
        if w in ("--table", "--json") or (i and words[i - 1] in ("--table", "--json")):
            continue
        keep.append(w)
    return " ".join(keep)


def campaign_table(folder):
    """A markdown table of the campaigns in ``folder`` (each ``C.json`` with its ``C.csv``)."""
    lines = ["| campaign | runs | passed | failed | jobs | engines | workers | wall | reproduce |",
             "|---|---|---|---|---|---|---|---|---|"]
    for stem, rep, rows in _summaries(folder):
        campaigns = sorted({r["campaign"] for r in rows})
        seeds = sorted({r["seed"] for r in rows})
        kind = "" if campaigns == ["random"] else f"--campaign {campaigns[0]} "
        engines = ", ".join(f"{e} {v['runs']}" for e, v in rep["by_engine"].items())
        lines.append(f"| [{stem}](regress/{stem}.csv) | {rep['runs']:,} | {rep['passed']:,} | "
                     f"{rep['failed']} | {rep.get('jobs', 0):,} | {engines} | "
                     f"{len(rep['workers'])} | {rep['wall_seconds'] / 60:.1f} min | "
                     f"`{_campaign_command(rep, kind, seeds[0])}` |")
    return "\n".join(lines)


def _outcome(row):
    """A fault run's outcome in a word: the error code it ended with, or what happened."""
    code = re.search(r"error ([A-Z_]+) \(code", row["outcome"])
    return code.group(1) if code else row["outcome"]


def campaign_breakdown(folder):
    """Per campaign of ``folder``: runs and failures by mode (random, soak), by tile (configs)
    or by fault and how each fault run ended (fault), from the committed tables."""
    lines = ["| campaign | mode, fault or tile | runs | failed | ended with |",
             "|---|---|---|---|---|"]
    for stem, rep, rows in _summaries(folder):
        key = "by_fault" if rep.get("by_fault") else \
            "by_config" if rep.get("by_config") else "by_mode"
        for name, v in rep[key].items():
            ended = ""
            if key == "by_fault":
                counts = Counter(_outcome(r) for r in rows if r["fault"].startswith(name))
                ended = ", ".join(f"{o} {n}" for o, n in sorted(counts.items()))
            lines.append(f"| {stem} | {name} | {v['runs']:,} | {v['failed']} | "
                         f"{ended} |")
    return "\n".join(lines)
