"""What a run was measured on: the machine, the code's commit, the versions of what ran."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from importlib import metadata

from faas.redis_server import find_redis_server


def machine() -> dict:
    """What the figures were measured on."""

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    commit = (
        subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
        or "unknown"
    )
    redis_version = subprocess.run(
        [find_redis_server(), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "hostname": platform.node(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "git_commit": commit,
        "redis_server": redis_version,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "packages": {
            p: version(p)
            for p in (
                "faas",
                "fastapi",
                "uvicorn",
                "redis",
                "pyzmq",
                "dill",
                "msgpack",
                "aiohttp",
                "pandas",
            )
        },
    }
