"""experiments/grids.py: what the default and quick sweeps run."""

from __future__ import annotations

from experiments.grids import grid, host_runs


def test_the_quick_grid_has_a_two_host_point_per_remote_mode() -> None:
    runs, repeats = grid(quick=True)
    hosted = [r for r in runs if r.hosts]
    assert repeats == 2
    assert {(r.mode, r.hosts, r.study) for r in hosted} == {
        ("pull", 2, "hosts_weak"),
        ("push", 2, "hosts_weak"),
    }
    assert all(r.workers == r.hosts and r.tasks == 4 * r.processes for r in hosted)


def test_the_full_grid_spans_one_to_eight_hosts_and_two_link_rates() -> None:
    runs = host_runs(quick=False)
    weak = {(r.mode, r.hosts) for r in runs if r.study == "hosts_weak"}
    assert weak == {(m, h) for m in ("pull", "push") for h in (1, 2, 4, 8)}
    links = {r.link for r in runs if r.study == "hosts_payload"}
    assert links == {"100mbit", "1gbit"}
    assert all(r.link == "unshaped" for r in runs if r.study != "hosts_payload")


def test_runs_on_different_hosts_or_links_never_share_a_stack() -> None:
    runs, _ = grid(quick=False)
    by_stack: dict = {}
    for r in runs:
        by_stack.setdefault(r.stack, set()).add((r.hosts, r.link, r.workers, r.procs))
    assert all(len(shapes) == 1 for shapes in by_stack.values())
