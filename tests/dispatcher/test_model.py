"""A model-based test of the dispatcher: hypothesis searches orders of events, including
the order in which the dispatcher's own awaits on Redis complete.

The real :class:`~faas.dispatcher.push.PushDispatcher` and
:class:`~faas.dispatcher.pull.PullDispatcher` run on fakeredis with in-memory workers (no
sockets, no processes). Each of the dispatcher's loops (intake, writer, housekeeping and
takeover, release of resumed entries) runs as a *lane* whose every Redis call and back-off
parks until a rule releases it (``tests/dispatcher/interleave.py``), so a message can arrive,
a worker die or Redis go down between any two of them. Messages travel in per-worker FIFO
channels both ways: a rule delivers or drops the next frame to a worker, another hands the
dispatcher the next message of a worker, so reports arrive late and out of step.

Workers run what they get and report it COMPLETED, FAILED (a timeout), LOST (a process
died) or NOCODE; they heartbeat (push) or ask for work (pull, lock-step: one request, one
reply; a worker that waits too long registers again); they forget code; they are declared
lost while silent and come back; they die for good (their tasks die with them; sends to
them fail at once, or vanish) and a new worker with a new identity takes their place.
Which worker registers when is the search's choice. The dispatcher is SIGKILLed (its lanes
and unapplied writes die with it) and restarts under its name (resume) or another takes its
entries over through XAUTOCLAIM. Redis goes down and comes back, or loses everything
(FLUSHALL); functions are deleted.

Invariants after every step:

- a terminal outcome never changes, and a COMPLETED result is the right one;
- the recorded outcome of a worker's run comes from the latest attempt that ran (the
  highest attempt delivered to any worker so far);
- no dispatch carries an attempt above ``max_attempts``, nor above one plus the attempts
  really lost (except after a crash lost a dispatch's RUNNING mark: see the README);
- backlog, in-flight and resumed are disjoint; a worker's load is its assignments, at most
  twice its processes;
- what a registered worker runs is in the books (or already ended);
- no lane and no message handler raises (the dispatcher would exit).

At the end, with Redis up and every live worker registered and quiet, every accepted task
is terminal with the right result.

``FAAS_MODEL_EXAMPLES`` sets the number of examples per mode (default 300 in CI);
``FAAS_MODEL_SEED`` a seed (``nox -s model -- --seeds 3`` runs longer searches).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import time
import types
import uuid
from collections import deque

import fakeredis
import pytest
from hypothesis import HealthCheck, event, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)

import faas.store.records
from faas.config import Settings
from faas.protocol import (
    Heartbeat,
    Message,
    Reconnect,
    Register,
    Reject,
    Request,
    ResultMsg,
    Results,
    TaskMsg,
    Tasks,
    Welcome,
)
from faas.store import GROUP, QUEUE_KEY, Outcome, Running, Store, task_key
from tests.dispatcher.interleave import Gate, GatedStore, Lanes
from tests.fakes import FakePull, FakePush

MAX_ATTEMPTS = 3
SLOTS = ("w0", "w1")
#: Kinds of fault; each example enables a random subset (swarm testing: an example without
#: crashes goes deeper into what workers do, and so on).
FAULTS = (
    "redis-flushed",
    "redis-down",
    "delete",
    "crash",
    "worker-dies",
    "silence",
    "drop",
    "forget-code",
    "link-flaps",
    "register-again",
)
EXAMPLES = int(os.environ.get("FAAS_MODEL_EXAMPLES", "300"))
SEED = os.environ.get("FAAS_MODEL_SEED")


def right_result(task_id: str, attempt: int) -> bytes:
    return f"ok:{task_id}:{attempt}".encode()


def attempt_of(payload: bytes) -> int | None:
    """The attempt a worker's payload names (None for a dispatcher's verdict)."""
    parts = payload.split(b":")
    return int(parts[2]) if len(parts) == 3 and parts[0] in (b"ok", b"fail") else None


# -- the workers ----------------------------------------------------------------------------


class ModelWorker:
    """One worker process as the dispatcher sees it through its socket."""

    def __init__(self, name: str, processes: int = 2) -> None:
        self.name, self.processes = name, processes
        #: As the real worker: the last attempt received of each task, until it ends.
        self.held: dict[str, TaskMsg] = {}
        #: What its pool runs or queues, by (task, attempt).
        self.running: dict[tuple[str, int], TaskMsg] = {}
        self.code: set[str] = set()
        self.seen = 0
        self.alive = True
        self.registered = False
        #: Messages on their way to the dispatcher, in order, with their envelope (a pull
        #: worker's REQ socket numbers its requests; a push worker's DEALER adds nothing).
        self.to_dispatcher: deque[tuple[list[bytes], Message]] = deque()

    def send(self, message: Message) -> None:
        self.to_dispatcher.append(([], message))

    def accepts(self, envelope: list[bytes]) -> bool:
        """Whether the socket passes a frame with this envelope on (REQ: only the reply to
        its latest request)."""
        return True

    def register_message(self) -> Register:
        held = [[t.task_id, t.attempt] for t in self.held.values()]
        return Register(self.name, self.processes, held)

    def take(self, frame: Tasks) -> list[ResultMsg]:
        """A TASKS frame arrives; answer NOCODE reports for tasks without code."""
        self.seen = max(self.seen, frame.seq)
        nocode = []
        for task in frame.tasks:
            if task.fn:
                self.code.add(task.function_id)
            if task.function_id not in self.code:
                nocode.append(ResultMsg(task.task_id, task.entry_id, task.attempt, "NOCODE"))
                continue
            self.held[task.task_id] = task
            self.running[(task.task_id, task.attempt)] = task
        return nocode

    def finish(self, key: tuple[str, int], status: str) -> ResultMsg:
        """A job of the pool ends with ``status``."""
        task = self.running.pop(key)
        if self.held.get(task.task_id) is task:
            del self.held[task.task_id]
        payload = {
            "COMPLETED": right_result(task.task_id, task.attempt),
            "FAILED": f"fail:{task.task_id}:{task.attempt}".encode(),
        }.get(status, b"")
        # a 0.1 ms run: the function counts as short, so tasks also queue at workers beyond
        # their processes (the adaptive prefetch is part of every interleaving)
        ran = (1.0, 1.0001) if status in ("COMPLETED", "FAILED") else (0.0, 0.0)
        return ResultMsg(task.task_id, task.entry_id, task.attempt, status, payload, *ran)

    def die(self) -> list[TaskMsg]:
        """Killed for good: its pool's tasks die with it."""
        self.alive = False
        lost = list(self.running.values())
        self.running.clear()
        self.held.clear()
        self.to_dispatcher.clear()
        return lost


class PushWorker(ModelWorker):
    """A DEALER: results unprompted, kept until acknowledged; heartbeats."""

    def __init__(self, name: str, processes: int = 2) -> None:
        super().__init__(name, processes)
        self.result_seq = 0
        self.unacked: dict[int, list[ResultMsg]] = {}

    def register(self) -> None:
        self.send(self.register_message())
        for seq, results in sorted(self.unacked.items()):
            self.send(Results(results, seq))

    def report(self, results: list[ResultMsg]) -> None:
        self.result_seq += 1
        final = [r for r in results if r.status in ("COMPLETED", "FAILED")]
        if final:
            self.unacked[self.result_seq] = final
        self.send(Results(results, self.result_seq))

    def heartbeat(self) -> None:
        self.send(Heartbeat(list(self.held), self.seen))

    def receive(self, frame: Message) -> None:
        if isinstance(frame, Tasks):
            nocode = self.take(frame)
            if nocode:
                self.report(nocode)
        elif isinstance(frame, Heartbeat):
            self.seen = max(self.seen, frame.seen)
            for done in [s for s in self.unacked if s <= frame.acked]:
                del self.unacked[done]
        elif isinstance(frame, Welcome):
            self.seen, self.registered = 0, True
        elif isinstance(frame, Reconnect):
            self.register()
        assert not isinstance(frame, Reject), frame


class PullWorker(ModelWorker):
    """A REQ socket: one request, one reply; results ride on the next request."""

    def __init__(self, name: str, processes: int = 2) -> None:
        super().__init__(name, processes)
        self.awaiting = False
        self.results: list[ResultMsg] = []
        self.in_request: list[ResultMsg] = []
        self.request_id = 0

    def send(self, message: Message) -> None:
        self.request_id += 1
        self.to_dispatcher.append(([b"%d" % self.request_id, b""], message))
        self.awaiting = True

    def accepts(self, envelope: list[bytes]) -> bool:
        return self.awaiting and envelope == [b"%d" % self.request_id, b""]

    def register(self) -> None:
        """Register (again: after giving up on a reply, its results are kept)."""
        self.results, self.in_request = self.in_request + self.results, []
        self.registered = False
        self.send(self.register_message())

    def report(self, results: list[ResultMsg]) -> None:
        self.results += results

    def heartbeat(self) -> None:
        """Pull's heartbeat is its next request."""
        self.request(0)

    def request(self, want: int) -> None:
        if self.awaiting or not self.registered:
            return
        self.in_request, self.results = self.results, []
        self.send(Request(want, not self.held, list(self.held), self.in_request, self.seen))

    def receive(self, frame: Message) -> None:
        self.awaiting, self.in_request = False, []
        if isinstance(frame, Tasks):
            self.results += self.take(frame)
        elif isinstance(frame, Welcome):
            self.seen, self.registered = 0, True
        elif isinstance(frame, Reconnect):
            self.registered = False
        assert not isinstance(frame, Reject), frame


# -- the machine ----------------------------------------------------------------------------


def _gated(kind: type) -> type:
    """The fake dispatcher ``kind`` whose back-off parks at its gate too, whose replies
    carry the envelope the real ROUTER would put on them, and for which an error handling a
    message (caught and repaired in production) fails the test."""

    class Gated(kind):
        gate: Gate

        async def pause(self, seconds: float) -> None:
            await self.gate.through("pause")

        def reply(self, identity: bytes, message: Message) -> bool:
            worker = identity.decode()
            if worker in self.unreachable:
                return False
            envelope = list(self.envelopes.get(identity, ()))
            self.outboxes.setdefault(worker, []).append((envelope, message))
            return True

        def repair(self) -> None:
            raise AssertionError("a message handler raised (see the log above)")

        def drop_worker(self, worker_id: str, why: str) -> None:
            """A worker declared lost: what it was assigned is lost (the model notes it)."""
            for a in self.assigned.get(worker_id, {}).values():
                self.lost(a.task.task_id, a.task.attempts)
            super().drop_worker(worker_id, why)

    return Gated


class DispatcherModel(RuleBasedStateMachine):
    """The search, for one mode (a subclass sets ``kind`` and ``worker_kind``)."""

    kind: type = FakePush
    worker_kind: type[ModelWorker] = PushWorker
    functions = Bundle("functions")

    def __init__(self) -> None:
        super().__init__()
        counter = itertools.count(1)  # ids in order, so that an example replays
        self._uuid = faas.store.records.uuid
        faas.store.records.uuid = types.SimpleNamespace(uuid4=lambda: uuid.UUID(int=next(counter)))
        self.loop = asyncio.new_event_loop()
        self.server = fakeredis.FakeServer()
        self.redis = fakeredis.FakeAsyncRedis(server=self.server)
        self.store = Store(self.redis)
        self.gate = Gate()
        self.lanes = Lanes(self.loop, self.gate)
        self.outboxes: dict[str, list[Message]] = {}
        self.generation = itertools.count(1)
        self.workers = {slot: self.worker_kind(slot) for slot in SLOTS}
        self.accepted: set[str] = set()
        self.terminal: dict[str, tuple[bytes, bytes | None]] = {}
        #: Attempts really lost (process or worker died, frame dropped, worker declared lost,
        #: resumed entry not adopted): the next dispatch may be one more.
        self.lost_attempts: dict[str, set[int]] = {}
        #: Tasks whose RUNNING mark died with a crashed dispatcher: the same attempt number
        #: may go out twice (at-least-once; the README says when).
        self.crash_dupes: set[str] = set()
        self.dead: set[str] = set()
        self.faults: set[str] = set()
        #: Attempts delivered to a worker that took them (not NOCODE): no two runs of a
        #: task share an attempt number (but after a crash lost a mark).
        self.ran: dict[str, set[int]] = {}
        self.names = (f"d{i}" for i in range(1000))

    def run(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    def _new_dispatcher(self, name: str) -> FakePush:
        self.outboxes.clear()  # frames of a dead dispatcher never arrive
        d = _gated(self.kind)(
            GatedStore(Store(fakeredis.FakeAsyncRedis(server=self.server)), self.gate),
            self.settings,
            name,
            "tcp://model",
            outboxes=self.outboxes,
        )
        d.gate, d.lost = self.gate, self._lost
        return d

    def _start_up(self, resume: bool) -> None:
        """A dispatcher's start: create the group and resume, with Redis answering (a start
        retries until it does; what is searched is what comes after)."""
        up, self.gate.redis_up = self.gate.redis_up, True
        d = self.dispatcher
        self.lanes.start("start", (lambda: d._resume()) if resume else d.store.ensure_group)
        self.lanes.drain()
        self.gate.redis_up = up

    def teardown(self) -> None:
        try:
            if hasattr(self, "dispatcher"):
                self._drain_and_check()
        finally:
            self.lanes.cancel()
            self.loop.close()
            faas.store.records.uuid = self._uuid

    @initialize(
        order=st.permutations(SLOTS),
        seed=st.integers(0, 2**16),
        max_attempts=st.sampled_from([2, MAX_ATTEMPTS]),
        faults=st.sets(st.sampled_from(FAULTS)),
    )
    def start(self, order: list[str], seed: int, max_attempts: int, faults: set[str]) -> None:
        self.random = random.Random(seed)  # orders in the final drain
        self.faults = faults
        event(f"{len(faults)} kinds of fault")
        self.settings = Settings(
            max_attempts=max_attempts,
            heartbeat_s=1.0,
            heartbeat_timeout_s=3.0,
            backlog=4,
            claim_lease_s=0.0,
        )
        self.dispatcher = self._new_dispatcher(next(self.names))
        self._start_up(resume=False)
        for slot in order:
            self.workers[slot].register()
            self._hear_all(self.workers[slot])
            envelope, welcome = self._frames(self.workers[slot]).pop(0)
            self._deliver(self.workers[slot], welcome)

    # -- the platform's surroundings ------------------------------------------------------

    @rule(target=functions, n=st.integers(0, 3))
    def register_function(self, n: int) -> str:
        return self.run(self.store.register_function(f"f{n}", b"code" * (n + 1)))

    @rule(function=functions, count=st.integers(1, 3))
    def submit(self, function: str, count: int) -> None:
        if not self.gate.redis_up:
            return
        try:
            ids = self.run(self.store.submit_many(function, [b"args"] * count))
        except Exception:
            return
        self.accepted.update(ids)

    @precondition(lambda self: "delete" in self.faults)
    @rule(function=consumes(functions))
    def delete_function(self, function: str) -> None:
        if self.gate.redis_up:
            self.run(self.store.delete_function(function))

    @precondition(lambda self: "redis-flushed" in self.faults)
    @rule()
    def redis_flushed(self) -> None:
        """Redis restarted without its data: what lived only there is gone."""
        self.run(self.redis.flushall())
        self.accepted.clear()
        self.terminal.clear()

    @precondition(lambda self: "redis-down" in self.faults)
    @rule(up=st.booleans())
    def redis_up_or_down(self, up: bool) -> None:
        self.gate.redis_up = up

    # -- the dispatcher's loops, and its awaits on Redis -----------------------------------

    @precondition(lambda self: self.lanes.idle("intake"))
    @rule()
    def intake(self) -> None:
        self.lanes.start("intake", lambda: self.dispatcher.intake_once(None))

    @precondition(lambda self: self.lanes.idle("writer"))
    @rule()
    def writer(self) -> None:
        self.lanes.start("writer", self.dispatcher.flush)

    @precondition(lambda self: self.lanes.idle("housekeeping"))
    @rule(claim=st.booleans())
    def housekeeping(self, claim: bool) -> None:
        """Publish, renew, check functions; with ``claim``, take over entries whose lease
        lapsed (the lease is 0 here: any entry a dead dispatcher held)."""
        self.lanes.start("housekeeping", lambda: self.dispatcher.housekeep_safely(claim))

    @precondition(lambda self: self.lanes.idle("expiry") and self.dispatcher.resumed)
    @rule()
    def resumed_not_adopted_in_time(self) -> None:
        d = self.dispatcher
        for task in d.resumed.values():
            self._lost(task.task_id, task.attempts + (task.task_id in d.unmarked))
        d.resume_until = 0.0
        self.lanes.start("expiry", d.release_resumed)

    @precondition(lambda self: self.gate.parked)
    @rule(data=st.data())
    def an_await_completes(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(0, len(self.gate.parked) - 1))
        event(f"released {self.gate.parked[index].label}")
        self.lanes.release(index)

    @precondition(lambda self: "crash" in self.faults)
    @rule(same_name=st.booleans())
    def dispatcher_crash(self, same_name: bool) -> None:
        """SIGKILL: its lanes and unapplied writes die with it. A restart under the same name
        resumes its entries; another dispatcher takes them over (housekeeping, claim)."""
        old = self.dispatcher
        self.lanes.cancel()
        unwritten = {w.task_id for w in old._writes if isinstance(w, Running)}
        self.crash_dupes |= unwritten | set(old.unmarked)
        for a in old.inflight.values():  # sent, maybe marked with an older attempt
            self.crash_dupes.add(a.task.task_id)
        self.dispatcher = self._new_dispatcher(old.name if same_name else next(self.names))
        self._start_up(resume=same_name)

    # -- workers ----------------------------------------------------------------------------

    def _live(self) -> list[str]:
        return sorted(s for s, w in self.workers.items() if w.alive)

    def _with(self, predicate) -> list[str]:
        return sorted(s for s, w in self.workers.items() if w.alive and predicate(w))

    def _hear(self, worker: ModelWorker) -> None:
        """The dispatcher takes the next message of ``worker``, as its socket would."""
        envelope, message = worker.to_dispatcher.popleft()
        self.dispatcher.receive([worker.name.encode(), *envelope, message.encode()])

    def _hear_all(self, worker: ModelWorker) -> None:
        while worker.to_dispatcher:
            self._hear(worker)

    @precondition(lambda self: self._with(lambda w: w.to_dispatcher))
    @rule(data=st.data())
    def dispatcher_hears(self, data: st.DataObject) -> None:
        slot = data.draw(st.sampled_from(self._with(lambda w: w.to_dispatcher)))
        self._hear(self.workers[slot])

    def _frames(self, worker: ModelWorker) -> list[Message]:
        return self.outboxes.setdefault(worker.name, [])

    @precondition(lambda self: self._with(lambda w: self._frames(w)))
    @rule(data=st.data(), dropped=st.booleans())
    def frame_arrives(self, data: st.DataObject, dropped: bool) -> None:
        """The next frame to a worker arrives, or is lost across a reconnect."""
        worker = self.workers[data.draw(st.sampled_from(self._with(lambda w: self._frames(w))))]
        self._next_frame(worker, dropped and "drop" in self.faults)

    def _next_frame(self, worker: ModelWorker, dropped: bool = False) -> None:
        """The next frame to ``worker`` arrives; lost if ``dropped``, or if its socket
        discards it (a reply to a request it gave up on)."""
        envelope, frame = self._frames(worker).pop(0)
        if dropped or not worker.accepts(envelope):
            for task in getattr(frame, "tasks", ()):
                self._lost(task.task_id, task.attempt)
            return
        self._deliver(worker, frame)

    def _vanish(self) -> None:
        """Frames sent to dead workers vanish: their attempts are lost."""
        for name in self.dead:
            for _, frame in self.outboxes.pop(name, []):
                for task in getattr(frame, "tasks", ()):
                    self._lost(task.task_id, task.attempt)

    def _deliver(self, worker: ModelWorker, frame: Message) -> None:
        self._vanish()
        code = set(worker.code)
        for task in getattr(frame, "tasks", ()):
            assert task.attempt <= self.settings.max_attempts, f"dispatched {task.attempt} times"
            if task.fn:
                code.add(task.function_id)
            runs = task.function_id in code  # else NOCODE: it never runs
            if task.task_id not in self.crash_dupes:
                lost = len(self.lost_attempts.get(task.task_id, ()))
                assert task.attempt <= lost + 1, (
                    f"attempt {task.attempt} of {task.task_id} after {lost} losses"
                )
                assert not runs or task.attempt not in self.ran.get(task.task_id, ()), (
                    f"attempt {task.attempt} of {task.task_id} runs a second time"
                )
            if runs:
                self.ran.setdefault(task.task_id, set()).add(task.attempt)
        worker.receive(frame)

    def _lost(self, task_id: str, attempt: int) -> None:
        self.lost_attempts.setdefault(task_id, set()).add(attempt)

    @precondition(lambda self: self._with(lambda w: w.running))
    @rule(data=st.data(), status=st.sampled_from(["COMPLETED", "COMPLETED", "FAILED", "LOST"]))
    def job_ends(self, data: st.DataObject, status: str) -> None:
        """A job of a worker's pool ends: done, failed (or timed out), or its process died."""
        worker = self.workers[data.draw(st.sampled_from(self._with(lambda w: w.running)))]
        key = data.draw(st.sampled_from(sorted(worker.running)))
        if status == "LOST":
            self._lost(*key)
        worker.report([worker.finish(key, status)])

    @precondition(lambda self: self._live())
    @rule(data=st.data(), want=st.integers(0, 4))
    def heartbeat_or_request(self, data: st.DataObject, want: int) -> None:
        """Push: a heartbeat; pull: a request for up to ``want`` tasks (0: a heartbeat)."""
        worker = self.workers[data.draw(st.sampled_from(self._live()))]
        if isinstance(worker, PullWorker):
            worker.request(want)
        else:
            worker.heartbeat()

    @precondition(lambda self: "register-again" in self.faults and (self._live()))
    @rule(data=st.data())
    def registers(self, data: st.DataObject) -> None:
        """A worker registers (first time, or again after silence or a reply it gave up
        on); the search picks who, and when."""
        self.workers[data.draw(st.sampled_from(self._live()))].register()

    @precondition(lambda self: "silence" in self.faults and (self.dispatcher.workers))
    @rule(data=st.data())
    def silent_past_timeout(self, data: st.DataObject) -> None:
        """A worker unheard for the heartbeat timeout is declared lost; a live one keeps its
        tasks and may report them late."""
        d = self.dispatcher
        name = data.draw(st.sampled_from(sorted(d.workers)))
        d.workers[name].last_seen = time.monotonic() - 10 * self.settings.heartbeat_timeout_s
        d.redis_failed_at = -float("inf")
        d.expire()

    @precondition(lambda self: "worker-dies" in self.faults and (self._live()))
    @rule(data=st.data(), noticed=st.booleans())
    def worker_dies(self, data: st.DataObject, noticed: bool) -> None:
        """SIGKILL of a worker: its tasks die; sends to it fail at once (``noticed``) or
        vanish. A new worker with a new identity takes its place (it registers later)."""
        slot = data.draw(st.sampled_from(self._live()))
        dead = self.workers[slot]
        for task in dead.die():
            self._lost(task.task_id, task.attempt)
        if noticed and hasattr(self.dispatcher, "unreachable"):
            self.dispatcher.unreachable.add(dead.name)
        self.dead.add(dead.name)
        self.workers[slot] = self.worker_kind(f"{slot}.{next(self.generation)}")

    @precondition(
        lambda self: "link-flaps" in self.faults and (self.kind is FakePush and self._live())
    )
    @rule(data=st.data())
    def link_flaps(self, data: st.DataObject) -> None:
        """A push worker's connection is down for a moment: sends to it fail."""
        worker = self.workers[data.draw(st.sampled_from(self._live()))]
        self.dispatcher.unreachable ^= {worker.name}

    @precondition(lambda self: self.kind is FakePull and self.dispatcher.parked)
    @rule()
    def parked_requests_answered(self) -> None:
        """A heartbeat passed: held requests are answered empty."""
        d = self.dispatcher
        for identity in list(d.parked):
            del d.parked[identity]
            d.answer_empty(identity)

    @precondition(lambda self: "forget-code" in self.faults)
    @rule(slot=st.sampled_from(SLOTS))
    def forgets_code(self, slot: str) -> None:
        """The worker's code cache evicted what the dispatcher thinks it has."""
        self.workers[slot].code.clear()

    @precondition(lambda self: self.gate.redis_up)
    @rule()
    def a_quiet_moment(self) -> None:
        """Everything in flight lands: the dispatcher's awaits complete, it hears every
        message, every frame reaches its (live) worker."""
        self.lanes.drain()
        for slot in self._live():
            worker = self.workers[slot]
            self._hear_all(worker)
            while self._frames(worker):
                self._next_frame(worker)

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def outcomes_never_change_and_come_from_the_latest_attempt(self) -> None:
        for task_id in self.accepted:
            status, result = self.run(self.redis.hmget(task_key(task_id), ["status", "result"]))
            if status not in (b"COMPLETED", b"FAILED"):
                continue
            if task_id not in self.terminal:
                attempt = attempt_of(result)
                latest = max(self.ran.get(task_id, {0}))
                assert attempt is None or attempt == latest, (
                    f"{task_id} recorded attempt {attempt}; attempt {latest} ran"
                )
            seen = self.terminal.setdefault(task_id, (status, result))
            assert seen == (status, result), f"outcome of {task_id} changed"
            if status == b"COMPLETED":
                assert result.startswith(f"ok:{task_id}:".encode()), f"wrong result {task_id}"

    @invariant()
    def books_are_consistent(self) -> None:
        d = self.dispatcher
        waiting, running, resumed = {t.task_id for t in d.backlog}, set(d.inflight), set(d.resumed)
        assert not waiting & running and not waiting & resumed and not running & resumed
        by_worker = {w: set(a) for w, a in d.assigned.items()}
        assert set().union(*by_worker.values()) == running if by_worker else not running
        for task_id, a in d.inflight.items():
            assert task_id in by_worker[a.worker]
            assert 1 <= a.task.attempts <= self.settings.max_attempts
        for worker, held in by_worker.items():
            peer = d.workers.get(worker)
            if peer is not None and len(held) > peer.processes:
                event("tasks queued at a worker beyond its processes (short tasks)")
            assert peer is None or len(held) <= 2 * peer.processes

    @invariant()
    def what_workers_run_is_in_the_books(self) -> None:
        """A registered worker running a task's current attempt is its assignee; a task it
        runs is never out of the books while it is not terminal."""
        d = self.dispatcher
        for worker in self.workers.values():
            if worker.name not in d.workers or not worker.alive:
                continue
            for task_id, task in worker.held.items():
                if task_id in self.crash_dupes:
                    continue
                if task.attempt in self.lost_attempts.get(task_id, ()):
                    # declared lost (its worker silent past the timeout, a frame dropped):
                    # it may still run while the task waits (at-least-once; only a result
                    # of its latest attempt counts)
                    continue
                a = d.inflight.get(task_id)
                waiting = d.backlog.get(task_id) or d.resumed.get(task_id)
                if a is not None and a.task.attempts == task.attempt:
                    assert a.worker == worker.name, f"{task_id} runs on {worker.name}"
                elif waiting is not None:
                    assert waiting.attempts != task.attempt or waiting.resend, (
                        f"{task_id} runs on {worker.name} yet waits to be dispatched again"
                    )
                elif a is None:
                    if task_id in {w.task_id for w in d._writes if isinstance(w, Outcome)}:
                        continue  # ended; the writer has not applied it yet
                    status = self.run(self.redis.hget(task_key(task_id), "status"))
                    assert status in (None, b"COMPLETED", b"FAILED"), (
                        f"{task_id} runs on {worker.name} but is in no book ({status})"
                    )

    # -- the end: everyone alive and quiet ------------------------------------------------

    def _drain_and_check(self) -> None:
        self.gate.redis_up = True
        self.lanes.drain()
        d = self.dispatcher
        if hasattr(d, "unreachable"):
            d.unreachable.clear()
        for _ in range(60):
            self._settle_round()
            if self._quiet():
                break
        for task_id in self.accepted:
            status, result = self.run(self.redis.hmget(task_key(task_id), ["status", "result"]))
            assert status in (b"COMPLETED", b"FAILED"), f"task {task_id} stranded: {status}"
            if status == b"COMPLETED":
                assert result.startswith(f"ok:{task_id}:".encode())

    def _settle_round(self) -> None:
        """One round of everyone doing everything: dead workers expire, live ones register,
        run and report all they hold, the dispatcher's loops run to the end."""
        d = self.dispatcher
        for peer in d.workers.values():
            if peer.worker_id not in {w.name for w in self.workers.values() if w.alive}:
                peer.last_seen = -float("inf")
        d.redis_failed_at = -float("inf")
        d.expire()
        d.resume_until = 0.0
        for start in (d.release_resumed, lambda: d.intake_once(None), d.flush):
            self.lanes.start("drain", start)
            self.lanes.drain()
        slots = list(self.workers)
        self.random.shuffle(slots)
        for slot in slots:
            self._worker_round(self.workers[slot])
        self.lanes.start("drain", lambda: d.housekeep_safely(claim=True))
        self.lanes.drain()
        self.lanes.start("drain", d.flush)
        self.lanes.drain()

    def _worker_round(self, worker: ModelWorker) -> None:
        d = self.dispatcher
        stuck = (  # a pull worker whose reply was lost gives up waiting
            isinstance(worker, PullWorker)
            and worker.awaiting
            and not (self._frames(worker) or worker.to_dispatcher)
            and worker.name.encode() not in getattr(d, "parked", {})
        )
        if worker.name not in d.workers or not worker.registered or stuck:
            worker.register()
        for _ in range(100):
            if isinstance(d, FakePull) and worker.name.encode() in d.parked:
                del d.parked[worker.name.encode()]
                d.answer_empty(worker.name.encode())
            self._hear_all(worker)
            while self._frames(worker):
                self._next_frame(worker)
            if not worker.running and not worker.to_dispatcher:
                break
            for key in sorted(worker.running):
                worker.report([worker.finish(key, "COMPLETED")])
        worker.heartbeat() if isinstance(worker, PushWorker) else worker.request(4)
        self._hear_all(worker)

    def _quiet(self) -> bool:
        d = self.dispatcher
        if d.backlog or d.inflight or d.resumed or d._writes:
            return False
        pending = self.run(self.redis.xpending(QUEUE_KEY, GROUP))
        return pending["pending"] == 0 and not self.run(self.redis.xlen(QUEUE_KEY))


class PushModel(DispatcherModel):
    kind, worker_kind = FakePush, PushWorker


class PullModel(DispatcherModel):
    kind, worker_kind = FakePull, PullWorker


_SETTINGS = settings(
    max_examples=EXAMPLES,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
PushModel.TestCase.settings = _SETTINGS
PullModel.TestCase.settings = _SETTINGS
if SEED is not None:
    PushModel.TestCase = seed(int(SEED))(PushModel.TestCase)
    PullModel.TestCase = seed(int(SEED))(PullModel.TestCase)
TestPushModel = pytest.mark.timeout(3600)(PushModel.TestCase)
TestPullModel = pytest.mark.timeout(3600)(PullModel.TestCase)
