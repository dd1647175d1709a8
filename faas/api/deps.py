"""Dependencies of the routes: the store and the API-key check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from faas.api.waiters import Waiters
from faas.archive import Archive
from faas.config import Settings
from faas.store import Store


async def get_store(request: Request) -> Store:
    """The store the app opened in its lifespan (async: sync dependencies cost a thread hop)."""
    return request.app.state.store


async def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    return request.app.state.settings


async def get_waiters(request: Request) -> Waiters:
    """The long-poll waiter registry the app started in its lifespan."""
    return request.app.state.waiters


async def get_archive(request: Request) -> Archive:
    """The archive of finished tasks."""
    return request.app.state.archive


StoreDep = Annotated[Store, Depends(get_store)]
ArchiveDep = Annotated[Archive, Depends(get_archive)]
WaitersDep = Annotated[Waiters, Depends(get_waiters)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def key_matches(given: str, keys: frozenset[str]) -> bool:
    """Constant-time comparison of ``given`` with every configured key."""
    found = False
    for key in keys:
        found |= hmac.compare_digest(given.encode(), key.encode())
    return found


async def require_api_key(request: Request) -> None:
    """401 unless the request carries ``Authorization: Bearer <key>`` for a configured key."""
    keys = request.app.state.api_keys
    if not keys:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise HTTPException(
            401,
            "Missing API key: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not key_matches(given.strip(), keys):
        raise HTTPException(401, "Invalid API key", headers={"WWW-Authenticate": "Bearer"})
