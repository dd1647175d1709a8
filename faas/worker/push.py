"""Push worker: a DEALER that receives tasks unprompted and streams results back.

It registers (and registers again whenever the dispatcher asks, or has been silent for
FAAS_HEARTBEAT_TIMEOUT_S) with the tasks it holds, heart-beats every FAAS_HEARTBEAT_S with
the ids it holds and the last frame it received, and
sends each batch of finished results as soon as the pool reports it, numbered; it keeps the
final ones until the dispatcher acknowledges them as written (its HEARTBEAT's ``acked``) and
sends them again after every REGISTER. ZeroMQ reconnects the DEALER by itself, so a
dispatcher restarted on the same address gets it back, with the results in flight.
"""

from __future__ import annotations

import logging
import time

import zmq

from faas.config import Settings
from faas.curve import secure_client
from faas.exceptions import ProtocolError
from faas.protocol import (
    Heartbeat,
    Reconnect,
    Reject,
    ResultMsg,
    Results,
    Tasks,
    Welcome,
    decode,
)
from faas.worker.base import EXIT_OK, EXIT_REJECTED, SEND_TIMEOUT_MS, Worker

log = logging.getLogger(__name__)


#: Results kept until acknowledged (LOST and NOCODE are not: a restarted dispatcher retries
#: those tasks anyway, and a NOCODE counted twice would run its task twice).
_FINAL = ("COMPLETED", "FAILED")


class PushWorker(Worker):
    """Serves a push dispatcher."""

    def __init__(self, processes: int, url: str, settings: Settings) -> None:
        super().__init__(processes, url, settings)
        #: the last RESULTS seq sent, and the final results of frames not acknowledged yet
        self.result_seq = 0
        self.unacked: dict[int, list[ResultMsg]] = {}

    def send_results(self, sock: zmq.Socket[bytes], results: list[ResultMsg]) -> None:
        """Send ``results`` as the next RESULTS frame; keep the final ones until acked."""
        self.result_seq += 1
        final = [r for r in results if r.status in _FINAL]
        if final:
            self.unacked[self.result_seq] = final
        self.send(sock, Results(results, self.result_seq))

    def register(self, sock: zmq.Socket[bytes]) -> None:
        """Register, then hand in again every result not acknowledged (the dispatcher may
        have died before writing them; one it has already is dropped as a duplicate)."""
        self.send(sock, self.register_message())
        for seq, results in sorted(self.unacked.items()):
            self.send(sock, Results(results, seq))

    def serve(self) -> int:
        sock = self.context.socket(zmq.DEALER)
        sock.setsockopt(zmq.IDENTITY, self.worker_id.encode())
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDTIMEO, SEND_TIMEOUT_MS)
        if self.settings.curve_dir:
            secure_client(sock, self.settings.curve_dir)
        sock.connect(self.url)
        heartbeat_s, timeout_s = self.settings.heartbeat_s, self.settings.heartbeat_timeout_s
        self.register(sock)
        last_heard = last_sent = time.monotonic()
        while not self.stopping:
            readable, results = self.poll(sock, min(heartbeat_s / 2, 0.2))
            if results:
                self.send_results(sock, results)
            while readable and not self.stopping:
                code = self._handle(sock, sock.recv())
                if code is not None:
                    return code
                last_heard = time.monotonic()
                readable = bool(sock.poll(0))
            if self.nocode:
                self.send_results(sock, self.nocode)
                self.nocode = []
            now = time.monotonic()
            if now - last_heard > timeout_s:
                log.warning("dispatcher silent for %.1fs; registering again", now - last_heard)
                self.register(sock)
                last_heard = now
            if now - last_sent >= heartbeat_s:
                self.send(sock, Heartbeat(list(self.held), self.seen))
                last_sent = now
        return EXIT_OK

    def _handle(self, sock: zmq.Socket[bytes], frame: bytes) -> int | None:
        try:
            message = decode(frame)
        except ProtocolError as e:
            log.warning("dropped a malformed frame from the dispatcher: %s", e)
            return None
        if isinstance(message, Tasks):
            self.accept(message)
        elif isinstance(message, Heartbeat):  # the last frame sent us, the last results written
            self.seen = max(self.seen, message.seen)
            for seq in [s for s in self.unacked if s <= message.acked]:
                del self.unacked[seq]
        elif isinstance(message, Reconnect):
            self.register(sock)
        elif isinstance(message, Welcome):
            log.info("registered with %s", self.url)
            self.welcomed()
        elif isinstance(message, Reject):
            log.error("dispatcher rejected this worker: %s", message.reason)
            return EXIT_REJECTED
        return None
