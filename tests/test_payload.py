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

    def __reduce__(self):
        return (exec, ("raise SystemExit('executed!')",))


@pytest.mark.parametrize("fn", [functions.add, lambda: 1, print, len])
def test_callables_pass(fn) -> None:
    data = dill.dumps(fn, recurse=True)
    assert inspect_pickle(data).kind == "object"
    assert check_function(data) is None  # accepted: PayloadError otherwise


@pytest.mark.parametrize("value", [5, "text", b"bytes", [1, 2], {"a": 1}, (1, 2), None, 1.5])
def test_plain_data_is_not_a_function(value) -> None:
    with pytest.raises(PayloadError, match="not a callable"):
        check_function(dill.dumps(value))


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_args_kwargs_pair_passes_in_every_protocol(protocol: int) -> None:
    data = pickle.dumps(((1, [2], {3: 4}), {"k": "v"}), protocol=protocol)
    top = inspect_pickle(data)
    assert (top.kind, [i.kind for i in top.items]) == ("tuple", ["tuple", "dict"])
    assert [i.kind for i in top.items[0].items] == ["scalar", "list", "dict"]
    assert check_arguments(data) is None
    with pytest.raises(PayloadError):  # the same values in the wrong shape are refused
        check_arguments(pickle.dumps(({"k": "v"}, (1, [2])), protocol=protocol))


@pytest.mark.parametrize("value", [(1, 2), [(), {}], ((), [], {}), 7, ({}, ()), ((), ())])
def test_wrong_argument_shapes_are_refused(value) -> None:
    with pytest.raises(PayloadError, match=r"\(\(args\), \{kwargs\}\)"):
        check_arguments(dill.dumps(value))


def test_shared_references_through_the_memo_pass() -> None:
    shared = [1, 2]
    data = dill.dumps(((shared, shared), {"again": shared}))
    top = inspect_pickle(data)
    assert [i.kind for i in top.items[0].items] == ["list", "list"]  # the memo GET resolved
    assert check_arguments(data) is None


def test_inspecting_never_runs_the_payload() -> None:
    data = pickle.dumps(((Boom(),), {}))
    top = inspect_pickle(data)  # would raise SystemExit if it ran anything
    assert (top.kind, top.items[0].items[0].kind) == ("tuple", "object")
    assert check_arguments(data) is None


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
