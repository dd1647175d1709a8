"""The one place user code runs: ``execute(...) -> (status, payload)``, which never raises.

Every mode ends up here, inside a pool process. Failures become a serialized exception the
client can unpickle with dill alone: the user's own exception (with the remote traceback as a
note), or a built-in type whose message names the cause.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from faas.exceptions import SerializationError
from faas.models import TaskStatus
from faas.serialize import dumps, loads

#: Deserialized functions of this process, by function id (dill.loads once per function).
_functions: dict[str, Callable[..., Any]] = {}
_MAX_CACHED_FUNCTIONS = 256


def _load_function(function_id: str, fn_bytes: bytes) -> Callable[..., Any]:
    fn = _functions.get(function_id)
    if fn is None:
        fn = loads(fn_bytes)
        if not callable(fn):
            raise TypeError(f"function payload is a {type(fn).__name__}, which is not callable")
        if len(_functions) >= _MAX_CACHED_FUNCTIONS:
            _functions.clear()
        _functions[function_id] = fn
    return fn


def _load_arguments(args_bytes: bytes) -> tuple[tuple[Any, ...], dict[str, Any]]:
    value = loads(args_bytes)
    if (
        not isinstance(value, tuple | list)
        or len(value) != 2
        or not isinstance(value[0], tuple | list)
        or not isinstance(value[1], dict)
    ):
        raise TypeError(
            f"arguments payload must be ((args), {{kwargs}}), got {type(value).__name__}"
        )
    return tuple(value[0]), value[1]


def error_payload(exc: BaseException) -> bytes:
    """Serialize an exception; fall back to a RuntimeError naming it if it won't pickle."""
    try:
        return dumps(exc)
    except SerializationError:
        return dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))


def execute(
    function_id: str, fn_bytes: bytes, args_bytes: bytes, max_result_bytes: int = 0
) -> tuple[TaskStatus, bytes]:
    """Run a serialized function on serialized arguments; never raises. A result whose
    serialized size passes ``max_result_bytes`` (0: no limit) ends the task FAILED."""
    try:
        fn = _load_function(function_id, fn_bytes)
        args, kwargs = _load_arguments(args_bytes)
        value = fn(*args, **kwargs)
    except SerializationError as exc:
        return TaskStatus.FAILED, error_payload(ValueError(str(exc)))
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        exc.add_note("Remote traceback:\n" + traceback.format_exc())
        return TaskStatus.FAILED, error_payload(exc)
    try:
        payload = dumps(value)
    except SerializationError as exc:
        message = f"result of type {type(value).__name__} cannot be serialized: {exc}"
        return TaskStatus.FAILED, error_payload(TypeError(message))
    if max_result_bytes and len(payload) > max_result_bytes:
        message = (
            f"result is {len(payload)} bytes serialized, over the limit of "
            f"{max_result_bytes} bytes (FAAS_MAX_RESULT_BYTES)"
        )
        return TaskStatus.FAILED, error_payload(ValueError(message))
    return TaskStatus.COMPLETED, payload
