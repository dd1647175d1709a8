"""Pull worker: a REQ socket that asks for up to k tasks and hands in finished results.

Each REQUEST carries the results finished since the last one, asks for at most as many
tasks as there are free processes, lists the tasks held, and says whether the worker is idle
(then the dispatcher may hold the reply until work arrives). A busy worker that got nothing
backs off (1 ms doubling to 50 ms). With no reply for FAAS_HEARTBEAT_S +
FAAS_HEARTBEAT_TIMEOUT_S the dispatcher is presumed gone: the results are kept and sent
again after registering anew (REQ_RELAXED lets a new request follow an unanswered one).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import zmq

from faas.curve import secure_client
from faas.exceptions import ProtocolError
from faas.protocol import Reconnect, Reject, Request, ResultMsg, Tasks, Welcome, decode
from faas.worker.base import EXIT_OK, EXIT_REJECTED, SEND_TIMEOUT_MS, Backoff, Worker

log = logging.getLogger(__name__)

#: Longest single wait in the loop, so a stop request is noticed quickly.
_TICK_S = 0.2


@dataclass
class _Exchange:
    """The state of a pull worker's conversation with its dispatcher."""

    registered: bool = False
    #: finished, not yet handed in
    results: list[ResultMsg] = field(default_factory=list)
    #: handed in with the request whose reply is pending
    in_request: list[ResultMsg] = field(default_factory=list)
    #: when the pending request (or registration) was sent; None: nothing pending
    sent_at: float | None = None
    last_request: float = 0.0
    asked_for: int = 0
    backoff: Backoff = field(default_factory=Backoff)

    def answered(self) -> None:
        """A reply came: the results it carried were handed in."""
        self.sent_at, self.in_request = None, []

    def give_up(self) -> None:
        """No reply in time: keep the results for the next registration."""
        self.results, self.in_request = self.in_request + self.results, []
        self.registered, self.sent_at = False, None


class PullWorker(Worker):
    """Serves a pull dispatcher."""

    def serve(self) -> int:
        sock = self._connect()
        x = _Exchange()
        patience_s = self.settings.heartbeat_s + self.settings.heartbeat_timeout_s
        while not self.stopping:
            if x.sent_at is None and not self._maybe_send(sock, x):
                break
            readable, done = self.poll(sock, self._wait_s(x))
            x.results += done
            if readable:
                code = self._on_reply(sock.recv(), x)
                if code is not None:
                    return code
            elif x.sent_at is not None and time.monotonic() - x.sent_at > patience_s:
                log.warning("no reply from %s for %.1fs; registering again", self.url, patience_s)
                x.give_up()
        return EXIT_OK

    def want(self) -> int:
        """Tasks we could start now; while our tasks are short, also as many again to queue
        (the dispatcher sends only short ones into that room): no process idles for a
        round trip between short tasks."""
        room = self.processes if self.durations.short("") else 0
        return max(0, self.pool.free + room - len(self.queue))

    def _connect(self) -> zmq.Socket[bytes]:
        sock = self.context.socket(zmq.REQ)
        sock.setsockopt(zmq.IDENTITY, self.worker_id.encode())
        sock.setsockopt(zmq.REQ_RELAXED, 1)  # a new request may follow an unanswered one
        sock.setsockopt(zmq.REQ_CORRELATE, 1)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDTIMEO, SEND_TIMEOUT_MS)
        if self.settings.curve_dir:
            secure_client(sock, self.settings.curve_dir)
        sock.connect(self.url)
        return sock

    def _maybe_send(self, sock: zmq.Socket[bytes], x: _Exchange) -> bool:
        """Register, or send a REQUEST when there are results, free processes (and the
        back-off allows) or a heartbeat is due. False if stopped while sending."""
        now = time.monotonic()
        if not x.registered:
            x.sent_at = now
            return self.send(sock, self.register_message())
        due = now - x.last_request >= self.settings.heartbeat_s
        if not (x.results or (self.want() and x.backoff.ready) or due):
            return True
        x.asked_for = self.want()
        x.in_request, x.results = x.results, []
        x.sent_at = x.last_request = now
        request = Request(x.asked_for, not self.held, list(self.held), x.in_request, self.seen)
        return self.send(sock, request)

    def _wait_s(self, x: _Exchange) -> float:
        """How long to wait for a reply or a finished task before looking again."""
        if x.sent_at is not None or not self.want():
            return _TICK_S
        return min(_TICK_S, max(0.0, x.backoff.until - time.monotonic()))

    def _on_reply(self, frame: bytes, x: _Exchange) -> int | None:
        """Handle one reply; an exit code if the worker must stop."""
        x.answered()
        try:
            message = decode(frame)
        except ProtocolError as e:
            log.warning("dropped a malformed reply: %s", e)
            return None
        if isinstance(message, Tasks):
            self.accept(message)
            if message.tasks:
                x.backoff.reset()
            elif x.asked_for and self.held:
                x.backoff.wait()  # busy and got nothing: ask less often
        elif isinstance(message, Welcome):
            log.info("registered with %s", self.url)
            self.welcomed()
            x.registered = True
        elif isinstance(message, Reconnect):
            x.registered = False
        elif isinstance(message, Reject):
            log.error("dispatcher rejected this worker: %s", message.reason)
            return EXIT_REJECTED
        return None
