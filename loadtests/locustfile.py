"""Locust users that drive faas like real clients.

    locust -f loadtests/ --host http://127.0.0.1:8000

``FunctionUser`` registers a few functions at start, then executes them (weights: no-op 5,
sleep 0.1 s 2, CPU-bound 1) and long-polls each result until it ends. ``BurstUser`` submits
bursts of 20 through the batch endpoint and collects them with ``POST /results``. Besides
Locust's per-request HTTP figures, every task's end-to-end latency (execute → terminal result
seen) is reported as its own request type, ``TASK``: that is what a user feels. A task that
ends FAILED, or does not end within ``TASK_DEADLINE_S``, counts as a TASK failure.
"""

from __future__ import annotations

import time

from locust import HttpUser, between, task

from faas.client import serialize_function
from faas.serialize import serialize

TASK_DEADLINE_S = 30.0
TERMINAL = ("COMPLETED", "FAILED")


def noop():
    return None


def sleep(seconds):
    import time

    time.sleep(seconds)
    return seconds


def cpu(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


WORKLOADS = {"noop": (noop, ()), "sleep": (sleep, (0.1,)), "cpu": (cpu, (50_000,))}


class FaasUser(HttpUser):
    """Registers the workload functions once, then reports task latencies."""

    abstract = True
    host = "http://127.0.0.1:8000"

    def on_start(self) -> None:
        self.function_ids = {}
        for name, (fn, _) in WORKLOADS.items():
            with self.client.post(
                "/register_function",
                name="/register_function",
                json={"name": name, "payload": serialize_function(fn)},
                catch_response=True,
            ) as reply:
                if reply.status_code != 200:
                    reply.failure(f"register {name}: {reply.status_code} {reply.text}")
                    continue
                self.function_ids[name] = reply.json()["function_id"]

    def report_task(self, name: str, started: float, status: str | None) -> None:
        """One TASK sample: execute → terminal result observed."""
        error = None
        if status is None:
            error = TimeoutError(f"task did not end within {TASK_DEADLINE_S}s")
        elif status != "COMPLETED":
            error = RuntimeError(f"task ended {status}")
        self.environment.events.request.fire(
            request_type="TASK",
            name=name,
            response_time=(time.time() - started) * 1000,
            response_length=0,
            exception=error,
            context={},
        )


class FunctionUser(FaasUser):
    """Executes one function at a time and long-polls its result."""

    wait_time = between(0.05, 0.2)
    weight = 4

    def execute(self, name: str) -> None:
        if name not in self.function_ids:
            return
        started = time.time()
        args = WORKLOADS[name][1]
        with self.client.post(
            "/execute_function",
            name="/execute_function",
            json={"function_id": self.function_ids[name], "payload": serialize((args, {}))},
            catch_response=True,
        ) as reply:
            if reply.status_code != 200:
                reply.failure(f"{reply.status_code} {reply.text}")
                return
            task_id = reply.json()["task_id"]
        self.report_task(name, started, self.wait_result(task_id, started))

    def wait_result(self, task_id: str, started: float) -> str | None:
        """Long-poll until the task ends (its status) or the deadline passes (None)."""
        while (left := TASK_DEADLINE_S - (time.time() - started)) > 0:
            reply = self.client.get(
                f"/result/{task_id}", params={"wait": min(left, 10)}, name="/result/[id]?wait"
            )
            if reply.status_code == 200 and reply.json()["status"] in TERMINAL:
                return reply.json()["status"]
        return None

    @task(5)
    def noop(self) -> None:
        self.execute("noop")

    @task(2)
    def sleep(self) -> None:
        self.execute("sleep")

    @task(1)
    def cpu(self) -> None:
        self.execute("cpu")


class BurstUser(FaasUser):
    """Submits bursts through the batch endpoint and collects them together."""

    wait_time = between(0.5, 1.5)
    weight = 1
    burst = 20

    @task
    def burst_of_noops(self) -> None:
        if "noop" not in self.function_ids:
            return
        started = time.time()
        payloads = [serialize(((), {}))] * self.burst
        with self.client.post(
            "/execute_function_batch",
            name="/execute_function_batch",
            json={"function_id": self.function_ids["noop"], "payloads": payloads},
            catch_response=True,
        ) as reply:
            if reply.status_code != 200:
                reply.failure(f"{reply.status_code} {reply.text}")
                return
            pending = set(reply.json()["task_ids"])
        while pending and time.time() - started < TASK_DEADLINE_S:
            reply = self.client.post(
                "/results", name="/results?wait", json={"task_ids": sorted(pending), "wait": 5}
            )
            if reply.status_code != 200:
                continue
            for entry in reply.json()["results"]:
                if entry["status"] in TERMINAL:
                    pending.discard(entry["task_id"])
                    self.report_task("burst", started, entry["status"])
        for _ in pending:
            self.report_task("burst", started, None)
