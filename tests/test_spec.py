"""experiments/spec/: TOML experiment specs — what they declare, and every error a bad
spec gets before anything starts."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from experiments.spec import SPECS, SpecError, load, parse
from faas.serialize import serialize

MINIMAL = """
[[study]]
name = "s"
workload = "noop"
tasks = 10
"""


def _parse(text: str, base: Path | None = None):
    return parse(textwrap.dedent(text), base or Path("."), "t.toml")


def _study(**extra: object) -> str:
    """A one-study spec with ``extra`` keys (TOML inline values) over a minimal study."""
    keys = {"name": '"s"', "workload": '"noop"', "tasks": "10"}
    keys.update({k: str(v) for k, v in extra.items()})
    return "[[study]]\n" + "\n".join(f"{k} = {v}" for k, v in keys.items() if v != "None")


def test_a_minimal_spec_runs_every_mode_with_the_defaults() -> None:
    spec = _parse(MINIMAL)
    assert spec.repeats == 3 and spec.baselines is None
    assert [(r.mode, r.workers, r.procs, r.loop, r.tasks) for r in spec.runs] == [
        ("local", 1, 2, "burst", 10),
        ("pull", 1, 2, "burst", 10),
        ("push", 1, 2, "burst", 10),
    ]


def test_every_list_is_an_axis_and_processes_are_shaped_per_mode() -> None:
    spec = _parse(
        _study(modes='["local", "push"]', processes="[2, 8]", workload='"sleep"', arg="[0.1, 0.5]")
    )
    got = {(r.mode, r.workers, r.procs, r.arg) for r in spec.runs}
    assert got == {
        (m, w, p, a)
        for (m, w, p) in [("local", 1, 2), ("local", 1, 8), ("push", 1, 2), ("push", 2, 4)]
        for a in (0.1, 0.5)
    }


def test_local_mode_folds_worker_counts_into_one_pool() -> None:
    spec = _parse(_study(modes='["local"]', workers="[1, 2, 4]", procs="2"))
    assert [(r.workers, r.procs) for r in spec.runs] == [(1, 2)]


def test_loads_and_task_counts() -> None:
    closed = _parse(_study(load='{ kind = "closed", clients = 8 }')).runs[0]
    assert (closed.loop, closed.clients) == ("closed", 8)
    curve = _parse(
        _study(
            tasks=None,
            duration_s="2.5",
            modes='["push"]',
            load='{ kind = "poisson", rates = [10, 100], stop_at_saturation = true, seed = 4 }',
        )
    ).runs
    assert [(r.rate, r.tasks, r.stop_at_saturation, r.seed) for r in curve] == [
        (10.0, 25, True, 4),
        (100.0, 250, True, 4),
    ]
    weak = _parse(_study(tasks=None, tasks_per_process="4", modes='["pull"]', workers="3")).runs
    assert weak[0].tasks == 4 * 3 * 2


def test_hosts_run_one_worker_each_and_links_shape_them() -> None:
    runs = _parse(
        _study(modes='["pull"]', hosts="[1, 4]", procs="4", links='["100mbit", "unshaped"]')
    ).runs
    assert {(r.hosts, r.workers, r.procs, r.link) for r in runs} == {
        (h, h, 4, link) for h in (1, 4) for link in ("100mbit", "unshaped")
    }


def test_a_user_function_travels_by_value(tmp_path: Path) -> None:
    (tmp_path / "mine.py").write_text(
        "import math\n\nOFFSET = 3\n\n\ndef helper(x):\n    return math.isqrt(x)\n\n\n"
        "def f(x, y=0):\n    return helper(x) + OFFSET + y\n"
    )
    spec = _parse(
        _study(workload='"mine.py:f"', args="[17]", kwargs="{ y = 2 }", modes='["push"]'),
        tmp_path,
    )
    run = spec.runs[0]
    assert run.workload == "f" and run.function == f"{tmp_path / 'mine.py'}:f"
    assert json.loads(run.args) == [[17], {"y": 2}]
    from experiments.spec import resolve_function

    payload = serialize(resolve_function(str(tmp_path / "mine.py"), "f"))
    # a fresh interpreter elsewhere, which cannot import mine.py, runs it
    code = (
        "import sys; from faas.serialize import deserialize; "
        f"print(deserialize(sys.argv[1])(*{json.loads(run.args)[0]}, **{json.loads(run.args)[1]}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, payload], capture_output=True, text=True, cwd="/", check=True
    )
    assert out.stdout.strip() == str(4 + 3 + 2)


def test_the_shipped_specs_parse_and_keep_a_copy_of_their_text() -> None:
    for name in ("full.toml", "quick.toml", "example.toml"):
        spec = load(SPECS / name)
        assert spec.runs and spec.text == (SPECS / name).read_text()
    example = load(SPECS / "example.toml")
    assert {r.study for r in example.runs} == {"digest", "digest_open"}
    assert all(r.function.endswith("example_functions.py:digest") for r in example.runs)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("repeats = 3\n[[study]\n", "not valid TOML"),
        ("repeat = 3\n" + MINIMAL, "unknown key 'repeat'"),
        ("repeats = 0\n" + MINIMAL, "'repeats' must be an integer >= 1, not 0"),
        ("repeats = 2", "'study' must be one or more [[study]] tables"),
        ("study = 3", "'study' must be one or more [[study]] tables"),
        (_study(task=5), "study[0] ('s'): unknown key 'task'"),
        (_study(name='""'), "'name' is required"),
        (_study(workload=None), "'workload' is required"),
        (_study(workload='"fib"'), "'workload' 'fib' is neither a built-in"),
        (_study(workload='"nowhere.py:f"'), "'workload' file"),
        (_study(args="[1]"), "'args' is for user functions; use 'arg'"),
        (_study(workload='"sleep"', arg='"slow"'), "'arg' must be a number >= 0"),
        (_study(workload='"sleep"', arg="-1"), "'arg' must be a number >= 0"),
        (_study(modes='["local", "fast"]'), "'modes' has 'fast'"),
        (_study(modes="[]"), "'modes' must be a non-empty list"),
        (_study(processes="[0]"), "'processes' must be an integer >= 1"),
        (_study(processes="[2]", workers="1"), "give 'processes' or 'workers' and 'procs'"),
        (_study(procs="2.5"), "'procs' must be an integer >= 1"),
        (_study(tasks=None), "give exactly one of 'tasks', 'tasks_per_process', 'duration_s'"),
        (_study(tasks_per_process="2"), "(got tasks, tasks_per_process)"),
        (_study(tasks=0), "'tasks' must be an integer >= 1, not 0"),
        (_study(tasks=None, duration_s="2"), "'duration_s' needs a poisson load"),
        (_study(load='{ kind = "storm" }'), "load 'kind' is 'storm'; known: burst"),
        (_study(load='{ kind = "closed" }'), "'clients' is required"),
        (_study(load='{ kind = "burst", clients = 2 }'), "load 'clients' is for kind"),
        (_study(load='{ kind = "poisson" }'), "load 'rates' is required"),
        (_study(load='{ kind = "poisson", rates = [0] }'), "'rates' must be > 0"),
        (_study(load='{ kind = "poisson", rates = [9, 3] }'), "'rates' must rise"),
        (_study(load='{ kind = "burst", rates = [9] }'), "load 'rates' is for kind"),
        (_study(load='{ kind = "poisson", rates = [1], stop_at_saturation = 1 }'), "true or"),
        (_study(load='{ kind = "burst", speed = 1 }'), "load: unknown key 'speed'"),
        (_study(load="3"), "'load' must be a table"),
        (_study(hosts="2"), "'hosts' needs remote workers"),
        (_study(modes='["push"]', hosts="2", workers="2"), "each host runs one worker"),
        (_study(links='["1gbit"]'), "'links' shapes emulated hosts"),
        (_study(links="[3]"), "'links' must be rates"),
        (
            MINIMAL + "[baselines]\ncelery_tasks = 1\n",
            "baselines: 'celery_batch_tasks' is required",
        ),
        (MINIMAL + "[baselines]\nfoo = 1\n", "baselines: unknown key 'foo'"),
        (
            MINIMAL
            + "[baselines]\ncelery_tasks = 1\ncelery_batch_tasks = 1\ncelery_latency_tasks = 1"
            "\ndirect_tasks = 1\nrepeats = 1\nhosts_weak = [8]\n",
            "'hosts_weak' must be [hosts, processes per host]",
        ),
    ],
)
def test_a_bad_spec_names_the_key_and_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(SpecError) as raised:
        _parse(text)
    assert message in str(raised.value)
    assert str(raised.value).startswith("t.toml")


def test_a_user_file_that_fails_to_import_or_lacks_the_function(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import no_such_module_here\n")
    (tmp_path / "ok.py").write_text("def g():\n    return 1\n")
    with pytest.raises(SpecError, match="importing .*broken.py failed: ModuleNotFoundError"):
        _parse(_study(workload='"broken.py:f"'), tmp_path)
    with pytest.raises(SpecError, match="ok.py has no function 'f'"):
        _parse(_study(workload='"ok.py:f"'), tmp_path)
    with pytest.raises(SpecError, match="'arg' is for built-in workloads"):
        _parse(_study(workload='"ok.py:g"', arg="1"), tmp_path)
    with pytest.raises(SpecError, match="cannot read the spec"):
        load(tmp_path / "missing.toml")


def test_the_sweep_refuses_a_bad_spec_before_starting_anything(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text(_study(load='{ kind = "closed" }'))
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "experiments.sweep", "--spec", str(tmp_path / "bad.toml")]
        + ["--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "error: " in done.stderr and "load: 'clients' is required" in done.stderr
    assert not out.exists()
