"""The configurations campaign: random jobs on tiles other than the default one.

Each run picks one of ``CONFIGS`` (round robin over the run index, so every configuration is
built and exercised), then a chain of one to three random products on it (dense, CSR,
accumulate, int8 epilogue; SpGEMM where the tile has the engine), random shapes up to twice
the accumulator width, random pauses on every AXI channel and DRAM latency. One run in
``VIP_EVERY`` is on the vip engine (cocotbext-axi's AxiRam: the bus wider than a chunk
writes strobed single beats there), on Verilator and Icarus alternately. Each configuration
compiles its own models once per worker's cache, and its Verilog is linted (``verilator
--lint-only -Wall`` with the project's waivers) once per process: a warning fails the run.
"""
import functools
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from .runs import RunSpec, engine_of, product, check_jobs, sim_options, row_of

__all__ = ["CONFIGS", "draw_configs", "run_configs", "tile_config"]

CONFIGS = {
    "P1-L16-bus128": {"pes": 1, "lanes": 16, "bus_bits": 128},
    "P8-L4-bus32": {"pes": 8, "lanes": 4, "bus_bits": 32},
    # the bus wider than a B word (several words per beat)
    "P4-L8-bus128": {"pes": 4, "lanes": 8, "bus_bits": 128},
    # the bus wider than a C chunk (strobed single-beat writes, chunks read out of a beat)
    "P2-L2-bus256": {"pes": 2, "lanes": 2, "bus_bits": 256, "scan_width": 1},
    "P8-L16-bus128": {"pes": 8, "lanes": 16, "bus_bits": 128},
    # the SpGEMM engine's narrow path: one element of B a cycle, a 32-bit bus
    "P8-L4-bus32-spgemm": {"pes": 8, "lanes": 4, "bus_bits": 32, "spgemm": True},
}
VIP_EVERY = 8


def tile_config(name):
    """The ``TileConfig`` of configuration ``name`` of ``CONFIGS``."""
    from zerotile.rtl.config import TileConfig
    params = dict(CONFIGS[name])
    spgemm = params.pop("spgemm", False)
    cfg = TileConfig(**params)
    return cfg.with_spgemm() if spgemm else cfg


@functools.lru_cache(maxsize=None)
def lint(cfg):
    """Verilator's -Wall report of ``cfg``'s Verilog ("" when clean), once per process."""
    from zerotile.rtl.export import accelerator_verilog
    from zerotile.verif.toolchain import WAIVERS, verilator_command
    with tempfile.TemporaryDirectory(prefix="zerotile-lint-") as d:
        path = Path(d) / "zerotile.v"
        path.write_text(accelerator_verilog(cfg))
        out = subprocess.run([verilator_command(), "--lint-only", "-Wall", str(WAIVERS),
                              str(path)], capture_output=True, text=True)
    report = (out.stdout + out.stderr).strip()
    if out.returncode == 0 and "%Warning" not in report and "%Error" not in report:
        return ""
    return report.splitlines()[0] if report else f"verilator --lint-only exited {out.returncode}"


def draw_configs(seed, index, vip_every=0):
    rng = np.random.default_rng([seed, index, 21])
    names = list(CONFIGS)
    name = names[index % len(names)]
    m, k = (int(x) for x in rng.integers(1, 97, 2))
    engine, sim, latency = engine_of(index, rng, vip_every, default=VIP_EVERY)
    return RunSpec(seed, index, "spgemm" if CONFIGS[name].get("spgemm") else "mixed", m, k,
                   int(rng.integers(1, 97)), float(rng.choice([0.0, 0.05, 0.3, 1.0])),
                   float(rng.choice([0.0, 0.1, 0.25])), latency, engine, sim,
                   int(rng.integers(1, 4)), campaign="configs", config=name,
                   vip_every=vip_every)


def run_configs(spec):
    from zerotile.verif import simulate
    t0 = time.monotonic()
    rng = np.random.default_rng([spec.seed, spec.index, 22])
    cfg = tile_config(spec.config)
    products = []
    for j in range(spec.chain):
        mode = "spgemm" if spec.mode == "spgemm" and j == 0 else \
            str(rng.choice(["dense", "csr", "accumulate", "epilogue"]))
        m, k, n = (spec.m, spec.k, spec.n) if j == 0 else \
            (int(x) for x in rng.integers(1, 2 * cfg.max_n + 9, 3))
        products.append(product(mode, m, k, n, spec.density, rng, cfg, relu=bool(j % 2)))
    results = simulate([p[0] for p in products], **sim_options(spec))
    mismatches, errors, cycles, first = check_jobs(
        products, results, [f"{p[4]} {p[0].shape} on {spec.config}" for p in products])
    warning = lint(cfg)
    if warning:
        errors = errors + [f"lint of {spec.config}: {warning}"]
    return row_of(spec, t0, nnz=int(products[0][1].nnz),
                  jobs=sum(len(p[0].jobs) for p in products), passed=not errors and not first,
                  mismatches=mismatches, cycles=cycles, error="; ".join(errors),
                  first_mismatch=first, outcome="exact" if not errors and not first
                  else "failed")
