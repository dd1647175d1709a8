"""The FastAPI application: ``create_app()``, its lifespan, error mapping and body limit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from faas.aio import cancel_and_wait
from faas.api.fastpath import FastPath
from faas.api.routes import health_router, router
from faas.api.waiters import Waiters
from faas.archive import Archive, Archiver
from faas.config import Settings, get_settings
from faas.exceptions import (
    FunctionNotFoundError,
    PayloadError,
    SerializationError,
    TaskNotFoundError,
)
from faas.store import Store

log = logging.getLogger(__name__)

#: Project errors and the HTTP status each one answers.
_STATUS_OF = {
    PayloadError: 400,
    SerializationError: 400,
    FunctionNotFoundError: 404,
    TaskNotFoundError: 404,
}


class BodyLimitMiddleware:
    """Answer 413 for bodies over ``max_bytes``, before reading them into memory."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._too_large(send)
        seen = 0
        refused = False

        async def limited_receive() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:  # a body without (or lying about) its length
                refused = True
                await self._too_large(send)
                return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:  # the 413 is already out: drop what the app answers after it
                await send(message)

        await self.app(scope, limited_receive, guarded_send)

    async def _too_large(self, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"Request body is larger than {self.max_bytes} bytes"}, status_code=413
        )
        await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def _describe(exc: RequestValidationError) -> str:
    """One readable line out of pydantic's error list."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "Malformed request"


#: Redis connections of one API process. A request that finds them all busy waits up to
#: ``REDIS_WAIT_S`` for one (backpressure under a burst) instead of failing at once.
REDIS_CONNECTIONS = 64
REDIS_WAIT_S = 5.0
#: What redis-py's blocking pool raises when no connection freed up in time.
POOL_EXHAUSTED = "No connection available."


def _install_error_handlers(app: FastAPI) -> None:
    async def project_error(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=_STATUS_OF[type(exc)])

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": _describe(cast(RequestValidationError, exc))}, 422)

    async def redis_down(_: Request, exc: Exception) -> JSONResponse:
        if str(exc) == POOL_EXHAUSTED:  # every connection busy for REDIS_WAIT_S: overload
            detail = (
                f"the API is overloaded: all its {REDIS_CONNECTIONS} Redis connections stayed "
                f"busy for {REDIS_WAIT_S:g} s; retry later"
            )
            log.warning(detail)
            return JSONResponse({"detail": detail}, status_code=503)
        log.warning("redis unreachable: %s", exc)
        return JSONResponse({"detail": "Redis is unreachable; retry later"}, status_code=503)

    for error in _STATUS_OF:
        app.add_exception_handler(error, project_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(RedisConnectionError, redis_down)
    app.add_exception_handler(RedisTimeoutError, redis_down)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API; it opens its Redis connection in the lifespan."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = aioredis.BlockingConnectionPool.from_url(
            settings.redis,
            max_connections=REDIS_CONNECTIONS,
            timeout=REDIS_WAIT_S,
            socket_timeout=5,
            socket_connect_timeout=2,
        )
        redis = aioredis.Redis.from_pool(pool)
        app.state.store = Store(redis)
        app.state.waiters = Waiters(aioredis.from_url(settings.redis, socket_connect_timeout=2))
        app.state.waiters.start()
        app.state.archive = Archive(settings.archive_path)
        archiver = Archiver(app.state.store, app.state.archive, settings.result_ttl_s)
        archiving = asyncio.create_task(archiver.run(settings.archive_interval_s))
        yield
        await cancel_and_wait(archiving)
        app.state.archive.close()
        await app.state.waiters.stop()
        await app.state.waiters.redis.aclose()
        await redis.aclose()

    app = FastAPI(title="faas", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.api_keys = settings.api_key_set()  # read once: the file is not re-read per call
    app.include_router(router)
    app.include_router(health_router)
    _install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(FastPath)  # added last: it runs first (docs in faas/api/fastpath.py)
    return app
