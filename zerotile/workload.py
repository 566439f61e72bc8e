"""Workloads: Matrix Market files made int8, random operands, and the run report."""
from pathlib import Path

import numpy as np
import scipy.io
import scipy.sparse as sp

import golden
from firmware import FormatError

__all__ = ["read_mtx", "load_mtx", "load_b", "random_b", "bundled_matrices", "report",
           "DATA_DIR"]

DATA_DIR = Path(__file__).parent / "data"


def read_mtx(path):
    """The contents of a Matrix Market file as a canonical CSR array (any value type)."""
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{path}: no such file")
    try:
        raw = scipy.io.mmread(str(path))
    except Exception as e:           # scipy raises several types for malformed files
        raise FormatError(f"{path}: not a readable Matrix Market file ({e})") from None
    a = sp.csr_array(raw) if sp.issparse(raw) else sp.csr_array(np.asarray(raw))
    if a.dtype.kind == "c":
        raise FormatError(f"{path}: complex matrices are not supported")
    a.sum_duplicates()
    a.sort_indices()
    return a


def load_mtx(path, seed):
    """A (CSR, int8) with the file's sparsity pattern and seeded nonzero int8 values.

    Entries stored as explicit zeros in the file stay explicit zeros (the hardware sees and
    skips them as the golden model does). Returns (matrix, note).
    """
    return _seeded_int8(read_mtx(path), Path(path).name, seed)


def _seeded_int8(a, name, seed):
    stored_zero = (a.data == 0)
    rng = np.random.default_rng(seed)
    mag = rng.integers(1, 128, a.nnz)
    sign = rng.choice(np.array([-1, 1]), a.nnz)
    data = (mag * sign).astype(np.int8)
    data[stored_zero] = 0
    a = sp.csr_array((data, a.indices.astype(np.int32), a.indptr.astype(np.int32)),
                     shape=a.shape)
    note = (f"pattern of {name} kept; values replaced by seeded nonzero int8 "
            f"(seed {seed})")
    if stored_zero.any():
        note += f"; {int(stored_zero.sum())} explicit zeros kept as zeros"
    return a, note


def load_b(path, seed):
    """Dense B from a Matrix Market file: as given when its values are int8 integers,
    otherwise its pattern with seeded nonzero int8 values. Returns (array, note)."""
    a = read_mtx(path)
    values = a.data
    if values.dtype.kind in "iub" or np.all(values == np.round(values)):
        if not values.size or (values.min() >= -128 and values.max() <= 127):
            return a.toarray().astype(np.int8), f"B: {Path(path).name} as given"
    b, note = _seeded_int8(a, Path(path).name, seed)
    return b.toarray(), "B: " + note


def random_b(k, n, seed):
    """Dense B (K x N) of seeded int8 values."""
    return np.random.default_rng(seed + 1).integers(-128, 128, (k, n)).astype(np.int8)


def bundled_matrices():
    return sorted(DATA_DIR.glob("*.mtx"))


def report(plan, sim_result, a, b, *, c_ref):
    """The metrics of one run, from the hardware's counters and golden's bounds."""
    cfg = plan.config
    m, k, n = plan.shape
    bd = golden.bounds(a, b, mode=plan.mode, peak_macs_per_cycle=cfg.peak_macs_per_cycle,
                       bus_bytes_per_cycle=cfg.bus_bytes)
    out = {"shape": [m, k, n], "nnz_a": int(plan.nnz), "mode": plan.mode,
           "config": cfg.as_dict(), "peak_macs_per_cycle": cfg.peak_macs_per_cycle,
           "ideal_compute_cycles": bd.ideal_compute_cycles, "min_dram_bytes": bd.min_dram_bytes,
           "ideal_memory_cycles": bd.ideal_memory_cycles, "bound_cycles": bd.bound_cycles,
           "golden_effectual_macs": bd.effectual_macs,
           "sim_seconds": round(sim_result.sim_seconds, 3)}
    if sim_result.error:
        out.update(correct=False, error=sim_result.error, mismatches=None)
        return out, []
    c = sim_result.c
    diff = np.argwhere(c != c_ref)
    cnt = sim_result.counters
    cycles = cnt["cycles_busy"]
    out.update({
        "correct": len(diff) == 0 and cnt["effectual_macs"] == bd.effectual_macs,
        "mismatches": int(len(diff)),
        "cycles": cycles,
        "effectual_macs": cnt["effectual_macs"],
        "lane_slots": cnt["lane_slots"],
        "stall_memory": cnt["stall_memory"], "stall_imbalance": cnt["stall_imbalance"],
        "stall_drain": cnt["stall_drain"],
        "utilization": round(bd.ideal_compute_cycles / cycles, 4) if cycles else None,
        "roofline_efficiency": round(bd.bound_cycles / cycles, 4) if cycles else None,
        "dram_bytes_read": cnt["dram_bytes_read"],
        "dram_bytes_written": cnt["dram_bytes_written"],
        "sim_cycles_per_second": round(sim_result.sim_cycles / sim_result.sim_seconds)
        if sim_result.sim_seconds else None,
    })
    details = [(int(i), int(j), int(c_ref[i, j]), int(c[i, j])) for i, j in diff[:10]]
    if cnt["effectual_macs"] != bd.effectual_macs:
        out["error"] = (f"effectual MAC counter {cnt['effectual_macs']} != golden "
                        f"{bd.effectual_macs}")
    return out, details
