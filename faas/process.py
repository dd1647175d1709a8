"""Child-process hygiene: children die with their parent, and are stopped by PID."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import signal
import subprocess

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask Linux to send ``sig`` to this process when its parent dies (a no-op elsewhere)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)


def stop_process(process: subprocess.Popen, grace_s: float = 5.0) -> int | None:
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
