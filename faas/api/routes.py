"""The REST endpoints (README: "REST API"): thin handlers over the store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from starlette.concurrency import run_in_threadpool

from faas.api import metrics
from faas.api.deps import ArchiveDep, SettingsDep, StoreDep, WaitersDep, require_api_key
from faas.exceptions import FunctionNotFoundError, TaskNotFoundError
from faas.models import (
    ExecuteBatchRep,
    ExecuteBatchReq,
    ExecuteFnRep,
    ExecuteFnReq,
    HealthRep,
    InvokeReq,
    RegisterFn,
    RegisterFnRep,
    ResultsRep,
    ResultsReq,
    TaskResultRep,
    TaskStatus,
    TaskStatusRep,
    WorkerInfo,
)
from faas.payload import check_arguments, check_function
from faas.serialize import b64decode, b64encode

#: Payloads above this size are checked in a thread so the event loop keeps serving.
_INLINE_CHECK_BYTES = 64 * 1024

router = APIRouter(dependencies=[Depends(require_api_key)])
health_router = APIRouter()


async def _decode_checked(text: str, check: Callable[[bytes], object]) -> bytes:
    """base64-decode a payload and check its pickle without running it (400 on failure)."""
    if len(text) <= _INLINE_CHECK_BYTES:
        data = b64decode(text)
        check(data)
        return data
    data = await run_in_threadpool(b64decode, text)
    await run_in_threadpool(check, data)
    return data


@router.post("/register_function")
async def register_function(
    body: RegisterFn, store: StoreDep, settings: SettingsDep
) -> RegisterFnRep:
    """Store a serialized function; answer its id."""
    if len(body.name) > settings.max_name_chars:
        raise HTTPException(422, f"name is longer than {settings.max_name_chars} characters")
    payload = await _decode_checked(body.payload, check_function)
    return RegisterFnRep(function_id=UUID(await store.register_function(body.name, payload)))


@router.post("/execute_function")
async def execute_function(body: ExecuteFnReq, store: StoreDep) -> ExecuteFnRep:
    """Queue one execution of a registered function; answer the task id."""
    args = await _decode_checked(body.payload, check_arguments)
    task_id = await store.submit(str(body.function_id), args, body.timeout)
    return ExecuteFnRep(task_id=UUID(task_id))


async def _lookup(
    keys: list[str], store: StoreDep, archive: ArchiveDep
) -> list[tuple[TaskStatus, bytes | None]]:
    """Status and result of each task, from Redis or else the archive (404 if in neither)."""
    found = []
    for key, entry in zip(keys, await store.results(keys), strict=True):
        if entry is None:
            entry = await asyncio.to_thread(archive.get, key)
            if entry is None:
                raise TaskNotFoundError(key)
        found.append(entry)
    return found


@router.get("/status/{task_id}")
async def status(task_id: UUID, store: StoreDep, archive: ArchiveDep) -> TaskStatusRep:
    """A task's status."""
    [(task_status, _)] = await _lookup([str(task_id)], store, archive)
    return TaskStatusRep(task_id=task_id, status=task_status)


@router.post("/invoke")
async def invoke(
    body: InvokeReq,
    store: StoreDep,
    waiters: WaitersDep,
    settings: SettingsDep,
    archive: ArchiveDep,
) -> TaskResultRep:
    """Execute and answer the result in one request (long-poll up to ``wait`` s); a task
    still running then is answered with its status and a null result, like ``/result``."""
    args = await _decode_checked(body.payload, check_arguments)
    task_id = await store.submit(str(body.function_id), args, body.timeout)
    wait_s = min(body.wait, settings.max_wait_s)
    return (await _results_waiting([UUID(task_id)], wait_s, store, waiters, archive))[0]


def _decode_all(texts: list[str], check: Callable[[bytes], object]) -> list[bytes]:
    """Decode and check every payload (in a worker thread); 400 on the first bad one."""
    out = []
    for text in texts:
        data = b64decode(text)
        check(data)
        out.append(data)
    return out


@router.post("/execute_function_batch")
async def execute_function_batch(body: ExecuteBatchReq, store: StoreDep) -> ExecuteBatchRep:
    """Queue many executions of one function in one round trip; all or none (400/404)."""
    if sum(len(p) for p in body.payloads) <= _INLINE_CHECK_BYTES:
        args = [await _decode_checked(p, check_arguments) for p in body.payloads]
    else:  # a large batch is checked in a thread: the event loop keeps serving
        args = await run_in_threadpool(_decode_all, body.payloads, check_arguments)
    task_ids = await store.submit_many(str(body.function_id), args, body.timeout)
    return ExecuteBatchRep(task_ids=[UUID(t) for t in task_ids])


def _result_rep(task_id: UUID, status: TaskStatus, payload: bytes | None) -> TaskResultRep:
    text = b64encode(payload) if payload is not None and status.is_terminal else None
    return TaskResultRep(task_id=task_id, status=status, result=text)


async def _results_waiting(
    ids: list[UUID], wait_s: float, store: StoreDep, waiters: WaitersDep, archive: ArchiveDep
) -> list[TaskResultRep]:
    """Results of ``ids``; if none has ended, wait up to ``wait_s`` for one to end."""
    keys = [str(i) for i in ids]
    with waiters.watch(keys if wait_s > 0 else ()) as ended:
        found = await _lookup(keys, store, archive)
        if wait_s > 0 and not any(status.is_terminal for status, _ in found):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ended.wait(), wait_s)
            found = await _lookup(keys, store, archive)
    return [
        _result_rep(i, status, payload) for i, (status, payload) in zip(ids, found, strict=True)
    ]


@router.get("/result/{task_id}")
async def result(
    task_id: UUID,
    store: StoreDep,
    waiters: WaitersDep,
    settings: SettingsDep,
    archive: ArchiveDep,
    wait: float = Query(0.0, ge=0, description="long-poll up to this many s"),
) -> TaskResultRep:
    """A task's status and, once it has ended, its serialized result (else null).
    With ``?wait=S`` it answers as soon as the task ends, or after S seconds."""
    wait_s = min(wait, settings.max_wait_s)
    return (await _results_waiting([task_id], wait_s, store, waiters, archive))[0]


@router.post("/results")
async def results(
    body: ResultsReq,
    store: StoreDep,
    waiters: WaitersDep,
    settings: SettingsDep,
    archive: ArchiveDep,
) -> ResultsRep:
    """Status and result of many tasks; with ``wait`` > 0 it answers once any has ended."""
    wait_s = min(body.wait, settings.max_wait_s)
    return ResultsRep(
        results=await _results_waiting(body.task_ids, wait_s, store, waiters, archive)
    )


@router.delete("/functions/{function_id}")
async def delete_function(function_id: UUID, store: StoreDep) -> dict[str, str]:
    """Delete a function; tasks of it still queued end FAILED (404 when unknown)."""
    if not await store.delete_function(str(function_id)):
        raise FunctionNotFoundError(str(function_id))
    return {"function_id": str(function_id), "status": "deleted"}


@router.get("/workers")
async def workers(store: StoreDep) -> list[WorkerInfo]:
    """Live workers with their load, as the dispatcher last published them."""
    return await store.workers()


@router.get("/metrics")
async def prometheus_metrics(store: StoreDep) -> Response:
    """Counters, gauges and the latency histogram in Prometheus text format."""
    stats, dispatcher = await asyncio.gather(store.stats(), store.health())
    return Response(
        metrics.render(stats, dispatcher), media_type="text/plain; version=0.0.4; charset=utf-8"
    )


@health_router.get("/health")
async def health(store: StoreDep, settings: SettingsDep, response: Response) -> HealthRep:
    """Liveness: Redis reachable, and the running dispatcher's published state (or null)."""
    if settings.instance:
        response.headers["X-Faas-Instance"] = settings.instance
    return HealthRep(redis=True, dispatcher=await store.health())
