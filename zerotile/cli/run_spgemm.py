"""``zerotile run --mode spgemm``: C = A.B with B sparse too, written by the tile as CSR."""
from zerotile.firmware import FormatError
from .common import fmt, config_from
from .operands import shape_from_headers, inputs_record, result_row, MAX_DENSE_B_BYTES
from .simulation import Product, engine_from

__all__ = ["spgemm_product"]


def spgemm_product(args, console):
    """The ``Product`` of ``run --mode spgemm`` (and, with --compare-dense, the same product
    with B dense in CSR mode)."""
    import scipy.sparse as sp
    from zerotile import firmware, golden
    from zerotile.workload import load_mtx, load_sparse_b, random_sparse_b, report, spgemm_report
    if args.b is not None and args.b_density is not None:
        raise FormatError("--b-density sets a random B; --b gives one")
    if args.b_density is not None and not 0 <= args.b_density <= 1:
        raise FormatError(f"--b-density must be in 0..1, not {args.b_density}")
    unsupported = [name for name, given in (
        ("--accumulate", args.accumulate),
        ("--bias/--multiplier/--shift", any(x is not None for x in
                                            (args.bias, args.multiplier, args.shift))),
        ("--relu", args.relu), ("--out-zero-point", args.out_zero_point is not None)) if given]
    if unsupported:
        raise FormatError(f"{', '.join(unsupported)}: not available in SpGEMM mode (C = A.B, "
                          f"int32, written as CSR)")
    if args.out is not None and not args.out.endswith(".npz"):
        raise FormatError(f"--out in SpGEMM mode writes C as a scipy.sparse .npz file, not "
                          f"{args.out}")
    engine_from(args)                      # the engine options, checked before any work
    # the SpGEMM engine is a generator option (TileConfig.spgemm_cols): simulated here with it
    cfg = config_from(args).with_spgemm()
    if not cfg.has_spgemm:
        raise FormatError(f"this configuration has no SpGEMM engine (it needs pes >= 4 and "
                          f"lanes >= 4; P={cfg.pes} L={cfg.lanes})")
    path, m, k, n, entries = shape_from_headers(args)
    if args.compare_dense and k * n > MAX_DENSE_B_BYTES:
        raise FormatError(f"--compare-dense runs B dense: {k}x{n} int8 is {k * n:,} bytes, "
                          f"more than {MAX_DENSE_B_BYTES:,}")
    if args.compare_dense:
        firmware.check_size(m, k, n, entries, mode="csr", config=cfg)
    a, note = load_mtx(path, args.seed, as_given=True, quantize=args.quantize_a)
    density = None
    if args.b is not None:
        b, b_note = load_sparse_b(args.b, args.seed, quantize=args.quantize_b)
    else:
        density = 0.05 if args.b_density is None else args.b_density
        b = random_sparse_b(k, n, density, args.seed)
        b_note = (f"B: {k}x{n} seeded random sparse, density {density} ({b.nnz} stored "
                  f"entries, nonzero int8; --seed {args.seed})")
    console.say(f"A: {path}: {m}x{k}, {a.nnz} stored entries; {note}")
    console.say(b_note)
    plans = [firmware.plan_spgemm(a, b, config=cfg)]
    if args.compare_dense:
        plans.append(firmware.plan(a, b.toarray(), config=cfg, mode="csr"))
    c_ref = golden.spgemm(a, b)

    def report_one(i, res):
        if i == 0:
            return spgemm_report(plans[0], res, a, b, c_ref=c_ref)
        b_dense = b.toarray()
        rep, details = report(plans[1], res, a, b_dense, c_ref=golden.spmm(a, b_dense))
        rep["mode"] = "csr (B dense)"
        return rep, details

    def combine(reports):
        main = dict(reports[0])
        if len(reports) > 1:
            spmm = reports[1]
            main.update(spmm=spmm, spmm_cycles=spmm.get("cycles"), spmm_correct=spmm["correct"],
                        speedup_vs_spmm=round(spmm["cycles"] / main["cycles"], 3)
                        if main.get("cycles") and spmm.get("cycles") else None)
        return main

    def notes(main, reports):
        lines = []
        if main.get("cycles") is not None:
            lines.append(f"partial products {main['partial_products']:,} (golden "
                         f"{main['golden_partial_products']:,}), merges {main['merges']:,}, "
                         f"output nonzeros {main['output_nnz']:,}; entries that cancel to 0 "
                         f"are dropped")
        lines.append(f"bound = max(effectual products / {cfg.spgemm_products_per_cycle} per "
                     f"cycle, reads / bus, writes / bus) cycles, with A, B and C at their "
                     f"compressed sizes")
        if main.get("speedup_vs_spmm"):
            lines.append(f"speedup vs the same product with B dense (CSR mode): "
                         f"{main['speedup_vs_spmm']:.2f}x")
        return lines

    def save_out(out, result):
        sp.save_npz(out, sp.csr_matrix(result.c))
        return f"C as the RTL wrote it (CSR int32, {m}x{n}, {result.c.nnz} nonzeros): {out}"

    return Product(
        plans=plans, label=path.name,
        inputs=inputs_record(args, path, note, b_note, n, density=density),
        report=report_one,
        columns=["mode", "correct", "mismatches", "cycles", "bound", "products/cycle",
                 "roofline_eff", "dram_rd", "dram_wr", "traffic"],
        row=lambda r: {**result_row(r), "products/cycle": fmt(r.get("products_per_cycle"))},
        headline=lambda main, where: (
            f"C = A.B (SpGEMM), shape {main['shape']}, nnz(C) = {main['nnz_c']} on {where}: "
            f"it forms {cfg.spgemm_products_per_cycle} partial products per cycle at most"),
        combine=combine, notes=notes, save_out=save_out)
