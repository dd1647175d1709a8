"""The task dispatcher: one shared loop (base.py) and a strategy per mode."""

from __future__ import annotations

from faas.config import Settings
from faas.dispatcher.base import Dispatcher
from faas.models import Mode
from faas.store import Store


def create_dispatcher(
    mode: Mode | str,
    store: Store,
    settings: Settings,
    name: str,
    *,
    processes: int = 2,
    url: str = "tcp://127.0.0.1:5555",
) -> Dispatcher:
    """The dispatcher of ``mode``: a local pool of ``processes``, or a socket bound at ``url``."""
    mode = Mode(mode)
    if mode is Mode.LOCAL:
        from faas.dispatcher.local import LocalDispatcher

        return LocalDispatcher(store, settings, name, processes)
    if mode is Mode.PULL:
        from faas.dispatcher.pull import PullDispatcher

        return PullDispatcher(store, settings, name, url)
    from faas.dispatcher.push import PushDispatcher

    return PushDispatcher(store, settings, name, url)
