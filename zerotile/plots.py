"""Plots of zerotile reports."""
__all__ = ["plot_sweep"]


def plot_sweep(rows, path):
    """LUT4s and Fmax against MACs per cycle, one marker per (P, L) point of an ECP5 sweep."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
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
