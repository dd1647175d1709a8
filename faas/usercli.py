"""The user commands of ``faas``: register, run, status, result, workers (against FAAS_URL).

Output goes to stdout as plain lines, so scripts can use it: a function id, a task id, a
status, or a result's ``repr``. An error is one line on stderr, and the exit code says what
went wrong:

====  ================================================================================
0     done
1     the task ended FAILED (its exception on stderr; ``-v`` adds the remote traceback)
2     the command line is wrong: no such file, no such function, a name that is not a
      function, an argument that is not a Python literal
3     the API cannot be reached, or refused the request
4     the task had not ended within ``--timeout``
====  ================================================================================
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import sys
from pathlib import Path
from typing import Any

import httpx

from faas.client import FaaSClient
from faas.config import Settings
from faas.exceptions import APIError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_API, EXIT_TIMEOUT = 0, 1, 2, 3, 4


class UsageError(Exception):
    """The command line asks for something that cannot be done."""


def literal(text: str) -> Any:
    """A Python literal (``3``, ``'a'``, ``[1, 2]``, ``None``)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise UsageError(
            f"{text!r} is not a Python literal (a string needs quotes: \"'{text}'\")"
        ) from None


def parse_call(words: list[str]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``['3', 'x=4', "'a'"]`` -> ``((3, 'a'), {'x': 4})``."""
    args, kwargs = [], {}
    for word in words:
        key, eq, value = word.partition("=")
        if eq and key.isidentifier():
            kwargs[key] = literal(value)
        else:
            args.append(literal(word))
    return tuple(args), kwargs


def load_function(target: str) -> Any:
    """The function ``NAME`` of ``FILE`` in ``FILE:NAME``."""
    path, _, name = target.rpartition(":")
    if not path or not name:
        raise UsageError(f"expected FILE:FUNCTION, got {target!r}")
    if not Path(path).is_file():
        raise UsageError(f"no such file: {path}")
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot load {path} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    if not hasattr(module, name):
        raise UsageError(f"{path} has no {name!r}")
    fn = getattr(module, name)
    if not callable(fn):
        raise UsageError(f"{path}: {name!r} is a {type(fn).__name__}, not a function")
    return fn


def _print_outcome(client: FaaSClient, task_id: str, timeout: float | None, verbose: bool) -> int:
    try:
        value = client.result(task_id, timeout)
    except TimeoutError as e:
        sys.stderr.write(f"faas: {e}\n")
        return EXIT_TIMEOUT
    except APIError:
        raise
    except BaseException as e:
        sys.stderr.write(f"FAILED: {type(e).__name__}: {e}\n")
        if verbose:
            for note in getattr(e, "__notes__", ()):
                sys.stderr.write(f"{note.rstrip()}\n")
        return EXIT_FAILED
    sys.stdout.write(f"{value!r}\n")
    return EXIT_OK


def _run(client: FaaSClient, args: argparse.Namespace) -> int:
    call_args, kwargs = parse_call(args.args)
    task_id = client.submit_call(args.function_id, call_args, kwargs, args.task_timeout)
    if args.no_wait:
        sys.stdout.write(task_id + "\n")
        return EXIT_OK
    return _print_outcome(client, task_id, args.timeout, args.verbose)


def _workers(client: FaaSClient) -> int:
    workers = client.workers()
    for w in workers:
        sys.stdout.write(
            f"{w['worker_id']}\tprocesses={w['processes']}\t"
            f"in_flight={w['in_flight']}\tlast_seen={w['last_seen_s']}s\n"
        )
    dispatcher = client.health()["dispatcher"]
    if not workers and dispatcher and dispatcher["mode"] == "local":
        sys.stdout.write(f"local\tprocesses={dispatcher['processes']}\t(the dispatcher's pool)\n")
    elif not workers:
        sys.stderr.write("faas: no workers (is a dispatcher running?)\n")
    return EXIT_OK


def _command(client: FaaSClient, args: argparse.Namespace) -> int:
    if args.command == "register":
        fn = load_function(args.target)
        sys.stdout.write(client.register(fn, args.name or fn.__name__) + "\n")
    elif args.command == "run":
        return _run(client, args)
    elif args.command == "status":
        sys.stdout.write(client.status(args.task_id) + "\n")
    elif args.command == "result":
        return _print_outcome(client, args.task_id, args.timeout, args.verbose)
    elif args.command == "workers":
        return _workers(client)
    return EXIT_OK


def run_user_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run one user command; answer the exit code."""
    client = FaaSClient(settings.url, settings.api_key)
    try:
        return _command(client, args)
    except UsageError as e:
        sys.stderr.write(f"faas {args.command}: {e}\n")
        return EXIT_USAGE
    except httpx.TransportError as e:
        why = str(e) or type(e).__name__
        sys.stderr.write(f"faas: cannot reach the API at {settings.url} ({why})\n")
        return EXIT_API
    except APIError as e:
        sys.stderr.write(f"faas: {e}\n")
        return EXIT_API
    finally:
        client.close()
