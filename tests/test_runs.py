"""experiments/spec/runs.py: what the default and quick sweeps run (specs/full.toml and
specs/quick.toml)."""

from __future__ import annotations

from experiments.spec import Spec, builtin


def _grid_of(spec: Spec) -> tuple[list, int]:
    return spec.runs, spec.repeats


def test_the_quick_grid_has_a_two_host_point_per_remote_mode() -> None:
    runs, repeats = _grid_of(builtin(quick=True))
    hosted = [r for r in runs if r.hosts]
    assert repeats == 2
    assert {(r.mode, r.hosts, r.study) for r in hosted} == {
        ("pull", 2, "hosts_weak"),
        ("push", 2, "hosts_weak"),
    }
    assert all(r.workers == r.hosts and r.tasks == 4 * r.processes for r in hosted)


def test_the_full_grid_spans_one_to_eight_hosts_and_two_link_rates() -> None:
    runs = [r for r in builtin(quick=False).runs if r.hosts]
    weak = {(r.mode, r.hosts) for r in runs if r.study == "hosts_weak"}
    assert weak == {(m, h) for m in ("pull", "push") for h in (1, 2, 4, 8)}
    links = {r.link for r in runs if r.study == "hosts_payload"}
    assert links == {"100mbit", "1gbit"}
    assert all(r.link == "unshaped" for r in runs if r.study != "hosts_payload")


def test_runs_on_different_hosts_or_links_never_share_a_stack() -> None:
    runs, _ = _grid_of(builtin(quick=False))
    by_stack: dict = {}
    for r in runs:
        by_stack.setdefault(r.stack, set()).add((r.hosts, r.link, r.workers, r.procs))
    assert all(len(shapes) == 1 for shapes in by_stack.values())


def test_the_shipped_grids_keep_their_shapes_and_baselines() -> None:
    quick, repeats = _grid_of(builtin(quick=True))
    assert repeats == 2 and len(quick) == 35 + 9  # + the load curve's 3 rates x 3 modes
    weak = sorted((r.mode, r.workers, r.procs, r.tasks) for r in quick if r.study == "weak_scaling")
    assert weak == sorted(
        [("local", 1, p, 4 * p) for p in (1, 2, 4)]
        + [(m, w, p, 4 * w * p) for m in ("pull", "push") for w, p in ((1, 1), (1, 2), (1, 4))]
    )
    full, _ = _grid_of(builtin(quick=False))
    assert {
        (r.workers, r.procs) for r in full if r.study == "weak_scaling" and r.mode == "push"
    } == {
        (1, 1),
        (1, 2),
        (1, 4),
        (2, 4),
        (4, 4),
        (8, 4),
    }
    curve = [r for r in full if r.study == "load_curve"]
    assert {r.loop for r in curve} == {"poisson"} and all(r.stop_at_saturation for r in curve)
    assert all(r.tasks == round(3 * r.rate) for r in curve)
    assert (
        builtin(quick=False).baselines.hosts_weak == (8, 32)
        and builtin(quick=True).baselines.hosts_weak is None
    )
