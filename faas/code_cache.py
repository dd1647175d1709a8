"""Function code by id, bounded by bytes: the dispatcher's cache and each worker's."""

from __future__ import annotations

from collections import OrderedDict


class FunctionCache:
    """Function code by id, least recently used first, bounded by ``max_bytes``.

    ``trim(needed)`` evicts only functions outside ``needed`` (those of queued, waiting or
    running tasks), so a task never loses its code; the cache can exceed its bound while the
    live tasks alone need more.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._code: OrderedDict[str, bytes] = OrderedDict()

    def __contains__(self, function_id: object) -> bool:
        return function_id in self._code

    def __len__(self) -> int:
        return len(self._code)

    def ids(self) -> list[str]:
        return list(self._code)

    def get(self, function_id: str) -> bytes | None:
        """The code (marked as just used), or None if it is not cached."""
        code = self._code.get(function_id)
        if code is not None:
            self._code.move_to_end(function_id)
        return code

    def put(self, function_id: str, code: bytes) -> None:
        self.drop(function_id)
        self._code[function_id] = code
        self.bytes += len(code)

    def drop(self, function_id: str) -> None:
        code = self._code.pop(function_id, None)
        if code is not None:
            self.bytes -= len(code)

    def trim(self, needed: set[str]) -> int:
        """Evict least recently used functions outside ``needed`` while over the bound;
        answer how many were evicted."""
        evicted = 0
        for function_id in list(self._code):
            if self.bytes <= self.max_bytes:
                break
            if function_id not in needed:
                self.drop(function_id)
                evicted += 1
        return evicted
