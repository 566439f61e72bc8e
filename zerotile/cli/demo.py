"""``zerotile demo``: bundled real matrices, dense against sparse, on the native engine."""
import timeit

import numpy as np

from .common import Console, fmt, EXIT_OK, EXIT_MISMATCH

NAME = "demo"
HELP = "bundled real matrices, dense vs sparse, on the native engine"
DESCRIPTION = ("Multiply four bundled real sparse matrices (their real sparsity patterns, "
               "seeded int8 values) by a seeded B on the RTL in CSR and in dense mode, check "
               "every C against the golden model, and show the cycles saved by skipping zeros "
               "beside scipy.sparse on this CPU. No options.")


def add_arguments(p):
    pass


def run(args):
    from zerotile import firmware, golden
    from zerotile.rtl.config import TileConfig
    from zerotile.verif import simulate
    from zerotile.workload import load_mtx, random_b, bundled_matrices, report
    cfg = TileConfig()
    console = Console()
    n, seed = 16, 1
    names = ["karate", "west0479", "lp_e226", "1138_bus"]
    paths = [p for p in bundled_matrices() if p.stem in names]
    jobs = []
    for path in paths:
        a, _ = load_mtx(path, seed)
        b = random_b(a.shape[1], n, seed)
        for mode in ("csr", "dense"):
            jobs.append((path.stem, a, b, firmware.plan(a, b, config=cfg, mode=mode)))
    from zerotile.verif.native import DramTiming
    console.say(f"zerotile demo: {len(paths)} bundled matrices x N={n}, CSR and dense mode, on "
          f"the native Verilator engine ({cfg.describe()}, "
          f"{cfg.peak_macs_per_cycle} int8 MACs/cycle, DRAM read latency "
          f"{DramTiming().read_latency} cycles).")
    console.say("Sparsity patterns are the real ones; values are seeded nonzero int8. "
          "Every C is checked against the NumPy golden model.")
    results = simulate([j[3] for j in jobs], engine="native", seed=seed, label="demo")
    rows, ok = [], True
    by_name = {}
    for (name, a, b, plan), res in zip(jobs, results):
        rep, _ = report(plan, res, a, b, c_ref=golden.spmm(a, b))
        ok &= bool(rep["correct"])
        by_name.setdefault(name, {})[plan.mode] = (a, b, rep)
    for name, modes in by_name.items():
        a, b, csr = modes["csr"]
        dense = modes["dense"][2]
        density = a.nnz / (a.shape[0] * a.shape[1])
        a64, b64 = a.astype(np.int32), b.astype(np.int32)
        scipy_s = min(timeit.repeat(lambda: a64 @ b64, number=20, repeat=5)) / 20
        rows.append({
            "matrix": name, "shape": "x".join(map(str, csr["shape"])), "nnz": csr["nnz_a"],
            "density": f"{density:.4f}",
            "correct": "yes" if csr["correct"] and dense["correct"] else "NO",
            "csr_cycles": csr.get("cycles", "-"), "dense_cycles": dense.get("cycles", "-"),
            "csr_util": fmt(csr.get("utilization")),
            "csr_roofline": fmt(csr.get("roofline_efficiency")),
            "speedup": f"{dense['cycles'] / csr['cycles']:.1f}x"
            if csr.get("cycles") and dense.get("cycles") else "-",
            "ideal": f"{1 / density:.0f}x",
            "scipy_us": f"{scipy_s * 1e6:.0f}",
        })
    console.table(rows, ["matrix", "shape", "nnz", "density", "correct", "csr_cycles",
                        "dense_cycles", "csr_util", "csr_roofline", "speedup", "ideal",
                        "scipy_us"])
    console.say("cycles: the hardware's CYCLES_BUSY counter; util = ideal compute cycles / cycles; "
          "roofline = max(compute, memory) bound / cycles; speedup = dense / CSR cycles; "
          "ideal = 1/density; scipy_us = scipy.sparse CSR x dense (int32) on this CPU, "
          "measured now, for scale (cycles / Fmax is time: `zerotile synth --target ecp5` "
          "gives the Fmax).")
    return EXIT_OK if ok else EXIT_MISMATCH
