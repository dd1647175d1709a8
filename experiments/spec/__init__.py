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
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiments.spec.runs import Baselines, Run, shape
from experiments.spec.schema import (
    BUILTIN_WORKLOADS,
    LOADS,  # noqa: F401 - part of this module's interface (the site's spec page)
    BaselinesModel,
    Closed,
    Poisson,
    SpecError,
    Study,
    validate,
)
from faas.models import Mode

#: The specs shipped with the harness: the default and the quick grid.
SPECS = Path(__file__).resolve().parent.parent / "specs"
STUDY_KEYS = set(Study.model_fields)
LOAD_KEYS = set(Closed.model_fields) | set(Poisson.model_fields)
BASELINE_KEYS = set(BaselinesModel.model_fields)


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
    model = validate(data, source)
    runs: list[Run] = []
    for i, study in enumerate(model.study):
        runs += _study(study, base, f"{source}: study[{i}] ({study.name!r})")
    runs = list(dict.fromkeys(runs))  # local mode folds worker counts into one pool
    baselines = _baselines(model.baselines) if model.baselines else None
    return Spec(runs, model.repeats, baselines, text, base)


def builtin(quick: bool = False) -> Spec:
    """The default (``full.toml``) or quick (``quick.toml``) spec shipped in the harness."""
    return load(SPECS / ("quick.toml" if quick else "full.toml"))


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _study(study: Study, base: Path, where: str) -> list[Run]:
    """The runs of one study: the product of its axes."""
    workload, function, args = _workload(study, base, where)
    load = study.load
    rates = [float(r) for r in load.rates] if isinstance(load, Poisson) else [0.0]
    common: dict[str, Any] = dict(
        study=study.name, workload=workload, loop=load.kind, function=function, args=args,
        clients=load.clients if isinstance(load, Closed) else 0,
        stop_at_saturation=isinstance(load, Poisson) and load.stop_at_saturation,
        seed=load.seed if isinstance(load, Poisson) else 1, celery=study.celery,
    )  # fmt: skip
    arg_values = [float(a) for a in _listed(study.arg if study.arg is not None else 0)]
    runs = []
    for mode, (size, procs), host, link, arg, rate in itertools.product(
        study.modes, _sizes(study), _listed(study.hosts), _listed(study.links), arg_values, rates
    ):
        if size is None:  # 'processes': shaped per mode
            workers, procs = shape(mode, procs)
        else:  # one worker per emulated host, else 'workers' (a local pool is one)
            workers = host or (1 if mode == Mode.LOCAL else size)
        runs.append(Run(mode=Mode(mode), workers=workers, procs=procs, arg=arg,
                        tasks=_tasks(study, workers * procs, rate), hosts=host, link=link,
                        rate=rate, **common))  # fmt: skip
    return runs


def _sizes(study: Study) -> list[tuple[int | None, int]]:
    """(workers, procs) pairs from ``workers`` x ``procs``, or (None, processes) pairs from
    ``processes``, shaped per mode later."""
    if study.processes is not None:
        return [(None, p) for p in _listed(study.processes)]
    workers, procs = _listed(study.workers or 1), _listed(study.procs or 2)
    return list(itertools.product(workers, procs))


def _tasks(study: Study, processes: int, rate: float) -> int:
    if study.tasks is not None:
        return study.tasks
    if study.tasks_per_process is not None:
        return study.tasks_per_process * processes
    return max(1, round(rate * float(study.duration_s or 0)))


def _workload(study: Study, base: Path, where: str) -> tuple[str, str, str]:
    """(label, function reference or "", JSON of [args, kwargs] or "")."""
    if study.workload in BUILTIN_WORKLOADS:
        return study.workload, "", ""
    file, _, name = study.workload.rpartition(":")
    path = Path(file) if Path(file).is_absolute() else base / file
    resolve_function(str(path), name, where)  # fails now, not in the middle of the sweep
    arguments = [study.args or [], study.kwargs or {}]
    return name, f"{path}:{name}", json.dumps(arguments, sort_keys=True)


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


def _baselines(b: BaselinesModel) -> Baselines:
    return Baselines(
        celery_tasks=b.celery_tasks,
        celery_batch_tasks=b.celery_batch_tasks,
        celery_latency_tasks=b.celery_latency_tasks,
        direct_tasks=b.direct_tasks,
        repeats=b.repeats,
        hosts_weak=(b.hosts_weak[0], b.hosts_weak[1]) if b.hosts_weak else None,
        api_seconds=float(b.api_seconds),
    )
