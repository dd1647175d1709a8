"""The one serialization boundary: dill for objects, base64 text for the wire.

``serialize(obj) -> str`` and ``deserialize(str) -> obj`` speak the format clients of this
kind of platform use: ``base64(dill.dumps(obj))`` as text, with or without the line breaks
``codecs.encode(..., "base64")`` inserts. Inside the platform payloads travel as raw bytes
(``dumps``/``loads``); base64 is only decoded at the API's door and encoded on the way out.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import dill

from faas.exceptions import SerializationError


def dumps(obj: Any) -> bytes:
    """Pickle ``obj`` with dill; a ``__main__`` function travels by value with the globals it
    uses (``recurse=True``), so workers need not import the user's script."""
    try:
        data: bytes = dill.dumps(obj, recurse=True)
        return data
    except Exception as e:
        raise SerializationError(f"cannot serialize {type(obj).__name__}: {e}") from e


def loads(data: bytes) -> Any:
    """Unpickle bytes made by :func:`dumps`. Runs code: never call it in the API process."""
    try:
        return dill.loads(data)
    except Exception as e:
        raise SerializationError(f"cannot deserialize payload: {e}") from e


def b64decode(text: str) -> bytes:
    """Decode base64 text, tolerating the line breaks ``codecs`` inserts; strict otherwise."""
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as e:
        raise SerializationError(f"payload is not valid base64: {e}") from e


def b64encode(data: bytes) -> str:
    """Encode bytes as base64 text without line breaks."""
    return base64.b64encode(data).decode("ascii")


def serialize(obj: Any) -> str:
    """``base64(dill.dumps(obj))`` as text."""
    return b64encode(dumps(obj))


def deserialize(text: str) -> Any:
    """Inverse of :func:`serialize`; accepts base64 with or without line breaks."""
    return loads(b64decode(text))
