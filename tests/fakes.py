"""In-memory stand-ins for the dispatcher's sockets and workers (no sockets, no processes)."""

from __future__ import annotations

import asyncio

import fakeredis
from redis.exceptions import ConnectionError as RedisConnectionError

from faas.api.app import POOL_EXHAUSTED
from faas.config import Settings
from faas.dispatcher.pull import PullDispatcher
from faas.dispatcher.push import PushDispatcher
from faas.protocol import Message, Register, ResultMsg, Results, TaskMsg, Tasks
from faas.store import Store, task_key


class _Outboxes:
    """A dispatcher whose socket is replaced by outboxes, one list of messages per worker."""

    def __init__(self, *args, outboxes: dict[str, list[Message]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.outboxes = outboxes
        self.unreachable: set[str] = set()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def serve(self) -> None:
        """No socket to read: messages arrive through ``handle`` from the test."""
        await asyncio.Event().wait()

    def reply(self, identity: bytes, message: Message) -> bool:
        worker = identity.decode()
        if worker in self.unreachable:
            return False
        self.outboxes.setdefault(worker, []).append(message)
        return True


class FakePush(_Outboxes, PushDispatcher):
    """The real push dispatcher, its socket replaced by outboxes."""


class FakePull(_Outboxes, PullDispatcher):
    """The real pull dispatcher, its socket replaced by outboxes."""


class FakeWorker:
    """What a worker holds: tasks by id, the code it has, the last frame seen, and (as a
    push worker does) the final results of RESULTS frames not acknowledged yet."""

    def __init__(self, name: str, processes: int = 2) -> None:
        self.name, self.processes = name, processes
        self.held: dict[str, TaskMsg] = {}
        self.code: set[str] = set()
        self.seen = 0
        self.result_seq = 0
        self.unacked: dict[int, list[ResultMsg]] = {}

    def results(self, results: list[ResultMsg]) -> Results:
        """The next RESULTS frame; its final results are kept until acknowledged."""
        self.result_seq += 1
        final = [r for r in results if r.status in ("COMPLETED", "FAILED")]
        if final:
            self.unacked[self.result_seq] = final
        return Results(results, self.result_seq)

    def acked(self, seq: int) -> None:
        for done in [s for s in self.unacked if s <= seq]:
            del self.unacked[done]

    def resend(self) -> list[Results]:
        """What it hands in again after registering."""
        return [Results(results, seq) for seq, results in sorted(self.unacked.items())]


def make(
    server: fakeredis.FakeServer,
    settings: Settings,
    name: str = "d0",
    outboxes: dict | None = None,
    kind: type = FakePush,
) -> FakePush:
    """A fake-socket dispatcher (push by default) on its own connection to ``server``."""
    return kind(
        Store(fakeredis.FakeAsyncRedis(server=server)),
        settings,
        name,
        "tcp://test",
        outboxes={} if outboxes is None else outboxes,
    )


def register(d: FakePush, worker: str, processes: int = 1, held: list | None = None) -> None:
    d.handle(worker.encode(), Register(worker, processes, held or []))


async def intake(d: FakePush, count: int = 500) -> None:
    await d.accept(await d.store.read_queue(d.name, count, None))


def frames(d: FakePush, worker: str) -> list[Tasks]:
    """Take the TASKS frames sent to ``worker`` so far."""
    sent = [m for m in d.outboxes.get(worker, []) if isinstance(m, Tasks)]
    d.outboxes[worker] = []
    return sent


def report(
    d: FakePush,
    worker: str,
    task,
    status: str = "COMPLETED",
    payload: bytes = b"ok",
) -> None:
    d.handle(
        worker.encode(),
        Results([ResultMsg(task.task_id, task.entry_id, task.attempt, status, payload)]),
    )


async def status(store: Store, task_id: str) -> dict[bytes, bytes]:
    return await store.redis.hgetall(task_key(task_id))


class ExhaustedStore:
    """A store every call of which fails as redis-py's blocking pool does when no connection
    freed up in time (for ``app.dependency_overrides[get_store]``)."""

    def __getattr__(self, name: str):
        async def call(*args: object, **kwargs: object) -> None:
            raise RedisConnectionError(POOL_EXHAUSTED)

        return call
