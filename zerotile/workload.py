"""Workloads: Matrix Market files made int8, random operands, and the run report."""
from pathlib import Path

import numpy as np
import scipy.io
import scipy.sparse as sp

from zerotile import golden
from zerotile.firmware import FormatError

__all__ = ["read_mtx", "mtx_header", "resolve_matrix", "load_operand", "load_mtx", "load_b",
           "OPERAND_RULE", "random_b",
           "bundled_matrices", "matrix_name", "random_c", "random_csr", "nonzero_int8", "report",
           "measure", "DATA_DIR"]

DATA_DIR = Path(__file__).parent / "data"


def resolve_matrix(name):
    """The path of A: a Matrix Market file, or the name of a bundled matrix (``karate``)."""
    path = Path(name)
    if path.is_dir():
        raise FormatError(f"{path} is a directory, not a Matrix Market file")
    if path.is_file():
        return path
    bundled = {matrix_name(p): p for p in bundled_matrices()}
    stem = matrix_name(path) if path.parent == Path(".") else None
    if stem in bundled:
        return bundled[stem]
    raise FormatError(f"{path}: no such file, and no bundled matrix of that name "
                      f"(zerotile run --list shows them)")


def matrix_name(path):
    """A matrix's name: its file name without .mtx / .gz / .bz2."""
    name = Path(path).name
    for suffix in (".gz", ".bz2", ".mtx"):
        name = name[:-len(suffix)] if name.endswith(suffix) else name
    return name


def mtx_header(path):
    """(rows, cols, stored entries) from a Matrix Market header, without reading the data.

    Symmetric files store one triangle: the entries of the whole matrix are at most twice
    that; array (dense) files count every element."""
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{path}: no such file")
    try:
        rows, cols, entries, fmt, field, symmetry = scipy.io.mminfo(str(path))
    except Exception as e:           # scipy raises several types for malformed headers
        raise FormatError(f"{path}: not a readable Matrix Market file ({e})") from None
    if field == "complex":
        raise FormatError(f"{path}: complex matrices are not supported")
    return int(rows), int(cols), int(entries)


def read_mtx(path):
    """The contents of a Matrix Market file as a canonical CSR array (any value type)."""
    path = Path(path)
    mtx_header(path)
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


OPERAND_RULE = ("values from a file: int8 integers are used as given; a pattern file (no "
                "values) gets seeded nonzero int8 on its pattern")


def _is_int8(vals):
    vals = np.asarray(vals, dtype=np.float64)
    return np.isfinite(vals) & (vals == np.round(vals)) & (vals >= -128) & (vals <= 127)


def load_operand(path, seed, *, role="A", quantize=False, refuse_other=False):
    """A Matrix Market operand as CSR int8, by one rule for every operand and mode:

    * int8 integer values: as given;
    * a pattern file (no values): seeded nonzero int8 on its pattern (``seed``);
    * other values (0.5, 300, 1e9): with ``quantize``, one symmetric per-tensor scale
      (127 / max |value|, rounded to nearest); else refused (``refuse_other``: a
      ``FormatError`` naming the first such value, 1-based as in the file) or seeded on
      the pattern, the note saying why.

    Entries stored as explicit zeros stay zeros. Returns (matrix, note)."""
    a = read_mtx(path)
    name = matrix_name(path)
    flag = f"--quantize-{role.lower()}"
    if scipy.io.mminfo(str(path))[4] == "pattern":
        return _seeded_int8(a, name, seed, "a pattern file has no values")
    ok = _is_int8(a.data)
    if ok.all():
        return _csr_int8(a, a.data), f"values of {name} as given (int8 integers)"
    if quantize:
        vals = a.data.astype(np.float64)
        if not np.isfinite(vals).all():
            raise FormatError(f"{role}: {name} holds a value that is not finite; cannot "
                              f"quantise it")
        peak = float(np.abs(vals).max())
        scale = 127.0 / peak if peak else 1.0
        q = np.clip(np.round(vals * scale), -128, 127)
        return _csr_int8(a, q), (f"values of {name} quantised to int8 per tensor ({flag}): "
                                 f"scale {scale:.6g} = 127 / max|{role}| {peak:.6g}, rounded "
                                 f"to nearest")
    p = int(np.flatnonzero(~ok)[0])
    row = int(np.searchsorted(a.indptr, p, side="right"))          # 1-based, as in the file
    bad = (f"{name} holds {a.data[p].item()} at row {row} col {int(a.indices[p]) + 1}, not an "
           f"int8 integer")
    if refuse_other:
        raise FormatError(f"{role}: {bad}; give int8 data, or {flag} to scale it to int8")
    return _seeded_int8(a, name, seed, f"{bad} ({flag} scales the values instead)")


def load_mtx(path, seed, *, as_given=False, quantize=False):
    """A (CSR, int8) by ``load_operand``'s rule with ``as_given``; without it, the file's
    pattern with seeded nonzero int8 values whatever it holds. Returns (matrix, note)."""
    if as_given or quantize:
        return load_operand(path, seed, role="A", quantize=quantize)
    return _seeded_int8(read_mtx(path), matrix_name(path), seed, None)


def _csr_int8(a, data):
    return sp.csr_array((np.asarray(data).astype(np.int8), a.indices.astype(np.int32),
                         a.indptr.astype(np.int32)), shape=a.shape)


def nonzero_int8(rng, size):
    """``size`` seeded int8 values in [-127, -1] and [1, 127]."""
    return (rng.integers(1, 128, size) * rng.choice(np.array([-1, 1]), size)).astype(np.int8)


def random_csr(m, k, density, seed):
    """A uniformly random CSR A (``density`` of its entries stored) of seeded nonzero int8."""
    rng = np.random.default_rng(seed)
    a = sp.random_array((m, k), density=density, rng=rng, format="csr",
                        data_sampler=lambda size: nonzero_int8(rng, size))
    return sp.csr_array(a.astype(np.int8))


def _seeded_int8(a, name, seed, why):
    stored_zero = (a.data == 0)
    data = nonzero_int8(np.random.default_rng(seed), a.nnz)
    data[stored_zero] = 0
    note = (f"pattern of {name} kept; values replaced by seeded nonzero int8 "
            f"(--seed {seed})")
    if why:
        note += f" because {why}"
    if stored_zero.any():
        note += f"; {int(stored_zero.sum())} explicit zeros kept as zeros"
    return _csr_int8(a, data), note


def load_b(path, seed, *, quantize=False):
    """Dense B from a Matrix Market file by ``load_operand``'s rule (values that are not int8
    integers refused unless ``quantize``). Returns (array, note)."""
    b, note = load_operand(path, seed + 1, role="B", quantize=quantize, refuse_other=True)
    return b.toarray(), f"B: {Path(path).name}: {b.shape[0]}x{b.shape[1]} dense; {note}"


def random_b(k, n, seed):
    """Dense B (K x N) of seeded int8 values."""
    return np.random.default_rng(seed + 1).integers(-128, 128, (k, n)).astype(np.int8)


def bundled_matrices():
    """The Matrix Market files shipped with zerotile (plain or gzipped)."""
    return sorted(list(DATA_DIR.glob("*.mtx")) + list(DATA_DIR.glob("*.mtx.gz")), key=matrix_name)


def random_c(m, n, seed):
    """C to accumulate into (``zerotile run --accumulate``): seeded int32 over the whole range."""
    return np.random.default_rng(seed + 2).integers(-2**31, 2**31, (m, n), dtype=np.int64)


def measure(a, b, *, mode, config=None, label=None, seed=1, c=None, epilogue=None):
    """Plan ``A @ B`` (``+ c``; finished to int8 by ``epilogue``) in ``mode``, run it alone on
    the native engine (default DRAM timing) and return its ``report`` (compared with golden)."""
    from zerotile import firmware
    from zerotile.verif import simulate
    plan = firmware.plan(a, b, c=c, mode=mode, config=config, epilogue=epilogue)
    result = simulate([plan], engine="native", seed=seed, label=label)[0]
    return report(plan, result, a, b, c_ref=golden_result(a, b, c, epilogue))[0]


def golden_result(a, b, c=None, epilogue=None):
    """golden's ``A @ B (+ c)``, requantised to int8 by ``epilogue`` (a firmware Requant)."""
    ref = golden.spmm(a, b, c)
    if epilogue is None:
        return ref
    return golden.requantize(ref, epilogue.bias, epilogue.multiplier, epilogue.shift,
                             out_zero_point=epilogue.out_zero_point, act_min=epilogue.act_min,
                             act_max=epilogue.act_max)


def golden_network(layers, x):
    """golden's int8 network (firmware ``Layer``s) on ``x`` (features x batch): each layer
    requantised, its output the next layer's B."""
    h = np.asarray(x, dtype=np.int8)
    for layer in layers:
        h = golden_result(layer.weights, h, None, layer.requant)
    return h


def random_requant(m, seed, *, relu=False):
    """Seeded per-row epilogue parameters: bias, a real scale per row (converted by TFLite's
    QuantizeMultiplier) spread over six decades, a zero point; ReLU or the full int8 range."""
    from zerotile.firmware import Requant
    rng = np.random.default_rng(seed + 3000)
    return Requant.for_rows(m, bias=rng.integers(-2**16, 2**16, m),
                            scale=rng.uniform(2e-4, 2e-2, m) * rng.choice([1, 1e-3, 30], m),
                            out_zero_point=int(rng.integers(-30, 30)), relu=relu)


def epilogue_outputs(plan):
    """Elements the plan's FLAGS.EPILOGUE jobs finish (padding columns of a chunk included)."""
    from zerotile.rtl.regmap import FLAG_EPILOGUE
    L = plan.config.lanes
    return sum(j.fields["M"] * -(-j.fields["N"] // L) * L for j in plan.jobs
               if j.fields["FLAGS"] & FLAG_EPILOGUE)


def report(plan, sim_result, a, b, *, c_ref):
    """The metrics of one run, from the hardware's counters and golden's bounds."""
    cfg = plan.config
    m, k, n = plan.shape
    int8_out = plan.epilogue is not None
    bd = golden.bounds(a, b, mode=plan.mode, peak_macs_per_cycle=cfg.peak_macs_per_cycle,
                       bus_bytes_per_cycle=cfg.bus_bytes, accumulate=plan.accumulate,
                       int8_out=int8_out)
    out = {"shape": [m, k, n], "nnz_a": int(plan.nnz), "mode": plan.mode,
           "accumulate": plan.accumulate, "output": "int8" if int8_out else "int32",
           "jobs": len(plan.jobs),
           "config": cfg.as_dict(), "peak_macs_per_cycle": cfg.peak_macs_per_cycle,
           "ideal_compute_cycles": bd.ideal_compute_cycles, "min_dram_bytes": bd.min_dram_bytes,
           "min_dram_bytes_read": bd.min_dram_bytes_read,
           "min_dram_bytes_written": bd.min_dram_bytes_written,
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
        "dram_traffic_ratio": round((cnt["dram_bytes_read"] + cnt["dram_bytes_written"])
                                    / bd.min_dram_bytes, 4),
        "sim_cycles_per_second": round(sim_result.sim_cycles / sim_result.sim_seconds)
        if sim_result.sim_seconds else None,
    })
    out.update(golden.estimate_energy(cnt, lanes=cfg.lanes, bank_bytes=cfg.b_words * cfg.lanes,
                                      epilogue_outputs=epilogue_outputs(plan)))
    details = [(int(i), int(j), int(c_ref[i, j]), int(c[i, j])) for i, j in diff[:10]]
    if cnt["effectual_macs"] != bd.effectual_macs:
        out["error"] = (f"effectual MAC counter {cnt['effectual_macs']} != golden "
                        f"{bd.effectual_macs}")
    return out, details


def load_sparse_b(path, seed, *, quantize=False):
    """B (CSR, int8) from a Matrix Market file for SpGEMM, by the same rule as ``load_b``.
    Returns (matrix, note)."""
    b, note = load_operand(path, seed + 1, role="B", quantize=quantize, refuse_other=True)
    return b, f"B: {Path(path).name}: {b.shape[0]}x{b.shape[1]}, {b.nnz} stored entries; {note}"


def random_sparse_b(k, n, density, seed):
    """A seeded random sparse B (K x N, ``density`` of its entries stored, nonzero int8)."""
    return random_csr(k, n, density, seed + 1)


def spgemm_report(plan, sim_result, a, b, *, c_ref):
    """The metrics of one SpGEMM run, from the hardware's counters and golden's work counts
    and bound (peak: the engine's ``spgemm_products_per_cycle``). ``correct``: C equal to
    golden's, entry for entry and structure (row pointers, sorted column indices), and the
    counters equal to golden's counts. Returns (report, [(row, col, expected, got)])."""
    cfg = plan.config
    m, k, n = plan.shape
    w = golden.spgemm_bounds(a, b, peak_products_per_cycle=cfg.spgemm_products_per_cycle,
                             bus_bytes_per_cycle=cfg.bus_bytes, c=c_ref)
    out = {"shape": [m, k, n], "nnz_a": int(plan.nnz), "nnz_b": int(plan.b_nnz),
           "mode": "spgemm", "output": "csr int32", "jobs": len(plan.jobs),
           "config": cfg.as_dict(),
           "peak_products_per_cycle": cfg.spgemm_products_per_cycle,
           "nnz_c": w.nnz_c, "golden_partial_products": w.partial_products,
           "golden_effectual": w.effectual, "golden_merges": w.merges,
           "ideal_compute_cycles": w.ideal_compute_cycles,
           "min_dram_bytes": w.min_dram_bytes, "min_dram_bytes_read": w.min_dram_bytes_read,
           "min_dram_bytes_written": w.min_dram_bytes_written,
           "ideal_memory_cycles": w.ideal_memory_cycles, "bound_cycles": w.bound_cycles,
           "sim_seconds": round(sim_result.sim_seconds, 3)}
    if sim_result.error:
        out.update(correct=False, error=sim_result.error, mismatches=None)
        return out, []
    c = sim_result.c
    diff = (c != c_ref).tocoo() if c.shape == c_ref.shape else None
    same = (diff is not None and diff.nnz == 0 and np.array_equal(c.indptr, c_ref.indptr) and
            np.array_equal(c.indices, c_ref.indices) and np.array_equal(c.data, c_ref.data))
    cnt = sim_result.counters
    cycles = cnt["cycles_busy"]
    counted = {"partial_products": w.partial_products, "effectual_macs": w.effectual,
               "merges": w.merges, "output_nnz": w.nnz_c}
    wrong = {key: (cnt[key], want) for key, want in counted.items() if cnt[key] != want}
    out.update({
        "correct": bool(same) and not wrong,
        "mismatches": int(diff.nnz) if diff is not None else None,
        "cycles": cycles,
        "partial_products": cnt["partial_products"], "effectual_macs": cnt["effectual_macs"],
        "merges": cnt["merges"], "output_nnz": cnt["output_nnz"],
        "products_per_cycle": round(cnt["partial_products"] / cycles, 4) if cycles else None,
        "utilization": round(w.ideal_compute_cycles / cycles, 4) if cycles else None,
        "roofline_efficiency": round(w.bound_cycles / cycles, 4) if cycles else None,
        "dram_bytes_read": cnt["dram_bytes_read"],
        "dram_bytes_written": cnt["dram_bytes_written"],
        "dram_traffic_ratio": round((cnt["dram_bytes_read"] + cnt["dram_bytes_written"])
                                    / w.min_dram_bytes, 4),
        "sim_cycles_per_second": round(sim_result.sim_cycles / sim_result.sim_seconds)
        if sim_result.sim_seconds else None,
    })
    if wrong:
        out["error"] = "; ".join(f"{key} counter {got} != golden {want}"
                                 for key, (got, want) in wrong.items())
    details = []
    if diff is not None:
        ref_d, c_d = c_ref.todok(), c.todok()
        details = [(int(i), int(j), int(ref_d.get((i, j), 0)), int(c_d.get((i, j), 0)))
                   for i, j in zip(diff.row[:10], diff.col[:10])]
    if same is False and diff is not None and diff.nnz == 0:
        out["error"] = "C's structure differs from golden's (a stored zero, or unsorted)"
    return out, details
