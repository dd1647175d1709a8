"""asyncio helpers shared by the API and the dispatcher."""

from __future__ import annotations

import asyncio
from typing import Any

#: How often a task that ignored its cancellation is cancelled again.
RECANCEL_S = 0.1


async def cancel_and_wait(*tasks: asyncio.Task[Any]) -> None:
    """Cancel ``tasks`` and wait until every one has ended.

    One cancellation is not always enough: redis-py's asyncio client can swallow a
    cancellation that lands while it takes a connection from a pool (redis/redis-py#2028;
    seen here with ``BlockingConnectionPool``), and the task then runs on to its next
    ``await``. A plain ``cancel(); await task`` hung the API's shutdown that way, so the
    tasks still running are cancelled again every ``RECANCEL_S``. Their results and errors
    are left for the caller to collect."""
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_S)
