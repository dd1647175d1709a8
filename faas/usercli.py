"""The user commands of ``faas``: register, run, status, result, workers (against FAAS_URL).

Output goes to stdout as plain lines, so scripts can use it: a function id, a task id, a
status, or a result's ``repr``. A task that FAILED prints its exception to stderr and exits 1.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import sys
from pathlib import Path
from typing import Any

from faas.client import FaaSClient
from faas.config import Settings
from faas.exceptions import APIError


def _literal(text: str) -> Any:
    """A Python literal, or the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_call(words: list[str]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``['3', 'x=4', "'a'"]`` -> ``((3, 'a'), {'x': 4})``."""
    args, kwargs = [], {}
    for word in words:
        key, eq, value = word.partition("=")
        if eq and key.isidentifier():
            kwargs[key] = _literal(value)
        else:
            args.append(_literal(word))
    return tuple(args), kwargs


def load_function(target: str) -> Any:
    """The function ``NAME`` of ``FILE`` in ``FILE:NAME``."""
    path, _, name = target.rpartition(":")
    if not path or not name:
        raise SystemExit(f"faas register: expected FILE:FUNCTION, got {target!r}")
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"faas register: cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    fn = getattr(module, name, None)
    if not callable(fn):
        raise SystemExit(f"faas register: {path} has no function {name!r}")
    return fn


def _print_outcome(client: FaaSClient, task_id: str, timeout: float | None) -> int:
    try:
        value = client.result(task_id, timeout)
    except TimeoutError as e:
        sys.stderr.write(f"{e}\n")
        return 2
    except APIError:
        raise
    except BaseException as e:  # noqa: BLE001 - the task's own exception
        sys.stderr.write(f"FAILED: {type(e).__name__}: {e}\n")
        return 1
    sys.stdout.write(f"{value!r}\n")
    return 0


def run_user_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run one user command; answer the exit code."""
    client = FaaSClient(settings.url, settings.api_key)
    try:
        if args.command == "register":
            fn = load_function(args.target)
            sys.stdout.write(client.register(fn, fn.__name__) + "\n")
        elif args.command == "run":
            call_args, kwargs = parse_call(args.args)
            task_id = client.submit(args.function_id, *call_args, **kwargs)
            if args.no_wait:
                sys.stdout.write(task_id + "\n")
                return 0
            return _print_outcome(client, task_id, None)
        elif args.command == "status":
            sys.stdout.write(client.status(args.task_id) + "\n")
        elif args.command == "result":
            return _print_outcome(client, args.task_id, args.timeout)
        elif args.command == "workers":
            for w in client.workers():
                sys.stdout.write(
                    f"{w['worker_id']}\tprocesses={w['processes']}\t"
                    f"in_flight={w['in_flight']}\tlast_seen={w['last_seen_s']}s\n"
                )
        return 0
    except APIError as e:
        sys.stderr.write(f"faas: {e}\n")
        return 1
    finally:
        client.close()
