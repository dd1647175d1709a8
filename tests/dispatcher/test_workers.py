"""faas/dispatcher/workers.py: peers and push mode's selection policy."""

from __future__ import annotations

from faas.dispatcher.workers import KNOWN_FUNCTIONS_KEPT, Peer, most_free


def test_most_free_picks_the_emptiest_worker_and_rotates_among_equals() -> None:
    a, b = Peer("a", 2), Peer("b", 4)
    assert most_free([a, b], {"b": 3}).worker_id == "a"
    picks = [most_free([a, b], {"a": 1, "b": 3}).worker_id for _ in range(4)]
    assert sorted(picks) == ["a", "a", "b", "b"]


def test_most_free_gives_nothing_to_full_workers() -> None:
    a = Peer("a", 2)
    assert most_free([a], {"a": 2}) is None
    assert most_free([a], {"a": 2}, prefetch=1).worker_id == "a"
    assert most_free([], {}) is None


def test_known_functions_are_bounded_and_forgettable() -> None:
    peer = Peer("w", 1)
    assert peer.knows("f") is False and peer.knows("f") is True
    for i in range(KNOWN_FUNCTIONS_KEPT + 10):
        peer.knows(f"g{i}")
    assert len(peer.known_functions) == KNOWN_FUNCTIONS_KEPT
    assert peer.knows("f") is False  # the oldest went first
    peer.forget("f")
    assert peer.knows("f") is False
