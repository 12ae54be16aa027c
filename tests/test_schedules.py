"""Slope schedules and SlopeScheduleCallback."""

import numpy as np
import pytest

from sb3_spiking import AdaptiveSlope, FixedSlope, IntervalSlope, SlopeScheduleCallback, make_schedule


def test_fixed():
    assert FixedSlope(7).value(0, 100) == 7 and FixedSlope(7).value(100, 100) == 7


def test_interval_fraction_and_steps():
    s = IntervalSlope(1, 100, 0.25)  # 4 intervals: 1, 34, 67, 100
    assert [s.value(t, 1000) for t in (0, 249, 250, 500, 750, 999, 1000)] == [1, 1, 34, 67, 100, 100, 100]
    s = IntervalSlope(2, 10, 100)  # steps: 10 intervals over 1000 steps
    assert s.value(0, 1000) == 2 and s.value(99, 1000) == 2
    assert s.value(100, 1000) == pytest.approx(2 + 8 / 9)
    assert s.value(950, 1000) == 10


def test_adaptive_formula_matches_hand_computation():
    s = AdaptiveSlope(k_start=2, k_min=1, k_max=100, return_range=(0, 400), window=3)
    assert s.value() == 2  # before any evaluation
    returns = [100, 300, 200, 400, 400]
    r = [min(max(x / 400, 0), 1) for x in returns]
    terms = [0.5 * r[i] + 0.5 * (r[i] - (r[i - 1] if i else r[i])) for i in range(len(r))]
    for i, ret in enumerate(returns):
        s.observe(ret)
        window = terms[max(0, i - 2): i + 1]
        assert s.value() == pytest.approx(min(max(100 * np.mean(window), 1), 100))
    # plateau at the top of the range settles at k_max / 2
    for _ in range(3):
        s.observe(400)
    assert s.value() == pytest.approx(50)


def test_adaptive_is_clamped_and_clips_outliers():
    s = AdaptiveSlope(return_range=(0, 100), window=10)
    s.observe(-1e6)
    assert s.value() == 1  # clamped at k_min, never negative
    s2 = AdaptiveSlope(return_range=(0, 100), window=2)
    s2.observe(0)
    s2.observe(1e9)  # r clipped to 1: 0.5*1 + 0.5*1 = 1 -> mean(0, 1) * 100 = 50
    assert s2.value() == pytest.approx(50)
    with pytest.raises(ValueError, match="non-finite"):
        s.observe(float("nan"))


def test_adaptive_state_roundtrip():
    a = AdaptiveSlope(window=4)
    for x in (10, 200, 300):
        a.observe(x)
    b = AdaptiveSlope(window=4)
    b.load_state_dict(a.state_dict())
    a.observe(250), b.observe(250)
    assert a.value() == b.value()


@pytest.mark.parametrize(
    "name, kwargs, match",
    [
        ("steep", {}, "unknown slope schedule"),
        ("fixed", {"k": 0}, "slope"),
        ("fixed", {"k": -3}, "slope"),
        ("interval", {"interval": 1.5}, "interval"),
        ("adaptive", {"return_range": (5, 5)}, "return_range"),
        ("adaptive", {"k_min": 10, "k_max": 5}, "k_min"),
        ("fixed", {"slope": 2}, "bad arguments"),
    ],
)
def test_bad_schedules(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_schedule(name, **kwargs)
    with pytest.raises(ValueError, match=match):
        SlopeScheduleCallback(name, **kwargs)
