"""LogSketch: OTel bucket mapping, the relative error bound against exact order statistics, merge, downscale."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knhk_telemetry.stream.sketch import (
    LogSketch,
    bucket_indices,
    bucket_lower_bounds,
    relative_error_bound,
)

QS = np.array([0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0])
# Float rounding of log2 near a bucket boundary can move a value to the neighbouring bucket;
# the bound is still (base-1)/(base+1) there up to a few ulps.
SLACK = 1e-12


def _exact(values: np.ndarray, qs: np.ndarray) -> np.ndarray:
    return np.quantile(values, qs, method="inverted_cdf")


def _max_rel_err(est: np.ndarray, exact: np.ndarray) -> float:
    return float(np.max(np.abs(est - exact) / np.abs(exact)))


def test_bucket_indices_follow_the_otel_mapping() -> None:
    # scale 7: bucket i covers (2**(i/128), 2**((i+1)/128)]; powers of two close their bucket.
    assert bucket_indices([1.0, 2.0, 4.0, 0.5, 2.0**-20, 2.0**40], 7).tolist() == [
        -1,
        127,
        255,
        -129,
        -20 * 128 - 1,
        40 * 128 - 1,
    ]
    # scale 0: (2**(i), 2**(i+1)]; scale -1: (4**i, 4**(i+1)]; scale -2: (16**i, 16**(i+1)].
    assert bucket_indices([1.0, 1.5, 2.0, 3.0, 0.75], 0).tolist() == [-1, 0, 0, 1, -1]
    assert bucket_indices([1.0, 2.0, 4.0, 5.0, 16.0, 17.0, 0.25, 0.3], -1).tolist() == [-1, 0, 0, 1, 1, 2, -2, -1]
    assert bucket_indices([1.0, 16.0, 17.0, 256.0, 257.0], -2).tolist() == [-1, 0, 1, 1, 2]
    # smallest subnormal and largest finite double
    assert bucket_indices([5e-324], 0).tolist() == [-1075]
    assert bucket_indices([np.finfo(np.float64).max], 0).tolist() == [1023]


@pytest.mark.parametrize("scale", [7, 3, 1, 0, -1, -3])
def test_every_value_lies_in_its_bucket(scale: int) -> None:
    rng = np.random.default_rng(scale + 100)
    v = np.exp(rng.uniform(-40, 40, 20_000))
    idx = bucket_indices(v, scale)
    lo = bucket_lower_bounds(idx, scale)
    hi = bucket_lower_bounds(idx + 1, scale)
    assert np.all(v > lo * (1 - 1e-15))
    assert np.all(v <= hi * (1 + 1e-15))


def test_error_bound_values() -> None:
    assert relative_error_bound(7) == pytest.approx(0.0027075995574762)
    assert relative_error_bound(5) == pytest.approx(0.0108300012533736)
    assert LogSketch().relative_accuracy == relative_error_bound(7)


@pytest.mark.parametrize(
    "dist",
    ["lognormal", "pareto", "uniform", "exponential", "mixed_sign"],
)
def test_quantiles_within_the_bound_of_the_exact_order_statistic(dist: str) -> None:
    rng = np.random.default_rng(7)
    n = 50_000
    data = {
        "lognormal": rng.lognormal(13.0, 2.0, n),
        "pareto": (rng.pareto(1.2, n) + 1.0) * 1000.0,
        "uniform": rng.uniform(1.0, 1e6, n),
        "exponential": rng.exponential(5e6, n) + 1.0,
        "mixed_sign": rng.normal(0.0, 1e3, n),
    }[dist]
    s = LogSketch(scale=7)
    s.add(data)
    assert s.scale == 7  # the default max_buckets keeps scale 7 for these ranges
    est = s.quantiles(QS)
    exact = _exact(data, QS)
    assert _max_rel_err(est, exact) <= relative_error_bound(7) + SLACK
    assert s.count == n
    assert s.sum == pytest.approx(float(data.sum()), rel=1e-12)
    assert s.min == data.min()
    assert s.max == data.max()
    # extremes are exact (clamped to min/max)
    assert est[0] == data.min()
    assert est[-1] == data.max()


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=200,
    ),
    q=st.floats(min_value=0.0, max_value=1.0),
    scale=st.integers(min_value=0, max_value=8),
)
def test_bound_holds_for_arbitrary_data(values: list[float], q: float, scale: int) -> None:
    v = np.array(values)
    s = LogSketch(scale=scale)
    s.add(v)
    exact = float(_exact(v, np.array([q]))[0])
    est = s.quantile(q)
    if exact == 0.0:
        assert est == 0.0
    else:
        assert abs(est - exact) / abs(exact) <= relative_error_bound(s.scale) + SLACK
        assert math.copysign(1.0, est) == math.copysign(1.0, exact)


def test_merge_equals_add_all() -> None:
    rng = np.random.default_rng(3)
    parts = [rng.lognormal(10, 1.5, 3000) for _ in range(5)] + [-rng.lognormal(5, 1, 100), np.zeros(7)]
    whole = LogSketch()
    whole.add(np.concatenate(parts))
    merged = LogSketch()
    for p in parts:
        one = LogSketch()
        one.add(p)
        merged.merge(one)
    assert merged.to_otlp().positive_offset == whole.to_otlp().positive_offset
    assert merged.to_otlp().positive_bucket_counts == whole.to_otlp().positive_bucket_counts
    assert merged.sum == pytest.approx(whole.sum, rel=1e-12)
    assert merged.to_otlp().negative_bucket_counts == whole.to_otlp().negative_bucket_counts
    assert merged.zero_count == 7
    assert merged.count == whole.count
    np.testing.assert_array_equal(merged.quantiles(QS), whole.quantiles(QS))


def test_merge_of_different_scales_downscales_to_the_coarser() -> None:
    rng = np.random.default_rng(5)
    a_vals, b_vals = rng.lognormal(8, 1, 2000), rng.lognormal(9, 1, 2000)
    a, b = LogSketch(scale=7), LogSketch(scale=4)
    a.add(a_vals)
    b.add(b_vals)
    a.merge(b)
    ref = LogSketch(scale=4)
    ref.add(np.concatenate([a_vals, b_vals]))
    assert a.scale == 4
    assert a.to_otlp().positive_bucket_counts == ref.to_otlp().positive_bucket_counts
    assert a.to_otlp().positive_offset == ref.to_otlp().positive_offset
    # merging the finer sketch into the coarser one gives the same buckets
    c = LogSketch(scale=4)
    c.add(b_vals)
    d = LogSketch(scale=7)
    d.add(a_vals)
    c.merge(d)
    assert c.to_otlp().positive_bucket_counts == ref.to_otlp().positive_bucket_counts


def test_max_buckets_halves_the_scale_like_otel_sdks() -> None:
    s = LogSketch(scale=7, max_buckets=160)
    s.add(np.array([1.0, 2.0]))  # indices -1 and 127: fits in 160
    assert s.scale == 7
    s.add(np.array([4.0]))  # 255 - (-1) + 1 = 257 > 160 -> scale 6: indices -1, 63, 127
    assert s.scale == 6
    o = s.to_otlp()
    assert o.positive_offset == -1
    assert len(o.positive_bucket_counts) == 129
    assert o.positive_bucket_counts[0] == 1
    assert o.positive_bucket_counts[64] == 1
    assert o.positive_bucket_counts[128] == 1
    # the result equals a sketch built at scale 6 directly
    ref = LogSketch(scale=6)
    ref.add(np.array([1.0, 2.0, 4.0]))
    assert ref.to_otlp().positive_bucket_counts == o.positive_bucket_counts
    # data over 2**40 with 160 buckets
    wide = LogSketch(scale=7, max_buckets=160)
    wide.add(np.geomspace(1.0, 2.0**40, 1000))
    assert wide.scale == 1  # 40 octaves need 161 buckets at scale 2, 81 at scale 1
    assert len(wide.to_otlp().positive_bucket_counts) == 81
    exact = _exact(np.geomspace(1.0, 2.0**40, 1000), QS)
    assert _max_rel_err(wide.quantiles(QS), exact) <= relative_error_bound(wide.scale) + SLACK


def test_to_otlp_and_snapshot_round_trip() -> None:
    s = LogSketch()
    s.add(np.array([0.0, 0.0, 1.0, 1.5, 2.0, -3.0]))
    o = s.to_otlp()
    assert o.scale == 7
    assert o.zero_count == 2
    assert o.count == 6
    assert o.sum == 1.5
    assert o.min == -3.0
    assert o.max == 2.0
    assert o.positive_offset == -1
    assert sum(o.positive_bucket_counts) == 3
    assert o.negative_offset == bucket_indices([3.0], 7)[0]
    assert o.negative_bucket_counts == [1]
    back = LogSketch.from_snapshot(s.snapshot())
    assert back.to_otlp() == o
    rebuilt = LogSketch.from_buckets(
        scale=o.scale,
        positive_offset=o.positive_offset,
        positive_counts=o.positive_bucket_counts,
        negative_offset=o.negative_offset,
        negative_counts=o.negative_bucket_counts,
        zero_count=o.zero_count,
        sum=o.sum,
        min=o.min,
        max=o.max,
    )
    np.testing.assert_array_equal(rebuilt.quantiles(QS), s.quantiles(QS))


def test_empty_and_bad_input() -> None:
    s = LogSketch()
    assert s.count == 0
    assert math.isnan(s.quantile(0.5))
    assert math.isnan(s.min)
    assert s.to_otlp().min is None
    s.add(np.array([]))
    assert s.count == 0
    with pytest.raises(ValueError, match="finite"):
        s.add(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="quantiles must be in"):
        s.quantiles([1.5])
    with pytest.raises(ValueError, match="scale must be in"):
        LogSketch(scale=21)
    with pytest.raises(ValueError, match="max_buckets"):
        LogSketch(max_buckets=1)
