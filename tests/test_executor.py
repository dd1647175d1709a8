"""The executor: never raises, and every failure is a clear, portable exception."""

from __future__ import annotations

import dill

from faas.executor import execute
from faas.models import TaskStatus
from faas.serialize import dumps
from tests import functions


def _run(fn, *args, limit: int = 0, **kwargs):
    status, payload = execute(str(id(fn)), dumps(fn), dumps((args, kwargs)), limit)
    return status, dill.loads(payload)


def test_value_and_exception() -> None:
    assert _run(functions.add, 1, b=2) == (TaskStatus.COMPLETED, 3)
    status, exc = _run(functions.div_by_zero, 1)
    assert status is TaskStatus.FAILED and isinstance(exc, ZeroDivisionError)


def test_result_over_the_limit_fails_with_a_clear_error() -> None:
    status, exc = _run(functions.total, [b"x" * 10], limit=0)
    assert status is TaskStatus.FAILED  # sum of bytes: TypeError from the user's code
    status, exc = _run(lambda n: b"x" * n, 5000, limit=1000)
    assert status is TaskStatus.FAILED and isinstance(exc, ValueError)
    assert "over the limit of 1000 bytes" in str(exc)
    assert _run(lambda n: b"x" * n, 500, limit=1000) == (TaskStatus.COMPLETED, b"x" * 500)


def test_arguments_of_the_wrong_shape_fail_with_type_error() -> None:
    status, payload = execute("f", dumps(functions.add), dumps({"not": "a pair"}))
    exc = dill.loads(payload)
    assert status is TaskStatus.FAILED and isinstance(exc, TypeError)
    assert "((args), {kwargs})" in str(exc)


def test_unpicklable_result_fails_with_type_error() -> None:
    status, exc = _run(lambda: (x for x in range(3)))  # generators do not pickle
    assert status is TaskStatus.FAILED and isinstance(exc, TypeError)
    assert "cannot be serialized" in str(exc)
