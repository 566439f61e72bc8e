"""Formal checks of the bus rules with SymbiYosys (yowasp-sby) and z3, on small
configurations of the memory controller's engines and on the register file (properties,
assumptions and the invariants induction needs: ``verif.formal``).

Each harness is proven for all time by k-induction (``zerotile formal`` runs the same checks);
the base case of each proof is a bounded model check from reset to depth k."""
import json
from pathlib import Path

import pytest

from zerotile.cli import main
from zerotile.verif.formal import HARNESSES, PROVE_DEPTH, run_sby

WORK = Path(__file__).resolve().parent.parent / ".sim_build" / "formal"


@pytest.mark.parametrize("name", HARNESSES)
def test_proof_by_induction(name):
    res = run_sby(name, "prove", PROVE_DEPTH[name], WORK)
    print(f"{name}: prove k={PROVE_DEPTH[name]} in {res.seconds} s")
    assert res.passed, f"{name}: k-induction failed ({res.work_dir}):\n{res.summary}"
    assert "successful proof by k-induction" in res.summary


def test_formal_command_reports_each_check(tmp_path, capsys):
    out = tmp_path / "formal.json"
    code = main(["formal", "register_file", "--bmc", "--depth", "6", "--work",
                 str(WORK / "cli"), "--json", str(out)])
    rep = json.loads(out.read_text())
    assert code == 0 and rep["passed"], rep
    assert [(c["harness"], c["mode"], c["depth"], c["result"]) for c in rep["checks"]] == \
        [("register_file", "bmc", 6, "pass")]
    assert main(["formal", "no_such_block"]) == 2
    assert "no harness named 'no_such_block'" in capsys.readouterr().err


def test_the_help_names_every_harness():
    from zerotile.cli import build_parser
    _, parsers = build_parser()
    assert all(name in parsers["formal"].format_help() for name in HARNESSES)
