"""Plots of zerotile reports."""
import numpy as np

__all__ = ["plot_sweep", "plot_speedup", "plot_roofline"]


def plot_sweep(rows, path):
    """LUT4s and Fmax against MACs per cycle, one marker per (P, L) point of an ECP5 sweep."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    ax2 = ax.twinx()
    lanes = sorted({r["lanes"] for r in rows})
    markers = "osD^v"
    for i, l in enumerate(lanes):
        pts = sorted((r for r in rows if r["lanes"] == l), key=lambda r: r["macs_per_cycle"])
        x = [r["macs_per_cycle"] for r in pts]
        ax.plot(x, [r["luts"] for r in pts], "-" + markers[i % 5], color="tab:blue",
                label=f"LUT4s, L={l}")
        ax2.plot(x, [r["fmax_mhz"] or 0 for r in pts], "--" + markers[i % 5], color="tab:red",
                 label=f"Fmax, L={l}")
        for r in pts:
            ax.annotate(f"P{r['pes']}", (r["macs_per_cycle"], r["luts"]), fontsize=7,
                        textcoords="offset points", xytext=(3, 3))
    ax.set_xscale("log", base=2)
    ax.set_xlabel("int8 MACs per cycle (P x L)")
    ax.set_ylabel("LUT4s", color="tab:blue")
    ax2.set_ylabel("Fmax (MHz)", color="tab:red")
    ax2.set_ylim(bottom=0)
    ax.set_ylim(bottom=0)
    ax.set_title("zerotile on ECP5 LFE5U-85F-8 (Yosys + nextpnr, out of context)")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _plain_ticks(ax):
    from matplotlib.ticker import FuncFormatter
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(FuncFormatter(
            lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else ""))


def plot_speedup(rows, path, cfg, shape):
    """Measured, bound-explained and ideal speedup of CSR over dense mode against density, for
    the density rows of ``zerotile bench`` (an M x K A times N columns: ``shape``)."""
    plt = _pyplot()
    d = [r["density"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    ax.plot(d, [r["ideal_speedup"] for r in rows], "k--", label="ideal: 1 / density")
    ax.plot(d, [r["bound_speedup"] for r in rows], ":", color="tab:gray",
            label="bound-explained: dense cycles / CSR roofline floor")
    ax.plot(d, [r["speedup"] for r in rows], "o-", color="tab:blue",
            label="measured: dense cycles / CSR cycles")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("density of A")
    ax.set_ylabel("speedup of CSR mode over dense mode")
    m, k, n = shape
    ax.set_title(f"zerotile P={cfg.pes} L={cfg.lanes}: skipping zeros ({m}x{k} A, N={n})")
    _plain_ticks(ax)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_roofline(rows, path, cfg):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    xs = [r["intensity"] for r in rows]
    lo, hi = min(xs) / 2, max(xs) * 4
    grid = np.geomspace(lo, hi, 100)
    roof = np.minimum(cfg.peak_macs_per_cycle, grid * cfg.bus_bytes)
    ax.plot(grid, roof, "k-", label=f"roof: min({cfg.peak_macs_per_cycle} MACs/cycle, "
                                    f"intensity x {cfg.bus_bytes} B/cycle per channel)")
    ax.plot(xs, [r["macs_per_cycle"] for r in rows], "o", color="tab:blue",
            label="achieved (CSR, N = 16)")
    for r in rows:
        ax.annotate(r["name"], (r["intensity"], r["macs_per_cycle"]), fontsize=7,
                    textcoords="offset points", xytext=(4, -3))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("operational intensity (effectual MACs per byte of the busier AXI channel)")
    ax.set_ylabel("effectual MACs per cycle")
    ax.set_title("zerotile roofline: bundled matrices against the honest bound")
    _plain_ticks(ax)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
