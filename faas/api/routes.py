"""The REST endpoints (DESIGN.md section 3): thin handlers over the store."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException
from starlette.concurrency import run_in_threadpool

from faas.api.deps import SettingsDep, StoreDep, require_api_key
from faas.models import (
    ExecuteFnRep,
    ExecuteFnReq,
    HealthRep,
    RegisterFn,
    RegisterFnRep,
    TaskResultRep,
    TaskStatusRep,
)
from faas.payload import check_arguments, check_function
from faas.serialize import b64decode, b64encode

#: Payloads above this size are checked in a thread so the event loop keeps serving.
_INLINE_CHECK_BYTES = 64 * 1024

router = APIRouter(dependencies=[Depends(require_api_key)])
health_router = APIRouter()


async def _decode_checked(text: str, check) -> bytes:  # noqa: ANN001
    """base64-decode a payload and check its pickle without running it (400 on failure)."""
    if len(text) <= _INLINE_CHECK_BYTES:
        data = b64decode(text)
        check(data)
        return data
    data = await run_in_threadpool(b64decode, text)
    await run_in_threadpool(check, data)
    return data


@router.post("/register_function")
async def register_function(body: RegisterFn, store: StoreDep,
                            settings: SettingsDep) -> RegisterFnRep:
    """Store a serialized function; answer its id."""
    if len(body.name) > settings.max_name_chars:
        raise HTTPException(422, f"name is longer than {settings.max_name_chars} characters")
    payload = await _decode_checked(body.payload, check_function)
    return RegisterFnRep(function_id=await store.register_function(body.name, payload))


@router.post("/execute_function")
async def execute_function(body: ExecuteFnReq, store: StoreDep) -> ExecuteFnRep:
    """Queue one execution of a registered function; answer the task id."""
    args = await _decode_checked(body.payload, check_arguments)
    task_id = await store.submit(str(body.function_id), args, body.timeout)
    return ExecuteFnRep(task_id=task_id)


@router.get("/status/{task_id}")
async def status(task_id: UUID, store: StoreDep) -> TaskStatusRep:
    """A task's status."""
    return TaskStatusRep(task_id=task_id, status=await store.status(str(task_id)))


@router.get("/result/{task_id}")
async def result(task_id: UUID, store: StoreDep) -> TaskResultRep:
    """A task's status and, once it has ended, its serialized result (else null)."""
    task_status, payload = await store.result(str(task_id))
    text = b64encode(payload) if payload is not None and task_status.is_terminal else None
    return TaskResultRep(task_id=task_id, status=task_status, result=text)


@health_router.get("/health")
async def health(store: StoreDep) -> HealthRep:
    """Liveness: Redis reachable, and the running dispatcher's published state (or null)."""
    return HealthRep(redis=True, dispatcher=await store.health())
