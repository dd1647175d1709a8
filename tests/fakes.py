"""In-memory stand-ins for the dispatcher's sockets and workers (no sockets, no processes)."""

from __future__ import annotations

from faas.dispatcher.push import PushDispatcher
from faas.protocol import Message, TaskMsg


class FakePush(PushDispatcher):
    """The real push dispatcher, its socket replaced by outboxes."""

    def __init__(self, *args, outboxes: dict[str, list[Message]], **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.outboxes = outboxes
        self.unreachable: set[str] = set()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def reply(self, identity: bytes, message: Message) -> bool:
        worker = identity.decode()
        if worker in self.unreachable:
            return False
        self.outboxes.setdefault(worker, []).append(message)
        return True


class FakeWorker:
    """What a worker holds: tasks by id, the code it has, the last frame seen."""

    def __init__(self, name: str, processes: int = 2) -> None:
        self.name, self.processes = name, processes
        self.held: dict[str, TaskMsg] = {}
        self.code: set[str] = set()
        self.seen = 0
