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

import zmq

from faas.curve import secure_client
from faas.exceptions import ProtocolError
from faas.protocol import (
    Reconnect,
    Reject,
    Request,
    ResultMsg,
    Shutdown,
    Tasks,
    Welcome,
    decode,
)
from faas.worker.base import EXIT_OK, EXIT_REJECTED, SEND_TIMEOUT_MS, Backoff, Worker

log = logging.getLogger(__name__)


class PullWorker(Worker):
    """Serves a pull dispatcher."""

    def serve(self) -> int:
        sock = self.context.socket(zmq.REQ)
        sock.setsockopt(zmq.IDENTITY, self.worker_id.encode())
        sock.setsockopt(zmq.REQ_RELAXED, 1)
        sock.setsockopt(zmq.REQ_CORRELATE, 1)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDTIMEO, SEND_TIMEOUT_MS)
        if self.settings.curve_dir:
            secure_client(sock, self.settings.curve_dir)
        sock.connect(self.url)
        patience_s = self.settings.heartbeat_s + self.settings.heartbeat_timeout_s
        backoff = Backoff()
        registered = False
        results: list[ResultMsg] = []  # finished, not yet handed in
        in_request: list[ResultMsg] = []  # handed in, reply pending
        sent_at: float | None = None
        last_request = 0.0
        asked_for = 0
        while not self.stopping:
            now = time.monotonic()
            if sent_at is None:
                if not registered:
                    if not self.send(sock, self.register_message()):
                        break
                    sent_at = now
                elif (
                    results
                    or (self.want() and backoff.ready)
                    or now - last_request >= self.settings.heartbeat_s
                ):
                    asked_for, idle = self.want(), not self.held
                    in_request, results = results, []
                    if not self.send(
                        sock, Request(asked_for, idle, list(self.held), in_request, self.seen)
                    ):
                        break
                    sent_at = last_request = now
            wait_s = (
                0.2 if sent_at is not None or not self.want() else max(0.0, backoff.until - now)
            )
            readable, done = self.poll(sock, min(wait_s, 0.2))
            results += done
            if readable:
                sent_at = None
                code, registered, got = self._handle(sock.recv(), registered)
                if code is not None:
                    return code
                in_request = []
                if got:
                    backoff.reset()
                elif asked_for and self.held:
                    backoff.wait()
            elif sent_at is not None and time.monotonic() - sent_at > patience_s:
                log.warning("no reply from %s for %.1fs; registering again", self.url, patience_s)
                results, in_request = in_request + results, []
                registered, sent_at = False, None
        return EXIT_OK

    def _handle(self, frame: bytes, registered: bool) -> tuple[int | None, bool, int]:
        """(exit code or None, registered, tasks received) after one reply."""
        try:
            message = decode(frame)
        except ProtocolError as e:
            log.warning("dropped a malformed reply: %s", e)
            return None, registered, 0
        if isinstance(message, Tasks):
            self.accept(message)
            return None, registered, len(message.tasks)
        if isinstance(message, Welcome):
            log.info("registered with %s", self.url)
            return None, True, 0
        if isinstance(message, Reconnect):
            return None, False, 0
        if isinstance(message, Reject):
            log.error("dispatcher rejected this worker: %s", message.reason)
            return EXIT_REJECTED, registered, 0
        if isinstance(message, Shutdown):
            return EXIT_OK, registered, 0
        return None, registered, 0
