"""``zerotile bench``: what the tile does with zeros, measured on the RTL (native engine) and
drawn.

1. Speedup against density: one shape (M = K = 256, N = 32), A uniformly random at densities
   from 0.5 % to 100 %, run in CSR and in dense mode; the measured speedup (dense cycles / CSR
   cycles) beside the ideal skip speedup 1/density and the bound-explained speedup (dense
   cycles / CSR bound cycles: the best any CSR run could do on this hardware).
2. A roofline of the bundled matrices (CSR, N = 16): achieved effectual MACs per cycle
   against operational intensity (effectual MACs per byte of the busier AXI channel's
   minimum traffic), under the compute roof P x L and the memory roof of one bus word per
   cycle per channel: the honest bound of golden/bounds.py.
3. scipy.sparse on this CPU for the same products (CSR x dense, int32, single-threaded; best of
   several repeats), beside the tile's time at the ECP5 Fmax.

Writes ``bench.csv``, ``bench.md``, ``speedup.png`` and ``roofline.png`` to the output folder.
"""
import csv
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from zerotile.plots import plot_speedup, plot_roofline
from zerotile.results import ecp5_fmax_mhz

__all__ = ["run_bench", "run_matrix_bench", "matrix_markdown", "DENSITIES", "ECP5_FMAX_MHZ",
           "MATRIX_FIELDS"]

DENSITIES = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
SHAPE = (256, 256, 32)
ROOF_N = 16
SEED = 1
# The default configuration's Fmax on ECP5: the committed `zerotile synth --json` report of
# nextpnr seed 1 (docs/synth/); `zerotile bench --fmax` takes another.
ECP5_FMAX_MHZ = ecp5_fmax_mhz()
FIELDS = ["kind", "name", "m", "k", "n", "nnz", "density", "csr_cycles", "csr_bound_cycles",
          "dense_cycles", "speedup", "ideal_speedup", "bound_speedup", "effectual_macs",
          "intensity", "macs_per_cycle", "roofline_efficiency", "tile_us", "scipy_us",
          "correct"]


def _scipy_us(a, b, budget=0.2):
    """Best time of A (CSR, int32) @ B (int32) on this CPU, microseconds."""
    a32, b32 = sp.csr_array(a, dtype=np.int32), b.astype(np.int32)
    best, spent = float("inf"), 0.0
    while spent < budget or best == float("inf"):
        t0 = time.perf_counter()
        a32 @ b32
        dt = time.perf_counter() - t0
        best, spent = min(best, dt), spent + dt
        if spent > 5 * budget:
            break
    return best * 1e6


def run_bench(out_dir, *, fmax_mhz=ECP5_FMAX_MHZ, progress=print):
    from zerotile import firmware
    from zerotile import golden
    from zerotile.rtl.config import TileConfig
    from zerotile.verif import simulate
    from zerotile.workload import (bundled_matrices, load_mtx, matrix_name, random_b,
                                   random_csr, report)
    out = _out_dir(out_dir)
    cfg = TileConfig()
    cases = []           # (kind, name, A, B)
    m, k, n = SHAPE
    b_sweep = random_b(k, n, SEED)
    for d in DENSITIES:
        cases.append(("density", f"{d:g}", random_csr(m, k, d, SEED), b_sweep))
    for path in bundled_matrices():
        a, _ = load_mtx(path, SEED)
        cases.append(("matrix", matrix_name(path), a, random_b(a.shape[1], ROOF_N, SEED)))
    plans = []
    for _, _, a, b in cases:
        plans += [firmware.plan(a, b, mode="csr"), firmware.plan(a, b, mode="dense")]
    progress(f"simulating {len(plans)} jobs on the native engine ...")
    results = simulate(plans, engine="native", seed=SEED, label="bench")
    rows = []
    for i, (kind, name, a, b) in enumerate(cases):
        ref = golden.spmm(a, b)
        csr, _ = report(plans[2 * i], results[2 * i], a, b, c_ref=ref)
        dense, _ = report(plans[2 * i + 1], results[2 * i + 1], a, b, c_ref=ref)
        mm, kk = a.shape
        nn = b.shape[1]
        density = a.nnz / (mm * kk)
        busiest = max(csr["min_dram_bytes_read"], csr["min_dram_bytes_written"])
        rows.append({
            "kind": kind, "name": name, "m": mm, "k": kk, "n": nn, "nnz": int(a.nnz),
            "density": round(density, 6), "csr_cycles": csr["cycles"],
            "csr_bound_cycles": csr["bound_cycles"], "dense_cycles": dense["cycles"],
            "speedup": round(dense["cycles"] / csr["cycles"], 3),
            "ideal_speedup": round(1 / density, 3) if density else None,
            "bound_speedup": round(dense["cycles"] / csr["bound_cycles"], 3),
            "effectual_macs": csr["effectual_macs"],
            "intensity": round(csr["effectual_macs"] / busiest, 4),
            "macs_per_cycle": round(csr["effectual_macs"] / csr["cycles"], 3),
            "roofline_efficiency": csr["roofline_efficiency"],
            "tile_us": round(csr["cycles"] / fmax_mhz, 2),
            "scipy_us": round(_scipy_us(a, b), 2),
            "correct": bool(csr["correct"] and dense["correct"]),
        })
    with open(out / "bench.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    plot_speedup([r for r in rows if r["kind"] == "density"], out / "speedup.png", cfg, SHAPE)
    plot_roofline([r for r in rows if r["kind"] == "matrix"], out / "roofline.png", cfg)
    (out / "bench.md").write_text(markdown(rows, fmax_mhz))
    return rows


MATRIX_FIELDS = ["name", "m", "k", "n", "nnz", "jobs", "mismatches", "cycles", "bound_cycles",
                 "bound", "roofline_efficiency", "utilization", "dram_traffic_ratio",
                 "sim_seconds"]


SUMMARY_MIN_NNZ = 1000     # the summary's efficiency figures: matrices at least this large


def _out_dir(out_dir):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _write_rows(out, name, fields, rows, markdown):
    """``name``.csv (``fields``) and ``name``.md (``markdown(rows)``) in ``out``; the rows."""
    with open(out / f"{name}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    (out / f"{name}.md").write_text(markdown(rows))
    return rows


def _matrices(paths, min_nnz):
    """(name, M, K, A) of each Matrix Market file with at least ``min_nnz`` entries, by name
    (pattern kept, seeded int8 values, seed ``SEED``; sizes read from the header first)."""
    from zerotile.workload import load_mtx, matrix_name, mtx_header
    for path in sorted(paths, key=matrix_name):
        m, k, nnz = mtx_header(path)
        if nnz >= min_nnz:
            yield matrix_name(path), m, k, load_mtx(path, SEED)[0]


def run_matrix_bench(paths, out_dir, *, ns=(16, 64), min_nnz=0, progress=print):
    """Every Matrix Market file in ``paths`` in CSR mode at each N of ``ns`` on the default
    configuration (native engine, its default DRAM timing; pattern kept, seeded int8 values,
    seed 1): roofline efficiency against the honest bound and DRAM traffic against the
    minimum, from the hardware's counters. Writes ``matrices.csv`` and ``matrices.md``."""
    from zerotile.workload import measure, random_b
    out = _out_dir(out_dir)
    rows = []
    for name, m, k, a in _matrices(paths, min_nnz):
        for n in ns:
            progress(f"{name} ({m}x{k}, {a.nnz:,} nonzeros), N = {n} ...")
            rep = measure(a, random_b(k, n, SEED), mode="csr", label=name, seed=SEED)
            rows.append({
                "name": name, "m": m, "k": k, "n": n, "nnz": int(a.nnz),
                "jobs": rep["jobs"], "mismatches": rep["mismatches"], "cycles": rep.get("cycles"),
                "bound_cycles": rep["bound_cycles"],
                "bound": "compute" if rep["ideal_compute_cycles"] >= rep["ideal_memory_cycles"]
                else ("read" if rep["min_dram_bytes_read"] >= rep["min_dram_bytes_written"]
                      else "write"),
                "roofline_efficiency": rep.get("roofline_efficiency"),
                "utilization": rep.get("utilization"),
                "dram_traffic_ratio": rep.get("dram_traffic_ratio"),
                "sim_seconds": rep["sim_seconds"],
            })
    return _write_rows(out, "matrices", MATRIX_FIELDS, rows, matrix_markdown)


EPILOGUE_FIELDS = ["name", "m", "k", "n", "nnz", "variant", "mismatches", "jobs",
                   "int32_cycles", "cycles", "int32_bytes_written", "bytes_written",
                   "bound_cycles", "roofline_efficiency", "pj_per_effectual_mac"]


def run_epilogue_bench(paths, out_dir, *, ns=(16, 64), min_nnz=0, progress=print):
    """Every Matrix Market file in ``paths`` in CSR mode at each N of ``ns``, with int8 output:
    the epilogue with seeded per-row parameters (``random_requant``), plain and with ReLU and
    accumulate (a seeded old C), beside the int32 run of the same product. Every result is
    compared with golden; writes ``epilogue.csv`` and ``epilogue.md``."""
    from zerotile.workload import measure, random_b, random_c, random_requant
    out = _out_dir(out_dir)
    rows = []
    for name, m, k, a in _matrices(paths, min_nnz):
        for n in ns:
            progress(f"{name} ({m}x{k}, {a.nnz:,} nonzeros), N = {n}: int32, int8, "
                     f"int8 + ReLU + accumulate ...")
            b = random_b(k, n, SEED)
            c_old = random_c(m, n, SEED) >> 8
            base = measure(a, b, mode="csr", label=name, seed=SEED)
            base_acc = measure(a, b, mode="csr", label=name, seed=SEED, c=c_old)
            for variant, c, relu, ref in (("int8", None, False, base),
                                          ("int8 ReLU acc", c_old, True, base_acc)):
                rep = measure(a, b, mode="csr", label=name, seed=SEED, c=c,
                              epilogue=random_requant(m, SEED + n, relu=relu))
                rows.append({
                    "name": name, "m": m, "k": k, "n": n, "nnz": int(a.nnz), "variant": variant,
                    "mismatches": rep["mismatches"], "jobs": rep["jobs"],
                    "int32_cycles": ref.get("cycles"), "cycles": rep.get("cycles"),
                    "int32_bytes_written": ref.get("dram_bytes_written"),
                    "bytes_written": rep.get("dram_bytes_written"),
                    "bound_cycles": rep["bound_cycles"],
                    "roofline_efficiency": rep.get("roofline_efficiency"),
                    "pj_per_effectual_mac": rep.get("pj_per_effectual_mac"),
                })
    return _write_rows(out, "epilogue", EPILOGUE_FIELDS, rows, epilogue_markdown)


SPGEMM_FIELDS = ["name", "product", "m", "k", "n", "nnz_a", "nnz_b", "nnz_c", "jobs",
                 "mismatches", "cycles", "bound_cycles", "partial_products", "products_per_cycle",
                 "roofline_efficiency", "spmm_cycles", "spmm_mismatches", "speedup_vs_spmm",
                 "sim_seconds"]
SPGEMM_DENSITIES = (0.01, 0.05, 0.1, 0.2)
SPGEMM_N = 256
# the B-dense comparison is skipped when its dense C and B would pass this many bytes
SPGEMM_DENSE_LIMIT = 1 << 27


def spgemm_config():
    """The default configuration with the SpGEMM engine (``TileConfig.with_spgemm``)."""
    from zerotile.rtl.config import TileConfig
    return TileConfig().with_spgemm()


def measure_spgemm(a, b, *, label=None, seed=SEED):
    """Plan ``A @ B`` (both sparse) in SpGEMM mode on ``spgemm_config()``, run it alone on
    the native engine and return its ``spgemm_report`` (compared with golden)."""
    from zerotile import firmware
    from zerotile.verif import simulate
    from zerotile.workload import spgemm_report
    plan = firmware.plan_spgemm(a, b, config=spgemm_config())
    result = simulate([plan], engine="native", seed=seed, label=label)[0]
    return spgemm_report(plan, result, a, b, c_ref=golden_spgemm(a, b))[0]


def golden_spgemm(a, b):
    from zerotile import golden
    return golden.spgemm(a, b)


def run_spgemm_bench(paths, out_dir, *, densities=SPGEMM_DENSITIES, n=SPGEMM_N, min_nnz=0,
                     progress=print):
    """Every Matrix Market file in ``paths`` as A (pattern kept, seeded int8 values, seed 1) in
    SpGEMM mode: A.A (A.A^T when A is not square) and A.B for seeded random sparse B (K x
    ``n``) at each of ``densities``; each product also in CSR mode with B dense (the existing
    path) when its dense B and C fit ``SPGEMM_DENSE_LIMIT`` bytes. Every C is compared with
    golden. Writes ``spgemm.csv`` and ``spgemm.md``."""
    from zerotile.workload import measure, random_sparse_b
    out = _out_dir(out_dir)
    rows = []
    for name, m, k, a in _matrices(paths, min_nnz):
        products = [("A.A" if m == k else "A.A^T", sp.csr_array(a if m == k else a.T.tocsr()))]
        products += [(f"A.B {d:.0%}", random_sparse_b(k, n, d, SEED)) for d in densities]
        for product, b in products:
            nb = b.shape[1]
            progress(f"{name} ({m}x{k}, {a.nnz:,} nonzeros): {product}, N = {nb} ...")
            rep = measure_spgemm(a, b, label=name)
            row = {"name": name, "product": product, "m": m, "k": k, "n": nb,
                   "nnz_a": int(a.nnz), "nnz_b": int(b.nnz), "nnz_c": rep["nnz_c"],
                   "jobs": rep["jobs"], "mismatches": rep["mismatches"],
                   "cycles": rep.get("cycles"), "bound_cycles": rep["bound_cycles"],
                   "partial_products": rep.get("partial_products"),
                   "products_per_cycle": rep.get("products_per_cycle"),
                   "roofline_efficiency": rep.get("roofline_efficiency"),
                   "spmm_cycles": None, "spmm_mismatches": None, "speedup_vs_spmm": None,
                   "sim_seconds": rep["sim_seconds"]}
            if m * nb * 4 + k * nb <= SPGEMM_DENSE_LIMIT:
                dense = measure(a, b.toarray(), mode="csr", config=spgemm_config(),
                                label=f"{name} B dense", seed=SEED)
                row.update(spmm_cycles=dense.get("cycles"), spmm_mismatches=dense["mismatches"],
                           speedup_vs_spmm=round(dense["cycles"] / rep["cycles"], 3)
                           if dense.get("cycles") and rep.get("cycles") else None)
            rows.append(row)
    return _write_rows(out, "spgemm", SPGEMM_FIELDS, rows, spgemm_markdown)


def spgemm_markdown(rows):
    def num(x, fmt="{:,}"):
        return "-" if x is None else fmt.format(x)
    lines = ["| matrix | product | M x K x N | nnz A / B / C | mismatches | SpGEMM cycles | "
             "bound | products / cycle | roofline eff. | B-dense cycles | speedup vs SpMM |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['product']} | {r['m']:,}x{r['k']:,}x{r['n']:,} | "
            f"{r['nnz_a']:,} / {r['nnz_b']:,} / {r['nnz_c']:,} | "
            f"{r['mismatches']}{'' if r['spmm_mismatches'] in (None, 0) else ' (B dense: ' + str(r['spmm_mismatches']) + ')'} | "
            f"{num(r['cycles'])} | {r['bound_cycles']:,} | "
            f"{num(r['products_per_cycle'], '{:.3f}')} | "
            f"{num(r['roofline_efficiency'], '{:.3f}')} | {num(r['spmm_cycles'])} | "
            f"{num(r['speedup_vs_spmm'], '{:.2f}x')} |")
    total = sum(r["mismatches"] or 0 for r in rows) + sum(r["spmm_mismatches"] or 0
                                                          for r in rows)
    compared = [r for r in rows if r["speedup_vs_spmm"] is not None]
    lines += ["", f"{len(rows)} SpGEMM runs ({len(compared)} also with B dense), {total} "
                  f"mismatching elements in all."]
    for product in sorted({r["product"] for r in compared}):
        sel = [r for r in compared if r["product"] == product]
        wins = sum(r["speedup_vs_spmm"] > 1 for r in sel)
        sp_ = sorted(r["speedup_vs_spmm"] for r in sel)
        lines.append(f"{product}: SpGEMM faster on {wins} of {len(sel)}; speedup median "
                     f"{float(np.median(sp_)):.2f}x (range {sp_[0]:.2f}-{sp_[-1]:.2f}x).")
    return "\n".join(lines) + "\n"


def epilogue_markdown(rows):
    lines = ["| matrix | N | output | mismatches | cycles (int32 -> int8) | bytes written "
             "(int32 -> int8) | roofline eff. | pJ / effectual MAC |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['n']} | {r['variant']} | {r['mismatches']} | "
                     f"{r['int32_cycles']:,} -> {r['cycles']:,} | "
                     f"{r['int32_bytes_written']:,} -> {r['bytes_written']:,} | "
                     f"{r['roofline_efficiency']:.3f} | {r['pj_per_effectual_mac']:.1f} |")
    total = sum(r["mismatches"] for r in rows)
    ratios = [r["int32_bytes_written"] / r["bytes_written"] for r in rows if r["bytes_written"]]
    lines += ["", f"{len(rows)} runs, {total} mismatching elements in all; int32 / int8 bytes "
                  f"written {min(ratios):.2f}-{max(ratios):.2f}."]
    for variant in sorted({r["variant"] for r in rows}):
        speed = sorted(r["int32_cycles"] / r["cycles"] for r in rows
                       if r["variant"] == variant and r["cycles"])
        eff = sorted(r["roofline_efficiency"] for r in rows if r["variant"] == variant)
        lines += ["", f"{variant}: int32 cycles / int8 cycles median "
                      f"{float(np.median(speed)):.2f} (range {speed[0]:.2f}-{speed[-1]:.2f}); "
                      f"roofline efficiency median {float(np.median(eff)):.3f}, minimum "
                      f"{eff[0]:.3f}."]
    return "\n".join(lines) + "\n"


def matrix_markdown(rows):
    lines = ["| matrix | M x K | nnz | N | jobs | mismatches | cycles | bound (binding) | "
             "roofline eff. | utilization | DRAM traffic / min |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['m']:,}x{r['k']:,} | {r['nnz']:,} | {r['n']} | "
                     f"{r['jobs']} | {r['mismatches']} | {r['cycles']:,} | "
                     f"{r['bound_cycles']:,} ({r['bound']}) | {r['roofline_efficiency']:.3f} | "
                     f"{r['utilization']:.3f} | {r['dram_traffic_ratio']:.2f} |")
    for n in sorted({r["n"] for r in rows}):
        at_n = [r for r in rows if r["n"] == n]
        eff = sorted(r["roofline_efficiency"] for r in at_n if r["nnz"] >= SUMMARY_MIN_NNZ)
        traffic = max(r["dram_traffic_ratio"] for r in at_n)
        lines.append("")
        if eff:
            lines.append(f"N = {n}: roofline efficiency median {float(np.median(eff)):.3f}, "
                         f"minimum {eff[0]:.3f} over the {len(eff)} matrices with at least "
                         f"{SUMMARY_MIN_NNZ:,} nonzeros; DRAM traffic at most {traffic:.2f}x "
                         f"the minimum over all {len(at_n)}.")
    return "\n".join(lines) + "\n"


def markdown(rows, fmax_mhz=ECP5_FMAX_MHZ):
    m, k, n = SHAPE
    lines = [f"Speedup against density ({m} x {k} A, N = {n}, CSR vs dense mode on the same "
             f"tile):", "",
             "| density | CSR cycles | dense cycles | speedup | bound-explained | ideal 1/density |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        if r["kind"] == "density":
            lines.append(f"| {float(r['name']):.1%} | {r['csr_cycles']:,} | {r['dense_cycles']:,} "
                         f"| {r['speedup']:.1f}x | {r['bound_speedup']:.1f}x | "
                         f"{r['ideal_speedup']:.0f}x |")
    lines += ["", f"Bundled matrices, CSR, N = {ROOF_N}: the tile at {fmax_mhz:g} MHz (ECP5) "
                  f"and scipy.sparse on this CPU (single thread, int32):", "",
              "| matrix | nnz | MACs/cycle | roofline eff. | tile (us) | scipy (us) |",
              "|---|---|---|---|---|---|"]
    for r in rows:
        if r["kind"] == "matrix":
            lines.append(f"| {r['name']} | {r['nnz']:,} | {r['macs_per_cycle']:.2f} | "
                         f"{r['roofline_efficiency']:.3f} | {r['tile_us']:,.1f} | "
                         f"{r['scipy_us']:,.1f} |")
    return "\n".join(lines) + "\n"
