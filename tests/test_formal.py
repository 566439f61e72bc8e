"""Formal checks of the bus rules with SymbiYosys (yowasp-sby) and z3, on small
configurations of the memory controller's engines and on the register file (properties and
assumptions: ``verif.formal``).

Bounded model checks to depth 20 run in the regular suite; the register file is also proven
for all depths by k-induction. The engines' properties do not close by k-induction without
invariants over their internal planning registers (see the README)."""
from pathlib import Path

import pytest

from zerotile.verif.formal import run_sby

WORK = Path(__file__).resolve().parent.parent / ".sim_build" / "formal"
DEPTH = 20


@pytest.mark.parametrize("name", ["register_file", "write_engine", "read_engine"])
def test_bounded_model_check(name):
    res = run_sby(name, "bmc", DEPTH, WORK)
    print(f"{name}: bmc depth {DEPTH} in {res.seconds} s")
    assert res.passed, f"{name}: bmc to depth {DEPTH} failed ({res.work_dir}):\n{res.summary}"


def test_register_file_proof_by_induction():
    res = run_sby("register_file", "prove", 4, WORK)
    assert res.passed, f"register_file: k-induction failed ({res.work_dir}):\n{res.summary}"
    assert "successful proof by k-induction" in res.summary
