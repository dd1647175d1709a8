"""The wire protocol: every message round-trips; malformed frames are ProtocolErrors."""

from __future__ import annotations

import msgpack
import pytest

from faas.exceptions import ProtocolError, ProtocolVersionError
from faas.protocol import (
    VERSION,
    Heartbeat,
    MessageType,
    Reconnect,
    Register,
    Reject,
    Request,
    ResultMsg,
    Results,
    TaskMsg,
    Tasks,
    Welcome,
    decode,
)

TASK = TaskMsg("t1", "1-0", 2, "f1", b"\x80fn", b"\x80args", 1.5)
RESULT = ResultMsg("t1", "1-0", 2, "COMPLETED", b"\x80value", 10.0, 10.5)


@pytest.mark.parametrize(
    "message",
    [
        Register("w1", 4),
        Register("w1", 4, [["t1", 2]]),
        Welcome(1.0),
        Reject("too many"),
        Request(2, True, ["t9"], [RESULT]),
        Request(0, False),
        Tasks([TASK, TASK], 7),
        Tasks(),
        Heartbeat(["t1"], 7),
        Results([RESULT]),
        Heartbeat(["t1"]),
        Heartbeat(),
        Reconnect(),
    ],
)
def test_every_message_round_trips(message) -> None:
    assert decode(message.encode()) == message


def test_payload_bytes_travel_as_they_are() -> None:
    blob = bytes(range(256)) * 4000
    task = TaskMsg("t", "e", 1, "f", blob, blob)
    frame = Tasks([task]).encode()
    assert len(frame) < 2 * len(blob) + 100  # raw bin, not base64
    assert decode(frame).tasks[0].args == blob


BAD_FRAMES = {
    "empty": b"",
    "truncated": Tasks([TASK]).encode()[:-3],
    "not an array": msgpack.packb({"type": 1}),
    "too short": msgpack.packb([VERSION]),
    "unknown type": msgpack.packb([VERSION, 99]),
    "type not int": msgpack.packb([VERSION, "register", "w", 1]),
    "missing field": msgpack.packb([VERSION, 1, "w"]),
    "extra field": msgpack.packb([VERSION, 1, "w", 1, 2]),
    "wrong field type": msgpack.packb([VERSION, 1, "w", "four"]),
    "bad nested task": msgpack.packb([VERSION, 5, [["t"]]]),
    "nested not list": msgpack.packb([VERSION, 5, "tasks"]),
    "pickle": b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01.",
}


@pytest.mark.parametrize("frame", BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
def test_malformed_frames_are_protocol_errors(frame: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode(frame)


def test_other_version_is_a_version_error() -> None:
    with pytest.raises(ProtocolVersionError, match="protocol version 99"):
        decode(msgpack.packb([99, 1, "w", 1]))


@pytest.mark.parametrize("status", ["RUNNING", "QUEUED", "completed", ""])
def test_a_result_status_outside_the_protocol_is_refused(status: str) -> None:
    """A RUNNING (or any other) status used to be accepted and written as final."""
    frame = msgpack.packb(
        [VERSION, int(MessageType.RESULTS), [["t", "0-1", 1, status, b"", 0.0, 0.0]], 1]
    )
    with pytest.raises(ProtocolError, match="status must be one of"):
        decode(frame)


@pytest.mark.parametrize("held", [["t"], [["t"]], [[1, 1]], [["t", "1"]]])
def test_register_held_takes_id_attempt_pairs(held: list) -> None:
    frame = msgpack.packb([VERSION, int(MessageType.REGISTER), "w", 2, held])
    with pytest.raises(ProtocolError, match="pairs"):
        decode(frame)
