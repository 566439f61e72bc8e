"""The pruned int8 MLP of ``zerotile nn``: trained at run time on scikit-learn's bundled digits,
pruned by magnitude, quantised to int8 with calibrated scales (TFLite's scheme), and run on the
RTL as one descriptor chain per batch.

Everything is seeded and offline: the digits ship inside scikit-learn; training is a small
NumPy MLP (ReLU hidden layers, softmax cross-entropy, Adam).

Quantisation (TFLite int8, per output channel):

* input: ``x_q = round(x / s_x)`` with ``s_x = 16 / 127`` (digits are 0..16), zero point 0;
* weights: symmetric per row, ``s_w[i] = max |W[i, :]| / 127``;
* activations: asymmetric after ReLU (zero point -128, ``s = max / 255`` calibrated on the
  training set), symmetric for the logits (zero point 0);
* bias ``round(b / (s_in s_w[i]))`` minus ``zp_in * sum_k W_q[i, k]`` (the input zero point
  folded in), multiplier ``s_in s_w[i] / s_out`` by ``QuantizeMultiplier``.
"""
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from zerotile import golden
from zerotile.firmware import Layer, Requant, quantize_multiplier
from zerotile.rtl.config import TileConfig

__all__ = ["NNSetup", "build", "train_mlp", "prune", "quantize", "quantize_input",
           "golden_logits", "run"]

X_SCALE = 16.0 / 127.0
DEFAULT_HIDDEN = (128, 64)


@dataclass
class NNSetup:
    x_test: np.ndarray        # images x 64 float
    y_test: np.ndarray
    float_accuracy: float     # of the pruned, fine-tuned float network
    dense_float_accuracy: float
    layers: list              # firmware Layer, int8
    weight_sparsity: float
    hidden: tuple


def _forward(params, x, masks=None):
    acts = [x]
    h = x
    for i, (w, b) in enumerate(params):
        if masks is not None:
            w = w * masks[i]
        h = h @ w.T + b
        if i < len(params) - 1:
            h = np.maximum(h, 0)
        acts.append(h)
    return acts


def _train(params, x, y, *, epochs, lr, seed, masks=None, batch=64):
    rng = np.random.default_rng(seed)
    m = [(np.zeros_like(w), np.zeros_like(b)) for w, b in params]
    v = [(np.zeros_like(w), np.zeros_like(b)) for w, b in params]
    t = 0
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for s in range(0, len(x), batch):
            idx = order[s:s + batch]
            acts = _forward(params, x[idx], masks)
            logits = acts[-1]
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            g = p
            g[np.arange(len(idx)), y[idx]] -= 1
            g /= len(idx)
            t += 1
            for i in reversed(range(len(params))):
                w, b = params[i]
                gw = g.T @ acts[i]
                gb = g.sum(axis=0)
                if i > 0:
                    g = (g @ (w if masks is None else w * masks[i])) * (acts[i] > 0)
                if masks is not None:
                    gw = gw * masks[i]
                corr = np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)      # Adam's bias correction
                for p, grad, mom, var in ((w, gw, m[i][0], v[i][0]), (b, gb, m[i][1], v[i][1])):
                    mom *= 0.9
                    mom += 0.1 * grad
                    var *= 0.999
                    var += 0.001 * grad ** 2
                    p -= lr * corr * mom / (np.sqrt(var) + 1e-8)
    return params


def _accuracy(params, x, y, masks=None):
    return float((_forward(params, x, masks)[-1].argmax(axis=1) == y).mean())


def train_mlp(x, y, hidden, seed):
    """Float MLP ``64 - hidden... - 10``: [(W (out x in), b)]."""
    rng = np.random.default_rng(seed)
    sizes = (x.shape[1], *hidden, 10)
    params = [(rng.normal(0, np.sqrt(2 / k), (m, k)), np.zeros(m))
              for k, m in zip(sizes, sizes[1:])]
    return _train(params, x, y, epochs=60, lr=2e-3, seed=seed)


def prune(params, x, y, sparsity, seed, steps=(0.5, 0.75)):
    """Global magnitude pruning (one threshold over all layers) in steps up to ``sparsity``
    zeros, each step followed by a masked fine-tune (the pruned weights stay zero)."""
    for step, target in enumerate([s for s in steps if s < sparsity] + [sparsity]):
        # global: one magnitude threshold over every layer's weights
        everything = np.concatenate([np.abs(w).ravel() for w, _ in params])
        keep = max(1, int(round(everything.size * (1 - target))))
        thresh = np.partition(everything, everything.size - keep)[everything.size - keep]
        masks = [(np.abs(w) >= thresh).astype(np.float64) for w, _ in params]
        params = [(w * mk, b) for (w, b), mk in zip(params, masks)]
        final = target == sparsity
        params = _train(params, x, y, epochs=80 if final else 30, lr=1e-3, seed=seed + 1 + step,
                        masks=masks)
        params = [(w * mk, b) for (w, b), mk in zip(params, masks)]
    return params


def quantize(params, x_calib):
    """int8 ``Layer``s (CSR weights) with calibrated activation scales."""
    acts = _forward(params, x_calib)
    s_in, zp_in = X_SCALE, 0
    layers = []
    for i, (w, b) in enumerate(params):
        last = i == len(params) - 1
        peak = np.abs(w).max(axis=1)
        s_w = np.where(peak > 0, peak, 127.0) / 127.0     # an all-zero row: any scale
        w_q = np.clip(np.round(w / s_w[:, None]), -127, 127).astype(np.int8)
        out = acts[i + 1]
        if last:
            s_out, zp_out = max(float(np.abs(out).max()), 1e-6) / 127.0, 0
        else:
            s_out, zp_out = max(float(out.max()), 1e-6) / 255.0, -128
        bias = np.round(b / (s_in * s_w)).astype(np.int64) - \
            zp_in * w_q.astype(np.int64).sum(axis=1)
        mult, shift = quantize_multiplier(s_in * s_w / s_out)
        requant = Requant.for_rows(w.shape[0], bias=bias, multiplier=mult, shift=shift,
                                   out_zero_point=zp_out, relu=not last)
        layers.append(Layer(sp.csr_array(w_q), requant))
        s_in, zp_in = s_out, zp_out
    return layers


def quantize_input(x):
    """Images (n x 64, 0..16) as the network's int8 input, features x batch."""
    return np.clip(np.round(x / X_SCALE), -128, 127).astype(np.int8).T.copy()


def golden_logits(layers, x_q):
    """int8 logits (10 x batch) of the quantised network as golden computes it."""
    from zerotile.workload import golden_network
    return golden_network(layers, x_q)


def build(*, hidden=DEFAULT_HIDDEN, sparsity=0.9, seed=0, test_fraction=0.3):
    """Train, prune and quantise: the ``NNSetup`` of the demo."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=test_fraction, random_state=seed,
        stratify=digits.target)
    xs_train, xs_test = x_train / 16.0, x_test / 16.0
    dense = train_mlp(xs_train, y_train, hidden, seed)
    dense_acc = _accuracy(dense, xs_test, y_test)
    pruned = prune([(w.copy(), b.copy()) for w, b in dense], xs_train, y_train, sparsity, seed)
    float_acc = _accuracy(pruned, xs_test, y_test)
    # the quantiser sees the network as trained on x / 16; the int8 input is x / (16 / 127)
    scaled = [(w / 16.0, b) if i == 0 else (w, b) for i, (w, b) in enumerate(pruned)]
    layers = quantize(scaled, x_train)
    total = sum(w.size for w, _ in pruned)
    zeros = sum(int((w == 0).sum()) for w, _ in pruned)
    return NNSetup(x_test=x_test, y_test=y_test, float_accuracy=float_acc,
                   dense_float_accuracy=dense_acc, layers=layers,
                   weight_sparsity=zeros / total, hidden=tuple(hidden))


def _layers_in_mode(layers, mode):
    return [Layer(l.weights, l.requant, mode) for l in layers]


def run(setup, *, batch=64, config=None, engine="native", sim="verilator", seed=1):
    """Classify ``setup.x_test`` on the RTL in batches of ``batch`` images (one descriptor
    chain per batch), sparse (CSR) and dense; returns the report dict."""
    from zerotile import firmware
    from zerotile.verif import simulate
    from zerotile.workload import epilogue_outputs
    config = config or TileConfig()
    if not 1 <= batch <= config.max_n:
        raise firmware.FormatError(f"--batch must be in 1..{config.max_n} (one job's columns), "
                                   f"not {batch}")
    x_q = quantize_input(setup.x_test)              # 64 x images
    images = x_q.shape[1]
    starts = list(range(0, images, batch))
    modes = {"csr": _layers_in_mode(setup.layers, "csr"),
             "dense": _layers_in_mode(setup.layers, "dense")}
    plans = {md: [firmware.plan_network(ls, x_q[:, s:s + batch], config=config)
                  for s in starts] for md, ls in modes.items()}
    ref = golden_logits(setup.layers, x_q)
    out = {}
    for md in ("csr", "dense"):
        results = simulate(plans[md], engine=engine, sim=sim, seed=seed,
                           label=f"digits MLP, {md} ({len(starts)} chains)")
        if len(results) != len(starts) or any(r.error for r in results):
            errors = [r.error for r in results if r.error]
            raise RuntimeError(f"{md}: the RTL stopped: {errors[:1] or 'hang'}")
        logits = np.concatenate([r.c for r in results], axis=1)
        counters = {k: sum(r.counters[k] for r in results) for k in results[0].counters}
        energy = golden.estimate_energy(
            counters, lanes=config.lanes, bank_bytes=config.b_words * config.lanes,
            epilogue_outputs=sum(epilogue_outputs(p) for p in plans[md]))
        out[md] = {"logits": logits, "counters": counters, "energy": energy,
                   "jobs": sum(len(p.jobs) for p in plans[md]),
                   "sim_cycles": sum(r.sim_cycles for r in results),
                   "sim_seconds": sum(r.sim_seconds for r in results)}
    sparse, dense = out["csr"], out["dense"]
    per_image_match = (sparse["logits"] == ref).all(axis=0)
    dense_match = (dense["logits"] == ref).all(axis=0)
    predict = lambda lg: lg.argmax(axis=0)
    cycles = sparse["counters"]["cycles_busy"]
    dense_cycles = dense["counters"]["cycles_busy"]
    return {
        "network": "x".join(str(d) for d in (64, *setup.hidden, 10)),
        "images": images, "batch": batch, "chains": len(starts),
        "jobs_per_chain": sparse["jobs"] // len(starts),
        "weight_sparsity": round(setup.weight_sparsity, 4),
        "dense_float_accuracy": round(setup.dense_float_accuracy, 4),
        "float_accuracy": round(setup.float_accuracy, 4),
        "int8_accuracy": round(float((predict(ref) == setup.y_test).mean()), 4),
        "rtl_accuracy": round(float((predict(sparse["logits"]) == setup.y_test).mean()), 4),
        "rtl_matches_golden": bool(per_image_match.all()),
        "images_matching_golden": int(per_image_match.sum()),
        "dense_rtl_matches_golden": bool(dense_match.all()),
        "cycles": cycles, "dense_cycles": dense_cycles,
        "cycles_per_image": round(cycles / images, 1),
        "dense_cycles_per_image": round(dense_cycles / images, 1),
        "speedup_vs_dense": round(dense_cycles / cycles, 3),
        "effectual_macs": sparse["counters"]["effectual_macs"],
        "dram_bytes_read": sparse["counters"]["dram_bytes_read"],
        "dram_bytes_written": sparse["counters"]["dram_bytes_written"],
        "energy_pj_per_image": round(sparse["energy"]["energy_pj"] / images, 1),
        "dense_energy_pj_per_image": round(dense["energy"]["energy_pj"] / images, 1),
        "pj_per_effectual_mac": sparse["energy"]["pj_per_effectual_mac"],
        "dense_pj_per_effectual_mac": dense["energy"]["pj_per_effectual_mac"],
        "dram_energy_share": sparse["energy"]["dram_energy_share"],
        "dense_dram_energy_share": dense["energy"]["dram_energy_share"],
        "energy_pj_by_event": sparse["energy"]["energy_pj_by_event"],
        "dense_energy_pj_by_event": dense["energy"]["energy_pj_by_event"],
        "energy_model": sparse["energy"]["energy_model"],
        "engine": engine, "config": config.as_dict(),
        "sim_cycles": sparse["sim_cycles"] + dense["sim_cycles"],
        "sim_seconds": round(sparse["sim_seconds"] + dense["sim_seconds"], 3),
    }
