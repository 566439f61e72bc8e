"""The output epilogue's parameters as the firmware lays them out: per-row bias, multiplier and
shift, the output zero point and the activation clamp (descriptor FLAGS.EPILOGUE).

``Requant`` validates them (a ``FormatError`` names the parameter and row) and packs them as
the hardware reads them: ``EPILOGUE_PARAM_BYTES`` per row (int32 bias, multiplier, shift) and
the EPI_QUANT word. ``quantize_multiplier`` is TFLite's ``QuantizeMultiplier`` (a real scale as
a Q31 multiplier and a power-of-two shift), vectorised.
"""
from dataclasses import dataclass

import numpy as np

from .errors import FormatError

__all__ = ["Requant", "quantize_multiplier"]

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1


def quantize_multiplier(scale):
    """``(multiplier, shift)`` int64 arrays with ``scale ~= multiplier * 2**(shift - 31)``,
    multiplier in [2**30, 2**31) (0 for a zero scale); as TFLite: shifts below -31 give 0,
    shifts above 30 saturate to ``(2**31 - 1, 30)``."""
    s = np.asarray(scale, dtype=np.float64)
    if np.any(~np.isfinite(s)) or np.any(s < 0):
        raise FormatError("scale must be finite and non-negative")
    q, e = np.frexp(s)                                   # s = q * 2**e, q in [0.5, 1)
    fixed = np.floor(q * 2.0**31 + 0.5).astype(np.int64)  # std::round (exact in a double)
    e = e.astype(np.int64)
    carry = fixed == (1 << 31)
    fixed = np.where(carry, fixed // 2, fixed)
    e = np.where(carry, e + 1, e)
    tiny = (e < -31) | (s == 0)
    fixed, e = np.where(tiny, 0, fixed), np.where(tiny, 0, e)
    huge = e > 30
    return np.where(huge, I32_MAX, fixed), np.where(huge, 30, e)


def _rows(name, value, m):
    v = np.asarray(value)
    if v.dtype.kind not in "iub":
        raise FormatError(f"{name} must hold integers, not {v.dtype}")
    v = v.astype(np.int64)
    if v.ndim == 0:
        v = np.full(m, int(v), dtype=np.int64)
    if v.shape != (m,):
        raise FormatError(f"{name} has shape {v.shape}: expected one value per output row "
                          f"({m},) or a single value")
    return v


def _first_bad(name, values, bad, what):
    rows = np.flatnonzero(bad)
    if len(rows):
        r = int(rows[0])
        raise FormatError(f"{name}[{r}] = {int(values[r])} {what}")


@dataclass(frozen=True)
class Requant:
    """int8 output for M rows: ``clamp(RDBP(SRDHM((acc + bias) << left, M), right) +
    out_zero_point, act_min, act_max)`` (``golden.requantize`` is the exact definition)."""
    bias: np.ndarray
    multiplier: np.ndarray
    shift: np.ndarray
    out_zero_point: int = 0
    act_min: int = -128
    act_max: int = 127

    @classmethod
    def for_rows(cls, m, *, bias=0, multiplier=None, shift=None, scale=None, out_zero_point=0,
                 relu=False, act_min=None, act_max=None):
        """Parameters of ``m`` output rows. Give ``multiplier`` and ``shift`` (per row or one
        value), or ``scale`` (a real factor per row or one value, converted with
        ``quantize_multiplier``). ``relu``: ``act_min = out_zero_point``."""
        if scale is not None:
            if multiplier is not None or shift is not None:
                raise FormatError("give either scale or multiplier and shift, not both")
            multiplier, shift = quantize_multiplier(np.broadcast_to(scale, (m,)) if
                                                    np.ndim(scale) == 0 else scale)
        if multiplier is None or shift is None:
            raise FormatError("the epilogue needs multiplier and shift (or scale)")
        zp = int(out_zero_point)
        lo = zp if relu else (-128 if act_min is None else int(act_min))
        hi = 127 if act_max is None else int(act_max)
        return cls(_rows("bias", bias, m), _rows("multiplier", multiplier, m),
                   _rows("shift", shift, m), zp, lo, hi)

    def __post_init__(self):
        m = len(self.bias)
        if not (len(self.multiplier) == len(self.shift) == m):
            raise FormatError(f"bias, multiplier and shift have {m}, {len(self.multiplier)} "
                              f"and {len(self.shift)} rows: they must agree")
        _first_bad("bias", self.bias, (self.bias < I32_MIN) | (self.bias > I32_MAX),
                   "is outside int32")
        mult = self.multiplier
        _first_bad("multiplier", mult, (mult != 0) & ((mult < (1 << 30)) | (mult > I32_MAX)),
                   "is neither 0 nor in [2**30, 2**31)")
        _first_bad("shift", self.shift, (self.shift < -31) | (self.shift > 30),
                   "is outside -31..30")
        for name in ("out_zero_point", "act_min", "act_max"):
            v = getattr(self, name)
            if not -128 <= v <= 127:
                raise FormatError(f"{name} = {v} is outside int8 (-128..127)")
        if self.act_min > self.act_max:
            raise FormatError(f"act_min ({self.act_min}) is above act_max ({self.act_max})")

    @property
    def rows(self):
        return len(self.bias)

    def param_bytes(self, rows):
        """The parameter array of the given rows (indices), as the hardware reads it."""
        words = np.stack([self.bias[rows], self.multiplier[rows], self.shift[rows]], axis=1)
        return words.astype("<i4").tobytes()

    def describe(self):
        """One line: per-row or per-tensor, zero point, clamp."""
        per = "per tensor" if (len(set(self.multiplier.tolist())) == 1 and
                               len(set(self.shift.tolist())) == 1 and
                               len(set(self.bias.tolist())) == 1) else "per row"
        act = "ReLU" if self.act_min == self.out_zero_point and self.act_max == 127 else \
            f"clamp [{self.act_min}, {self.act_max}]"
        return (f"bias + TFLite requantisation ({per}, {self.rows} rows), zero point "
                f"{self.out_zero_point}, {act}")

    @property
    def quant_word(self):
        """EPI_QUANT: zero point [7:0], act_min [15:8], act_max [23:16]."""
        return ((self.out_zero_point & 0xFF) | (self.act_min & 0xFF) << 8 |
                (self.act_max & 0xFF) << 16)
