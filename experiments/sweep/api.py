"""The API alone: requests per second and the API's CPU per request of the two requests
every task pays, ``POST /execute_function`` and ``GET /result/{id}`` (of a finished task).

    python -m experiments.sweep.api [--seconds 3] [--repeats 3] [--out DIR] [--profile]
                                    [--against OTHER_CHECKOUT]

A fresh stack per repeat (local mode, 1 process: the dispatcher runs the submitted no-ops out of the
API's way). Per endpoint, per number of connections (1 and 32) and per repeat, that many
aiohttp clients send the request back to back for ``--seconds``; requests/s counts the
answered ones, and CPU per request is the API process's user + system CPU time over the run
(psutil) divided by them — the API's own cost, whatever else shares the cores. With
``--profile`` py-spy records the API during one more 32-connection run per endpoint (raw
files ``api-<endpoint>.txt`` in DIR). ``--against`` measures another checkout's API too,
interleaved repeat by repeat, and prints both side by side with their ratio. Writes
``api.csv`` into DIR (default ``results/api-<time>``) and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from pathlib import Path

import aiohttp
import pandas as pd
import psutil

from experiments import setup_logging
from experiments.analysis.tables import api_table
from experiments.load.client import LoadClient
from experiments.spec.workloads import noop
from experiments.sweep.against import add_option, compared, sides, stack_in
from faas.serialize import serialize
from faas.stack import Stack

log = logging.getLogger("api_bench")
ENDPOINTS = ("submit", "result")
CONNECTIONS = (1, 32)


async def _hammer(
    url: str, method: str, path: str, body: dict | None, clients: int, seconds: float
) -> int:
    """``clients`` loops sending the request back to back for ``seconds``: answers (200)."""
    done = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as http:

        async def loop(deadline: float) -> None:
            nonlocal done
            while time.monotonic() < deadline:
                async with http.request(method, url + path, json=body) as reply:
                    await reply.read()
                    if reply.status != 200:
                        raise RuntimeError(f"{method} {path}: {reply.status}")
                    done += 1

        deadline = time.monotonic() + seconds
        await asyncio.gather(*(loop(deadline) for _ in range(clients)))
    return done


async def _requests(url: str) -> dict[str, tuple[str, str, dict | None]]:
    """(method, path, body) per endpoint: a registered no-op, and one finished task."""
    client = LoadClient(url)
    try:
        function_id = await client.register(noop, "noop")
        payload = serialize(((), {}))
        row = await client.wait(await client.submit(function_id, payload), long_poll=True)
    finally:
        await client.close()
    return {
        "submit": ("POST", "/execute_function", {"function_id": function_id, "payload": payload}),
        "result": ("GET", f"/result/{row.task_id}", None),
    }


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def measure_api(
    seconds: float = 3.0,
    repeats: int = 3,
    profile_dir: Path | None = None,
    against: Path | None = None,
) -> pd.DataFrame:
    """Rows (endpoint, connections, repeat, requests, requests_per_s, api_cpu_us, code).

    With ``against`` (another checkout of the repository, e.g. a ``git worktree`` of an
    older commit) each repeat also measures that checkout's API, on a stack started in its
    directory, right before this one's: the two sides interleaved, so a change of the
    machine's speed falls on both (``code`` is "against" or "this")."""
    rows: list[dict] = []
    for repeat in range(repeats):
        for code, where in sides(against):
            with stack_in(where, "local", procs=1) as stack:
                rows += _measure_stack(stack, seconds, repeat, code)
                if profile_dir is not None and repeat == repeats - 1 and code == "this":
                    _profile_stack(stack, seconds, profile_dir)
    return pd.DataFrame(rows)


def _measure_stack(stack: Stack, seconds: float, repeat: int, code: str) -> list[dict]:
    """One repeat: every endpoint at every number of connections, on a started stack."""
    api, rows = psutil.Process(stack.process("api").pid), []
    requests = asyncio.run(_requests(stack.url))
    for endpoint in ENDPOINTS:  # warm up
        asyncio.run(_hammer(stack.url, *requests[endpoint], 4, 0.5))
    for endpoint in ENDPOINTS:
        for connections in CONNECTIONS:
            cpu, started = _cpu(api), time.monotonic()
            n = asyncio.run(_hammer(stack.url, *requests[endpoint], connections, seconds))
            wall, used = time.monotonic() - started, _cpu(api) - cpu
            rows.append(
                {
                    "endpoint": endpoint,
                    "connections": connections,
                    "repeat": repeat,
                    "requests": n,
                    "requests_per_s": n / wall,
                    "api_cpu_us": 1e6 * used / n,
                    "code": code,
                }
            )
    return rows


def _profile_stack(stack: Stack, seconds: float, profile_dir: Path) -> None:
    """py-spy the API during one more 32-connection run per endpoint."""
    from experiments.measure.profile import profile

    requests = asyncio.run(_requests(stack.url))
    profile_dir.mkdir(parents=True, exist_ok=True)
    for endpoint in ENDPOINTS:
        spy = profile(stack.process("api").pid, seconds, profile_dir / f"api-{endpoint}.txt")
        time.sleep(0.5)  # py-spy attaches
        asyncio.run(_hammer(stack.url, *requests[endpoint], 32, seconds))
        spy.wait(30)


def ratio_table(df: pd.DataFrame) -> str:
    """This checkout against the other one (``--against``), as Markdown: medians of the API
    CPU per request over the interleaved repeats, and their ratio."""
    lines = [
        "| request | connections | API CPU µs, against (min–max) | this (min–max) "
        "| this ÷ against |",
        "|---|---|---|---|---|",
    ]
    names = {"submit": "`POST /execute_function`", "result": "`GET /result/{id}` (finished)"}
    for (endpoint, connections), g in df.groupby(["endpoint", "connections"], sort=False):
        spans, ratio = compared(g, "api_cpu_us")
        lines.append(f"| {names[endpoint]} | {connections} | {' | '.join(spans)} | {ratio:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="where to write api.csv")
    parser.add_argument("--profile", action="store_true", help="py-spy the API (raw files)")
    add_option(parser)
    args = parser.parse_args()
    setup_logging(logging.WARNING)
    out = args.out or Path("results") / f"api-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    df = measure_api(args.seconds, args.repeats, out if args.profile else None, args.against)
    df.to_csv(out / "api.csv", index=False)
    print(api_table(df))
    if args.against:
        print(ratio_table(df))
    print(f"api.csv: {out / 'api.csv'}")


if __name__ == "__main__":
    main()
