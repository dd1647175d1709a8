"""Request/response models of the REST API, the mode and task status enums, the internal Task."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, Field


class Mode(StrEnum):
    """How a dispatcher hands tasks to processes; the same string goes to the CLI, Redis
    counters, ``/health`` and logs."""

    #: the dispatcher's own process pool
    LOCAL = "local"
    #: ZeroMQ workers ask for tasks (REQ/ROUTER)
    PULL = "pull"
    #: the dispatcher sends tasks to ZeroMQ workers (DEALER/ROUTER)
    PUSH = "push"

    @property
    def is_remote(self) -> bool:
        """True for the modes whose processes belong to separate worker programs."""
        return self is not Mode.LOCAL

    @classmethod
    def remote(cls) -> tuple[Mode, ...]:
        """The modes with worker programs (``faas worker pull|push``)."""
        return tuple(m for m in cls if m.is_remote)


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


class InvokeReq(ExecuteFnReq):
    """Body of ``POST /invoke``: execute, and wait up to ``wait`` s for the result."""

    wait: float = Field(default=30.0, ge=0)


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


class ExecuteBatchReq(BaseModel):
    """Body of ``POST /execute_function_batch``: many executions of one function."""

    function_id: UUID
    payloads: list[str] = Field(min_length=1, max_length=10_000)
    timeout: float | None = Field(default=None, gt=0)


class ExecuteBatchRep(BaseModel):
    """Answer of ``POST /execute_function_batch``: task ids in the payloads' order."""

    task_ids: list[UUID]


class ResultsReq(BaseModel):
    """Body of ``POST /results``: wait up to ``wait`` s until any listed task has ended."""

    task_ids: list[UUID] = Field(min_length=1, max_length=10_000)
    wait: float = Field(default=0.0, ge=0)


class ResultsRep(BaseModel):
    """Answer of ``POST /results``: one entry per task id, in order."""

    results: list[TaskResultRep]


class WorkerInfo(BaseModel):
    """A live worker as its dispatcher last published it."""

    worker_id: str
    processes: int
    in_flight: int
    last_seen_s: float


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
    #: Dispatches so far; the next one is ``attempts + 1``, unless ``resend``.
    attempts: int = 0
    timeout_s: float = 0.0
    #: The last dispatch never ran (its worker lacked the code): the next one repeats it,
    #: with the same attempt number.
    resend: bool = False
