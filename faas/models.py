"""Request/response models of the REST API, the task status enum and the internal Task."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, Field


class TaskStatus(StrEnum):
    """A task's status; the same string goes to Redis, JSON and logs."""

    #: waiting in the durable queue (again, after a lost worker)
    QUEUED = "QUEUED"
    #: handed to a worker or pool process; its outcome is not recorded yet
    RUNNING = "RUNNING"
    #: the function returned; ``result`` is its serialized return value
    COMPLETED = "COMPLETED"
    #: the function raised, or the platform gave up; ``result`` is the serialized exception
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        """True for the statuses a task never leaves."""
        return self in (TaskStatus.COMPLETED, TaskStatus.FAILED)


class RegisterFn(BaseModel):
    """Body of ``POST /register_function``."""

    name: str = Field(min_length=1)
    payload: str = Field(description="base64(dill.dumps(callable))")


class RegisterFnRep(BaseModel):
    """Answer of ``POST /register_function``."""

    function_id: UUID


class ExecuteFnReq(BaseModel):
    """Body of ``POST /execute_function``."""

    function_id: UUID
    payload: str = Field(description="base64(dill.dumps(((args), {kwargs})))")
    timeout: float | None = Field(default=None, gt=0, description="seconds; none by default")


class ExecuteFnRep(BaseModel):
    """Answer of ``POST /execute_function``."""

    task_id: UUID


class TaskStatusRep(BaseModel):
    """Answer of ``GET /status/{task_id}``."""

    task_id: UUID
    status: TaskStatus


class TaskResultRep(BaseModel):
    """Answer of ``GET /result/{task_id}``; ``result`` is null until the task ends."""

    task_id: UUID
    status: TaskStatus
    result: str | None


class DispatcherState(BaseModel):
    """What a running dispatcher publishes about itself."""

    mode: str
    workers: int
    processes: int


class HealthRep(BaseModel):
    """Answer of ``GET /health``."""

    status: str = "ok"
    redis: bool
    dispatcher: DispatcherState | None


class Task(BaseModel):
    """A task as the dispatcher handles it: what to run, and where it came from in the queue."""

    task_id: str
    entry_id: str
    function_id: str
    args: bytes
    attempts: int = 0
    timeout_s: float = 0.0
