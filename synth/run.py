"""Synthesis of the accelerator for one configuration, and sweeps over P and L."""
import csv
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path

from amaranth.back import rtlil

from rtl.config import TileConfig
from rtl.export import accelerator_rtlil, TOP_NAME
from .flow import run_flow
from .ice40_wrapper import PinWrapper

__all__ = ["synthesize", "default_config", "sweep", "SWEEP_FIELDS", "ICE40_CONFIG"]

# The smallest useful tile: one PE of 4 lanes on a 32-bit bus, a 2 KiB B scratchpad.
ICE40_CONFIG = TileConfig(pes=1, lanes=4, bus_bits=32, b_words=512, max_chunks=2,
                          pe_fifo_depth=4, max_burst=8, read_fifo_beats=8)


def default_config(target):
    """The configuration a target is measured on when none is given."""
    return ICE40_CONFIG if target == "ice40" else TileConfig()


def _config_name(cfg):
    return f"P{cfg.pes}-L{cfg.lanes}-W{cfg.bus_bits}-B{cfg.b_words}"


def synthesize(config, target="ecp5", *, work_root="zerotile_synth", freq_mhz=100, seed=1):
    """Synthesise the accelerator in ``config`` for ``target``; returns a ``SynthReport``.

    Tool files go to ``work_root/<target>-<config>/`` (relative to the current directory).
    """
    work = Path(work_root) / f"{target}-{_config_name(config)}"
    if target == "ice40":
        top, text = "ice40_top", rtlil.convert(PinWrapper(config), name="ice40_top",
                                                emit_src=False)
    else:
        top, text = TOP_NAME, accelerator_rtlil(config)
    rep = run_flow(target, text, asdict(config), work, top=top,
                   macs_per_cycle=config.peak_macs_per_cycle, freq_mhz=freq_mhz, seed=seed)
    if target == "ice40" and rep.fits:
        rep.note = ("placed inside PinWrapper (inputs from a shift register, outputs XORed "
                    "onto one pin)")
    return rep


SWEEP_FIELDS = ["pes", "lanes", "macs_per_cycle", "bus_bits", "b_words", "luts", "carry", "ffs",
                "lutram", "brams", "dsps", "fmax_mhz", "peak_gops", "critical_path"]


def sweep(pes=(1, 2, 4), lanes=(8, 16), *, b_bytes=32768, bus_bits=64, csv_path=None,
          work_root="zerotile_synth", jobs=2, freq_mhz=100, progress=print):
    """ECP5 area and Fmax over P x L, with the B scratchpad held at ``b_bytes``.

    Runs ``jobs`` flows at once; writes ``csv_path`` (columns ``SWEEP_FIELDS``) if given and
    returns the rows (dicts), sorted by MACs per cycle.
    """
    configs = [replace(TileConfig(), pes=p, lanes=l, bus_bits=bus_bits, b_words=b_bytes // l)
               for p in pes for l in lanes]

    def one(cfg):
        rep = synthesize(cfg, "ecp5", work_root=work_root, freq_mhz=freq_mhz)
        row = {"pes": cfg.pes, "lanes": cfg.lanes, "macs_per_cycle": cfg.peak_macs_per_cycle,
               "bus_bits": cfg.bus_bits, "b_words": cfg.b_words, "luts": rep.luts,
               "carry": rep.carry, "ffs": rep.ffs, "lutram": rep.lutram, "brams": rep.brams,
               "dsps": rep.dsps, "fmax_mhz": rep.fmax_mhz, "peak_gops": rep.peak_gops,
               "critical_path": rep.critical_path.describe() if rep.critical_path else ""}
        progress(f"  P={cfg.pes} L={cfg.lanes}: {rep.luts} LUT4, {rep.dsps} DSP, "
                 f"{rep.brams} DP16KD, {rep.fmax_mhz} MHz")
        return row

    with ThreadPoolExecutor(max(1, jobs)) as ex:
        rows = list(ex.map(one, configs))
    rows.sort(key=lambda r: (r["macs_per_cycle"], r["pes"]))
    if csv_path is not None:
        with open(csv_path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=SWEEP_FIELDS)
            w.writeheader()
            w.writerows(rows)
    return rows
