"""Every Redis key and command of the platform lives here and nowhere else.

Layout (all keys under one prefix)::

    faas:fn:<id>        hash   name, payload (dill bytes), created
    faas:task:<id>      hash   function_id, status, attempts (absent until dispatched),
                               entry, result, worker,
                               submitted, dispatched, started, finished, stored
    faas:queue          stream one entry per queued task: task_id, function_id, args, timeout
                               consumer group "dispatchers"; an entry is acknowledged and
                               deleted only when the task's final result is stored
    faas:dispatcher     string the running dispatcher's state (JSON), with an expiry
    faas:workers        string its live workers and their load (JSON list), same expiry
    faas:events         stream what the dispatcher noticed (worker_lost, task_lost), capped
    faas:stats          hash   counters: submitted, <status>:<mode>, retries, worker_lost
    faas:latency        hash   latency histogram (submitted -> stored): bucket counts, sum
    faas:done           channel ids of tasks whose outcome was just recorded (long-poll)
    faas:finished       zset   finished task ids by time stored, until archived (archive.py)

Submitting is one Lua call (check the function exists, write the task, enqueue it), and
recording an outcome is one Lua call that only writes if the task is not terminal yet: the
first terminal result wins, a late duplicate is dropped.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from faas.exceptions import FunctionNotFoundError, TaskNotFoundError
from faas.models import DispatcherState, Task, TaskStatus, WorkerInfo

PREFIX = "faas:"
QUEUE_KEY = PREFIX + "queue"
GROUP = "dispatchers"
DISPATCHER_KEY = PREFIX + "dispatcher"
WORKERS_KEY = PREFIX + "workers"
FINISHED_KEY = PREFIX + "finished"
EVENTS_KEY = PREFIX + "events"
STATS_KEY = PREFIX + "stats"
LATENCY_KEY = PREFIX + "latency"
#: Channel on which the id of every task whose outcome is recorded is published.
DONE_CHANNEL = PREFIX + "done"
#: Upper bounds (seconds) of the task latency histogram's buckets.
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
#: Events kept (approximately) in the events stream.
EVENTS_KEPT = 10_000


_BUCKETS = ",".join(f"{b:g}" for b in LATENCY_BUCKETS)


def function_key(function_id: str) -> str:
    """Key of a function record."""
    return f"{PREFIX}fn:{function_id}"


def task_key(task_id: str) -> str:
    """Key of a task record."""
    return f"{PREFIX}task:{task_id}"


_SUBMIT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local entry = redis.call('XADD', KEYS[3], '*', 'task_id', ARGV[1], 'function_id', ARGV[2],
                         'args', ARGV[3], 'timeout', ARGV[5])
redis.call('HSET', KEYS[2], 'function_id', ARGV[2], 'status', 'QUEUED',
           'submitted', ARGV[4], 'entry', entry)
redis.call('HINCRBY', KEYS[4], 'submitted', 1)
return entry
"""

# KEYS: task; ARGV: status, then field/value pairs. Never moves a terminal task, but fills
# fields it lacks (a result can be stored before the RUNNING mark of its dispatch lands).
_TRANSITION = """
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return 0 end
if st == 'COMPLETED' or st == 'FAILED' then
  for i = 2, #ARGV, 2 do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
  return 0
end
redis.call('HSET', KEYS[1], 'status', unpack(ARGV))
return 1
"""

# KEYS: task, queue, stats, latency, done channel, finished; ARGV: group, entry, mode, stored
# time, buckets (comma list), task id, attempt, status, then field/value pairs.
# Answers 1 (recorded), 0 (the task already ended, or its record is gone: a duplicate) or -1
# (stale: the report is of an attempt other than the task's latest dispatch, which is still
# live, so the entry stays). ``attempt`` 0 is the dispatcher's own verdict and always counts.
# A recorded outcome acknowledges and deletes the entry, counts, lands in the latency
# histogram and is published for long-polling clients.
_FINISH = """
local st, att = unpack(redis.call('HMGET', KEYS[1], 'status', 'attempts'))
if st and st ~= 'COMPLETED' and st ~= 'FAILED' and ARGV[7] ~= '0' and att
   and att ~= ARGV[7] then
  return -1
end
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[2], ARGV[2])
if not st or st == 'COMPLETED' or st == 'FAILED' then return 0 end
redis.call('HSET', KEYS[1], 'status', unpack(ARGV, 8))
redis.call('HINCRBY', KEYS[3], ARGV[8] .. ':' .. ARGV[3], 1)
local submitted = tonumber(redis.call('HGET', KEYS[1], 'submitted'))
if submitted then
  local latency = tonumber(ARGV[4]) - submitted
  local bucket = '+Inf'
  for b in string.gmatch(ARGV[5], '[^,]+') do
    if latency <= tonumber(b) then bucket = b break end
  end
  redis.call('HINCRBY', KEYS[4], bucket, 1)
  redis.call('HINCRBYFLOAT', KEYS[4], 'sum', latency)
end
redis.call('ZADD', KEYS[6], ARGV[4], ARGV[6])
redis.call('PUBLISH', KEYS[5], ARGV[6])
return 1
"""

# KEYS: task, stats; ARGV: attempt. Back to QUEUED after attempt ``attempt`` was lost; the
# retries counter counts each (task, attempt) once, however often the write is re-sent.
_REQUEUE = """
local st, rq = unpack(redis.call('HMGET', KEYS[1], 'status', 'requeued'))
if not st or st == 'COMPLETED' or st == 'FAILED' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'QUEUED', 'attempts', ARGV[1], 'requeued', ARGV[1])
if rq ~= ARGV[1] then redis.call('HINCRBY', KEYS[2], 'retries', 1) end
return 1
"""

# KEYS: queue; ARGV: group, consumer, entry ids. Resets the idle time of the entries this
# consumer still owns; answers the ids it no longer owns (finished, or taken over).
_RENEW = """
local gone = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  else
    table.insert(gone, ARGV[i])
  end
end
return gone
"""

#: Error replies after which the same command can succeed later: a replica promoted or
#: loading, memory full, a busy script, scripts or the consumer group lost with the data.
TRANSIENT_REPLIES = (
    "READONLY",
    "OOM",
    "LOADING",
    "BUSY",
    "MASTERDOWN",
    "TRYAGAIN",
    "NOSCRIPT",
    "NOGROUP",
    "CLUSTERDOWN",
)
#: How a lost stream or consumer group is reported (Redis says NOGROUP; fakeredis, for a
#: missing stream, the second).
_LOST_GROUP = ("NOGROUP", "requires the key to exist")


def is_transient(error: BaseException) -> bool:
    """True if a Redis call that raised ``error`` may succeed when tried again."""
    if isinstance(error, RedisConnectionError | RedisTimeoutError | OSError):
        return True
    return isinstance(error, ResponseError) and any(
        code in str(error) for code in (*TRANSIENT_REPLIES, *_LOST_GROUP)
    )


def lost_group(error: BaseException) -> bool:
    """True if ``error`` says the queue's consumer group is gone (Redis lost its data)."""
    return isinstance(error, ResponseError) and any(m in str(error) for m in _LOST_GROUP)


@dataclass(frozen=True)
class Outcome:
    """A task's final result as a worker reports it."""

    task_id: str
    entry_id: str
    status: TaskStatus
    payload: bytes
    started: float = 0.0
    finished: float = 0.0
    worker: str = ""
    #: The dispatch this result is of; 0: the dispatcher's own verdict (counts regardless).
    attempt: int = 0


@dataclass(frozen=True)
class Running:
    """A task handed to ``worker`` at ``dispatched`` (a write for :meth:`Store.write_batch`)."""

    task: Task
    worker: str
    dispatched: float


@dataclass(frozen=True)
class Requeued:
    """A task back to QUEUED after its worker or process was lost."""

    task: Task


_SCRIPTS = {
    "submit": _SUBMIT,
    "transition": _TRANSITION,
    "finish": _FINISH,
    "requeue": _REQUEUE,
    "renew": _RENEW,
}


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class Store:
    """Typed access to the platform's Redis; the connection is passed in."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._scripts = {
            name: hashlib.sha1(source.encode()).hexdigest() for name, source in _SCRIPTS.items()
        }

    def _script(
        self, pipe: Pipeline, name: str, keys: Sequence[str], args: Sequence[object]
    ) -> None:
        """Queue one of our Lua scripts on ``pipe`` by its SHA."""
        pipe.evalsha(self._scripts[name], len(keys), *keys, *args)

    async def _pipelined(self, build: Callable[[Pipeline], None]) -> list:
        """Run the commands ``build`` queues in one round trip. Scripts go by SHA alone (a
        redis-py Script in a pipeline costs an extra SCRIPT EXISTS round trip each time);
        if Redis lost them (a restart), load them and run once more."""
        for attempt in (1, 2):
            async with self.redis.pipeline(transaction=False) as pipe:
                build(pipe)
                try:
                    return await pipe.execute()
                except NoScriptError:
                    if attempt == 2:
                        raise
            for source in _SCRIPTS.values():
                await self.redis.script_load(source)
        raise AssertionError("unreachable")

    # -- API side ---------------------------------------------------------------------------

    async def register_function(self, name: str, payload: bytes) -> str:
        """Store a function; returns its new id."""
        function_id = str(uuid.uuid4())
        mapping = {"name": name, "payload": payload, "created": time.time()}
        await self.redis.hset(function_key(function_id), mapping=mapping)
        return function_id

    async def submit(self, function_id: str, args: bytes, timeout_s: float | None = None) -> str:
        """Create a QUEUED task and enqueue it in one round trip; returns the task id."""
        return (await self.submit_many(function_id, [args], timeout_s))[0]

    async def submit_many(
        self, function_id: str, args: Sequence[bytes], timeout_s: float | None = None
    ) -> list[str]:
        """Create and enqueue one task per argument payload, in order, in one round trip.
        If the function is unknown nothing is stored (each call checks before writing)."""
        task_ids = [str(uuid.uuid4()) for _ in args]
        now = time.time()

        def build(pipe: Pipeline) -> None:
            for task_id, payload in zip(task_ids, args, strict=True):
                keys = [function_key(function_id), task_key(task_id), QUEUE_KEY, STATS_KEY]
                self._script(
                    pipe, "submit", keys, [task_id, function_id, payload, now, timeout_s or 0]
                )

        entries = await self._pipelined(build)
        if any(entry is None for entry in entries):
            raise FunctionNotFoundError(function_id)
        return task_ids

    async def status(self, task_id: str) -> TaskStatus:
        """A task's status."""
        status = await self.redis.hget(task_key(task_id), "status")
        if status is None:
            raise TaskNotFoundError(task_id)
        return TaskStatus(_text(status))

    async def result(self, task_id: str) -> tuple[TaskStatus, bytes | None]:
        """A task's status and, once it has ended, its serialized result."""
        found = (await self.results([task_id]))[0]
        if found is None:
            raise TaskNotFoundError(task_id)
        return found

    async def results(
        self,
        task_ids: Sequence[str],
    ) -> list[tuple[TaskStatus, bytes | None] | None]:
        """Status and result of several tasks, in order (None where Redis has no such task),
        in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for task_id in task_ids:
                pipe.hmget(task_key(task_id), ["status", "result"])
            replies = await pipe.execute()
        return [
            None if status is None else (TaskStatus(_text(status)), result)
            for status, result in replies
        ]

    async def task_record(self, task_id: str) -> dict[str, str]:
        """Every field of a task except its result, as text (for timings and tests)."""
        raw = await self.redis.hgetall(task_key(task_id))
        if not raw:
            raise TaskNotFoundError(task_id)
        return {_text(k): _text(v) for k, v in raw.items() if k != b"result"}

    async def health(self) -> DispatcherState | None:
        """Ping Redis; return the dispatcher's published state, if one is alive."""
        async with self.redis.pipeline(transaction=False) as pipe:
            _, state = await pipe.ping().get(DISPATCHER_KEY).execute()
        return DispatcherState.model_validate_json(state) if state else None

    # -- dispatcher side --------------------------------------------------------------------

    async def ensure_group(self) -> None:
        """Create the queue and its consumer group if they do not exist."""
        try:
            await self.redis.xgroup_create(QUEUE_KEY, GROUP, id="0", mkstream=True)
        except ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    async def read_queue(self, consumer: str, count: int, block_ms: int) -> list[Task]:
        """Claim up to ``count`` new tasks for ``consumer``, waiting up to ``block_ms``."""
        reply = await self.redis.xreadgroup(
            GROUP, consumer, {QUEUE_KEY: ">"}, count=count, block=block_ms
        )
        return await self._tasks(reply[0][1] if reply else [], fresh=True)

    async def read_own_pending(
        self,
        consumer: str,
        count: int = 1000,
    ) -> tuple[list[Task], set[str]]:
        """Entries ``consumer`` was given but never finished (a restarted dispatcher's), and
        the ids of those that were handed to a worker (RUNNING: a surviving worker may still
        hand in their result)."""
        reply = await self.redis.xreadgroup(GROUP, consumer, {QUEUE_KEY: "0"}, count=count)
        tasks = await self._tasks(reply[0][1] if reply else [])
        async with self.redis.pipeline(transaction=False) as pipe:
            for task in tasks:
                pipe.hget(task_key(task.task_id), "status")
            statuses = await pipe.execute()
        return tasks, {
            t.task_id
            for t, st in zip(tasks, statuses, strict=True)
            if _text(st) == TaskStatus.RUNNING.value
        }

    async def claim_stale(self, consumer: str, min_idle_ms: int, count: int = 100) -> list[Task]:
        """Take over entries another (dead) dispatcher has held longer than ``min_idle_ms``."""
        reply = await self.redis.xautoclaim(  # Redis 7 adds a third element: deleted ids
            QUEUE_KEY, GROUP, consumer, min_idle_time=min_idle_ms, start_id="0-0", count=count
        )
        return await self._tasks(reply[1])

    async def renew(self, consumer: str, entry_ids: Sequence[str]) -> set[str]:
        """Reset the idle time of entries we still own, so no other dispatcher takes them
        over; answer the ids we no longer own (finished, or taken over by another)."""
        if not entry_ids:
            return set()
        gone = await self._pipelined(
            lambda pipe: self._script(pipe, "renew", [QUEUE_KEY], [GROUP, consumer, *entry_ids])
        )
        return {_text(e) for e in gone[0]}

    async def _tasks(
        self, entries: Iterable[tuple[bytes, dict[bytes, bytes]]], fresh: bool = False
    ) -> list[Task]:
        """Tasks of queue entries; entries never delivered before have made no attempt yet."""
        tasks = []
        for entry_id, fields in entries:
            if fields is None:  # deleted under us (already finished)
                continue
            tasks.append(
                Task(
                    task_id=fields[b"task_id"].decode(),
                    entry_id=_text(entry_id),
                    function_id=fields[b"function_id"].decode(),
                    args=fields[b"args"],
                    timeout_s=float(fields.get(b"timeout", 0) or 0),
                )
            )
        if tasks and not fresh:  # a claimed task keeps the attempts it already had
            async with self.redis.pipeline(transaction=False) as pipe:
                for task in tasks:
                    pipe.hget(task_key(task.task_id), "attempts")
                for task, attempts in zip(tasks, await pipe.execute(), strict=True):
                    task.attempts = int(attempts or 0)
        return tasks

    async def lookup_functions(
        self,
        fetch: Iterable[str],
        check: Iterable[str] = (),
    ) -> tuple[dict[str, bytes | None], set[str]]:
        """In one round trip: the payloads of ``fetch`` (None for unknown ids), and which of
        ``check`` are still registered."""
        fetch, check = list(fetch), list(check)
        if not fetch and not check:
            return {}, set()
        async with self.redis.pipeline(transaction=False) as pipe:
            for function_id in fetch:
                pipe.hget(function_key(function_id), "payload")
            for function_id in check:
                pipe.exists(function_key(function_id))
            replies = await pipe.execute()
        payloads = dict(zip(fetch, replies[: len(fetch)], strict=True))
        return payloads, {f for f, n in zip(check, replies[len(fetch) :], strict=True) if n}

    async def functions(self, function_ids: Iterable[str]) -> dict[str, bytes | None]:
        """The payloads of several functions (None for unknown ids), in one round trip."""
        ids = list(function_ids)
        async with self.redis.pipeline(transaction=False) as pipe:
            for function_id in ids:
                pipe.hget(function_key(function_id), "payload")
            return dict(zip(ids, await pipe.execute(), strict=True))

    async def mark_running(
        self, assigned: Sequence[tuple[Task, str]], dispatched: float | None = None
    ) -> None:
        """Record that each task was handed to its worker at ``dispatched`` (default: now),
        attempt counts included."""
        now = dispatched or time.time()
        await self.write_batch([Running(task, worker, now) for task, worker in assigned])

    async def requeue(self, tasks: Sequence[Task]) -> None:
        """Put tasks whose worker was lost back to QUEUED (unless they ended meanwhile)."""
        await self.write_batch([Requeued(task) for task in tasks])

    async def finish(self, outcomes: Sequence[Outcome], mode: str = "") -> list[bool]:
        """Record final outcomes in one round trip; False where a result was already stored.
        ``mode`` labels the completed/failed counters."""
        return [flag == 1 for flag in await self.write_batch(outcomes, mode)]

    async def write_batch(
        self, writes: Sequence[Running | Requeued | Outcome], mode: str = ""
    ) -> list[int]:
        """Apply a dispatcher's writes in order, in one round trip; every write is idempotent,
        so a batch can be sent again after an error. Answers, per Outcome, 1 (recorded),
        0 (a result was already stored) or -1 (stale: of an attempt other than the latest)."""
        if not writes:
            return []
        now = time.time()
        finish_keys = [QUEUE_KEY, STATS_KEY, LATENCY_KEY, DONE_CHANNEL, FINISHED_KEY]

        def build(pipe: Pipeline) -> None:
            for w in writes:
                if isinstance(w, Outcome):
                    self._script(
                        pipe,
                        "finish",
                        [task_key(w.task_id), *finish_keys],
                        [
                            GROUP,
                            w.entry_id,
                            mode,
                            now,
                            _BUCKETS,
                            w.task_id,
                            w.attempt,
                            w.status.value,
                            "result",
                            w.payload,
                            "started",
                            w.started,
                            "finished",
                            w.finished,
                            "stored",
                            now,
                            "worker",
                            w.worker,
                        ],
                    )
                elif isinstance(w, Running):
                    self._script(
                        pipe,
                        "transition",
                        [task_key(w.task.task_id)],
                        [
                            TaskStatus.RUNNING.value,
                            "dispatched",
                            w.dispatched,
                            "worker",
                            w.worker,
                            "attempts",
                            w.task.attempts,
                        ],
                    )
                else:
                    self._script(
                        pipe, "requeue", [task_key(w.task.task_id), STATS_KEY], [w.task.attempts]
                    )

        replies = await self._pipelined(build)
        return [int(r) for r, w in zip(replies, writes, strict=True) if isinstance(w, Outcome)]

    async def due_for_archive(self, stored_before: float, count: int) -> list[str]:
        """Ids of finished tasks stored before ``stored_before`` (oldest first)."""
        ids = await self.redis.zrangebyscore(
            FINISHED_KEY, "-inf", stored_before, start=0, num=count
        )
        return [_text(i) for i in ids]

    async def task_dumps(self, task_ids: Sequence[str]) -> list[dict[str, bytes | str]]:
        """Every field of each task (result as bytes), with its ``task_id``."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for task_id in task_ids:
                pipe.hgetall(task_key(task_id))
            records = await pipe.execute()
        return [
            {"task_id": task_id, **{_text(k): v for k, v in record.items()}}
            for task_id, record in zip(task_ids, records, strict=True)
            if record
        ]

    async def unlist_finished(self, task_ids: Iterable[str]) -> None:
        """Take tasks off the archiving schedule (they stay in Redis)."""
        ids = list(task_ids)
        if ids:
            await self.redis.zrem(FINISHED_KEY, *ids)

    async def forget(self, task_ids: Sequence[str]) -> None:
        """Delete archived tasks from Redis."""
        if not task_ids:
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(*[task_key(t) for t in task_ids]).zrem(FINISHED_KEY, *task_ids)
            await pipe.execute()

    async def delete_function(self, function_id: str) -> bool:
        """Delete a function record; False if there was none. Its queued tasks will fail."""
        return bool(await self.redis.delete(function_key(function_id)))

    async def count(self, counter: str, n: int = 1) -> None:
        """Add ``n`` to a counter of ``faas:stats`` (e.g. ``worker_lost``)."""
        await self.redis.hincrby(STATS_KEY, counter, n)

    async def stats(self) -> dict[str, float]:
        """Counters, latency histogram (``latency:<bucket>``), queue depth and in-flight."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(STATS_KEY).hgetall(LATENCY_KEY).xlen(QUEUE_KEY)
            pipe.xpending(QUEUE_KEY, GROUP)
            counters, latency, entries, pending = await pipe.execute(raise_on_error=False)
        pending = pending["pending"] if isinstance(pending, dict) else 0
        entries = entries if isinstance(entries, int) else 0
        out = {_text(k): float(v) for k, v in counters.items()}
        out.update({f"latency:{_text(k)}": float(v) for k, v in latency.items()})
        out["queue_depth"], out["in_flight"] = entries - pending, pending
        return out

    async def publish_dispatcher(
        self, state: DispatcherState, ttl_s: float, workers: Sequence[WorkerInfo] = ()
    ) -> None:
        """Publish the dispatcher's state for ``GET /health`` and its workers for
        ``GET /workers``; both expire after ``ttl_s``."""
        listed = "[" + ",".join(w.model_dump_json() for w in workers) + "]"
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(DISPATCHER_KEY, state.model_dump_json(), px=int(ttl_s * 1000))
            pipe.set(WORKERS_KEY, listed, px=int(ttl_s * 1000))
            await pipe.execute()

    async def workers(self) -> list[WorkerInfo]:
        """The live workers the dispatcher last published."""
        listed = await self.redis.get(WORKERS_KEY)
        return [WorkerInfo.model_validate(w) for w in json.loads(listed)] if listed else []

    async def add_event(self, kind: str, **fields: str | int | float) -> None:
        """Append to the capped events stream (worker and task losses, for fault studies)."""
        entry = {"kind": kind, "time": time.time(), **fields}
        await self.redis.xadd(EVENTS_KEY, entry, maxlen=EVENTS_KEPT, approximate=True)

    async def events(self) -> list[dict[str, str]]:
        """Every event kept, oldest first."""
        return [
            {_text(k): _text(v) for k, v in fields.items()}
            for _, fields in await self.redis.xrange(EVENTS_KEY)
        ]

    async def clear_dispatcher(self) -> None:
        """Withdraw the dispatcher's state (clean shutdown)."""
        await self.redis.delete(DISPATCHER_KEY, WORKERS_KEY)
