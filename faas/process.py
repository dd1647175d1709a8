"""Child-process hygiene: children die with their parent, and are stopped by PID; a
server's listening socket and the exit code that says its port was taken."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import signal
import socket
import subprocess

_PR_SET_PDEATHSIG = 1

#: Exit code of ``faas api`` and ``faas dispatcher`` when their port is taken (EADDRINUSE's
#: number on Linux): whoever chose the port may choose another and start them again.
ADDRESS_IN_USE = 98


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask Linux to send ``sig`` to this process when its parent dies (a no-op elsewhere)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)


def stop_process(process: subprocess.Popen[bytes], grace_s: float = 5.0) -> int | None:
    """SIGTERM a child, SIGKILL it after ``grace_s``; answer its exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def freeze_heap() -> None:
    """Take every object alive now (modules, routes, models: start-up's) out of the cyclic
    garbage collector's view for the rest of the process's life: a full collection then
    walks only what came later. Called once a long-lived process has started; without it
    a full collection stopped the API or the dispatcher for 25-50 ms (on the 2-core VM),
    and every request in flight waited it out."""
    gc.collect()
    gc.freeze()


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (address reuse on, as asyncio's servers set it);
    the server that takes it listens. Raises OSError (errno EADDRINUSE) if the port is
    taken."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock
