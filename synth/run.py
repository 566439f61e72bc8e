"""Synthesis of the accelerator for one configuration, and sweeps over P and L."""
import csv
import os
from dataclasses import asdict, replace
from pathlib import Path

from amaranth.back import rtlil

from zerotile.rtl.config import TileConfig
from zerotile.rtl.export import accelerator_rtlil, component_rtlil, TOP_NAME
from .flow import run_flow
from .ice40_wrapper import PinWrapper

__all__ = ["synthesize", "synthesize_block", "default_config", "sweep", "read_sweep_csv",
           "write_sweep_csv", "sweep_markdown", "SWEEP_FIELDS", "ICE40_CONFIG"]

# The smallest useful tile: one PE of 4 lanes on a 32-bit bus, a 2 KiB B scratchpad.
ICE40_CONFIG = TileConfig(pes=1, lanes=4, bus_bits=32, b_words=512, max_chunks=2,
                          pe_fifo_depth=4, max_burst=8, read_fifo_beats=8)


def default_config(target):
    """The configuration a target is measured on when none is given."""
    return ICE40_CONFIG if target == "ice40" else TileConfig()


def _config_name(cfg):
    engine = f"-S{cfg.spgemm_cols}" if cfg.has_spgemm else ""
    return f"P{cfg.pes}-L{cfg.lanes}-W{cfg.bus_bits}-B{cfg.b_words}{engine}"


def synthesize(config, target="ecp5", *, work_root="zerotile_synth", freq_mhz=100, seed=1,
               router="router1"):
    """Synthesise the accelerator in ``config`` for ``target``; returns a ``SynthReport``.

    Tool files go to ``work_root/<target>-<config>/`` (relative to the current directory);
    nextpnr runs with placement seed ``seed`` and router ``router`` (``synth.flow.ROUTERS``).
    """
    work = Path(work_root) / f"{target}-{_config_name(config)}"
    if target == "ice40":
        top, text = "ice40_top", rtlil.convert(PinWrapper(config), name="ice40_top",
                                                emit_src=False)
    else:
        top, text = TOP_NAME, accelerator_rtlil(config)
    rep = run_flow(target, text, asdict(config), work, top=top,
                   macs_per_cycle=config.peak_macs_per_cycle, freq_mhz=freq_mhz, seed=seed,
                   router=router)
    if target == "ice40" and rep.fits:
        rep.note = ("placed inside PinWrapper (inputs from a shift register, outputs XORed "
                    "onto one pin)")
    return rep


def synthesize_block(block, params, target="ecp5", *, work_root="zerotile_synth", freq_mhz=100,
                     seed=1, router="router1"):
    """Synthesise one block of the tile on its own: ``block`` names a component of
    ``zerotile.rtl`` (its class, e.g. ``"ProcessingElement"``), built as ``block(**params)``.
    Tool files go to ``work_root/<target>-<block>/``. Returns a ``SynthReport``."""
    import importlib
    import pkgutil
    import zerotile.rtl as rtl
    found = [getattr(module, block) for module in
             (importlib.import_module(f"{rtl.__name__}.{info.name}")
              for info in pkgutil.iter_modules(rtl.__path__))
             if isinstance(getattr(module, block, None), type)]
    if not found:
        raise ValueError(f"no block named {block!r} in zerotile.rtl")
    cls = found[0]
    top = block.lower()
    text = component_rtlil(cls(**params), top)
    return run_flow(target, text, {"block": block, **params}, Path(work_root) / f"{target}-{top}",
                    top=top, freq_mhz=freq_mhz, seed=seed, router=router)


SWEEP_FIELDS = ["pes", "lanes", "macs_per_cycle", "bus_bits", "b_words", "luts", "carry", "ffs",
                "lutram", "brams", "dsps", "fmax_mhz", "peak_gops", "critical_path"]


def _flow(task, work_root):
    """One flow (a Dask task) in its own folder under ``work_root``: ``synthesize(**task)``, or
    ``synthesize_block(**task)`` for a task that names a ``block``."""
    return (synthesize_block if "block" in task else synthesize)(**task, work_root=work_root)


def fan_out(tasks, *, work_root, scheduler=None, workers=None, name=str, progress=print):
    """Run ``synthesize(**task)`` (``synthesize_block`` for a task with a ``block``) for each of
    ``tasks`` on Dask (``zerotile.cluster``: a LocalCluster of ``workers`` processes, or the
    cluster at ``scheduler``), each in ``work_root/<name(task)>``. Returns the
    ``SynthReport``s in the order of ``tasks``."""
    from distributed import as_completed
    from zerotile.cluster import dask_client
    root = Path(work_root).resolve()
    workers = workers or min(len(tasks), os.cpu_count() or 1)
    with dask_client(scheduler, workers) as client:
        futures = {client.submit(_flow, task, str(root / name(task)), pure=False): i
                   for i, task in enumerate(tasks)}
        reports = [None] * len(tasks)
        for future in as_completed(futures):
            rep = reports[futures[future]] = future.result()
            progress(f"  {name(tasks[futures[future]])}: {rep.luts} LUT4, {rep.ffs} FF, "
                     f"{rep.dsps} DSP, {rep.brams} DP16KD, {rep.fmax_mhz} MHz")
    return reports


def synthesize_seeds(config, target, seeds, *, work_root="zerotile_synth", freq_mhz=100,
                     router="router1", scheduler=None, workers=None, progress=print):
    """The same netlist placed and routed at each nextpnr seed of ``seeds``, the flows fanned
    out on Dask (``fan_out``). Returns the ``SynthReport``s in seed order."""
    tasks = [dict(config=config, target=target, freq_mhz=freq_mhz, seed=s, router=router)
             for s in seeds]
    return fan_out(tasks, work_root=work_root, scheduler=scheduler, workers=workers,
                   name=lambda task: f"seed{task['seed']}", progress=progress)


def sweep(pes=(1, 2, 4), lanes=(8, 16), *, b_bytes=32768, bus_bits=64, csv_path=None,
          work_root="zerotile_synth", jobs=2, freq_mhz=100, scheduler=None, progress=print):
    """ECP5 area and Fmax over P x L, with the B scratchpad held at ``b_bytes``.

    Runs ``jobs`` flows at once on a LocalCluster (or on the Dask cluster at ``scheduler``,
    ``fan_out``); writes ``csv_path`` (columns ``SWEEP_FIELDS``) if given and
    returns the rows (dicts), sorted by MACs per cycle.
    """
    configs = [replace(TileConfig(), pes=p, lanes=l, bus_bits=bus_bits, b_words=b_bytes // l)
               for p in pes for l in lanes]

    reports = fan_out([dict(config=cfg, target="ecp5", freq_mhz=freq_mhz) for cfg in configs],
                      work_root=work_root, scheduler=scheduler, workers=jobs,
                      name=lambda task: _config_name(task["config"]), progress=progress)
    rows = []
    for cfg, rep in zip(configs, reports):
        rows.append({"pes": cfg.pes, "lanes": cfg.lanes, "macs_per_cycle":
                     cfg.peak_macs_per_cycle, "bus_bits": cfg.bus_bits, "b_words": cfg.b_words,
                     "luts": rep.luts, "carry": rep.carry, "ffs": rep.ffs, "lutram": rep.lutram,
                     "brams": rep.brams, "dsps": rep.dsps, "fmax_mhz": rep.fmax_mhz,
                     "peak_gops": rep.peak_gops, "critical_path":
                     rep.critical_path.describe() if rep.critical_path else ""})
    rows.sort(key=lambda r: (r["macs_per_cycle"], r["pes"]))
    if csv_path is not None:
        write_sweep_csv(rows, csv_path)
    return rows


def write_sweep_csv(rows, path):
    """Write sweep rows to ``path`` (columns ``SWEEP_FIELDS``); :func:`read_sweep_csv` reads it."""
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=SWEEP_FIELDS)
        w.writeheader()
        w.writerows(rows)


_FLOAT_FIELDS = ("fmax_mhz", "peak_gops")


def read_sweep_csv(path):
    """The rows of a CSV written by :func:`sweep`, with numbers as numbers (None when empty)."""
    def value(key, text):
        if key == "critical_path":
            return text
        if text == "":
            return None
        return float(text) if key in _FLOAT_FIELDS else int(text)
    with open(path, newline="") as f:
        return [{k: value(k, v) for k, v in row.items()} for row in csv.DictReader(f)]


def sweep_markdown(rows):
    """The sweep as the Markdown table the README shows (critical path as start -> end)."""
    def n(v, fmt=","):
        return "-" if v is None else format(v, fmt)
    lines = ["| P | L | MACs/cycle | LUT4 | carry | FF | LUT RAM | DP16KD | MULT18X18D "
             "| Fmax (MHz) | peak GOPS | critical path ends |",
             "|" + "---|" * 12]
    for r in rows:
        ends = r["critical_path"].split(": ", 1)[-1].split(" via ", 1)[0]
        lines.append(
            f"| {r['pes']} | {r['lanes']} | {r['macs_per_cycle']} | {n(r['luts'])} "
            f"| {n(r['carry'])} | {n(r['ffs'])} | {n(r['lutram'])} | {n(r['brams'])} "
            f"| {n(r['dsps'])} | {n(r['fmax_mhz'], '.1f')} | {n(r['peak_gops'], '.2f')} "
            f"| {ends or '-'} |")
    return "\n".join(lines) + "\n"
