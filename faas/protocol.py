"""The dispatcher/worker wire protocol: one msgpack frame per message, never pickle.

A frame is the msgpack array ``[VERSION, type, field, ...]``; payload bytes (functions,
arguments, results) ride inside as msgpack ``bin``, as they are. Messages::

    worker → dispatcher                          dispatcher → worker
    REGISTER(worker_id, processes, held)         WELCOME(heartbeat_s) | REJECT(reason)
    REQUEST(want, idle, held, results, seen)     TASKS(tasks, seq)    reply (pull) / push
    RESULTS(results, seq)               push     RECONNECT            unknown worker: register
    HEARTBEAT(held, seen)               push     HEARTBEAT(acked)     push: dispatcher alive

``TaskMsg(task_id, entry_id, attempt, function_id, fn, args, timeout_s)``: ``fn`` is empty
when the dispatcher believes the worker has that function already. ``ResultMsg(task_id,
entry_id, attempt, status, payload, started, finished)``: ``status`` is COMPLETED, FAILED,
LOST (its process died) or NOCODE (``fn`` was empty but the worker does not have the
function: never run, send it again with the code).

REQUEST's ``want`` is how many tasks the worker can take: its free processes, and while its
recent tasks are short (faas/durations.py) as many again to queue; the dispatcher sends no
more than ``want`` and at most twice the worker's processes, and puts only short tasks in
the part beyond its free processes (a worker of an earlier release asks for free processes
only, which stays valid).

Reconciliation: every TASKS frame carries ``seq``, increasing per dispatcher (it starts at
the dispatcher's start time in microseconds, so it also grows across restarts); a worker
echoes the highest ``seq`` it received as ``seen`` in REQUEST and HEARTBEAT, next to the ids
it ``held``. A task sent in a frame the worker has acknowledged (``seq <= seen``) that it
neither holds nor reports was lost on the way, and is retried. REGISTER's ``held`` lists
``[task_id, attempt]`` of every task the worker still runs, so a restarted dispatcher adopts
them instead of running them again.

Push results are kept until acknowledged: each RESULTS frame carries the worker's ``seq``
(1, 2, ... per worker), the dispatcher's HEARTBEAT answer carries ``acked``, the highest
RESULTS ``seq`` of that worker whose outcomes it has written to Redis, and the worker keeps
the final results (COMPLETED, FAILED) of every frame not acknowledged yet and sends them
again after each REGISTER — so a result in flight when the dispatcher dies is handed to its
successor instead of being lost (the store drops a result it already has as a duplicate).
(Pull needs none of this: a REQUEST's results are kept until its reply comes.)

A frame that does not decode is a
:class:`ProtocolError`: log it, drop it.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field, fields
from enum import IntEnum
from typing import Any, ClassVar

import msgpack

from faas.exceptions import ProtocolError, ProtocolVersionError

#: Bumped on any incompatible change; a dispatcher rejects workers of another version.
VERSION = 3


class MessageType(IntEnum):
    """Kinds of message; the integer goes on the wire."""

    REGISTER = 1
    WELCOME = 2
    REJECT = 3
    REQUEST = 4
    TASKS = 5
    RESULTS = 6
    HEARTBEAT = 7
    RECONNECT = 8


@dataclass
class TaskMsg:
    """One task for a worker."""

    task_id: str
    entry_id: str
    attempt: int
    function_id: str
    fn: bytes
    args: bytes
    timeout_s: float = 0.0


@dataclass
class ResultMsg:
    """One task's outcome, from a worker."""

    task_id: str
    entry_id: str
    attempt: int
    status: str  # one of RESULT_STATUSES
    payload: bytes = b""
    started: float = 0.0
    finished: float = 0.0

    def __post_init__(self) -> None:
        if self.status not in RESULT_STATUSES:
            raise ProtocolError(
                f"ResultMsg.status must be one of {', '.join(RESULT_STATUSES)}, got {self.status!r}"
            )


#: What a worker may report of a task: an outcome, its process died, or it lacked the code.
RESULT_STATUSES = ("COMPLETED", "FAILED", "LOST", "NOCODE")


_WIRE_TYPES: dict[str, type | tuple[type, ...]] = {
    "str": str,
    "int": int,
    "float": (int, float),
    "bool": bool,
    "bytes": bytes,
    "list": list,
}


def _typed(cls: type, values: list[Any]) -> dict[str, Any]:
    """Field values of ``cls`` by name, checked against its annotations."""
    names = [f.name for f in fields(cls)]
    if not isinstance(values, list | tuple) or len(values) != len(names):
        raise ProtocolError(f"{cls.__name__} takes {len(names)} fields")
    for name, value in zip(names, values, strict=True):
        expected = _WIRE_TYPES[cls.__annotations__[name].split("[")[0]]
        if not isinstance(value, expected):
            raise ProtocolError(
                f"{cls.__name__}.{name} must be {cls.__annotations__[name]}, "
                f"got {type(value).__name__}"
            )
    return dict(zip(names, values, strict=True))


class Message:
    """Base of every message: ``encode()`` to one frame, ``decode(frame)`` back."""

    type: ClassVar[MessageType]
    _nested: ClassVar[dict[str, builtins.type]] = {}

    def encode(self) -> bytes:
        """This message as one msgpack frame."""
        fields = [  # nested items as flat lists of their fields (vars keeps field order)
            [list(vars(x).values()) for x in v] if k in self._nested else v
            for k, v in vars(self).items()
        ]
        frame: bytes = msgpack.packb([VERSION, int(self.type), *fields])
        return frame

    @classmethod
    def _build(cls, fields: list[Any]) -> Message:
        kwargs = _typed(cls, fields)
        for name, item_type in cls._nested.items():
            kwargs[name] = [item_type(**_typed(item_type, item)) for item in kwargs[name]]
        return cls(**kwargs)


@dataclass
class Register(Message):
    """``held``: ``[task_id, attempt]`` of each task the worker still runs or queues."""

    type = MessageType.REGISTER
    worker_id: str
    processes: int
    held: list[list[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for item in self.held:
            if not (
                isinstance(item, list | tuple)
                and len(item) == 2
                and isinstance(item[0], str)
                and isinstance(item[1], int)
            ):
                raise ProtocolError(f"Register.held takes [task_id, attempt] pairs, got {item!r}")


@dataclass
class Welcome(Message):
    type = MessageType.WELCOME
    heartbeat_s: float


@dataclass
class Reject(Message):
    type = MessageType.REJECT
    reason: str


@dataclass
class Request(Message):
    """Pull: finished results, and a request for up to ``want`` tasks. ``idle``: the worker
    runs nothing, so the dispatcher may hold the reply until work arrives. ``held``: ids of tasks
    the worker still runs (so a lost reply cannot lose tasks); ``seen``: the highest TASKS
    ``seq`` received. Doubles as a heartbeat."""

    type = MessageType.REQUEST
    _nested = {"results": ResultMsg}
    want: int
    idle: bool
    held: list[str] = field(default_factory=list)
    results: list[ResultMsg] = field(default_factory=list)
    seen: int = 0


@dataclass
class Tasks(Message):
    type = MessageType.TASKS
    _nested = {"tasks": TaskMsg}
    tasks: list[TaskMsg] = field(default_factory=list)
    seq: int = 0


@dataclass
class Results(Message):
    """Push: finished results; ``seq`` numbers the worker's RESULTS frames (0: no ack)."""

    type = MessageType.RESULTS
    _nested = {"results": ResultMsg}
    results: list[ResultMsg] = field(default_factory=list)
    seq: int = 0


@dataclass
class Heartbeat(Message):
    """Push. The worker's: the ids it holds and the highest TASKS ``seq`` it saw. The
    dispatcher's: ``seen``, the last TASKS ``seq`` it sent, and ``acked``, the highest
    RESULTS ``seq`` of this worker whose outcomes are written."""

    type = MessageType.HEARTBEAT
    held: list[str] = field(default_factory=list)
    seen: int = 0
    acked: int = 0


@dataclass
class Reconnect(Message):
    type = MessageType.RECONNECT


_CLASSES: dict[int, type[Message]] = {
    int(c.type): c
    for c in (Register, Welcome, Reject, Request, Tasks, Results, Heartbeat, Reconnect)
}


def decode(frame: bytes) -> Message:
    """Parse one frame; :class:`ProtocolError` if it is malformed, foreign or unknown."""
    try:
        value = msgpack.unpackb(frame)
    except Exception as e:
        raise ProtocolError(f"frame is not msgpack: {e}") from e
    if not isinstance(value, list) or len(value) < 2:
        raise ProtocolError("frame is not a [version, type, ...] array")
    version, kind, *fields = value
    if version != VERSION:
        raise ProtocolVersionError(f"protocol version {version!r}, this side speaks {VERSION}")
    cls = _CLASSES.get(kind) if isinstance(kind, int) else None
    if cls is None:
        raise ProtocolError(f"unknown message type {kind!r}")
    try:
        return cls._build(fields)
    except ProtocolError:
        raise
    except Exception as e:
        raise ProtocolError(f"malformed {cls.__name__}: {e}") from e
