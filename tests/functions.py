"""Sample user functions for the tests (rq's fixtures.py, in spirit).

They are pickled *by value* (dill ``recurse``/``byref=False`` for ``__main__``-like code), so
workers never import this module: see :func:`payload_of`.
"""

from __future__ import annotations

import time

import dill

from faas.serialize import serialize


def by_value(fn):
    """Make ``fn`` pickle with its code, as a script's ``__main__`` function does."""
    fn.__module__ = "__main__"
    return fn


@by_value
def add(a, b=0):
    return a + b


@by_value
def echo(value):
    return value


@by_value
def no_args():
    return "hello"


@by_value
def div_by_zero(x):
    return x / 0


@by_value
def raise_value_error(message):
    raise ValueError(message)


@by_value
def total(values):
    return sum(values)


@by_value
def sleep_for(seconds):
    import time

    time.sleep(seconds)
    return seconds


@by_value
def whoami():
    import os

    return os.getpid()


@by_value
def exit_process(code=1):
    import os

    os._exit(code)


def payload_of(fn) -> str:
    """Serialized function as a client sends it."""
    return serialize(fn)


def args_of(*args, **kwargs) -> str:
    """Serialized ``((args), {kwargs})`` as a client sends it."""
    return serialize((args, kwargs))


__all__ = ["add", "args_of", "dill", "payload_of", "time"]
