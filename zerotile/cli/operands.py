"""The operands of ``zerotile run`` as the commands that run products share them: the sizes
from the Matrix Market headers (before anything large is read), the record of what a result
is the result of, and a result's row of the run table."""
import hashlib
from pathlib import Path

from zerotile.firmware import FormatError
from .common import fmt

__all__ = ["shape_from_headers", "file_identity", "inputs_record", "result_row",
           "MAX_DENSE_B_BYTES"]

# --compare-dense in SpGEMM mode builds B dense: refused above this many bytes
MAX_DENSE_B_BYTES = 1 << 28


def shape_from_headers(args):
    """(path of A, M, K, N, A's stored entries) from the Matrix Market headers of A and --b
    (or --n, default 16): nothing large is read before the sizes are known."""
    from zerotile.workload import mtx_header, resolve_matrix
    path = resolve_matrix(args.matrix)
    m, k, entries = mtx_header(path)
    if args.b is not None:
        kb, n, _ = mtx_header(args.b)
        if kb != k:
            raise FormatError(f"A is {m}x{k} but B is {kb}x{n}: inner dimensions differ")
    else:
        n = args.n if args.n is not None else 16
    return path, m, k, n, entries


def file_identity(path):
    """A file as a result names it: its path and SHA-256."""
    return {"path": str(Path(path).resolve()),
            "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}


def inputs_record(args, path, a_note, b_note, n, **b_extra):
    """What a result is the result of: A (path, checksum, how its values were made), B (its
    file, or how it was generated), N, the seed and the mode asked for."""
    b = ({"source": "file", **file_identity(args.b)} if args.b is not None
         else {"source": "seeded random", "seed": args.seed, **b_extra})
    b["note"] = b_note
    return {"a": {**file_identity(path), "note": a_note}, "b": b, "n": n, "seed": args.seed,
            "mode": args.mode}


def result_row(rep):
    return {"mode": rep["mode"], "correct": rep["correct"], "mismatches": rep["mismatches"],
            "cycles": rep.get("cycles", "-"), "bound": rep["bound_cycles"],
            "roofline_eff": fmt(rep.get("roofline_efficiency")),
            "dram_rd": rep.get("dram_bytes_read", "-"),
            "dram_wr": rep.get("dram_bytes_written", "-"),
            "traffic": fmt(rep.get("dram_traffic_ratio"), 2)}
