"""Experiments as data: a TOML spec declares what a sweep runs.

    python -m experiments.sweep --spec my.toml          (or: nox -s bench -- --spec my.toml)

A spec has ``repeats``, an optional ``[baselines]`` table (the Celery comparison, the
dispatcher fed directly, the large point on emulated hosts) and one ``[[study]]`` table per
group of runs. Every list in a study is an axis; the study runs their product::

    repeats = 3

    [[study]]
    name = "squares"                     # the label in the CSVs and the report
    workload = "my_functions.py:square"  # or a built-in: noop | sleep | cpu | echo
    args = [12]                          # positional arguments (user functions only)
    modes = ["local", "push"]
    processes = [1, 2, 4]                # total processes (<= 4 per worker), or
                                         # workers = [..] and procs = [..]
    tasks = 500
    load = { kind = "closed", clients = 8 }

Keys of a study (defaults in brackets): ``name``; ``workload``; ``arg`` (a built-in's one
parameter — sleep seconds, cpu iterations, echo bytes — a number or a list of them [0]);
``args`` and ``kwargs`` (a user function's arguments [none]); ``modes`` [all three];
``processes``, or ``workers`` and ``procs``; ``hosts`` (emulated hosts, one worker each; 0
is loopback [0]); ``links`` (each host's link rate for ``tc tbf``, e.g. "100mbit"
["unshaped"]); ``tasks``, or ``tasks_per_process``, or for a Poisson load ``duration_s``
(tasks = rate x duration); ``load``: ``{kind = "burst"}`` (every task at once through 16
concurrent submitters, results collected concurrently) [default], ``{kind = "sequential"}``
(one task at a time), ``{kind = "closed", clients = C}`` (C clients, each submitting one task
and waiting for it by long-poll before the next), ``{kind = "poisson", rates = [..]}``
(open loop: Poisson arrivals at each rate, submissions never wait for results; with
``stop_at_saturation = true`` the higher rates are skipped once the achieved throughput
falls below 90 % of the offered rate); ``celery = true`` (a Poisson load of ``noop``: the same
arrivals against Celery too, drawn on the same plot) [false].

A bad spec raises :class:`SpecError` naming the key and what is wrong, before anything runs.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiments.spec.runs import Baselines, Run, shape
from faas.models import Mode

#: The specs shipped with the harness: the default and the quick grid.
SPECS = Path(__file__).resolve().parent.parent / "specs"
BUILTIN_WORKLOADS = ("noop", "sleep", "cpu", "echo")
LOADS = ("burst", "sequential", "closed", "poisson")
STUDY_KEYS = {
    "name",
    "workload",
    "arg",
    "args",
    "kwargs",
    "modes",
    "processes",
    "workers",
    "procs",
    "hosts",
    "links",
    "tasks",
    "tasks_per_process",
    "duration_s",
    "load",
    "celery",
}
LOAD_KEYS = {"kind", "clients", "rates", "stop_at_saturation", "seed"}
BASELINE_KEYS = {
    "celery_tasks",
    "celery_batch_tasks",
    "celery_latency_tasks",
    "direct_tasks",
    "repeats",
    "hosts_weak",
    "api_seconds",
}


class SpecError(ValueError):
    """A spec that cannot run; the message names the key and what is wrong."""


@dataclass(frozen=True)
class Spec:
    """What a spec file declares: the runs, their repeats, the baselines (or None), the
    file's text (the run directory keeps a copy) and where relative paths start."""

    runs: list[Run]
    repeats: int
    baselines: Baselines | None
    text: str
    base: Path


def load(path: Path | str) -> Spec:
    """Parse and check the spec at ``path``; raise :class:`SpecError` if it cannot run."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise SpecError(f"{path}: cannot read the spec: {e.strerror}") from e
    return parse(text, path.parent.resolve(), str(path))


def parse(text: str, base: Path, source: str = "spec") -> Spec:
    """Parse a spec's TOML ``text``; user workloads' paths are relative to ``base``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{source}: not valid TOML: {e}") from e
    _only(data, {"repeats", "baselines", "study"}, source)
    repeats = _int(data, "repeats", source, default=3)
    studies = data.get("study")
    if not isinstance(studies, list) or not studies:
        raise SpecError(f"{source}: 'study' must be one or more [[study]] tables")
    runs: list[Run] = []
    for i, study in enumerate(studies):
        where = f"{source}: study[{i}]" + (
            f" ({study['name']!r})" if isinstance(study, dict) and "name" in study else ""
        )
        if not isinstance(study, dict):
            raise SpecError(f"{where}: must be a table")
        runs += _study(study, base, where)
    runs = list(dict.fromkeys(runs))  # local mode folds worker counts into one pool
    baselines = _baselines(data["baselines"], source) if "baselines" in data else None
    return Spec(runs, repeats, baselines, text, base)


def builtin(quick: bool = False) -> Spec:
    """The default (``full.toml``) or quick (``quick.toml``) spec shipped in the harness."""
    return load(SPECS / ("quick.toml" if quick else "full.toml"))


def _only(table: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise SpecError(
            f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(allowed))})"
        )


def _int(table: dict, key: str, where: str, default: int | None = None, low: int = 1) -> int:
    if key not in table:
        if default is None:
            raise SpecError(f"{where}: {key!r} is required")
        return default
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise SpecError(f"{where}: {key!r} must be an integer >= {low}, not {value!r}")
    return value


def _axis(table: dict, key: str, where: str, default: list, kind: type, low: float) -> list:
    """A key that may be one value or a list of them; every value of ``kind`` and >= low."""
    value = table.get(key, default)
    values = value if isinstance(value, list) else [value]
    if not values:
        raise SpecError(f"{where}: {key!r} must not be empty")
    for v in values:
        ok = isinstance(v, kind) and not isinstance(v, bool)
        if kind is float:
            ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        if not ok or v < low:
            what = "an integer" if kind is int else "a number"
            raise SpecError(f"{where}: {key!r} must be {what} >= {low:g} (or a list), not {v!r}")
    return values


def _study(study: dict, base: Path, where: str) -> list[Run]:
    _only(study, STUDY_KEYS, where)
    name = study.get("name")
    if not isinstance(name, str) or not name.strip() or "," in name:
        raise SpecError(f"{where}: 'name' is required: a non-empty label without commas")
    workload, function, args = _workload(study, base, where)
    builtin_arg = function == ""
    arg_values = _axis(study, "arg", where, [0], float, 0) if builtin_arg else [0]
    if not builtin_arg and "arg" in study:
        raise SpecError(f"{where}: 'arg' is for built-in workloads; give a user function 'args'")
    modes = _modes(study, where)
    kind, clients, rates, stop, seed = _load(study.get("load", {}), where)
    hosts, links = _hosts_and_links(study, modes, where)
    sizes = _sizes(study, where)
    celery = study.get("celery", False)
    if not isinstance(celery, bool):
        raise SpecError(f"{where}: 'celery' must be true or false")
    if celery and (kind != "poisson" or workload != "noop"):
        raise SpecError(f"{where}: 'celery' (Celery on the same load) needs a poisson load of noop")
    common: dict[str, Any] = dict(
        study=name, workload=workload, loop=kind, function=function, args=args,
        clients=clients, stop_at_saturation=stop, seed=seed, celery=celery,
    )  # fmt: skip
    runs = []
    for mode, (size, procs), host, link, arg, rate in itertools.product(
        modes, sizes, hosts, links, arg_values, rates
    ):
        if size is None:  # 'processes': shaped per mode
            workers, procs = shape(mode, procs)
        else:  # one worker per emulated host, else 'workers' (a local pool is one)
            workers = host or (1 if mode == Mode.LOCAL else size)
        tasks = _tasks(study, where, workers * procs, rate)
        runs.append(Run(mode=Mode(mode), workers=workers, procs=procs, arg=arg, tasks=tasks,
                        hosts=host, link=link, rate=rate, **common))  # fmt: skip
    return runs


def _modes(study: dict, where: str) -> list[str]:
    modes = study.get("modes", [str(m) for m in Mode])
    if not isinstance(modes, list) or not modes:
        raise SpecError(f"{where}: 'modes' must be a non-empty list of {[str(m) for m in Mode]}")
    for mode in modes:
        if mode not in [str(m) for m in Mode]:
            raise SpecError(f"{where}: 'modes' has {mode!r}; known: local, pull, push")
    return modes


def _hosts_and_links(study: dict, modes: list[str], where: str) -> tuple[list[int], list[str]]:
    hosts = _axis(study, "hosts", where, [0], int, 0)
    links = study.get("links", ["unshaped"])
    links = links if isinstance(links, list) else [links]
    if not links or not all(isinstance(x, str) and x for x in links):
        raise SpecError(f'{where}: \'links\' must be rates such as "100mbit", or "unshaped"')
    if any(link != "unshaped" for link in links) and 0 in hosts:
        raise SpecError(f"{where}: 'links' shapes emulated hosts; set 'hosts' >= 1 with it")
    if any(hosts) and any(m == Mode.LOCAL for m in modes):
        raise SpecError(f"{where}: 'hosts' needs remote workers; 'modes' must not have local")
    if any(hosts) and ("processes" in study or "workers" in study):
        raise SpecError(f"{where}: with 'hosts' each host runs one worker; give only 'procs'")
    return hosts, links


def _sizes(study: dict, where: str) -> list[tuple[int | None, int]]:
    """(workers, procs) pairs from ``workers`` x ``procs``, or (None, processes) pairs from
    ``processes``, shaped per mode later."""
    if "processes" in study:
        if "workers" in study or "procs" in study:
            raise SpecError(f"{where}: give 'processes' or 'workers' and 'procs', not both")
        processes = _axis(study, "processes", where, [1], int, 1)
        return [(None, p) for p in processes]
    workers = _axis(study, "workers", where, [1], int, 1)
    procs = _axis(study, "procs", where, [2], int, 1)
    return list(itertools.product(workers, procs))


def _tasks(study: dict, where: str, processes: int, rate: float) -> int:
    given = [k for k in ("tasks", "tasks_per_process", "duration_s") if k in study]
    if len(given) != 1:
        raise SpecError(
            f"{where}: give exactly one of 'tasks', 'tasks_per_process', 'duration_s'"
            + (f" (got {', '.join(given)})" if given else "")
        )
    if "tasks" in study:
        return _int(study, "tasks", where)
    if "tasks_per_process" in study:
        return _int(study, "tasks_per_process", where) * processes
    duration = _axis(study, "duration_s", where, [1.0], float, 0)[0]
    if not rate:
        raise SpecError(f"{where}: 'duration_s' needs a poisson load with 'rates'")
    if duration <= 0:
        raise SpecError(f"{where}: 'duration_s' must be > 0")
    return max(1, round(rate * duration))


def _load(load: Any, where: str) -> tuple[str, int, list[float], bool, int]:
    """(kind, clients, rates, stop at saturation, seed) of a study's ``load`` table."""
    if isinstance(load, str):
        load = {"kind": load}
    if not isinstance(load, dict):
        raise SpecError(f"{where}: 'load' must be a table such as {{ kind = \"burst\" }}")
    _only(load, LOAD_KEYS, f"{where}: load")
    kind = load.get("kind", "burst")
    if kind not in LOADS:
        raise SpecError(f"{where}: load 'kind' is {kind!r}; known: {', '.join(LOADS)}")
    clients = 0
    if kind == "closed":
        clients = _int(load, "clients", f"{where}: load")
    elif "clients" in load:
        raise SpecError(f"{where}: load 'clients' is for kind = \"closed\"")
    rates = [0.0]
    if kind == "poisson":
        if "rates" not in load:
            raise SpecError(f"{where}: load 'rates' is required for kind = \"poisson\"")
        rates = [float(r) for r in _axis(load, "rates", f"{where}: load", [], float, 0)]
        if 0 in rates:
            raise SpecError(f"{where}: load 'rates' must be > 0 tasks/s")
        if rates != sorted(rates):
            raise SpecError(f"{where}: load 'rates' must rise (the study raises the load)")
    else:
        for key in ("rates", "stop_at_saturation", "seed"):
            if key in load:
                raise SpecError(f'{where}: load {key!r} is for kind = "poisson"')
    stop = load.get("stop_at_saturation", False)
    if not isinstance(stop, bool):
        raise SpecError(f"{where}: load 'stop_at_saturation' must be true or false")
    seed = _int(load, "seed", f"{where}: load", default=1, low=0)
    return kind, clients, rates, stop, seed


def _workload(study: dict, base: Path, where: str) -> tuple[str, str, str]:
    """(label, function reference or "", JSON of [args, kwargs] or "")."""
    workload = study.get("workload")
    if not isinstance(workload, str) or not workload:
        raise SpecError(
            f"{where}: 'workload' is required: one of {', '.join(BUILTIN_WORKLOADS)} "
            "or 'path/to/file.py:function'"
        )
    if workload in BUILTIN_WORKLOADS:
        for key in ("args", "kwargs"):
            if key in study:
                raise SpecError(f"{where}: {key!r} is for user functions; use 'arg'")
        return workload, "", ""
    if ":" not in workload:
        raise SpecError(
            f"{where}: 'workload' {workload!r} is neither a built-in "
            f"({', '.join(BUILTIN_WORKLOADS)}) nor 'path/to/file.py:function'"
        )
    args, kwargs = study.get("args", []), study.get("kwargs", {})
    if not isinstance(args, list):
        raise SpecError(f"{where}: 'args' must be a list of positional arguments")
    if not isinstance(kwargs, dict):
        raise SpecError(f"{where}: 'kwargs' must be a table of keyword arguments")
    file, _, name = workload.rpartition(":")
    path = Path(file) if Path(file).is_absolute() else base / file
    resolve_function(str(path), name, where)  # fails now, not in the middle of the sweep
    return name, f"{path}:{name}", json.dumps([args, kwargs], sort_keys=True)


def resolve_function(file: str, name: str, where: str = "workload") -> Callable[..., Any]:
    """Import ``name`` from the Python file ``file``, made to travel by value."""
    path = Path(file)
    if not path.is_file():
        raise SpecError(f"{where}: 'workload' file {file} does not exist")
    module_name = f"faas_spec_{abs(hash(str(path.resolve())))}"
    loader = importlib.util.spec_from_file_location(module_name, path)
    if loader is None or loader.loader is None:
        raise SpecError(f"{where}: 'workload' file {file} is not a Python file")
    module = importlib.util.module_from_spec(loader)
    try:
        loader.loader.exec_module(module)
    except Exception as e:  # the user's file: any error is theirs to see
        raise SpecError(f"{where}: importing {file} failed: {type(e).__name__}: {e}") from e
    fn = getattr(module, name, None)
    if not callable(fn):
        raise SpecError(f"{where}: 'workload' file {file} has no function {name!r}")
    fn.__module__ = "__main__"  # dill sends __main__ functions by value, with their globals
    return fn


def _baselines(table: Any, source: str) -> Baselines:
    where = f"{source}: baselines"
    if not isinstance(table, dict):
        raise SpecError(f"{where}: must be a table")
    _only(table, BASELINE_KEYS, where)
    hosts_weak = table.get("hosts_weak")
    if hosts_weak is not None and (
        not isinstance(hosts_weak, list)
        or len(hosts_weak) != 2
        or not all(isinstance(x, int) and x >= 1 for x in hosts_weak)
    ):
        raise SpecError(f"{where}: 'hosts_weak' must be [hosts, processes per host]")
    return Baselines(
        celery_tasks=_int(table, "celery_tasks", where),
        celery_batch_tasks=_int(table, "celery_batch_tasks", where),
        celery_latency_tasks=_int(table, "celery_latency_tasks", where),
        direct_tasks=_int(table, "direct_tasks", where),
        repeats=_int(table, "repeats", where),
        hosts_weak=tuple(hosts_weak) if hosts_weak else None,  # type: ignore[arg-type]
        api_seconds=float(_axis(table, "api_seconds", where, [0.0], float, 0)[0]),
    )
