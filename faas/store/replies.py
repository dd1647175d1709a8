"""Reading Redis replies: as text, and which errors are worth retrying (and which say Redis
lost its data)."""

from __future__ import annotations

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

#: Error replies after which the same command can succeed later: a replica promoted or
#: loading, memory full, a busy script, scripts or the consumer group lost with the data.
TRANSIENT_REPLIES = (
    "READONLY",
    "OOM",
    "LOADING",
    "BUSY",
    "MASTERDOWN",
    "TRYAGAIN",
    "NOSCRIPT",
    "NOGROUP",
    "CLUSTERDOWN",
)
#: How a lost stream or consumer group is reported (Redis says NOGROUP; fakeredis, for a
#: missing stream, the second).
_LOST_GROUP = ("NOGROUP", "requires the key to exist")


def is_transient(error: BaseException) -> bool:
    """True if a Redis call that raised ``error`` may succeed when tried again."""
    if isinstance(error, RedisConnectionError | RedisTimeoutError | OSError):
        return True
    return isinstance(error, ResponseError) and any(
        code in str(error) for code in (*TRANSIENT_REPLIES, *_LOST_GROUP)
    )


def lost_group(error: BaseException) -> bool:
    """True if ``error`` says the queue's consumer group is gone (Redis lost its data)."""
    return isinstance(error, ResponseError) and any(m in str(error) for m in _LOST_GROUP)


def text(value: bytes | str | None) -> str | None:
    """A Redis reply as text."""
    return value.decode() if isinstance(value, bytes) else value
