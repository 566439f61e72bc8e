"""The output epilogue's exact arithmetic: TFLite/gemmlowp int8 requantisation.

``requantize`` finishes int32 accumulators into int8 outputs, per output row ``i``:

1. ``acc = acc + bias[i]`` (int32, wrapping);
2. ``x = RoundingDivideByPOT(SRDHM(acc << left, M[i]), right)`` with
   ``left = max(shift[i], 0)``, ``right = max(-shift[i], 0)`` (the shift ``acc << left``
   wraps to int32, as the int32 multiplication of TFLite's reference does on every
   two's-complement machine);
3. ``y = clamp(x + out_zero_point, act_min, act_max)`` (the sum is exact, not wrapped), int8.

``SRDHM(a, b)`` (SaturatingRoundingDoublingHighMul) is ``(a*b + nudge) / 2**31`` truncated
towards zero, ``nudge = 2**30`` if ``a*b >= 0`` else ``1 - 2**30``, and INT32_MAX for
``a == b == INT32_MIN`` (its only overflow). ``RoundingDivideByPOT(x, e)`` is
``(x >> e) + ((x & mask) > (mask >> 1) + (x < 0))`` with ``mask = 2**e - 1``: round to
nearest, ties away from zero.

Everything is plain int64 NumPy: products of two int32 fit in int64.
"""
import math

import numpy as np

from .reference import wrap_int32

__all__ = ["INT32_MIN", "INT32_MAX", "srdhm", "rounding_divide_by_pot", "requantize",
           "quantize_multiplier", "check_requant_params"]

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def srdhm(a, b):
    """SaturatingRoundingDoublingHighMul of int32 arrays ``a`` and ``b`` (broadcast)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    ab = a * b
    nudged = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    # truncating division towards zero by 2**31
    q = np.where(nudged >= 0, nudged >> 31, -((-nudged) >> 31))
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, q).astype(np.int64)


def rounding_divide_by_pot(x, exponent):
    """RoundingDivideByPOT: ``x / 2**exponent`` rounded to nearest, ties away from zero
    (``exponent`` in 0..31)."""
    x = np.asarray(x, dtype=np.int64)
    e = np.asarray(exponent, dtype=np.int64)
    if np.any((e < 0) | (e > 31)):
        raise ValueError("exponent must be in 0..31")
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + (remainder > threshold)


def check_requant_params(multiplier, shift, out_zero_point=0, act_min=-128, act_max=127):
    """Raise ValueError naming the first parameter outside what the epilogue takes."""
    m = np.asarray(multiplier, dtype=np.int64)
    s = np.asarray(shift, dtype=np.int64)
    bad = (m != 0) & ((m < (1 << 30)) | (m > INT32_MAX))
    if np.any(bad):
        i = int(np.flatnonzero(bad.ravel())[0])
        raise ValueError(f"multiplier[{i}] = {int(m.ravel()[i])} is neither 0 nor in "
                         f"[2**30, 2**31)")
    bad = (s < -31) | (s > 30)
    if np.any(bad):
        i = int(np.flatnonzero(bad.ravel())[0])
        raise ValueError(f"shift[{i}] = {int(s.ravel()[i])} is outside -31..30")
    for name, v in (("out_zero_point", out_zero_point), ("act_min", act_min),
                    ("act_max", act_max)):
        if not -128 <= int(v) <= 127:
            raise ValueError(f"{name} = {v} is outside int8 (-128..127)")
    if act_min > act_max:
        raise ValueError(f"act_min ({act_min}) is above act_max ({act_max})")


def requantize(acc, bias, multiplier, shift, *, out_zero_point=0, act_min=-128, act_max=127):
    """int8 outputs of int32 accumulators ``acc`` (M x N); ``bias``, ``multiplier`` and
    ``shift`` have one value per row (length M) or are scalars (per tensor)."""
    acc = np.asarray(acc, dtype=np.int64)
    if acc.ndim != 2:
        raise ValueError(f"acc must be 2-D (rows x columns), not {acc.ndim}-D")
    m = acc.shape[0]

    def per_row(name, v):
        v = np.asarray(v, dtype=np.int64)
        if v.ndim == 0:
            v = np.full(m, v)
        if v.shape != (m,):
            raise ValueError(f"{name} has shape {v.shape}, expected ({m},) (one per row)")
        return v[:, None]
    bias, multiplier, shift = (per_row("bias", bias), per_row("multiplier", multiplier),
                               per_row("shift", shift))
    check_requant_params(multiplier, shift, out_zero_point, act_min, act_max)
    total = wrap_int32(acc + bias).astype(np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    x = rounding_divide_by_pot(srdhm(wrap_int32(total << left), multiplier), right)
    return np.clip(x + out_zero_point, act_min, act_max).astype(np.int8)


def quantize_multiplier(scale):
    """TFLite's ``QuantizeMultiplier``: a real ``scale`` as ``(multiplier, shift)`` with
    ``scale ~= multiplier * 2**(shift - 31)``, multiplier in [2**30, 2**31) (0 for a zero
    scale). Works element-wise on arrays; shifts below -31 flush the multiplier to 0,
    shifts above 30 saturate to ``(2**31 - 1, 30)``, as TFLite does."""
    s = np.asarray(scale, dtype=np.float64)
    flat_m, flat_s = [], []
    for v in s.ravel():
        if v < 0 or not math.isfinite(v):
            raise ValueError(f"scale must be finite and non-negative, not {v!r}")
        if v == 0:
            flat_m.append(0)
            flat_s.append(0)
            continue
        q, e = math.frexp(v)                  # v = q * 2**e, q in [0.5, 1)
        # std::round: half away from zero (q * 2**31 and the + 0.5 are exact in a double)
        q_fixed = math.floor(q * (1 << 31) + 0.5)
        if q_fixed == 1 << 31:
            q_fixed //= 2
            e += 1
        if e < -31:
            q_fixed, e = 0, 0
        if e > 30:                            # saturated, as TFLite does
            q_fixed, e = (1 << 31) - 1, 30
        flat_m.append(q_fixed)
        flat_s.append(e)
    return (np.array(flat_m, dtype=np.int64).reshape(s.shape),
            np.array(flat_s, dtype=np.int64).reshape(s.shape))
