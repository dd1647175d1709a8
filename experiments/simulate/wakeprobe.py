"""``simulate wake-probe``: what a request costs a process against how long it slept before.

The model charges a visit that finds its process idle the one-client CPU excess however
long the process slept (``ModeCalibration.batched``). This probe measures, on this
machine, whether that cost depends on the sleep: a child process runs an asyncio echo
server on 127.0.0.1 (the shape of the API's and the dispatcher's loops: one read, one
write per request); this process sends it 50-byte requests one at a time and sleeps
``gap`` ms after each reply, so the server sleeps about ``gap`` between requests. The
server's CPU per request comes from the kernel's run time of its process
(``/proc/PID/schedstat``, nanoseconds; not the tick-sampled utime/stime) over a window of
``seconds`` at each gap; the gaps go round ``repeats`` times, interleaved, so the
machine's drift falls on every gap alike.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import socket
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import cast

import pandas as pd
import psutil

log = logging.getLogger(__name__)

#: ms the client sleeps after each reply (0: the next request at once)
GAPS_MS = (0.0, 0.1, 0.3, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0)
REPEATS, SECONDS = 3, 1.0
PAYLOAD = b"x" * 50


def _serve(conn: Connection) -> None:
    """The child: an asyncio echo server on a free port of 127.0.0.1, sent to ``conn``."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(100):
            writer.write(data)

    async def main() -> None:
        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        conn.send(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


def run_time_s(pid: int) -> float:
    """Seconds process ``pid``'s threads have run on a CPU (the kernel's schedstat; the
    user and system times where it has none)."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except (FileNotFoundError, PermissionError):
        times = psutil.Process(pid).cpu_times()
        return times.user + times.system


def probe(
    gaps_ms: Sequence[float] = GAPS_MS, repeats: int = REPEATS, seconds: float = SECONDS
) -> pd.DataFrame:
    """One row per repeat and gap: ``gap_ms``, ``repeat``, ``requests``,
    ``server_cpu_us`` (the server's CPU per request over the window)."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(child,), daemon=True)
    server.start()
    rows = []
    try:
        if not parent.poll(30):
            raise RuntimeError("the echo server did not start within 30 s")
        port = parent.recv()
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for repeat in range(repeats):
                for gap in gaps_ms:
                    pid = cast(int, server.pid)  # started
                    rows.append(_window(sock, pid, gap, seconds) | {"repeat": repeat})
                    log.info("gap %.1f ms: %.1f us a request", gap, rows[-1]["server_cpu_us"])
    finally:
        server.kill()
        server.join(10)
    return pd.DataFrame(rows)[["gap_ms", "repeat", "requests", "server_cpu_us"]]


def _window(sock: socket.socket, pid: int, gap_ms: float, seconds: float) -> dict:
    """Requests one at a time for ``seconds``, sleeping ``gap_ms`` after each reply."""
    requests, start_cpu = 0, run_time_s(pid)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        sock.sendall(PAYLOAD)
        got = 0
        while got < len(PAYLOAD):
            got += len(sock.recv(100))
        requests += 1
        if gap_ms:
            time.sleep(gap_ms / 1000)
    cpu = run_time_s(pid) - start_cpu
    return {"gap_ms": gap_ms, "requests": requests, "server_cpu_us": 1e6 * cpu / requests}


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per gap: the median CPU per request, its min and max over the repeats, and
    ``excess``: the median over the first gap's, as a share of the last gap's excess."""
    by = rows.groupby("gap_ms")["server_cpu_us"]
    table = pd.DataFrame({"median": by.median(), "min": by.min(), "max": by.max()})
    first, last = table["median"].iloc[0], table["median"].iloc[-1]
    table["excess"] = (table["median"] - first) / (last - first) if last != first else 0.0
    return table.reset_index()


def render(rows: pd.DataFrame) -> str:
    """The probe's table, in Markdown."""
    table = summary(rows)
    lines = [
        "# A request's CPU against how long its process slept",
        "",
        f"`python -m experiments.simulate wake-probe`: {int(rows['repeat'].nunique())} rounds;"
        " an asyncio echo server's CPU per request (its process's run time, schedstat) while"
        " the client sleeps `gap` after each reply (`experiments/simulate/wakeprobe.py`).",
        "",
        "| gap ms | server CPU µs a request (min–max) | excess (first gap 0, last 1) |",
        "|---|---|---|",
    ]
    for row in table.itertuples():
        lines.append(
            f"| {row.gap_ms:g} | {row.median:.0f} ({row.min:.0f}–{row.max:.0f})"
            f" | {row.excess:.2f} |"
        )
    return "\n".join(lines) + "\n"


def run(out: Path, repeats: int = REPEATS, seconds: float = SECONDS) -> Path:
    """Probe, then write ``wake-probe.csv`` and ``README.md`` in ``out``; returns the
    README's path."""
    if repeats < 1:
        raise ValueError(f"the probe needs at least one round, got {repeats}")
    rows = probe(repeats=repeats, seconds=seconds)
    out.mkdir(parents=True, exist_ok=True)
    rows.round(3).to_csv(out / "wake-probe.csv", index=False)
    (out / "README.md").write_text(render(rows))
    log.info("%s", summary(rows).round(2).to_string(index=False))
    return out / "README.md"
