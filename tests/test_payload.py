"""Payload checks that never run the payload."""

from __future__ import annotations

import pickle
import random

import dill
import pytest

from faas.exceptions import PayloadError
from faas.payload import check_arguments, check_function, inspect_pickle
from tests import functions


class Boom:
    """Unpickling this would run code: the checks must not."""

    def __reduce__(self):  # noqa: ANN204
        return (exec, ("raise SystemExit('executed!')",))


@pytest.mark.parametrize("fn", [functions.add, lambda: 1, print, len])
def test_callables_pass(fn) -> None:  # noqa: ANN001
    check_function(dill.dumps(fn, recurse=True))


@pytest.mark.parametrize("value", [5, "text", b"bytes", [1, 2], {"a": 1}, (1, 2), None, 1.5])
def test_plain_data_is_not_a_function(value) -> None:  # noqa: ANN001
    with pytest.raises(PayloadError, match="not a callable"):
        check_function(dill.dumps(value))


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_args_kwargs_pair_passes_in_every_protocol(protocol: int) -> None:
    check_arguments(pickle.dumps(((1, [2], {3: 4}), {"k": "v"}), protocol=protocol))


@pytest.mark.parametrize("value", [(1, 2), [(), {}], ((), [], {}), 7, ({}, ()), ((), ())])
def test_wrong_argument_shapes_are_refused(value) -> None:  # noqa: ANN001
    with pytest.raises(PayloadError, match=r"\(\(args\), \{kwargs\}\)"):
        check_arguments(dill.dumps(value))


def test_shared_references_through_the_memo_pass() -> None:
    shared = [1, 2]
    check_arguments(dill.dumps(((shared, shared), {"again": shared})))


def test_inspecting_never_runs_the_payload() -> None:
    data = pickle.dumps(((Boom(),), {}))
    assert inspect_pickle(data).kind == "tuple"
    check_arguments(data)  # would raise SystemExit if it ran anything


def test_truncated_pickle_is_refused() -> None:
    data = dill.dumps(functions.add, recurse=True)
    for cut in (1, len(data) // 2, len(data) - 1):
        with pytest.raises(PayloadError):
            check_function(data[:cut])


def test_trailing_bytes_are_refused() -> None:
    with pytest.raises(PayloadError, match="one complete pickle"):
        check_arguments(dill.dumps(((), {})) + b"extra")


def test_random_bytes_are_refused() -> None:
    rng = random.Random(7)
    for _ in range(200):
        blob = rng.randbytes(rng.randint(0, 64))
        with pytest.raises(PayloadError):
            inspect_pickle(blob)
