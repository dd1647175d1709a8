"""faas/durations.py: which functions count as short."""

from __future__ import annotations

import pytest

from faas.durations import WEIGHT, Durations


def test_a_function_never_seen_is_not_short() -> None:
    assert not Durations(0.001).short("f")


def test_the_estimate_is_a_running_mean_of_execution_times() -> None:
    r = Durations(0.001)
    r.observe("f", 100.0, 100.0002)  # 0.2 ms: the first observation is the mean
    assert r.mean_s["f"] == pytest.approx(0.0002)
    assert r.short("f") and not r.short("g")
    r.observe("f", 100.0, 100.0102)  # one 10.2 ms run moves it by WEIGHT of the gap
    assert r.mean_s["f"] == pytest.approx(0.0002 + WEIGHT * 0.01)
    assert not r.short("f")  # 2.7 ms
    for _ in range(20):
        r.observe("f", 100.0, 100.0001)
    assert r.short("f")  # short again once the recent runs are


def test_times_that_are_not_set_are_ignored_and_forget_drops_a_function() -> None:
    r = Durations(0.001)
    r.observe("f", 0.0, 0.0)  # e.g. a dispatcher's own verdict, never run
    r.observe("f", 2.0, 1.0)
    assert "f" not in r.mean_s
    r.observe("f", 1.0, 1.0)
    assert r.short("f")
    r.forget("f")
    assert not r.short("f")


def test_a_threshold_of_zero_turns_it_off() -> None:
    r = Durations(0.0)
    r.observe("f", 1.0, 1.0)
    assert not r.short("f")
