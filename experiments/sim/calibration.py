"""What the model knows of the platform, measured on it: CPU per task and step residuals.

``Calibration`` is the file ``simulate calibrate`` writes (``results/calibration.json``):

- ``cpu_s[component]``: service demand, CPU seconds each component spends per task
  (``client``, ``api_submit``, ``api_result``, ``redis``, ``dispatcher``, ``worker``), from
  the processes' CPU times before and after a closed-loop run at 16 clients, divided by the
  tasks; so the contention of the shared machine is not baked into the service times;
  ``cpu_1_s`` the same at one client. Demand falls with load (the dispatcher reads, sends
  and writes in batches, the event loops wake once for several requests): the model takes
  ``a + b / n`` with n the tasks in flight, fitted through both points;
- ``steps_ms[step]``: percentiles 0..100 of each step of a task's life measured at one
  client (from the timestamps ``tasks.csv`` records): ``submit`` (sent → submitted),
  ``intake`` (→ dispatched), ``hop`` (→ started), ``run`` (→ finished), ``back`` (→ stored),
  ``notify`` (→ observed). The model uses what CPU time does not explain: the step's time
  minus the CPU it charges to that step (:data:`STEP_CPU`), never below 0;
- ``measured["message_cpu_s"]``: dispatcher CPU per worker per heartbeat (its message,
  the reply, its share of housekeeping), from idle stacks heartbeating fast
  (``calibrate.message_cpu``); the model charges a pull request without tasks the same.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

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


@dataclass
class ModeCalibration:
    """One mode's measurements."""

    cpu_s: dict[str, float]
    cpu_1_s: dict[str, float]
    steps_ms: dict[str, list[float]]
    #: what the calibration runs measured, for the record (not used by the model)
    measured: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = (
            set(COMPONENTS) - set(self.cpu_s)
            or set(COMPONENTS) - set(self.cpu_1_s)
            or set(STEPS) - set(self.steps_ms)
        )
        if missing:
            raise ValueError(f"calibration lacks {sorted(missing)}")
        n = self.measured.get("load_clients", 16)
        #: demand at n tasks in flight: ``base + extra / n`` (1 and ``load_clients`` fit it)
        self.extra = {
            c: max(0.0, (self.cpu_1_s[c] - self.cpu_s[c]) * n / (n - 1)) for c in COMPONENTS
        }
        self.base = {c: max(0.0, self.cpu_1_s[c] - self.extra[c]) for c in COMPONENTS}
        self._residuals = {step: self._residual_curve(step) for step in STEPS}

    def _residual_curve(self, step: str) -> list[float]:
        speed = self.effective_cores / self.measured.get("cpu_count", self.effective_cores)
        charged = sum(self.cpu_1_s[c] * share for c, share in STEP_CPU[step].items()) / speed
        return [max(0.0, ms / 1000 - charged) for ms in self.steps_ms[step]]

    @property
    def effective_cores(self) -> float:
        """Cores the processes had during the load run (the hypervisor's share taken off)."""
        return float(self.measured["effective_cores"])

    @property
    def message_cpu_s(self) -> float:
        """Dispatcher CPU per message without a task (heartbeat, pull request)."""
        return float(self.measured["message_cpu_s"])

    def demand(self, component: str, in_flight: int) -> float:
        """CPU seconds per task of ``component`` with ``in_flight`` tasks in the platform."""
        return self.base[component] + self.extra[component] / max(1, in_flight)

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
        }


@dataclass
class Calibration:
    """The machine, the platform's settings and each mode's measurements."""

    machine: dict
    modes: dict[str, ModeCalibration]
    heartbeat_s: float = 1.0
    heartbeat_timeout_s: float = 3.0
    max_attempts: int = 3

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
