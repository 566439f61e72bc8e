"""``zerotile nn``: a pruned int8 MLP on scikit-learn's digits, classified on the RTL."""
import time

from .common import (Console, fmt, positive, non_negative, check_output_path, write_json,
                     EXIT_OK, EXIT_MISMATCH)

NAME = "nn"
HELP = "a 90%%-pruned int8 MLP on scikit-learn's digits, classified on the RTL (sparse vs dense)"
DESCRIPTION = ("Train a small MLP on scikit-learn's bundled digits (no network access), prune "
               "it by magnitude to 90%% zeros, quantise it to int8 (TFLite per-channel scheme) "
               "and classify the held-out images on the RTL, layer after layer from one "
               "doorbell; sparse against dense, with an energy estimate.")


def add_arguments(p):
    p.add_argument("--json", metavar="FILE", help="write the report as JSON ('-': stdout)")
    p.add_argument("--seed", type=non_negative, default=0,
                   help="seed of the split, training and pruning (default 0)")
    p.add_argument("--batch", type=positive, default=64,
                   help="images per descriptor chain: the N of every layer (default 64)")


def run(args):
    from zerotile import golden, nn
    from zerotile.firmware import FormatError
    from zerotile.rtl.config import TileConfig
    config = TileConfig()
    if args.batch > config.max_n:              # refused before the training, not after it
        raise FormatError(f"--batch must be in 1..{config.max_n} (one job's columns), not "
                          f"{args.batch}")
    check_output_path("--json", args.json)
    console = Console(json_to_stdout=args.json == "-")
    say = console.say
    t0 = time.monotonic()
    say(f"training a 64-{'-'.join(map(str, nn.DEFAULT_HIDDEN))}-10 MLP on scikit-learn's "
        f"bundled digits (seed {args.seed}), pruning it by magnitude to 90 % zeros with a "
        f"masked fine-tune, quantising it to int8 (TFLite per-channel scheme)...")
    setup = nn.build(seed=args.seed)
    say(f"  {time.monotonic() - t0:.1f} s; weights per layer (nonzero): "
        + ", ".join(f"{l.weights.shape[0]}x{l.weights.shape[1]} ({l.weights.nnz})"
                    for l in setup.layers))
    rep = nn.run(setup, batch=args.batch, seed=args.seed, config=config)
    write_json(console, args.json, rep)
    say(f"classified {rep['images']} held-out images on the RTL (native engine, "
        f"{config.describe()}) in {rep['chains']} descriptor chains of "
        f"{rep['jobs_per_chain']} jobs (batch = N = {rep['batch']}): the int8 output of each "
        f"layer is the next layer's B in DRAM, no host step between layers")
    console.table([
        {"": "float (dense)", "accuracy": fmt(rep["dense_float_accuracy"], 4)},
        {"": "float (90 % pruned)", "accuracy": fmt(rep["float_accuracy"], 4)},
        {"": "int8 golden", "accuracy": fmt(rep["int8_accuracy"], 4)},
        {"": "int8 RTL", "accuracy": fmt(rep["rtl_accuracy"], 4)}], ["", "accuracy"])
    say(f"RTL logits equal golden's on {rep['images_matching_golden']} of {rep['images']} "
        f"images" + ("" if rep["rtl_matches_golden"] else "  <-- MISMATCH"))
    console.table([
        {"mode": "sparse (CSR)", "cycles/image": rep["cycles_per_image"],
         "pJ/image": f"{rep['energy_pj_per_image']:,.0f}",
         "pJ/effectual_MAC": fmt(rep["pj_per_effectual_mac"]),
         "dram_share": fmt(rep["dram_energy_share"], 3)},
        {"mode": "dense", "cycles/image": rep["dense_cycles_per_image"],
         "pJ/image": f"{rep['dense_energy_pj_per_image']:,.0f}",
         "pJ/effectual_MAC": fmt(rep["dense_pj_per_effectual_mac"]),
         "dram_share": fmt(rep["dense_dram_energy_share"], 3)}],
        ["mode", "cycles/image", "pJ/image", "pJ/effectual_MAC", "dram_share"])
    t = golden.HOROWITZ_45NM
    say(f"speedup vs dense: {rep['speedup_vs_dense']:.2f}x; energy: event counters x "
        f"{t.source} ({t.node}) table, not a measurement; not modelled: {golden.NOT_MODELLED}")
    say(f"done in {time.monotonic() - t0:.1f} s")
    return EXIT_OK if rep["rtl_matches_golden"] and rep["dense_rtl_matches_golden"] \
        else EXIT_MISMATCH
