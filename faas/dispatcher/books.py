"""The dispatcher's books: tasks waiting, tasks assigned, and the function code they need.

Kept apart from the loop so each structure states its own invariant:

- :class:`Backlog`: claimed tasks waiting for a process, in order; any one can be removed by
  id (an outcome can arrive for a task that is waiting: see ``Dispatcher.settle``).
- :class:`Assignment`: a task handed to a worker in one attempt (and, in remote modes, the
  TASKS frame it went out in).
- :class:`~faas.code_cache.FunctionCache` (shared with workers): function code by id,
  bounded by bytes; an entry that a waiting or running task needs is never evicted.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from faas.code_cache import FunctionCache
from faas.models import Task

__all__ = ["Assignment", "Backlog", "FunctionCache"]


@dataclass
class Assignment:
    """``task`` handed to ``worker`` (its attempt is ``task.attempts``) in frame ``seq``."""

    task: Task
    worker: str
    seq: int = 0


class Backlog:
    """Tasks waiting for a free process, first in first out; O(1) removal by task id."""

    def __init__(self) -> None:
        self._tasks: OrderedDict[str, Task] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tasks)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._tasks

    def __iter__(self) -> Iterator[Task]:
        return iter(list(self._tasks.values()))

    def append(self, task: Task) -> None:
        """Wait behind every other task."""
        self._tasks[task.task_id] = task

    def appendleft(self, task: Task) -> None:
        """Wait in front (a retried task)."""
        self._tasks[task.task_id] = task
        self._tasks.move_to_end(task.task_id, last=False)

    def extendleft(self, tasks: Iterable[Task]) -> None:
        """Put ``tasks`` back in front, in their order."""
        for task in reversed(list(tasks)):
            self.appendleft(task)

    def first(self) -> Task | None:
        """The task that waited longest, left in place (None if there is none)."""
        return next(iter(self._tasks.values()), None)

    def popleft(self) -> Task:
        """The task that waited longest."""
        return self._tasks.popitem(last=False)[1]

    def get(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    def remove(self, task_id: str) -> Task | None:
        """Take a task out wherever it waits (None if it is not here)."""
        return self._tasks.pop(task_id, None)
