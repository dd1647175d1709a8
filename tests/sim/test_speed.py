"""The cores' two speeds: the estimator on traces of known shape, a real trace, the speed
gauge beside the runs and the fit that makes the model give back its own calibration
runs."""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from experiments.measure.cpu import SpeedGauge, speed_states, speed_trace, voluntary_sleeps
from experiments.simulate.calibrate import GAUGE_POINTS, gauge_exponent
from experiments.simulate.calibration import ModeCalibration
from experiments.simulate.fit import PARTS, _one_client_parts, _throughput, fit_busy, fit_residuals
from tests.sim.test_model import CPU_MS, synthetic


def _trace(fast_s: float, slow_s: float, seconds: float, start: float = 0.0) -> list:
    """Chunks of 0.5 ms while fast and 0.8 ms while slow: ``fast_s`` fast, then ``slow_s``
    slow, over and over."""
    out, t = [], start
    while t < start + seconds:
        phase = (t - start) % (fast_s + slow_s)
        duration = 0.0005 if phase < fast_s else 0.0008
        out.append((t, duration))
        t += duration
    return out


def test_two_speeds_are_told_apart_with_their_share_and_stays() -> None:
    """60 ms fast, 20 ms slow on two cores: ratio 1.6; slow 25 % of the time (a stay is
    seen from its third chunk on, so each is 1-2 chunks late at each end)."""
    s = speed_states([_trace(0.06, 0.02, 10.0), _trace(0.06, 0.02, 10.0, start=0.03)])
    assert s["fast_ms"] == pytest.approx(0.5, rel=1e-6)
    assert s["slow_ms"] == pytest.approx(0.8, rel=1e-6)
    assert s["ratio"] == pytest.approx(1.6, rel=1e-3)
    assert s["slow_share"] == pytest.approx(0.25, abs=0.02)
    assert s["mean_fast_s"] == pytest.approx(0.06, rel=0.05)
    assert s["mean_slow_s"] == pytest.approx(0.02, rel=0.1)
    assert s["seconds"] == pytest.approx(20.0, abs=0.01)


def test_one_speed_is_one_state() -> None:
    steady = [(i * 0.0005, 0.0005 * (1 + 0.01 * (i % 3))) for i in range(2000)]
    s = speed_states([steady])
    assert (s["ratio"], s["slow_share"], s["mean_slow_s"]) == (1.0, 0.0, 0.0)


def test_a_real_trace_times_every_core() -> None:
    traces = speed_trace(0.3)
    assert len(traces) == len(os.sched_getaffinity(0))
    for trace in traces:
        assert len(trace) > 50  # a chunk is ~0.5-2 ms here
        assert all(d > 0 for _, d in trace)
        assert trace[-1][0] - trace[0][0] == pytest.approx(0.3, abs=0.05)
    assert speed_states(traces)["ratio"] >= 1.0


def test_the_fit_makes_the_model_give_back_its_calibration_runs() -> None:
    """Told that its 16-client run measured 10 % less than the model gives and its
    64-client run 10 % more, the fit raises the 16-client CPU and lowers the 64-client
    one until the model gives both back (within the seeds' noise)."""
    cal = synthetic(CPU_MS, one_client=2.0, heavy=0.8)
    cal.modes = {"push": cal.modes["push"]}
    push = cal.modes["push"]
    at16, at64 = _throughput(cal, "push", 16, 2000), _throughput(cal, "push", 64, 3000)
    push.measured.update(c16_throughput_tps=0.9 * at16, c64_throughput_tps=1.1 * at64)
    fit_busy(cal, iterations=4)
    assert push.busy_scale is not None
    assert push.busy_scale[0] > 1.05 and push.busy_scale[1] < 0.95
    assert _throughput(cal, "push", 16, 2000) == pytest.approx(0.9 * at16, rel=0.03)
    assert _throughput(cal, "push", 64, 3000) == pytest.approx(1.1 * at64, rel=0.03)
    again = type(cal).from_json(cal.to_json())  # the scale is kept in the file
    assert again.modes["push"].busy_scale == push.busy_scale
    assert again.modes["push"].batching == push.batching


def test_the_residual_fit_takes_out_the_waits_the_model_adds_at_one_client() -> None:
    """A dispatcher whose CPU per task (1.5 ms) is mostly spent after its replies (the
    intake and back steps were measured at 0.4-0.9 ms): at one client the task's result
    comes back while it still works, and the model's back step takes longer than the one
    measured. The fit scales the back step's residuals down until every part of a task's
    life takes its measured mean (the run step, which a no-op does not run in the model,
    is given to the hop); the scales are kept in the file."""
    cal = synthetic({**CPU_MS, "dispatcher": 1.5}, residual_ms=0.5, spread_ms=0.5)
    steps = dict(cal.modes["pull"].steps_ms)
    steps["intake"] = steps["back"] = [0.4 + 0.005 * i for i in range(101)]
    steps["hop"], steps["run"] = [0.3] * 101, [0.1] * 101
    old = cal.modes["pull"]
    pull = ModeCalibration(old.cpu_s, old.cpu_1_s, steps, old.measured)
    cal.modes = {"pull": pull}
    measured = {
        part: sum(statistics.fmean(steps[s]) for s in names) / 1000
        for part, (_, names) in PARTS.items()
    }
    before = _one_client_parts(cal, "pull")
    assert before["to_stored"] > 1.05 * measured["to_stored"]
    assert before["to_finished"] < 0.8 * measured["to_finished"]
    fit_residuals(cal, iterations=4)
    assert pull.residual_scale is not None
    assert pull.residual_scale["back"] < 0.9 and pull.residual_scale["hop"] > 1.2
    after = _one_client_parts(cal, "pull")
    for part, seconds in measured.items():
        assert after[part] == pytest.approx(seconds, rel=0.02), part
    again = type(cal).from_json(cal.to_json())
    assert again.modes["pull"].residual_scale == pull.residual_scale
    assert _one_client_parts(again, "pull") == pytest.approx(after)


def test_the_gauge_times_a_chunk_on_every_core_while_open() -> None:
    with SpeedGauge() as gauge:
        started = time.perf_counter()
        time.sleep(0.5)
        ended = time.perf_counter()
        chunk = gauge.mean(started, ended)
        assert 0.02e-3 < chunk < 5e-3  # ~0.25-0.4 ms here
        assert math.isnan(gauge.mean(ended + 60, ended + 61))  # no chunk then
        assert math.isnan(gauge.mean(0.0, started - 60))
    everything = gauge.mean(0.0, math.inf)
    time.sleep(0.1)
    assert gauge.mean(0.0, math.inf) == everything  # closed: no chunk is added any more


def test_the_gauge_stops_when_its_parent_is_killed() -> None:
    """Killed before it could close its gauge, a process leaves no gauge running: each
    child checks its parent every chunk."""
    code = (
        "import time\nfrom experiments.measure.cpu import SpeedGauge\n"
        "if __name__ == '__main__':\n"
        "    SpeedGauge().__enter__()\n    print('up', flush=True)\n    time.sleep(60)\n"
    )
    root = Path(__file__).resolve().parents[2]
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, cwd=root)
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == b"up"
        children = psutil.Process(parent.pid).children(recursive=True)
        assert len(children) >= len(os.sched_getaffinity(0))  # a gauge per core
    finally:
        parent.kill()
        parent.wait()
    _, alive = psutil.wait_procs(children, timeout=5)
    assert not alive


def _gauged(cal, exponent: float, gauges_ms: list[float]) -> None:
    """Give every mode of ``cal`` calibration runs whose throughput follows their gauge
    with ``exponent`` (each mode and client count its own level)."""
    for i, mode in enumerate(cal.modes.values()):
        runs = []
        for clients, level in ((1, 300.0), (16, 900.0 + 100 * i), (64, 1100.0 + 50 * i)):
            runs += [[clients, level * (0.3 / g) ** exponent, g] for g in gauges_ms]
        mode.measured["runs"] = runs
        mode.measured["gauge_ms"] = 0.3


def test_the_gauge_exponent_is_how_throughput_follows_the_gauge() -> None:
    """Calibration runs whose throughput goes as (1 / chunk time) ** 1.4 give 1.4; a run
    whose gauge read 20 % above the calibration's ran at 1 / 1.2 ** 1.4 of its speed."""
    cal = synthetic(CPU_MS)
    _gauged(cal, 1.4, [0.27, 0.3, 0.31, 0.33, 0.36])
    cal.gauge_exponent = gauge_exponent(cal.modes)
    assert cal.gauge_exponent == pytest.approx(1.4, abs=1e-3)
    assert cal.speed_at("push", 0.36e-3) == pytest.approx(1.2**-1.4, rel=1e-3)
    assert cal.speed_at("push", 0.3e-3) == pytest.approx(1.0)
    assert cal.speed_at("push", math.nan) == 1.0  # a run without a gauge
    again = type(cal).from_json(cal.to_json())
    assert again.gauge_exponent == cal.gauge_exponent


def test_no_gauge_no_exponent_and_speed_one() -> None:
    cal = synthetic(CPU_MS)
    assert gauge_exponent(cal.modes) is None and cal.speed_at("push", 0.4e-3) == 1.0
    _gauged(cal, 1.0, [0.3] * 5)  # the gauge never moved: nothing to fit on
    assert gauge_exponent(cal.modes) is None
    one = {"push": cal.modes["push"]}
    _gauged(cal, 1.0, [0.29, 0.31])  # too few runs: 2 per client count, one mode
    assert GAUGE_POINTS > 2 * 2 and gauge_exponent(one) is None


def test_voluntary_sleeps_counts_every_wait_of_every_thread() -> None:
    """A child that sleeps 50 times in its main thread and 30 in a second one (alive when
    counted: an ended thread's count goes with it): at least 80 sleeps counted (the
    interpreter's start adds some), none once the child is gone."""
    code = (
        "import threading, time, sys\n"
        "slept = threading.Event()\n"
        "def second():\n"
        "    [time.sleep(0.001) for _ in range(30)]\n"
        "    slept.set()\n"
        "    time.sleep(3600)\n"
        "threading.Thread(target=second, daemon=True).start()\n"
        "[time.sleep(0.001) for _ in range(50)]\n"
        "slept.wait()\n"
        "print('done', flush=True)\n"
        "sys.stdin.read()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "done\n"
        counted = voluntary_sleeps(child.pid)
        assert 80 <= counted < 1000
    finally:
        child.kill()
        child.wait(10)
    assert voluntary_sleeps(child.pid) == 0
