"""Redis memory under a long run: finished tasks must not accumulate.

    python -m experiments.sweep.memory [--tasks 100000] [--ttl 2] [--mode local]

Runs ``--tasks`` no-op tasks through the SDK in chunks of 1 000 on a fresh stack whose
finished tasks expire from Redis after ``--ttl`` seconds (archived to SQLite first), and
samples Redis ``used_memory`` every second. Writes ``memory.csv`` and ``memory.png`` under
``results/memory-<time>/`` and prints the memory after 20 % and after 100 % of the tasks.
"""

from __future__ import annotations

import argparse
import contextlib
import threading
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import redis
from tqdm import tqdm

from faas.client import Executor, FaaSClient
from faas.models import Mode
from faas.stack import Stack


def _noop_one(_):
    return None


_noop_one.__module__ = "__main__"


def run(tasks: int, ttl_s: float, mode: str, out: Path) -> pd.DataFrame:
    """Run ``tasks`` no-op tasks in chunks of 1 000 with finished tasks kept ``ttl_s``,
    sampling Redis's memory every second; write memory.csv and memory.png."""
    out.mkdir(parents=True, exist_ok=True)
    env = {"FAAS_RESULT_TTL_S": str(ttl_s), "FAAS_ARCHIVE_INTERVAL_S": "0.5"}
    samples: list[dict] = []
    done = [0]
    with Stack(mode, workers=1, procs=2, env=env) as stack:
        r = redis.Redis.from_url(stack.redis_url)
        stop = threading.Event()
        sampler = threading.Thread(target=_sample, args=(r, done, samples, stop), daemon=True)
        sampler.start()
        client = FaaSClient(stack.url)
        with contextlib.closing(client), Executor(client) as executor, tqdm(total=tasks) as bar:
            for _ in range(0, tasks, 1000):
                n = min(1000, tasks - done[0])
                assert list(executor.map(_noop_one, range(n))) == [None] * n
                done[0] += n
                bar.update(n)
        time.sleep(ttl_s + 2)  # let the last chunk expire too
        stop.set()
        sampler.join()
    df = pd.DataFrame(samples)
    df.to_csv(out / "memory.csv", index=False)
    _plot(df, tasks, ttl_s, out / "memory.png")
    return df


def _sample(r: redis.Redis, done: list[int], samples: list[dict], stop: threading.Event) -> None:
    """Every second until ``stop``: Redis's memory and key count, and the tasks done."""
    started = time.monotonic()
    while not stop.wait(1.0):
        info = r.info("memory")
        samples.append(
            {
                "t_s": time.monotonic() - started,
                "tasks_done": done[0],
                "used_memory": info["used_memory"],
                "task_keys": r.dbsize(),
            }
        )


def _plot(df: pd.DataFrame, tasks: int, ttl_s: float, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(df["tasks_done"] / 1000, df["used_memory"] / 2**20, marker=".")
    ax.set(
        title=f"Redis memory over {tasks} no-op tasks (finished tasks kept {ttl_s:g} s)",
        xlabel="tasks finished (thousands)",
        ylabel="Redis used_memory (MiB)",
        ylim=(0, None),
    )
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--ttl", type=float, default=2.0, help="seconds")
    parser.add_argument("--mode", choices=list(Mode), default="local")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path("results") / f"memory-{time.strftime('%Y%m%d-%H%M%S')}"
    df = run(args.tasks, args.ttl, args.mode, out)
    at = lambda frac: df[df["tasks_done"] >= frac * args.tasks]["used_memory"].iloc[0]  # noqa: E731
    print(
        f"used_memory: {at(0.2) / 2**20:.2f} MiB after 20% of the tasks, "
        f"{at(1.0) / 2**20:.2f} MiB after all, peak {df['used_memory'].max() / 2**20:.2f} MiB, "
        f"{df['task_keys'].iloc[-1]} keys at the end; written to {out}"
    )


if __name__ == "__main__":
    main()
