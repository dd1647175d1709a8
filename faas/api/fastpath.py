"""The two requests every task pays, ``POST /execute_function`` and ``GET /result/{id}``,
served without Starlette's routing and FastAPI's per-request dependency solving — by the
same route functions, with the same models.

Only a plainly well-formed request takes the fast path: the right API key (when keys are
configured), ``Content-Type: application/json`` with a ``Content-Length`` within the body
limit and a body that validates, a task id in canonical lower-case form, no query but
``wait=<number>``. Anything else goes on to FastAPI unchanged (a body already read is
replayed), which answers it as it always has: the OpenAPI schema, validation messages and
every error status stay FastAPI's own. Errors the route functions raise on the fast path
(unknown function or task, bad payload, Redis down or overloaded) are answered by the
app's own exception handlers, so both paths answer them identically.

What it saves: the middleware and routing layers, solving five dependencies per request,
and validating the response model a second time (``experiments.sweep.api`` measures it).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from fastapi import FastAPI
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from faas.api.deps import get_archive, get_store, get_waiters, key_matches
from faas.api.routes import execute_function, result
from faas.models import ExecuteFnReq

_RESULT_PATH = re.compile(r"/result/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")
_WAIT_QUERY = re.compile(rb"wait=(\d{1,9}(?:\.\d{1,9})?)")
_JSON = [(b"content-type", b"application/json")]


class FastPath:
    """ASGI middleware: answers the well-formed hot requests itself, passes on the rest."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method, path = scope["method"], scope["path"]
            if method == "POST" and path == "/execute_function":
                return await self._submit(scope, receive, send)
            if method == "GET" and path.startswith("/result/"):
                return await self._result(scope, receive, send)
        await self.app(scope, receive, send)

    async def _submit(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["app"].state
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"")
        if not (
            headers.get(b"content-type") == b"application/json"
            and length.isdigit()
            and int(length) <= state.settings.max_body_bytes
            and _authorized(state.api_keys, headers)
        ):
            return await self.app(scope, receive, send)
        body = await _read_body(receive)
        if body is None:  # the client went away
            return
        try:
            request = ExecuteFnReq.model_validate_json(body)
        except ValidationError:  # FastAPI words the 422
            return await self.app(scope, _replay(body, receive), send)
        store = await _dependency(scope["app"], get_store, "store")
        await _answer(scope, send, execute_function(request, store))

    async def _result(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["app"].state
        path = _RESULT_PATH.fullmatch(scope["path"])
        query = scope["query_string"]
        wait = _WAIT_QUERY.fullmatch(query) if query else None
        if path is None or (query and wait is None):
            return await self.app(scope, receive, send)
        if not _authorized(state.api_keys, dict(scope["headers"])):
            return await self.app(scope, receive, send)
        wait_s = float(wait[1]) if wait else 0.0
        app = scope["app"]
        store = await _dependency(app, get_store, "store")
        waiters = await _dependency(app, get_waiters, "waiters")
        archive = await _dependency(app, get_archive, "archive")
        call = result(UUID(path[1]), store, waiters, state.settings, archive, wait_s)
        await _answer(scope, send, call)


async def _dependency(app: FastAPI, getter: Callable[..., Any], name: str) -> Any:
    """``app.state.<name>``, unless a test replaced ``getter`` through FastAPI's
    ``dependency_overrides`` (then that replacement, as the routes would get it)."""
    override = app.dependency_overrides.get(getter)
    if override is None:
        return getattr(app.state, name)
    value = override()
    return await value if inspect.isawaitable(value) else value


def _authorized(keys: frozenset[str], headers: dict[bytes, bytes]) -> bool:
    """True when no key is configured or the request carries a right one (as
    :func:`faas.api.deps.require_api_key`, which answers the 401s)."""
    if not keys:
        return True
    scheme, _, given = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    return scheme.lower() == "bearer" and bool(given) and key_matches(given.strip(), keys)


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None if the client disconnected first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands out ``body`` once, then whatever the client sends next."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


async def _answer(scope: Scope, send: Send, call: Awaitable[BaseModel]) -> None:
    """Send what the route function returns as JSON, or its error as the app's exception
    handler for it answers."""
    try:
        reply = await call
    except Exception as exc:
        handler = _handler_for(scope["app"].exception_handlers, exc)
        if handler is None:
            raise  # a 500, from the error middleware around us
        response = await handler(Request(scope), exc)
        return await response(scope, _disconnected, send)
    body = reply.model_dump_json().encode()
    headers = [(b"content-length", str(len(body)).encode()), *_JSON]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _handler_for(handlers: dict[Any, Any], exc: Exception) -> Any:  # Starlette's handler
    """The app's handler for ``exc``'s class or its nearest base, as Starlette looks it up."""
    for cls in type(exc).__mro__:
        if cls in handlers:
            return handlers[cls]
    return None


async def _disconnected() -> Message:
    return {"type": "http.disconnect"}
