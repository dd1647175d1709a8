"""Functions the experiments run; defined in ``__main__`` style so they travel by value."""

from __future__ import annotations


def _by_value(fn):  # noqa: ANN001, ANN202
    fn.__module__ = "__main__"
    return fn


@_by_value
def noop():  # noqa: ANN201
    return None


@_by_value
def sleep(seconds):  # noqa: ANN001, ANN201
    import time

    time.sleep(seconds)
    return seconds


@_by_value
def cpu(n):  # noqa: ANN001, ANN201
    total = 0
    for i in range(n):
        total += i * i
    return total


@_by_value
def echo(data):  # noqa: ANN001, ANN201
    return data
