"""The Python client: ``FaaSClient`` for single calls, ``Executor`` for futures.

    from faas.client import FaaSClient, Executor
    client = FaaSClient("http://127.0.0.1:8000")
    with Executor(client) as ex:
        print(list(ex.map(pow, range(10), [2] * 10)))

Functions travel by value: a function from ``__main__`` goes as dill pickles it (code and
the globals it uses); one from the user's own importable module is pickled by value too
(cloudpickle's ``register_pickle_by_value``), so workers never import it. Results arrive by
long-poll (``GET /result?wait=``, ``POST /results`` with ``wait``): one collector thread
per Executor waits on every pending future at once, never a polling loop per future.
"""

from __future__ import annotations

import base64
import concurrent.futures as cf
import inspect
import logging
import sysconfig
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import cloudpickle
import httpx

from faas.exceptions import APIError
from faas.serialize import deserialize, serialize

log = logging.getLogger(__name__)

_TERMINAL = ("COMPLETED", "FAILED")
_LIBRARY_PATHS = tuple(
    {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
)


def serialize_function(fn: Callable[..., Any]) -> str:
    """base64 of the function pickled by value (also from the user's importable modules)."""
    module = inspect.getmodule(fn)
    path = getattr(module, "__file__", None) or ""
    if (
        module is None
        or module.__name__ == "__main__"
        or not path
        or path.startswith(_LIBRARY_PATHS)
    ):
        return serialize(fn)
    cloudpickle.register_pickle_by_value(module)
    try:
        return base64.b64encode(cloudpickle.dumps(fn)).decode()
    finally:
        cloudpickle.unregister_pickle_by_value(module)


class FaaSClient:
    """A synchronous client of one faas API."""

    def __init__(
        self,
        url: str = "http://127.0.0.1:8000",
        api_key: str | None = None,
        timeout_s: float = 60.0,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=url, headers=headers, timeout=timeout_s)
        self.calls = 0  # API requests made, for the curious (and the tests)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        self.calls += 1
        reply = self.http.request(method, path, **kwargs)
        if reply.status_code != 200:
            detail = (
                reply.json().get("detail")
                if reply.headers.get("content-type", "").startswith("application/json")
                else reply.text
            )
            raise APIError(f"{method} {path}: {reply.status_code} {detail}", reply.status_code)
        return reply.json()

    def register(self, fn: Callable[..., Any], name: str | None = None) -> str:
        """Register ``fn``; answer its function id."""
        body = {
            "name": name or getattr(fn, "__name__", "function"),
            "payload": serialize_function(fn),
        }
        return self._call("POST", "/register_function", json=body)["function_id"]

    def submit(self, function_id: str, *args: Any, **kwargs: Any) -> str:
        """Queue one execution; answer the task id."""
        return self.submit_call(function_id, args, kwargs)

    def submit_call(
        self,
        function_id: str,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> str:
        """Queue one execution with explicit arguments and, optionally, a timeout (seconds:
        past it the task's process is killed and the task ends FAILED with a TimeoutError);
        answer the task id."""
        body: dict[str, Any] = {
            "function_id": function_id,
            "payload": serialize((tuple(args), kwargs or {})),
        }
        if timeout_s is not None:
            body["timeout"] = timeout_s
        return self._call("POST", "/execute_function", json=body)["task_id"]

    def call(self, function_id: str, *args: Any, **kwargs: Any) -> Any:
        """Execute and return the value (or raise the task's exception) in one request
        (``POST /invoke``), long-polling further if the task outlasts the API's wait."""
        body = {"function_id": function_id, "payload": serialize((args, kwargs))}
        reply = self._call("POST", "/invoke", json=body)
        if reply["status"] in _TERMINAL:
            return _outcome(reply)
        return self.result(reply["task_id"])

    def submit_batch(
        self, function_id: str, calls: Iterable[tuple[tuple[Any, ...], dict[str, Any]]]
    ) -> list[str]:
        """Queue many executions of one function in one request; task ids in order."""
        body = {"function_id": function_id, "payloads": [serialize(c) for c in calls]}
        return self._call("POST", "/execute_function_batch", json=body)["task_ids"]

    def status(self, task_id: str) -> str:
        """The task's status."""
        return self._call("GET", f"/status/{task_id}")["status"]

    def result(self, task_id: str, timeout: float | None = None) -> Any:
        """The task's return value, or raise its exception; ``TimeoutError`` if it has not
        ended within ``timeout`` seconds (None: wait as long as it takes)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = 30.0 if deadline is None else max(0.0, deadline - time.monotonic())
            reply = self._call("GET", f"/result/{task_id}", params={"wait": min(left, 30.0)})
            if reply["status"] in _TERMINAL:
                return _outcome(reply)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"task {task_id} still {reply['status']} after {timeout}s")

    def results(self, task_ids: list[str], wait_s: float = 0.0) -> list[dict[str, Any]]:
        """Raw ``/results`` entries; with ``wait_s`` it returns once any task has ended."""
        body = {"task_ids": task_ids, "wait": wait_s}
        return self._call("POST", "/results", json=body)["results"]

    def workers(self) -> list[dict[str, Any]]:
        """Live workers with their load."""
        return self._call("GET", "/workers")

    def health(self) -> dict[str, Any]:
        """The API's ``/health`` answer: Redis reachable, the dispatcher's state (or None)."""
        return self._call("GET", "/health")

    def close(self) -> None:
        """Close the HTTP connections."""
        self.http.close()


def _outcome(reply: dict[str, Any]) -> Any:
    value = deserialize(reply["result"])
    if reply["status"] == "FAILED":
        raise value
    return value


class Executor(cf.Executor):
    """``concurrent.futures.Executor`` on faas: each function is registered once; one thread
    long-polls the results of every pending future. Between two polls it lingers 5 ms plus
    0.5 ms per pending future (at most ``max_linger_s``), so many futures settle per call."""

    def __init__(
        self,
        client: FaaSClient,
        batch_size: int = 1000,
        poll_wait_s: float = 5.0,
        max_linger_s: float = 0.05,
    ) -> None:
        self.client = client
        self.batch_size = batch_size
        self.poll_wait_s = poll_wait_s
        self.max_linger_s = max_linger_s
        self._function_ids: dict[Callable[..., Any], str] = {}
        self._pending: dict[str, cf.Future[Any]] = {}
        self._lock = threading.Condition()
        self._shutdown = False
        self._collector = threading.Thread(target=self._collect, daemon=True, name="faas-executor")
        self._collector.start()

    def _function_id(self, fn: Callable[..., Any]) -> str:
        if fn not in self._function_ids:
            self._function_ids[fn] = self.client.register(fn)
        return self._function_ids[fn]

    def _track(self, task_ids: list[str]) -> list[cf.Future[Any]]:
        futures: list[cf.Future[Any]] = [cf.Future() for _ in task_ids]
        with self._lock:
            for task_id, future in zip(task_ids, futures, strict=True):
                future.set_running_or_notify_cancel()
                self._pending[task_id] = future
            self._lock.notify()
        return futures

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        if self._shutdown:
            raise RuntimeError("cannot submit after shutdown")
        return self._track([self.client.submit(self._function_id(fn), *args, **kwargs)])[0]

    def map(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int = 0,
    ) -> Iterator[Any]:
        """Results of ``fn`` over the iterables, in order; submitted in batches."""
        function_id = self._function_id(fn)
        calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
            (args, {}) for args in zip(*iterables, strict=False)
        ]
        size = chunksize or self.batch_size
        futures: list[cf.Future[Any]] = []
        for start in range(0, len(calls), size):
            futures += self._track(
                self.client.submit_batch(function_id, calls[start : start + size])
            )
        deadline = None if timeout is None else time.monotonic() + timeout

        def results() -> Iterator[Any]:
            for future in futures:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                yield future.result(left)

        return results()

    def _collect(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._shutdown:
                    self._lock.wait()
                if not self._pending:
                    return
                task_ids = list(self._pending)[:10_000]
            try:
                entries = self.client.results(task_ids, self.poll_wait_s)
            except APIError as e:
                if not e.retryable:  # a bad key, unknown tasks: asking again cannot help
                    self._fail(task_ids, e)
                    continue
                log.warning("collecting results failed (%s); retrying", e)
                time.sleep(0.5)
                continue
            except httpx.HTTPError as e:  # the API is down: try again shortly
                log.warning("collecting results failed (%s); retrying", e)
                time.sleep(0.5)
                continue
            self._settle(entries)
            with self._lock:
                linger_s = min(self.max_linger_s, 0.005 + 0.0005 * len(self._pending))
            time.sleep(linger_s)

    def _fail(self, task_ids: list[str], error: APIError) -> None:
        """The API refused to tell us about these tasks: their futures fail with why."""
        log.error("collecting results refused (%s); failing %d futures", error, len(task_ids))
        for task_id in task_ids:
            with self._lock:
                future = self._pending.pop(task_id, None)
            if future is not None:
                future.set_exception(error)

    def _settle(self, entries: list[dict[str, Any]]) -> None:
        for entry in entries:
            if entry["status"] not in _TERMINAL:
                continue
            with self._lock:
                future = self._pending.pop(entry["task_id"], None)
            if future is None:
                continue
            try:
                future.set_result(_outcome(entry))
            except BaseException as exc:
                future.set_exception(exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                for future in self._pending.values():
                    future.cancel()
                self._pending.clear()
            self._lock.notify()
        if wait:
            self._collector.join()
