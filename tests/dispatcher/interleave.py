"""Await points as steps a test schedules: the dispatcher's Redis calls and back-offs park at
a :class:`Gate` until the test releases them, one at a time, in any order.

The dispatcher awaits only Redis (and its back-off between retries): handling a message is
synchronous. So the concurrent parts of a running dispatcher are its loops (intake, writer,
housekeeping, expiry), each one coroutine at a time, each parked at most at one Redis call.
A test starts a loop's step as a task (a *lane*), and releases parked calls in the order it
chooses; everything else (messages, sends) runs between two releases.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError

#: Event-loop turns a lane may take to reach its next parked call (fakeredis answers in a
#: few); more means it waits on something else, which a dispatcher must never do.
SETTLE_TURNS = 500


@dataclass
class Passage:
    """One parked await: what it is, the task that waits, and how to let it go."""

    label: str
    task: asyncio.Task
    released: asyncio.Future


class Gate:
    """Where every gated await parks; Redis is up or down when a call is let through."""

    def __init__(self) -> None:
        self.parked: list[Passage] = []
        self.redis_up = True

    async def through(self, label: str) -> None:
        """Park until released."""
        released = asyncio.get_running_loop().create_future()
        self.parked.append(Passage(label, asyncio.current_task(), released))
        await released

    def release(self, index: int) -> str:
        """Let the ``index``-th parked await go on; answer its label."""
        passage = self.parked.pop(index)
        passage.released.set_result(None)
        return passage.label

    def holds(self, task: asyncio.Task) -> bool:
        return any(p.task is task for p in self.parked)

    def forget(self, tasks: set[asyncio.Task]) -> None:
        """Drop the passages of cancelled tasks."""
        self.parked = [p for p in self.parked if p.task not in tasks]


class GatedStore:
    """A store whose every coroutine method parks at the gate first, and raises a
    connection error when let through while Redis is down."""

    def __init__(self, store: Any, gate: Gate) -> None:
        self._store, self._gate = store, gate

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)
        if not inspect.iscoroutinefunction(method):
            return method

        async def gated(*args: Any, **kwargs: Any) -> Any:
            await self._gate.through(name)
            if not self._gate.redis_up:
                raise RedisConnectionError("Redis is down (model)")
            return await method(*args, **kwargs)

        return gated


class Lanes:
    """The dispatcher's concurrent loops, one step each at a time, on one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, gate: Gate) -> None:
        self.loop, self.gate = loop, gate
        self.running: dict[str, asyncio.Task] = {}

    def idle(self, name: str) -> bool:
        return name not in self.running

    def start(self, name: str, step: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Start one step of loop ``name`` and run it to its first parked await."""
        assert self.idle(name)
        self.running[name] = self.loop.create_task(step(), name=name)
        self.settle()

    def release(self, index: int) -> None:
        self.gate.release(index)
        self.settle()

    def settle(self) -> None:
        """Run until every lane is finished or parked; a lane's error is raised here (the
        dispatcher would exit on it)."""

        async def turns() -> None:
            for _ in range(SETTLE_TURNS):
                await asyncio.sleep(0)
                if all(t.done() or self.gate.holds(t) for t in self.running.values()):
                    return
            waiting = [n for n, t in self.running.items() if not t.done()]
            raise AssertionError(f"lanes {waiting} wait on something other than Redis")

        self.loop.run_until_complete(turns())
        for name, task in list(self.running.items()):
            if task.done():
                del self.running[name]
                task.result()

    def cancel(self) -> None:
        """Stop every lane (its dispatcher was killed)."""
        tasks = set(self.running.values())
        for task in tasks:
            task.cancel()
        self.gate.forget(tasks)
        if tasks:
            self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self.running.clear()

    def drain(self) -> None:
        """Release parked awaits, oldest first, until no lane is left."""
        for _ in range(10_000):
            if not self.running:
                return
            self.release(0)
        raise AssertionError(f"lanes {list(self.running)} never finish")
