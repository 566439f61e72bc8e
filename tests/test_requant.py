"""golden's int8 requantisation against a line-by-line transcription of TFLite's reference
(tensorflow/lite/kernels/internal/common.h, gemmlowp/fixedpoint.h) and hand-worked cases."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, example

from zerotile import golden

I32_MIN, I32_MAX = -2**31, 2**31 - 1


def _int32(x):                       # C++ int32 arithmetic on a two's-complement machine
    return (x + 2**31) % 2**32 - 2**31


def tflite_srdhm(a, b):
    # std::int32_t SaturatingRoundingDoublingHighMul(std::int32_t a, std::int32_t b)
    overflow = a == b and a == I32_MIN
    a_64, b_64 = a, b
    ab_64 = a_64 * b_64
    nudge = (1 << 30) if ab_64 >= 0 else (1 - (1 << 30))
    # ab_x2_high32 = (ab_64 + nudge) / (1ll << 31): C++ division truncates towards zero
    num = ab_64 + nudge
    ab_x2_high32 = abs(num) // (1 << 31) * (1 if num >= 0 else -1)
    return I32_MAX if overflow else ab_x2_high32


def tflite_rdbp(x, exponent):
    # std::int32_t RoundingDivideByPOT(std::int32_t x, int exponent)
    mask = (1 << exponent) - 1
    zero, one = 0, 1
    remainder = x & mask
    threshold = (mask >> 1) + (one if x < zero else zero)
    return (x >> exponent) + (one if remainder > threshold else zero)


def tflite_mbqm(x, quantized_multiplier, shift):
    # MultiplyByQuantizedMultiplier (double-rounding reference)
    left_shift = shift if shift > 0 else 0
    right_shift = 0 if shift > 0 else -shift
    return tflite_rdbp(tflite_srdhm(_int32(x * (1 << left_shift)), quantized_multiplier),
                       right_shift)


def tflite_output(acc, bias, m, shift, zp, act_min, act_max):
    acc = _int32(acc + bias)
    acc = tflite_mbqm(acc, m, shift)
    acc += zp
    acc = max(acc, act_min)
    acc = min(acc, act_max)
    return acc


int32s = st.integers(I32_MIN, I32_MAX)
int32_edges = st.sampled_from([I32_MIN, I32_MIN + 1, -1, 0, 1, I32_MAX - 1, I32_MAX,
                               1 << 30, -(1 << 30)])
multipliers = st.one_of(st.just(0), st.integers(1 << 30, I32_MAX),
                        st.sampled_from([1 << 30, I32_MAX, (1 << 30) + 1, 1518500250]))
shifts = st.one_of(st.integers(-31, 30), st.sampled_from([-31, 0, 30, -1, 1]))
int8s = st.integers(-128, 127)


# Hypothesis hunts the edges (2,000 examples); the seeded sweep below covers the bulk in one
# vectorised call of golden.
@settings(max_examples=2_000, deadline=None, derandomize=True)
@given(acc=st.one_of(int32s, int32_edges), bias=st.one_of(int32s, int32_edges, st.just(0)),
       m=multipliers, shift=shifts, zp=int8s, lo=int8s, hi=int8s)
@example(acc=I32_MIN, bias=0, m=1 << 30, shift=0, zp=0, lo=-128, hi=127)
@example(acc=3, bias=0, m=1 << 30, shift=-1, zp=0, lo=-128, hi=127)      # 0.75 -> 1
@example(acc=-3, bias=0, m=1 << 30, shift=-1, zp=0, lo=-128, hi=127)     # -0.75 -> -1
@example(acc=I32_MAX, bias=1, m=I32_MAX, shift=30, zp=127, lo=-128, hi=127)
def test_requantize_matches_tflite_reference(acc, bias, m, shift, zp, lo, hi):
    lo, hi = min(lo, hi), max(lo, hi)
    want = tflite_output(acc, bias, m, shift, zp, lo, hi)
    got = golden.requantize([[acc]], [bias], [m], [shift], out_zero_point=zp, act_min=lo,
                            act_max=hi)
    assert int(got[0, 0]) == want, (acc, bias, m, shift, zp, lo, hi)


def test_requantize_matches_tflite_reference_on_a_seeded_sweep():
    """50,000 random accumulators in 500 random channels (bias, multiplier, shift; the edge
    multipliers among them), one output zero point and clamp: golden's whole matrix, one
    call, against the scalar reference."""
    seed = 20261207
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    rows, cols = 500, 100
    acc = rng.integers(I32_MIN, I32_MAX, (rows, cols), endpoint=True, dtype=np.int64)
    acc[rng.random((rows, cols)) < 0.05] = I32_MIN
    bias = rng.integers(I32_MIN, I32_MAX, rows, endpoint=True, dtype=np.int64)
    m = rng.integers(1 << 30, I32_MAX, rows, endpoint=True, dtype=np.int64)
    m[:5] = [0, 1 << 30, I32_MAX, (1 << 30) + 1, 1518500250]
    shift = rng.integers(-31, 31, rows)
    zp, lo, hi = -5, -128, 100
    got = golden.requantize(acc, bias, m, shift, out_zero_point=zp, act_min=lo, act_max=hi)
    for r in range(rows):
        for c in range(cols):
            want = tflite_output(int(acc[r, c]), int(bias[r]), int(m[r]), int(shift[r]), zp,
                                 lo, hi)
            assert int(got[r, c]) == want, (f"seed {seed}: row {r}, column {c}: expected "
                                            f"{want}, got {int(got[r, c])}")


@settings(max_examples=2_000, deadline=None, derandomize=True)
@given(a=st.one_of(int32s, int32_edges), b=st.one_of(int32s, int32_edges))
def test_srdhm_matches_reference_on_any_int32(a, b):
    assert int(golden.srdhm(a, b)) == tflite_srdhm(a, b)


# Hand-worked cases: (x, exponent, expected) for RoundingDivideByPOT.
@pytest.mark.parametrize("x, e, want", [
    (5, 1, 3),       # 2.5 -> 3 (tie, away from zero)
    (-5, 1, -3),     # -2.5 -> -3
    (6, 2, 2),       # 1.5 -> 2
    (-6, 2, -2),     # -1.5 -> -2
    (5, 2, 1),       # 1.25 -> 1
    (-5, 2, -1),     # -1.25 -> -1
    (7, 0, 7),       # exponent 0: unchanged
    (I32_MIN, 31, -1),   # -1.0 exactly
    (I32_MAX, 31, 1),    # 0.99999... -> 1
    (-(1 << 30), 31, -1),  # -0.5 -> -1 (tie away from zero)
    ((1 << 30), 31, 1),    # 0.5 -> 1
])
def test_rounding_divide_by_pot_hand_cases(x, e, want):
    assert int(golden.rounding_divide_by_pot(x, e)) == want


@pytest.mark.parametrize("a, b, want", [
    (I32_MIN, I32_MIN, I32_MAX),          # the one saturating case
    (1 << 30, 1 << 30, 1 << 29),          # 0.5 * 0.5 = 0.25 (Q31)
    (-(1 << 30), 1 << 30, -(1 << 29)),
    (1, 1 << 30, 1),                      # 2**30 / 2**31 = 0.5 -> 1 (nudge, ties up)
    (-1, 1 << 30, 0),                     # -0.5: nudge 1-2**30, truncate -> 0
    (3, 1 << 30, 2),                      # 1.5 -> 2
    (-3, 1 << 30, -1),                    # -1.5 -> -1 (TFLite's asymmetric nudge)
    (I32_MIN, I32_MAX, -I32_MAX),
])
def test_srdhm_hand_cases(a, b, want):
    assert int(golden.srdhm(a, b)) == want


def test_requantize_hand_worked_layer():
    # scale 0.25 = 2**30 * 2**(-1-31): acc 10 -> 2.5 -> 3; -10 -> -3; +zp 5; ReLU at zp.
    m, s = golden.quantize_multiplier(0.25)
    assert (int(m), int(s)) == (1 << 30, -1)
    acc = np.array([[10, -10], [1000, -1000]])
    got = golden.requantize(acc, [0, 6], m, s, out_zero_point=5, act_min=5, act_max=127)
    # row 0: 10 -> 3 (2.5 away from zero) + 5 = 8; -10 -> -3 + 5 = 2 -> ReLU 5
    # row 1 (bias 6): 1006 -> 251.5 -> 252 + 5 -> 127 clamp; -994 -> -248.5 -> -249 -> 5
    assert got.tolist() == [[8, 5], [127, 5]]
    assert got.dtype == np.int8


def test_requantize_shift_extremes_and_wrap():
    # shift +30: acc << 30 wraps in int32 (TFLite's int32 multiplication), then * 0.5
    got = golden.requantize([[3]], 0, 1 << 30, 30, act_min=-128, act_max=127)
    assert int(got[0, 0]) == max(-128, min(127, tflite_mbqm(3, 1 << 30, 30)))
    # shift -31: x * (M / 2**31) / 2**31; INT32_MAX * ~1.0 -> ~0.99999 -> 1, INT32_MIN -> -1
    got = golden.requantize([[I32_MAX, I32_MIN, 2**29, 2**29 + 2**28]], 0, I32_MAX, -31)
    assert got.tolist() == [[1, -1, 0, 0]]
    # bias wraps
    got = golden.requantize([[I32_MAX]], 1, 1 << 30, -24)
    assert int(got[0, 0]) == max(-128, tflite_mbqm(I32_MIN, 1 << 30, -24))


@pytest.mark.parametrize("scale, want", [
    (1.0, ((1 << 30), 1)), (0.5, ((1 << 30), 0)), (0.75, (1610612736, 0)),
    (0.0, (0, 0)), (2.0**-40, (0, 0)), (0.1, (1717986918, -3)),
])
def test_quantize_multiplier(scale, want):
    m, s = golden.quantize_multiplier(scale)
    assert (int(m), int(s)) == want


@pytest.mark.parametrize("kwargs, message", [
    (dict(multiplier=5, shift=0), "multiplier"),
    (dict(multiplier=1 << 30, shift=31), "shift"),
    (dict(multiplier=1 << 30, shift=-32), "shift"),
    (dict(multiplier=1 << 30, shift=0, out_zero_point=200), "out_zero_point"),
    (dict(multiplier=1 << 30, shift=0, act_min=10, act_max=0), "act_min"),
])
def test_bad_parameters_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        golden.requantize([[1]], 0, **kwargs)
