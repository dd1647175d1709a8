"""The spec format as pydantic models: what each key takes, its default, and the checks
between keys. :func:`validate` turns a spec's TOML data into a :class:`SpecModel` or raises
:class:`SpecError` naming the key and what is wrong; :func:`json_schema` is the format's
JSON Schema (the docs' spec page is made from it)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

BUILTIN_WORKLOADS = ("noop", "sleep", "cpu", "echo")
LOADS = ("burst", "sequential", "closed", "poisson")
MODES = ("local", "pull", "push")


class SpecError(ValueError):
    """A spec that cannot run; the message names the key and what is wrong."""


Count = Annotated[StrictInt, Field(ge=1)]
Amount = Annotated[StrictFloat | StrictInt, Field(ge=0, allow_inf_nan=False)]
Counts = Count | Annotated[list[Count], Field(min_length=1)]
Amounts = Amount | Annotated[list[Amount], Field(min_length=1)]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Burst(_Table):
    """Every task at once through 16 concurrent submitters, results collected concurrently."""

    kind: Literal["burst"] = "burst"


class Sequential(_Table):
    """One task at a time."""

    kind: Literal["sequential"]


class Closed(_Table):
    """``clients`` clients, each submitting a task and waiting for it by long-poll."""

    kind: Literal["closed"]
    clients: Count = Field(description="closed-loop clients")


class Poisson(_Table):
    """Open loop: Poisson arrivals at each rate, submissions never waiting for results."""

    kind: Literal["poisson"]
    rates: Annotated[list[Annotated[Amount, Field(gt=0)]], Field(min_length=1)] = Field(
        description="offered tasks/s, rising"
    )
    stop_at_saturation: StrictBool = Field(
        False, description="skip the higher rates once one is not sustained (90 %)"
    )
    seed: Annotated[StrictInt, Field(ge=0)] = Field(1, description="the arrivals' seed")

    @field_validator("rates")
    @classmethod
    def _rising(cls, rates: list[float]) -> list[float]:
        if rates != sorted(rates):
            raise ValueError("load 'rates' must rise (the study raises the load)")
        return rates


Load = Annotated[Burst | Sequential | Closed | Poisson, Field(discriminator="kind")]


class Study(_Table):
    """One ``[[study]]``: every list is an axis, the study runs their product."""

    name: str = Field(description="the label in the CSVs and the report (no commas)")
    workload: str = Field(description="a built-in (noop, sleep, cpu, echo) or 'file.py:function'")
    arg: Amounts | None = Field(None, description="a built-in's one parameter [0]")
    args: list[Any] | None = Field(None, description="a user function's positional arguments")
    kwargs: dict[str, Any] | None = Field(None, description="a user function's keyword arguments")
    modes: Annotated[list[Literal["local", "pull", "push"]], Field(min_length=1)] = Field(
        ["local", "pull", "push"], description="the modes to run"
    )
    processes: Counts | None = Field(None, description="total processes, shaped per mode")
    workers: Counts | None = Field(None, description="workers (pull/push) [1]")
    procs: Counts | None = Field(None, description="processes per worker [2]")
    hosts: Annotated[StrictInt, Field(ge=0)] | list[Annotated[StrictInt, Field(ge=0)]] = Field(
        0, description="emulated hosts, one worker each (0: loopback)"
    )
    links: str | list[str] = Field("unshaped", description='each host\'s link rate, e.g. "100mbit"')
    tasks: Count | None = Field(None, description="tasks per run")
    tasks_per_process: Count | None = Field(None, description="tasks per run per process")
    duration_s: Annotated[Amount, Field(gt=0)] | None = Field(
        None, description="a Poisson load's seconds of arrivals per rate"
    )
    load: Load = Field(default_factory=Burst, description="how tasks are sent")
    celery: StrictBool = Field(False, description="Celery on the same arrivals (poisson, noop)")

    @field_validator("load", mode="before")
    @classmethod
    def _kind_by_default(cls, load: object) -> object:
        if isinstance(load, str):
            return {"kind": load}
        if isinstance(load, dict) and "kind" not in load:
            return {**load, "kind": "burst"}
        return load

    @field_validator("name")
    @classmethod
    def _label(cls, name: str) -> str:
        if not name.strip() or "," in name:
            raise ValueError("'name' is required: a non-empty label without commas")
        return name

    @model_validator(mode="after")
    def _consistent(self) -> Study:
        for why in _inconsistencies(self):
            raise ValueError(why)
        return self


def _inconsistencies(s: Study) -> list[str]:
    """What the keys of one study say against each other, in the order they are checked."""
    builtin = s.workload in BUILTIN_WORKLOADS
    hosts = s.hosts if isinstance(s.hosts, list) else [s.hosts]
    links = s.links if isinstance(s.links, list) else [s.links]
    given = [k for k in ("tasks", "tasks_per_process", "duration_s") if getattr(s, k) is not None]
    checks = [
        (builtin and s.args is not None, "'args' is for user functions; use 'arg'"),
        (builtin and s.kwargs is not None, "'kwargs' is for user functions; use 'arg'"),
        (not builtin and ":" not in s.workload,
         f"'workload' {s.workload!r} is neither a built-in ({', '.join(BUILTIN_WORKLOADS)}) "
         "nor 'path/to/file.py:function'"),
        (not builtin and s.arg is not None,
         "'arg' is for built-in workloads; give a user function 'args'"),
        (not links or not all(links), "'links' must be rates such as \"100mbit\", or \"unshaped\""),
        (any(x != "unshaped" for x in links) and 0 in hosts,
         "'links' shapes emulated hosts; set 'hosts' >= 1 with it"),
        (any(hosts) and "local" in s.modes,
         "'hosts' needs remote workers; 'modes' must not have local"),
        (any(hosts) and (s.processes is not None or s.workers is not None),
         "with 'hosts' each host runs one worker; give only 'procs'"),
        (s.processes is not None and (s.workers is not None or s.procs is not None),
         "give 'processes' or 'workers' and 'procs', not both"),
        (len(given) != 1, "give exactly one of 'tasks', 'tasks_per_process', 'duration_s'"
         + (f" (got {', '.join(given)})" if given else "")),
        (s.duration_s is not None and not isinstance(s.load, Poisson),
         "'duration_s' needs a poisson load with 'rates'"),
        (s.celery and (not isinstance(s.load, Poisson) or s.workload != "noop"),
         "'celery' (Celery on the same load) needs a poisson load of noop"),
    ]  # fmt: skip
    return [why for failed, why in checks if failed]


class BaselinesModel(_Table):
    """``[baselines]``: the studies outside the grid."""

    celery_tasks: Count = Field(description="no-op tasks per Celery comparison run")
    celery_batch_tasks: Count = Field(description="tasks of its batch path")
    celery_latency_tasks: Count = Field(description="sequential round trips")
    direct_tasks: Count = Field(description="tasks fed directly to the dispatcher")
    repeats: Count = Field(description="repeats of each")
    hosts_weak: Annotated[list[Count], Field(min_length=2, max_length=2)] | None = Field(
        None, description="[hosts, processes per host] of the large point on emulated hosts"
    )
    api_seconds: Amount = Field(0.0, description="seconds per measurement of the API alone")


class SpecModel(_Table):
    """A spec file: ``repeats``, an optional ``[baselines]`` table, one or more studies."""

    repeats: Count = Field(3, description="runs of each configuration")
    baselines: BaselinesModel | None = Field(None, description="the studies outside the grid")
    study: Annotated[list[Study], Field(min_length=1)] = Field(
        description="one [[study]] table per group of runs"
    )


def json_schema() -> dict[str, Any]:
    """The spec format's JSON Schema."""
    return SpecModel.model_json_schema()


def validate(data: dict[str, Any], source: str) -> SpecModel:
    """``data`` (a parsed TOML spec) as a :class:`SpecModel`; :class:`SpecError` with the
    first thing wrong, prefixed by where it is (``source: study[i] ('name'): ...``)."""
    try:
        return SpecModel.model_validate(data)
    except ValidationError as e:
        raise SpecError(_message(_first(e.errors(), data), data, source)) from None


#: every key of the format (a location's other parts are list indexes and union members)
KEYS = {
    name
    for model in (SpecModel, Study, BaselinesModel, Closed, Poisson)
    for name in model.model_fields
}
#: keys that take one value or a list of them
AXES = {"arg", "processes", "workers", "procs", "hosts"}
#: keys that take any number (the others take whole numbers)
AMOUNTS = {"arg", "duration_s", "rates", "api_seconds"}


def _field(loc: tuple[Any, ...]) -> int:
    """How much of ``loc`` names the key at fault (up to and including it)."""
    names = [i for i, part in enumerate(loc) if part in KEYS]
    return names[-1] + 1 if names else len(loc)


def _first(errors: list[Any], data: dict[str, Any]) -> Any:
    """The first key's error, from the union member that fits its value: a list's error
    for a list, a single value's for a single value."""
    unknown = [er for er in errors if er["type"] == "extra_forbidden"]
    if unknown:  # an unknown key first: it may explain what else looks wrong
        return unknown[0]
    first = errors[0]
    n = _field(tuple(first["loc"]))
    same = [er for er in errors if tuple(er["loc"][:n]) == tuple(first["loc"][:n])]
    value: Any = data
    for part in first["loc"][:n]:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            break
    listed = [er for er in same if any(str(x).startswith("list[") for x in er["loc"][n:])]
    single = [er for er in same if er not in listed]
    return ((listed if isinstance(value, list) else single) or same)[0]


def _where(loc: tuple[Any, ...], data: dict[str, Any], source: str) -> tuple[str, tuple]:
    """The error's place in words, and the rest of its location."""
    if loc[:1] == ("study",) and len(loc) > 1 and isinstance(loc[1], int):
        study = data["study"][loc[1]]
        name = f" ({study['name']!r})" if isinstance(study, dict) and "name" in study else ""
        return f"{source}: study[{loc[1]}]{name}", loc[2:]
    if loc[:1] == ("baselines",):
        return f"{source}: baselines", loc[1:]
    return source, loc


def _message(error: Any, data: dict[str, Any], source: str) -> str:
    where, rest = _where(tuple(error["loc"]), data, source)
    if error["type"] == "extra_forbidden":
        key = str(rest[-1])
    else:
        key = next((str(k) for k in reversed(rest[: _field(rest)]) if k in KEYS), "study")
    in_load = rest[:1] == ("load",) and key != "load"
    return f"{where}: {_what(error, key, in_load, rest)}"


def _what(error: Any, key: str, in_load: bool, rest: tuple) -> str:
    kind, value = error["type"], error.get("input")
    named = f"load {key!r}" if in_load else repr(key)
    if kind == "extra_forbidden":
        return _unknown(key, in_load)
    if kind == "missing":
        return _missing(key, in_load)
    if kind == "union_tag_invalid":
        return f"load 'kind' is {error['ctx']['tag']!r}; known: {', '.join(LOADS)}"
    if kind in ("model_type", "model_attributes_type", "union_tag_not_found") and key == "load":
        return "'load' must be a table such as { kind = \"burst\" }"
    if kind in ("list_type", "too_short") and key == "study" and len(rest) <= 1:
        return "'study' must be one or more [[study]] tables"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "bool_type":
        return f"{named} must be true or false"
    if kind == "greater_than" and key == "rates":
        return "load 'rates' must be > 0 tasks/s"
    if kind == "greater_than" and key == "duration_s":
        return "'duration_s' must be > 0"
    if key in ("modes",):
        return (
            f"'modes' has {value!r}; known: local, pull, push"
            if kind == "literal_error"
            else (f"'modes' must be a non-empty list of {list(MODES)}")
        )
    if key == "hosts_weak":
        return "'hosts_weak' must be [hosts, processes per host]"
    if key == "links":
        return '\'links\' must be rates such as "100mbit", or "unshaped"'
    return _number(named, key, value, error)


def _unknown(key: str, in_load: bool) -> str:
    poisson_only = ("rates", "stop_at_saturation", "seed")
    if in_load and key == "clients":
        return "load 'clients' is for kind = \"closed\""
    if in_load and key in poisson_only:
        return f'load {key!r} is for kind = "poisson"'
    return ("load: " if in_load else "") + f"unknown key {key!r}"


def _missing(key: str, in_load: bool) -> str:
    if key == "workload":
        return (
            f"'workload' is required: one of {', '.join(BUILTIN_WORKLOADS)} "
            "or 'path/to/file.py:function'"
        )
    if in_load and key == "rates":
        return "load 'rates' is required for kind = \"poisson\""
    if key == "name":
        return "'name' is required: a non-empty label without commas"
    if key == "study":
        return "'study' must be one or more [[study]] tables"
    return ("load: " if in_load else "") + f"{key!r} is required"


def _number(named: str, key: str, value: object, error: Any) -> str:
    """A number out of its type or range: what it must be."""
    whole = key not in AMOUNTS
    low = (error.get("ctx") or {}).get("ge", 1 if whole else 0)
    what = "an integer" if whole else "a number"
    return (
        f"{named} must be {what} >= {low:g}{' (or a list)' if key in AXES else ''}, not {value!r}"
    )
