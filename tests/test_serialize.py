"""Round trips of the wire format, including the codecs variant with line breaks."""

from __future__ import annotations

import base64
import codecs

import dill
import pytest

from faas.exceptions import SerializationError
from faas.serialize import b64decode, deserialize, serialize
from tests import functions


def test_function_round_trip_runs_the_same() -> None:
    fn = deserialize(serialize(functions.add))
    assert fn(2, b=3) == 5


def test_closure_keeps_its_captured_value() -> None:
    def make_adder(n: int):
        return lambda x: x + n

    assert deserialize(serialize(make_adder(10)))(5) == 15


def test_lambda_round_trip() -> None:
    assert deserialize(serialize(lambda s: s.upper()))("abc") == "ABC"


def test_exception_keeps_type_and_message() -> None:
    exc = deserialize(serialize(ValueError("bad value 42")))
    assert type(exc) is ValueError
    assert str(exc) == "bad value 42"


def test_large_list_round_trip() -> None:
    values = list(range(100_000))
    assert deserialize(serialize(values)) == values


def test_accepts_codecs_base64_with_line_breaks() -> None:
    text = codecs.encode(dill.dumps(list(range(500))), "base64").decode()
    assert "\n" in text
    assert deserialize(text) == list(range(500))


def test_produces_plain_base64_of_dill() -> None:
    text = serialize({"a": 1})
    assert dill.loads(base64.b64decode(text)) == {"a": 1}


@pytest.mark.parametrize("text", ["not base64!", "abc", "====", "YWJj$ZA=="])
def test_invalid_base64_is_a_serialization_error(text: str) -> None:
    with pytest.raises(SerializationError, match="not valid base64"):
        b64decode(text)


def test_valid_base64_that_is_not_a_pickle_fails_to_deserialize() -> None:
    with pytest.raises(SerializationError, match="cannot deserialize"):
        deserialize(base64.b64encode(b"hello world").decode())
