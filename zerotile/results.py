"""The committed result files that the README's and docs' figures are rendered from
(``docs/``): synthesis reports (``zerotile synth --json``), bench tables and the network run.

In a checkout (and an editable install) they are the files beside the code; a plain
``pip install .`` does not carry ``docs/``, and the readers then return None."""
import json
from pathlib import Path

__all__ = ["ROOT", "DOCS", "SYNTH_DIR", "synth_reports", "synth_report", "ecp5_fmax_mhz"]

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SYNTH_DIR = DOCS / "synth"


def synth_reports():
    """{file stem: report dict} of every committed synthesis report, e.g. ``ecp5-seed1``."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(SYNTH_DIR.glob("*.json"))}


def synth_report(name):
    """One committed synthesis report by file stem, or None when it is not here."""
    path = SYNTH_DIR / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def ecp5_fmax_mhz(seed=1):
    """The default tile's ECP5 Fmax at nextpnr ``seed`` (MHz), from its committed report."""
    rep = synth_report(f"ecp5-seed{seed}")
    return rep["fmax_mhz"] if rep else None
