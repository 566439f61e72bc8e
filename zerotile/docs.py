"""The generated figures of README.md and docs/*.md: every table or figure a command can
reproduce is rendered here from a committed result file (or a deterministic simulation),
written by ``zerotile readme`` and checked by ``zerotile readme --check`` and
``tests/test_readme.py``, so the pages cannot drift from the hardware.

A generated section sits between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` on any
page; sections named ``fig-...`` are inline (a figure inside a sentence). The sources:

* ``register-map``: ``rtl.regmap.markdown_table()``;
* ``synth-results``, ``fig-fmax``, ``fig-fmax-seeds``: ``docs/synth/*.json``, written by
  ``zerotile synth --target ecp5|generic --seed S --json docs/synth/<target>-seed<S>.json``;
* ``timing-closure``: ``docs/synth/closure.csv``, the record of each timing step measured;
* ``synth-sweep``: ``docs/synth_sweep.csv`` (written by ``zerotile synth --sweep``);
* ``performance-targets``: ``docs/bench/targets.json``, simulated on the native engine by
  ``zerotile readme`` (``write_targets``; cycle counts are deterministic, and the tests
  re-simulate the default tile's targets and compare);
* ``matrix-results``: simulated now on the native engine;
* ``bench-results``, ``real-sizes``, ``epilogue-results``, ``spgemm-results``:
  ``docs/bench/*.md`` (written by ``zerotile bench [--matrices DIR [--epilogue|--spgemm]]
  --out docs/bench``);
* ``nn-results``: ``docs/nn.json`` (written by ``zerotile nn --json docs/nn.json``);
* ``fig-core-version``: the FuseSoC core's VLNV, from ``rtl.regmap.VERSION``;
* ``regress-results``, ``regress-breakdown``: ``docs/regress/*.json`` and ``*.csv`` (written
  by ``zerotile regress --campaign C --runs N --seed S --table docs/regress/C.csv --json
  docs/regress/C.json``).

``untracked_figures()`` lists measurement-like figures (MHz, speedups, cycles per second)
typed outside any generated section: ``--check`` fails on them too.
"""
import csv
import json
import re

import numpy as np

from zerotile.results import ROOT, DOCS, SYNTH_DIR, synth_reports

__all__ = ["ROOT", "README", "pages", "target_workloads", "run_targets", "measure_targets",
           "write_targets", "TARGETS_JSON", "render", "sections",
           "read_section", "write_sections", "untracked_figures"]

README = ROOT / "README.md"
N_COLUMNS, SEED = 16, 1


def pages():
    """The pages with generated sections: README.md and every docs/*.md."""
    return [README, *sorted(DOCS.glob("*.md"))]



def target_workloads():
    """(name, A, B, mode, config): the performance targets. Default configuration unless
    named: dense 256 x 256 x 256 (seed 7), the CSR 256 x 256 10 % matrix of tests/jobs.py
    (seed 8) with N = 32 in CSR and in dense mode, a 1024 x 1024 5 % CSR A (52,429 entries,
    seed 9) with N = 64 on P = 8, L = 16 and a 128-bit bus, and the 10 % matrix on P = 4,
    L = 8 with a 128-bit bus (the bus wider than a scratchpad word)."""
    from zerotile.rtl.config import TileConfig
    from zerotile.workload import random_csr
    rng = np.random.default_rng(7)
    a_dense = rng.integers(-128, 128, (256, 256)).astype(np.int8)
    b_dense = rng.integers(-128, 128, (256, 256)).astype(np.int8)
    a_sparse = random_csr(256, 256, 0.10, 8)
    b_sparse = np.random.default_rng(8 + 1000).integers(-128, 128, (256, 32)).astype(np.int8)
    a_big = random_csr(1024, 1024, 0.05, 9)
    b_big = np.random.default_rng(9 + 1000).integers(-128, 128, (1024, 64)).astype(np.int8)
    default = TileConfig()
    return [("dense 256x256x256, random int8", a_dense, b_dense, "dense", default),
            ("CSR 256x256, 10 % uniform, N = 32", a_sparse, b_sparse, "csr", default),
            ("same A in dense mode", a_sparse, b_sparse, "dense", default),
            ("P=8 L=16 bus 128: CSR 1024x1024, 5 % uniform, N = 64", a_big, b_big, "csr",
             TileConfig(pes=8, lanes=16, bus_bits=128)),
            ("P=4 L=8 bus 128: CSR 256x256, 10 % uniform, N = 32", a_sparse, b_sparse, "csr",
             TileConfig(pes=4, lanes=8, bus_bits=128))]


TARGETS_JSON = DOCS / "bench" / "targets.json"


def measure_targets(names=None):
    """Simulate the target workloads (only those named ``names`` if given) on the native
    engine (default DRAM timing): {name: report}, each result checked exact."""
    from zerotile.workload import measure
    reps = {}
    for name, a, b, mode, cfg in target_workloads():
        if names is not None and name not in names:
            continue
        rep = measure(a, b, mode=mode, config=cfg, label=name, seed=SEED)
        assert rep["correct"], f"{name}: wrong result on the RTL"
        reps[name] = rep
    return reps


def write_targets():
    """Simulate every target workload and commit-ready write their reports to TARGETS_JSON."""
    reps = measure_targets()
    TARGETS_JSON.write_text(json.dumps({"command": "zerotile readme performance-targets",
                                        "reports": reps}, indent=1) + "\n")


def run_targets():
    """The target workloads' reports, in ``target_workloads`` order, from the committed
    TARGETS_JSON (``zerotile readme`` re-simulates them; the tests re-simulate the ones on
    the default tile and compare)."""
    reps = json.loads(TARGETS_JSON.read_text())["reports"]
    return [reps[name] for name, *_ in target_workloads()]


def _run(jobs):
    """Run (A, B, mode) jobs on the native engine; their reports (zerotile.workload.report)."""
    from zerotile import firmware
    from zerotile import golden
    from zerotile.verif import simulate
    from zerotile.workload import report
    plans = [firmware.plan(a, b, mode=mode) for a, b, mode in jobs]
    results = simulate(plans, engine="native", seed=SEED, label="README numbers")
    return [report(p, r, a, b, c_ref=golden.spmm(a, b))[0]
            for p, r, (a, b, _) in zip(plans, results, jobs)]


def _targets_table():
    work = target_workloads()
    dense, csr, csr_dense, big, bus128 = run_targets()
    bound = lambda r: (f"{r['bound_cycles']:,} "
                       f"({'compute' if r['ideal_compute_cycles'] >= r['ideal_memory_cycles'] else 'memory'})")
    rows = [(work[0][0], dense, f"utilization **{dense['utilization']:.3f}** (target 0.95)"),
            (work[1][0], csr, f"roofline efficiency **{csr['roofline_efficiency']:.3f}**, "
                              f"utilization {csr['utilization']:.3f}"),
            (work[2][0], csr_dense,
             f"CSR speedup vs dense **{csr_dense['cycles'] / csr['cycles']:.2f}x** (ideal 10x, "
             f"target 9x)"),
            (work[3][0], big, f"utilization **{big['utilization']:.3f}** (target 0.85)"),
            (work[4][0], bus128, f"correct; utilization {bus128['utilization']:.3f}")]
    lines = ["| workload | cycles | bound | metric |", "|---|---|---|---|"]
    for name, r, metric in rows:
        lines.append(f"| {name} | {r['cycles']:,} | {bound(r)} | {metric} |")
    return "\n".join(lines)


def _matrix_table():
    from zerotile.workload import bundled_matrices, load_mtx, matrix_name, random_b
    jobs, names = [], []
    for path in bundled_matrices():
        a, _ = load_mtx(path, SEED)
        b = random_b(a.shape[1], N_COLUMNS, SEED)
        jobs += [(a, b, "csr"), (a, b, "dense")]
        names.append((matrix_name(path), a))
    reps = _run(jobs)
    lines = ["| matrix | M x K x N | nnz | mismatches | CSR cycles | bound | utilization | "
             "roofline eff. | dense cycles | speedup vs dense | 1/density |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for (name, a), csr, dense in zip(names, reps[0::2], reps[1::2]):
        m, k = a.shape
        density = a.nnz / (m * k)
        lines.append(
            f"| {name} | {m}x{k}x{N_COLUMNS} | {a.nnz} | {csr['mismatches'] + dense['mismatches']} "
            f"| {csr['cycles']} | {csr['bound_cycles']} | {csr['utilization']:.3f} | "
            f"{csr['roofline_efficiency']:.3f} | {dense['cycles']} | "
            f"{dense['cycles'] / csr['cycles']:.1f}x | {1 / density:.0f}x |")
    return "\n".join(lines)


def _nn_table():
    r = json.loads((ROOT / "docs" / "nn.json").read_text())
    e, d = r["energy_pj_by_event"], r["dense_energy_pj_by_event"]
    lines = [
        f"Network {r['network']}, {r['weight_sparsity']:.1%} of its weights zero, "
        f"{r['images']} held-out digits in {r['chains']} descriptor chains of "
        f"{r['jobs_per_chain']} jobs (batch N = {r['batch']}).", "",
        "| | accuracy |", "|---|---|",
        f"| float, dense | {r['dense_float_accuracy']:.4f} |",
        f"| float, pruned | {r['float_accuracy']:.4f} |",
        f"| int8, golden | {r['int8_accuracy']:.4f} |",
        f"| int8, RTL | {r['rtl_accuracy']:.4f} (logits equal golden's on "
        f"{r['images_matching_golden']} of {r['images']} images) |", "",
        "| mode | cycles / image | energy / image | pJ / effectual MAC | DRAM share | "
        "MACs | scratchpad | epilogue | DRAM |",
        "|---|---|---|---|---|---|---|---|---|"]
    for name, cyc, pj, per, share, ev in (
            ("sparse (CSR)", r["cycles_per_image"], r["energy_pj_per_image"],
             r["pj_per_effectual_mac"], r["dram_energy_share"], e),
            ("dense", r["dense_cycles_per_image"], r["dense_energy_pj_per_image"],
             r["dense_pj_per_effectual_mac"], r["dense_dram_energy_share"], d)):
        imgs = r["images"]
        lines.append(
            f"| {name} | {cyc:,.1f} | {pj / 1000:,.1f} nJ | {per:.1f} | {share:.1%} | "
            f"{(ev['multiplies'] + ev['accumulator_updates']) / imgs / 1000:,.2f} nJ | "
            f"{ev['scratchpad_reads'] / imgs / 1000:,.2f} nJ | "
            f"{ev['epilogue'] / imgs / 1000:,.2f} nJ | {ev['dram'] / imgs / 1000:,.1f} nJ |")
    lines += ["", f"Sparse vs dense: {r['speedup_vs_dense']:.2f}x fewer cycles, "
                  f"{r['dense_energy_pj_per_image'] / r['energy_pj_per_image']:.2f}x less "
                  f"energy per image."]
    return "\n".join(lines)


def _ecp5_default_reports():
    """{seed: report} of the default tile's committed ECP5 runs."""
    from zerotile.rtl.config import TileConfig
    default = TileConfig().as_dict()
    out = {}
    for name, rep in synth_reports().items():
        m = re.fullmatch(r"ecp5-seed(\d+)", name)
        if m and rep["config"] == default:
            out[int(m.group(1))] = rep
    return dict(sorted(out.items()))


def _fig_fmax():
    rep = _ecp5_default_reports().get(1)
    return f"{rep['fmax_mhz']:.1f} MHz" if rep else "not measured"


def _fig_fmax_seeds():
    reps = _ecp5_default_reports()
    if not reps:
        return "not measured"
    f = [r["fmax_mhz"] for r in reps.values()]
    seeds = ", ".join(str(s) for s in reps)
    return (f"{min(f):.1f}-{max(f):.1f} MHz over nextpnr seeds {seeds}" if len(f) > 1
            else f"{f[0]:.1f} MHz (nextpnr seed {seeds})")


def _synth_table():
    lines = ["| report | target | part | config | LUT4 / gates | carry | FF | LUT RAM | block RAM "
             "| DSP | Fmax | peak int8 GOPS | critical path |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in synth_reports().items():
        c = r["config"]
        config = f"P={c['pes']} L={c['lanes']} bus={c['bus_bits']}" + (
            f" SpGEMM={c['spgemm_cols']}" if c.get("spgemm_cols") else "")
        path = (r.get("critical_path") or {}).get("text", "-").replace("|", "\\|")
        fmax = f"{r['fmax_mhz']:.1f} MHz" if r.get("fmax_mhz") else "-"
        gops = f"{r['peak_gops']:.2f}" if r.get("peak_gops") else "-"
        lines.append(f"| [{name}](synth/{name}.json) | {r['target']} | {r['part']} | {config} | "
                     f"{r['luts']:,} | {r.get('carry') or '-'} | {r['ffs']:,} | "
                     f"{r.get('lutram') or '-'} | {r['brams']} | {r['dsps']} | {fmax} | {gops} | "
                     f"{path} |")
    return "\n".join(lines)


def _closure_table():
    with open(SYNTH_DIR / "closure.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(r[c].replace("|", "\\|") for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def _fig_core_version():
    from zerotile.rtl.regmap import VERSION
    from zerotile.synth.fusesoc import VLNV
    return f"{VLNV}:{VERSION >> 16}.{(VERSION >> 8) & 0xFF}.{VERSION & 0xFF}"


def sections():
    """Name -> function rendering that section."""
    from zerotile.regress.report import campaign_table, campaign_breakdown
    from zerotile.rtl.regmap import markdown_table
    from zerotile.synth import read_sweep_csv, sweep_markdown
    return {
        "register-map": markdown_table,
        "synth-results": _synth_table,
        "timing-closure": _closure_table,
        "fig-fmax": _fig_fmax,
        "fig-fmax-seeds": _fig_fmax_seeds,
        "fig-core-version": _fig_core_version,
        "synth-sweep": lambda: sweep_markdown(read_sweep_csv(ROOT / "docs" / "synth_sweep.csv")),
        # measured on the machine that ran `zerotile bench --out docs/bench` (scipy timings)
        "bench-results": lambda: (ROOT / "docs" / "bench" / "bench.md").read_text(),
        "real-sizes": lambda: (ROOT / "docs" / "bench" / "matrices.md").read_text(),
        "epilogue-results": lambda: (ROOT / "docs" / "bench" / "epilogue.md").read_text(),
        "spgemm-results": lambda: (ROOT / "docs" / "bench" / "spgemm.md").read_text(),
        "nn-results": _nn_table,
        "regress-results": lambda: campaign_table(DOCS / "regress"),
        "regress-breakdown": lambda: campaign_breakdown(DOCS / "regress"),
        "performance-targets": _targets_table,
        "matrix-results": _matrix_table,
    }


def render(name):
    return sections()[name]().strip()


_MARKER = re.compile(r"<!-- ([a-z0-9-]+):begin -->(.*?)<!-- \1:end -->", re.S)


def _found(text):
    """{name: text between its markers} of one page."""
    return {m.group(1): m.group(2) for m in _MARKER.finditer(text)}


def read_section(name, text=None):
    """The text of generated section ``name`` (on whichever page holds it)."""
    for page in ([None] if text is not None else pages()):
        found = _found(text if page is None else page.read_text())
        if name in found:
            return found[name].strip()
    raise KeyError(f"no page has the <!-- {name}:begin --> ... <!-- {name}:end --> markers")


def write_sections(names=None, *, check=False):
    """Regenerate the generated sections on every page (only ``names`` if given). With
    ``check``, write nothing. Returns the stale sections as ``page:name``, and with
    ``check`` also every untracked figure (``untracked_figures``)."""
    known = sections()
    stale, rendered = [], {}
    if not check and (names is None or "performance-targets" in names):
        write_targets()               # the one section whose source is simulated on demand
    for page in pages():
        text = page.read_text()
        found = _found(text)
        unknown = set(found) - set(known)
        if unknown:
            raise KeyError(f"{page.name}: unknown generated sections {sorted(unknown)}")
        new_text = text
        for name in found:
            if names and name not in names:
                continue
            if name not in rendered:
                rendered[name] = render(name)
            new = rendered[name]
            body = new if name.startswith("fig-") else f"\n{new}\n"
            if found[name].strip() != new:
                stale.append(f"{page.relative_to(ROOT)}:{name}")
                new_text = new_text.replace(f"<!-- {name}:begin -->{found[name]}<!-- {name}:end -->",
                                            f"<!-- {name}:begin -->{body}<!-- {name}:end -->")
        if not check and new_text != text:
            page.write_text(new_text)
    if check:
        stale += [f"{p}:{line}: typed figure {fig!r}" for p, line, fig in untracked_figures()]
    return stale


# Measurement-like figures: clock rates, speedups, simulation rates.
_FIGURE = re.compile(r"\b\d[\d,]*(?:\.\d+)? ?(?:MHz|GHz)\b|\b\d+(?:\.\d+)?x\b(?! ?\d)|"
                     r"\b\d[\d,.]* ?[kM]? ?cycles/s\b")


def untracked_figures():
    """[(page, line number, figure)]: measurement-like figures outside generated sections
    (and outside code blocks) on every page."""
    out = []
    for page in pages():
        text = _MARKER.sub(lambda m: "\n" * m.group(0).count("\n"), page.read_text())
        fenced = False
        for i, line in enumerate(text.splitlines(), 1):
            if line.startswith("```"):
                fenced = not fenced
                continue
            if not fenced:
                out += [(page.relative_to(ROOT), i, m.group(0)) for m in _FIGURE.finditer(line)]
    return out
