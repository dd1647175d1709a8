"""faas/worker/push.py: a real push worker (2 processes), its socket replaced by a list of
what it sends — results kept until the dispatcher acknowledges them as written."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from faas.protocol import Heartbeat, Reconnect, Register, ResultMsg, Results
from faas.worker.push import PushWorker

DONE = ResultMsg("t1", "e-1", 1, "COMPLETED", b"r")
FAILED = ResultMsg("t2", "e-2", 1, "FAILED", b"x")
LOST = ResultMsg("t3", "e-3", 1, "LOST", b"")
NOCODE = ResultMsg("t4", "e-4", 1, "NOCODE", b"")


@pytest.fixture
def worker(make_worker: Callable[[type], PushWorker]) -> PushWorker:
    return make_worker(PushWorker)


def _kinds(sent: list) -> list:
    return [(type(m).__name__, getattr(m, "seq", None)) for m in sent]


def test_results_are_numbered_and_the_final_ones_kept_until_acknowledged(
    worker: PushWorker,
) -> None:
    worker.send_results(None, [DONE, LOST])
    worker.send_results(None, [NOCODE])
    worker.send_results(None, [FAILED])
    assert _kinds(worker.sent) == [("Results", 1), ("Results", 2), ("Results", 3)]
    assert worker.sent[0].results == [DONE, LOST]
    # LOST and NOCODE are not kept: a restarted dispatcher retries those tasks anyway
    assert worker.unacked == {1: [DONE], 3: [FAILED]}
    worker._handle(None, Heartbeat(seen=0, acked=1).encode())
    assert worker.unacked == {3: [FAILED]}
    worker._handle(None, Heartbeat(seen=0, acked=3).encode())
    assert worker.unacked == {}


def test_registering_again_hands_in_every_result_not_acknowledged(worker: PushWorker) -> None:
    """A result in flight when the dispatcher died used to be forgotten once sent, and its
    task ran again; now it goes to the restarted dispatcher after the REGISTER."""
    worker.send_results(None, [DONE])
    worker.send_results(None, [FAILED])
    worker.sent.clear()
    worker._handle(None, Reconnect().encode())  # the restarted dispatcher does not know us
    assert _kinds(worker.sent) == [("Register", None), ("Results", 1), ("Results", 2)]
    assert isinstance(worker.sent[0], Register)
    assert [m.results for m in worker.sent[1:]] == [[DONE], [FAILED]]
    worker.sent.clear()
    worker._handle(None, Heartbeat(seen=0, acked=2).encode())
    worker.register(None)
    assert _kinds(worker.sent) == [("Register", None)]


def test_a_results_frame_round_trips_its_seq() -> None:
    from faas.protocol import decode

    frame = decode(Results([DONE], 7).encode())
    assert isinstance(frame, Results) and frame.seq == 7 and frame.results == [DONE]
    assert decode(Heartbeat(["t"], 3, 9).encode()) == Heartbeat(["t"], 3, 9)


def test_a_wait_shorter_than_a_millisecond_blocks_instead_of_spinning(
    worker: PushWorker,
) -> None:
    """The poll's timeout is whole milliseconds, rounded up: rounded down, the last
    fraction of a pull worker's back-off polled with 0 over and over, a busy loop."""
    import time

    import zmq

    sock = worker.context.socket(zmq.PAIR)  # nothing will ever arrive on it
    try:
        sock.bind("inproc://quiet")
        started = time.perf_counter()
        for _ in range(5):
            assert worker.poll(sock, 0.0004) == (False, [])
        assert time.perf_counter() - started >= 0.004  # 5 waits of >= 1 ms, not 5 of 0
    finally:
        sock.close(linger=0)
