"""Push worker: a DEALER that receives tasks unprompted and streams results back.

It registers (and registers again whenever the dispatcher asks, or has been silent for
FAAS_HEARTBEAT_TIMEOUT_S) with the tasks it holds, heart-beats every FAAS_HEARTBEAT_S with
the ids it holds and the last frame it received, and
sends each batch of finished results as soon as the pool reports it. ZeroMQ reconnects the
DEALER by itself, so a dispatcher restarted on the same address gets it back.
"""

from __future__ import annotations

import logging
import time

import zmq

from faas.curve import secure_client
from faas.exceptions import ProtocolError
from faas.protocol import (
    Heartbeat,
    Reconnect,
    Reject,
    Results,
    Tasks,
    Welcome,
    decode,
)
from faas.worker.base import EXIT_OK, EXIT_REJECTED, SEND_TIMEOUT_MS, Worker

log = logging.getLogger(__name__)


class PushWorker(Worker):
    """Serves a push dispatcher."""

    def serve(self) -> int:
        sock = self.context.socket(zmq.DEALER)
        sock.setsockopt(zmq.IDENTITY, self.worker_id.encode())
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDTIMEO, SEND_TIMEOUT_MS)
        if self.settings.curve_dir:
            secure_client(sock, self.settings.curve_dir)
        sock.connect(self.url)
        heartbeat_s, timeout_s = self.settings.heartbeat_s, self.settings.heartbeat_timeout_s
        self.send(sock, self.register_message())
        last_heard = last_sent = time.monotonic()
        while not self.stopping:
            readable, results = self.poll(sock, min(heartbeat_s / 2, 0.2))
            if results:
                self.send(sock, Results(results))
            while readable and not self.stopping:
                code = self._handle(sock, sock.recv())
                if code is not None:
                    return code
                last_heard = time.monotonic()
                readable = bool(sock.poll(0))
            if self.nocode:
                self.send(sock, Results(self.nocode))
                self.nocode = []
            now = time.monotonic()
            if now - last_heard > timeout_s:
                log.warning("dispatcher silent for %.1fs; registering again", now - last_heard)
                self.send(sock, self.register_message())
                last_heard = now
            if now - last_sent >= heartbeat_s:
                self.send(sock, Heartbeat(list(self.held), self.seen))
                last_sent = now
        return EXIT_OK

    def _handle(self, sock: zmq.Socket, frame: bytes) -> int | None:
        try:
            message = decode(frame)
        except ProtocolError as e:
            log.warning("dropped a malformed frame from the dispatcher: %s", e)
            return None
        if isinstance(message, Tasks):
            self.accept(message)
        elif isinstance(message, Heartbeat):  # carries the seq of the last frame sent us
            self.seen = max(self.seen, message.seen)
        elif isinstance(message, Reconnect):
            self.send(sock, self.register_message())
        elif isinstance(message, Welcome):
            log.info("registered with %s", self.url)
        elif isinstance(message, Reject):
            log.error("dispatcher rejected this worker: %s", message.reason)
            return EXIT_REJECTED
        return None
