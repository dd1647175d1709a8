"""The task dispatcher: one shared loop (base.py) and a strategy per mode."""

from __future__ import annotations

from faas.config import Settings
from faas.dispatcher.base import Dispatcher
from faas.store import Store


def create_dispatcher(
    mode: str,
    store: Store,
    settings: Settings,
    name: str,
    *,
    processes: int = 2,
    url: str = "tcp://127.0.0.1:5555",
) -> Dispatcher:
    """The dispatcher of ``mode``: a local pool of ``processes``, or a socket bound at ``url``."""
    if mode == "local":
        from faas.dispatcher.local import LocalDispatcher

        return LocalDispatcher(store, settings, name, processes)
    if mode == "pull":
        from faas.dispatcher.pull import PullDispatcher

        return PullDispatcher(store, settings, name, url)
    if mode == "push":
        from faas.dispatcher.push import PushDispatcher

        return PushDispatcher(store, settings, name, url)
    raise ValueError(f"unknown mode {mode!r}: choose local, pull or push")
