"""Every Redis key of the platform, in one place.

Layout (all keys under one prefix)::

    faas:fn:<id>        hash   name, payload (dill bytes), created
    faas:task:<id>      hash   function_id, status, attempts (absent until dispatched),
                               entry (its queue entry id), requeued, result, worker,
                               submitted, dispatched, started, finished, stored
    faas:queue          stream one entry per queued task: task_id, function_id, args, timeout
                               consumer group "dispatchers"; an entry is acknowledged and
                               deleted only when the task's final result is stored
    faas:dispatcher     string the running dispatcher's state (JSON), with an expiry
    faas:workers        string its live workers and their load (JSON list), same expiry
    faas:events         stream what the dispatcher noticed (worker_lost, task_lost), capped
    faas:stats          hash   counters: submitted, <status>:<mode>, retries, worker_lost, stale
    faas:latency        hash   latency histogram (submitted -> stored): bucket counts, sum
    faas:done           channel ids of tasks whose outcome was just recorded (long-poll)
    faas:finished       zset   finished task ids by time stored, until archived (archive.py)

A *record* is the hash of one function or one task; an *entry* is a task's place in the
queue stream, named by its *entry id*.
"""

from __future__ import annotations

PREFIX = "faas:"
QUEUE_KEY = PREFIX + "queue"
GROUP = "dispatchers"
DISPATCHER_KEY = PREFIX + "dispatcher"
WORKERS_KEY = PREFIX + "workers"
FINISHED_KEY = PREFIX + "finished"
EVENTS_KEY = PREFIX + "events"
STATS_KEY = PREFIX + "stats"
LATENCY_KEY = PREFIX + "latency"
#: Channel on which the id of every task whose outcome is recorded is published.
DONE_CHANNEL = PREFIX + "done"
#: Upper bounds (seconds) of the task latency histogram's buckets.
LATENCY_BUCKETS = (
    *(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5),
    *(1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
#: Events kept (approximately) in the events stream.
EVENTS_KEPT = 10_000


def function_key(function_id: str) -> str:
    """Key of a function record."""
    return f"{PREFIX}fn:{function_id}"


def task_key(task_id: str) -> str:
    """Key of a task record."""
    return f"{PREFIX}task:{task_id}"
