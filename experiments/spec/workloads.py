"""Functions the experiments run; defined in ``__main__`` style so they travel by value."""

from __future__ import annotations


def _by_value(fn):
    fn.__module__ = "__main__"
    return fn


@_by_value
def noop():
    return None


@_by_value
def sleep(seconds):
    import time

    time.sleep(seconds)
    return seconds


@_by_value
def cpu(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


@_by_value
def echo(data):
    return data


@_by_value
def logged_square(i, log_path, seconds=0.05):
    """``i * i + 7`` after ``seconds``; appends ``i`` to ``log_path`` each time it runs (the
    chaos soak counts executions from it)."""
    import os
    import time

    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{i}\n".encode())
    finally:
        os.close(fd)
    time.sleep(seconds)
    return i * i + 7
