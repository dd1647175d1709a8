"""The measurements' guard against the hypervisor's bursts of steal (``Session.run_calm``)."""

from __future__ import annotations

import asyncio

from experiments.simulate import measure
from experiments.simulate.measure import RealRun, Session
from experiments.simulate.model import Config


class Runs(Session):
    """A session (no stack) whose runs had the given shares of the machine's cores."""

    def __init__(self, shares: list[float]) -> None:
        self.shares = shares
        self.calls = 0

    async def run(self, config: Config) -> RealRun:
        share = self.shares[self.calls]
        self.calls += 1
        cpu = {"host_busy": share, "host_steal": 1.0 - share, "calls": float(self.calls)}
        return RealRun(config, [], cpu)


def _calm(shares: list[float]) -> tuple[int, float]:
    session = Runs(shares)
    run = asyncio.run(session.run_calm(Config("push"), wait_s=0.0))
    assert run.tries == session.calls
    return session.calls, run.cpu_s["calls"]


def test_a_run_under_steal_is_measured_again_until_calm() -> None:
    assert _calm([1.0]) == (1, 1.0)  # calm at once: one run
    assert _calm([0.4, 0.6, 0.95, 0.3]) == (3, 3.0)  # stops at the first calm one
    # never calm: CALM_TRIES runs, the one with the most cores kept
    shares = [0.4, 0.7] + [0.5] * (measure.CALM_TRIES - 2)
    assert _calm(shares) == (measure.CALM_TRIES, 2.0)
