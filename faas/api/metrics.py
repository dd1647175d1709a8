"""``GET /metrics`` in Prometheus text format, built with prometheus_client from the
counters the store and the dispatcher keep in Redis."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from faas.models import DispatcherState, Mode
from faas.store import LATENCY_BUCKETS


class _Snapshot:
    """A collector over one snapshot of the store's figures."""

    def __init__(self, stats: dict[str, float], dispatcher: DispatcherState | None) -> None:
        self.stats, self.dispatcher = stats, dispatcher

    def collect(self) -> Iterator[Metric]:
        s = self.stats
        yield CounterMetricFamily(
            "faas_tasks_submitted", "Tasks accepted by the API", value=s.get("submitted", 0)
        )
        for status in ("COMPLETED", "FAILED"):
            family = CounterMetricFamily(
                f"faas_tasks_{status.lower()}", f"Tasks recorded {status}", labels=["mode"]
            )
            for mode in Mode:
                family.add_metric([mode], s.get(f"{status}:{mode}", 0))
            yield family
        yield CounterMetricFamily(
            "faas_task_retries",
            "Tasks re-queued after a lost worker or process",
            value=s.get("retries", 0),
        )
        yield CounterMetricFamily(
            "faas_worker_lost", "Workers declared lost", value=s.get("worker_lost", 0)
        )
        yield self._restarts()
        yield GaugeMetricFamily(
            "faas_queue_depth",
            "Tasks queued, not claimed by a dispatcher",
            value=s.get("queue_depth", 0),
        )
        yield GaugeMetricFamily(
            "faas_tasks_in_flight",
            "Tasks claimed, outcome not recorded",
            value=s.get("in_flight", 0),
        )
        d = self.dispatcher
        yield GaugeMetricFamily(
            "faas_workers", "Live registered workers", value=d.workers if d else 0
        )
        yield GaugeMetricFamily(
            "faas_processes", "Processes that can run tasks", value=d.processes if d else 0
        )
        yield self._latency()

    def _restarts(self) -> CounterMetricFamily:
        restarts = CounterMetricFamily(
            "faas_component_restarts",
            "Components faas up started again after they exited",
            labels=["component"],
        )
        for component in ("redis", "api", "dispatcher", "worker"):
            restarts.add_metric([component], self.stats.get(f"restarts:{component}", 0))
        return restarts

    def _latency(self) -> HistogramMetricFamily:
        cumulative, buckets = 0.0, []
        for bound in LATENCY_BUCKETS:
            cumulative += self.stats.get(f"latency:{bound:g}", 0)
            buckets.append((f"{bound:g}", cumulative))
        cumulative += self.stats.get("latency:+Inf", 0)
        buckets.append(("+Inf", cumulative))
        return HistogramMetricFamily(
            "faas_task_latency_seconds",
            "Submitted to result stored",
            buckets=buckets,
            sum_value=self.stats.get("latency:sum", 0),
        )


def render(stats: dict[str, float], dispatcher: DispatcherState | None) -> bytes:
    """The Prometheus exposition text of one snapshot."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(stats, dispatcher))
    return generate_latest(registry)
