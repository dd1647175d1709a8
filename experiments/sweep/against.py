"""Another checkout measured side by side with this one (``--against`` of
``experiments.sweep.api`` and ``experiments.sweep.dispatcher``).

The other checkout is a directory holding another commit of the repository (e.g. ``git
worktree add /tmp/old <commit>``). Its stacks start with that directory as the working
directory, so their ``python -m faas`` processes import its code. Benchmarks measure the
two sides one right after the other, repeat by repeat, so a change of the machine's speed
falls on both; rows carry ``code`` = "against" or "this".
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from faas.stack import Stack


def add_option(parser: argparse.ArgumentParser) -> None:
    """The ``--against OTHER_CHECKOUT`` option."""
    parser.add_argument(
        "--against",
        type=Path,
        default=None,
        help="another checkout (e.g. a git worktree of an older commit), measured interleaved",
    )


def sides(against: Path | None) -> list[tuple[str, Path | None]]:
    """(code, directory) to measure in each repeat: the other checkout first, then this."""
    return ([("against", against)] if against else []) + [("this", None)]


@contextlib.contextmanager
def stack_in(where: Path | None, *args: Any, **kwargs: Any) -> Iterator[Stack]:
    """A started ``Stack(*args, **kwargs)`` of the checkout in ``where`` (None: this one),
    stopped on the way out."""
    with contextlib.chdir(where or Path.cwd()):  # `python -m faas` imports from here
        stack = Stack(*args, **kwargs)
        stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def compared(rows: pd.DataFrame, value: str) -> tuple[list[str], float]:
    """Of one configuration's rows: "median (min–max)" of ``value`` for the other checkout
    and for this one, and the ratio of the medians (this ÷ against)."""
    by_code = {code: rows.loc[rows["code"] == code, value] for code in ("against", "this")}
    spans = [f"{v.median():.0f} ({v.min():.0f}–{v.max():.0f})" for v in by_code.values()]
    return spans, by_code["this"].median() / by_code["against"].median()
