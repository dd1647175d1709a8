"""What a run was measured on: the machine, the code's commit, the versions of what ran."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from importlib import metadata

from faas.redis_server import find_redis_server

#: the packages whose versions a run records
PACKAGES = ("faas", "fastapi", "uvicorn", "redis", "pyzmq", "dill", "msgpack", "aiohttp", "pandas")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _output(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=False).stdout.strip()


def machine() -> dict:
    """What the figures were measured on."""
    return {
        "hostname": platform.node(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "git_commit": _output(["git", "rev-parse", "HEAD"]) or "unknown",
        "redis_server": _output([find_redis_server(), "--version"]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "packages": {p: _version(p) for p in PACKAGES},
    }
