"""What the model knows of the platform, measured on it: CPU per task and step residuals.

``Calibration`` is the file ``simulate calibrate`` writes (``results/calibration.json``):

- ``cpu_s[component]``: service demand, CPU seconds each component spends per task
  (``client``, ``api_submit``, ``api_result``, ``redis``, ``dispatcher``, ``worker``), from
  the processes' CPU times before and after a closed-loop run at 16 clients, divided by the
  tasks (the median of five rounds); so the contention of the shared machine is not baked
  into the service times;
  ``cpu_1_s`` the same at one client, about twice as much: a process that wakes for one
  job pays a turn of its event loop, the system calls around it and cold caches, and the
  jobs that arrive while it works are taken in the same turn. So what a configuration pays
  depends on how often its visits find their process idle — which the model knows, and the
  number of tasks in flight does not (8 clients of 10 ms tasks keep 8 in flight and still
  wake every process for every task): ``batched`` charges a visit that wakes its process
  the one-client CPU and one taken in a running turn the 16-client CPU. That pays some
  wake-ups twice (the 16-client CPU holds its run's own), so ``busy_scale`` (set by
  ``experiments.simulate.fit.fit_busy``) scales the 16- and 64-client CPU until the model gives
  back those runs' throughput. (Solving each component's base so that the model's own
  16-client run spends ``cpu_s`` instead put a saturated dispatcher's CPU at 0–150 µs a
  task, where the benchmark fed directly measures 300–550 µs.)
  ``cpu_heavy_s``, at 64 clients, is below the 16-client CPU: the batches keep growing
  (more requests per turn of the API's loop, more entries per read of the dispatcher, more
  commands per pipeline); past 16 tasks in flight a running turn's cost
  falls from one to the other as ``1 / in_flight`` (a turn's overhead over its batch).
- ``steps_ms[step]``: percentiles 0..100 of each step of a task's life measured at one
  client (from the timestamps ``tasks.csv`` records): ``submit`` (sent → submitted),
  ``intake`` (→ dispatched), ``hop`` (→ started), ``run`` (→ finished), ``back`` (→ stored),
  ``notify`` (→ observed). The CPU a step charges (:data:`STEP_CPU`) is often more than
  the step took at one client (the API and the client do bookkeeping after the reply,
  the writer after the publish): a task waits only for the part its fastest 5 % of steps
  leave room for (``on_path``), the rest keeps the process busy after the task went on.
  The model draws what CPU time does not explain: the step's time minus its on-path CPU,
  times ``residual_scale`` (``experiments.simulate.fit.fit_residuals``): the measured steps
  hold the waits of a task behind its own earlier visits' after-reply work, which the
  model adds by itself (without the scale its one-client run takes longer than the
  measured one);
- ``speed_states``: on this VM a core runs at one of two speeds (a fixed chunk of work
  takes ~1.6 times longer in the slow one), switching every few to a few hundred ms,
  independently on each core: the ratio, the share of time slow and the mean stay in each
  (``experiments.measure.cpu.speed_trace``, taken for a few seconds before each mode's runs). The
  CPU times above are averages over both; the model's cores switch the same way (a
  saturated run's tasks take ~1.6 times longer while the cores are slow: its p99);
- ``gauge_exponent``: the platform's throughput against the cores' speed measured beside
  each run (``experiments.measure.cpu.SpeedGauge``: a small chunk of work timed every 20 ms on every
  core), fitted on the calibration's own runs; validation predicts each held-out run at
  the speed its gauge read (``speed_at``; the chunk's CPU time moved by up to 20 % between
  runs seconds apart, and the runs' throughput with it, correlation 0.8);
- ``measured["message_cpu_s"]``: dispatcher CPU per worker per heartbeat (its message,
  the reply, its share of housekeeping), from idle stacks heartbeating fast
  (``calibrate.message_cpu``). A pull request that hands results in costs nothing beyond
  their tasks' CPU; one without costs a message (a busy worker's ask while its task runs is
  in the one-client CPU already; charging none would let busy workers poll for free).
- ``measured["c1_sleeps_api"]`` and the like (``c16_``, ``c64_``; client, api, redis,
  dispatcher, worker): how many times a task put each component's threads to sleep
  (voluntary context switches, median over the rounds), for the record: the model does not
  use them.
- ``measured["speed_factors"]``: every time and CPU above is expressed at the reference
  speed, the gauge beside the 16- and 64-client runs (``Calibration.to_reference_speed``):
  each client count's times and CPU were multiplied by the median of its runs'
  ``speed_at`` (``"1"``, ``"16"``, ``"64"``; divide by it for what was measured). The
  one-client runs had the gauge slower than the loaded runs by 6 % on average over the
  seven committed validation runs (up to 29 %), and the model, which runs at the reference
  speed and predicts a run at its own, took them as measured at it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

COMPONENTS = ("client", "api_submit", "api_result", "redis", "dispatcher", "worker")
STEPS = ("submit", "intake", "hop", "run", "back", "notify")
#: The share of each component's CPU per task the model charges to each step.
STEP_CPU: dict[str, dict[str, float]] = {
    "submit": {"client": 0.5, "api_submit": 0.5},
    "intake": {"api_submit": 0.5, "redis": 0.5, "dispatcher": 0.5},
    "hop": {"worker": 1.0},  # the model charges both sides of the worker's CPU on receipt
    "run": {},
    "back": {"dispatcher": 0.5, "redis": 0.5},
    "notify": {"api_result": 1.0, "client": 0.5},
}
PERCENTILES = list(range(101))
#: The step percentile that bounds the CPU a task waits for in that step (ModeCalibration)
ON_PATH_PERCENTILE = 5


@dataclass
class ModeCalibration:
    """One mode's measurements."""

    cpu_s: dict[str, float]
    cpu_1_s: dict[str, float]
    steps_ms: dict[str, list[float]]
    #: what the calibration runs measured, for the record (not used by the model)
    measured: dict[str, Any] = field(default_factory=dict)
    #: CPU per task at ``measured["heavy_clients"]`` clients (None: not measured, no
    #: batching past the 16-client load)
    cpu_heavy_s: dict[str, float] | None = None
    #: what the 16- and the 64-client CPU in a running turn are multiplied by so that the
    #: model gives back the throughput of its own 16- and 64-client runs (``fit_busy``;
    #: None: 1 and 1)
    busy_scale: list[float] | None = None
    #: what each step's residuals are multiplied by so that the model's one-client run
    #: takes the measured time in each step (``fit_residuals``; None: 1 each)
    residual_scale: dict[str, float] | None = None

    def __post_init__(self) -> None:
        missing = (
            set(COMPONENTS) - set(self.cpu_s)
            or set(COMPONENTS) - set(self.cpu_1_s)
            or set(STEPS) - set(self.steps_ms)
        )
        if missing:
            raise ValueError(f"calibration lacks {sorted(missing)}")
        self.derive()

    def derive(self) -> None:
        """Everything computed from the measured CPU and steps (again after they change)."""
        #: each component's CPU per task in a running turn as ``(floor, overhead)``:
        #: ``floor + overhead * min(1, load / in_flight)``, a turn's overhead shared by a
        #: batch that grows with the tasks in flight past the 16-client ``load``; through
        #: the 16-client CPU at 16 and the heavy one at ``heavy_clients`` (see batched)
        self.load = float(self.measured.get("load_clients", 16))
        self.rebatch()
        speed = self.effective_cores / self.measured.get("cpu_count", self.effective_cores)
        charged = {
            step: sum(self.cpu_1_s[c] * share for c, share in STEP_CPU[step].items()) / speed
            for step in STEPS
        }
        #: CPU seconds of each step a task waits for: what the step charges, but no more
        #: than its fastest tasks took (ON_PATH_PERCENTILE); the rest is spent after the
        #: reply, off the task's path
        self.on_path = {
            step: min(charged[step], self.steps_ms[step][ON_PATH_PERCENTILE] / 1000)
            for step in STEPS
        }
        #: the share of each component's CPU on the task's path (its steps' shares, weighed)
        self.on_share = {}
        for c in COMPONENTS:
            weights = {s: shares[c] for s, shares in STEP_CPU.items() if c in shares}
            self.on_share[c] = sum(
                w * (self.on_path[s] / charged[s] if charged[s] else 1.0)
                for s, w in weights.items()
            ) / sum(weights.values())
        #: each step's time not explained by its on-path CPU, at percentiles 0..100
        self.measured_residuals = {
            step: [max(0.0, ms / 1000 - self.on_path[step]) for ms in self.steps_ms[step]]
            for step in STEPS
        }
        self.rescale()

    def rescale(self) -> None:
        """The residuals the model draws: the measured ones times ``residual_scale``."""
        scale = self.residual_scale or {}
        self._residuals = {
            step: [scale.get(step, 1.0) * r for r in curve]
            for step, curve in self.measured_residuals.items()
        }

    def rebatch(self) -> None:
        """``batching`` from the measured CPU and ``busy_scale``."""
        s_load, s_heavy = self.busy_scale or (1.0, 1.0)
        heavy = self.cpu_heavy_s or self.cpu_s
        n_heavy = float(self.measured.get("heavy_clients", 4 * self.load))
        self.batching = {}
        for c in COMPONENTS:
            at_load, at_heavy = s_load * self.cpu_s[c], s_heavy * heavy[c]
            overhead = max(0.0, at_load - at_heavy) / (1 - self.load / n_heavy)
            self.batching[c] = (at_load - overhead, overhead)

    @property
    def effective_cores(self) -> float:
        """Cores the processes had during the load run (the hypervisor's share taken off)."""
        return float(self.measured["effective_cores"])

    @property
    def message_cpu_s(self) -> float:
        """Dispatcher CPU per message without a task (heartbeat, pull request)."""
        return float(self.measured["message_cpu_s"])

    def batched(self, component: str, in_flight: int) -> tuple[float, float]:
        """``component``'s CPU per task in a running turn and what a visit that wakes the
        process costs more (together: the one-client CPU), at ``in_flight`` tasks."""
        floor, overhead = self.batching[component]
        base = floor + overhead * (self.load / in_flight if in_flight > self.load else 1.0)
        return base, max(0.0, self.cpu_1_s[component] - base)

    def residual(self, step: str, u: float) -> float:
        """The step's residual time at quantile ``u`` (0..1), interpolated."""
        curve = self._residuals[step]
        x = u * (len(curve) - 1)
        i = min(int(x), len(curve) - 2)
        return curve[i] + (curve[i + 1] - curve[i]) * (x - i)

    def to_json(self) -> dict:
        return {
            "cpu_s": self.cpu_s,
            "cpu_1_s": self.cpu_1_s,
            "steps_ms": self.steps_ms,
            "measured": self.measured,
            "cpu_heavy_s": self.cpu_heavy_s,
            "busy_scale": self.busy_scale,
            "residual_scale": self.residual_scale,
        }


@dataclass
class Calibration:
    """The machine, the platform's settings and each mode's measurements."""

    machine: dict
    modes: dict[str, ModeCalibration]
    heartbeat_s: float = 1.0
    heartbeat_timeout_s: float = 3.0
    max_attempts: int = 3
    #: the cores' two speeds and how they switch (``experiments.measure.cpu.speed_states``); None:
    #: not measured, every core at its mean speed
    speed_states: dict | None = None
    #: how a saturated run's throughput follows the speed gauge beside it
    #: (``experiments.simulate.calibrate.gauge_exponent``; None: not measured)
    gauge_exponent: float | None = None

    @property
    def cores(self) -> int:
        return int(self.machine["cpu_count"])

    def mode(self, mode: str) -> ModeCalibration:
        try:
            return self.modes[mode]
        except KeyError:
            raise ValueError(
                f"the calibration has no mode {mode!r} (it has {', '.join(self.modes)})"
            ) from None

    def to_reference_speed(self) -> Calibration:
        """Express each mode's measurements at its reference speed (in place; returns the
        calibration): the one-client steps and CPU times the median ``speed_at`` of its
        one-client runs, the 16- and 64-client CPU that of theirs (recorded in
        ``measured["speed_factors"]``; ``experiments.simulate.fit.fit_busy`` divides those
        runs' throughput by them). A CPU or a step measured at speed ``s`` takes ``s``
        times as long at speed 1, as the model has it (``Config.speed``). Modes already
        expressed are left as they are, and every mode without a fitted exponent; a
        client count without gauged runs gets a factor of 1."""
        for name, m in self.modes.items():
            if "speed_factors" in m.measured or self.gauge_exponent is None:
                continue
            runs = m.measured.get("runs") or []
            factors = {}
            for clients in (1, int(m.load), int(m.measured.get("heavy_clients", 64))):
                speeds = [self.speed_at(name, g / 1000) for c, _, g in runs if c == clients]
                factors[str(clients)] = round(float(np.median(speeds)), 4) if speeds else 1.0
            one, load, heavy = factors.values()
            m.steps_ms = {k: [one * v for v in curve] for k, curve in m.steps_ms.items()}
            m.cpu_1_s = {k: one * v for k, v in m.cpu_1_s.items()}
            m.cpu_s = {k: load * v for k, v in m.cpu_s.items()}
            if m.cpu_heavy_s is not None:
                m.cpu_heavy_s = {k: heavy * v for k, v in m.cpu_heavy_s.items()}
            m.measured["speed_factors"] = factors
            m.derive()
        return self

    def speed_at(self, mode: str, gauge_s: float) -> float:
        """The machine's speed against the calibration's during a run whose speed gauge
        read ``gauge_s`` (a chunk's mean CPU seconds): ``(reference / gauge_s) ** e``, the
        reference the gauge beside the mode's 16- and 64-client calibration runs; 1 when
        either was not measured."""
        reference = self.mode(mode).measured.get("gauge_ms", math.nan) / 1000
        if self.gauge_exponent is None or not gauge_s > 0 or not reference > 0:
            return 1.0
        return (reference / gauge_s) ** self.gauge_exponent

    def to_json(self) -> dict:
        out = asdict(self)
        out["modes"] = {name: m.to_json() for name, m in self.modes.items()}
        return out

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def from_json(cls, data: dict) -> Calibration:
        modes = {name: ModeCalibration(**m) for name, m in data["modes"].items()}
        return cls(**{**data, "modes": modes})

    @classmethod
    def load(cls, path: Path) -> Calibration:
        try:
            return cls.from_json(json.loads(path.read_text()))
        except FileNotFoundError:
            raise SystemExit(
                f"no calibration at {path}: run `python -m experiments.simulate calibrate`"
            ) from None


def percentiles(values_ms: Sequence[float]) -> list[float]:
    """Percentiles 0..100 of ``values_ms`` (linear interpolation), rounded to 0.1 µs."""
    return [round(float(v), 4) for v in np.percentile(values_ms, PERCENTILES)]


DEFAULT_CALIBRATION = Path("results/calibration.json")
COMMITTED_CALIBRATION = (
    Path(__file__).resolve().parents[2] / "docs" / "results" / "simulation" / "calibration.json"
)


def calibration_path(given: Path | None) -> Path:
    """The calibration to use: the one given, else the last measured, else the committed."""
    if given is not None:
        return given
    return DEFAULT_CALIBRATION if DEFAULT_CALIBRATION.exists() else COMMITTED_CALIBRATION
