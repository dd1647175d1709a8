"""The store's Lua scripts, and how they are run: by SHA alone, mostly inside pipelines.

Each script is one atomic step of a task's life: submit and submit_batch (check the
function, write the task records, enqueue), transition (mark RUNNING), finish (the
attempt-guarded check-and-set that records an outcome), requeue (back to QUEUED after a
loss) and renew (keep our claims).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError

SUBMIT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local entry = redis.call('XADD', KEYS[3], '*', 'task_id', ARGV[1], 'function_id', ARGV[2],
                         'args', ARGV[3], 'timeout', ARGV[5])
redis.call('HSET', KEYS[2], 'function_id', ARGV[2], 'status', 'QUEUED',
           'submitted', ARGV[4], 'entry', entry)
redis.call('HINCRBY', KEYS[4], 'submitted', 1)
return entry
"""

# KEYS: function, queue, stats, then one task key per task; ARGV: function id, submitted
# time, timeout, then (task id, args) per task. All or nothing: a function deleted meanwhile
# stores none of them.
SUBMIT_BATCH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
for i = 4, #KEYS do
  local task_id, args = ARGV[2 * i - 4], ARGV[2 * i - 3]
  local entry = redis.call('XADD', KEYS[2], '*', 'task_id', task_id, 'function_id', ARGV[1],
                           'args', args, 'timeout', ARGV[3])
  redis.call('HSET', KEYS[i], 'function_id', ARGV[1], 'status', 'QUEUED',
             'submitted', ARGV[2], 'entry', entry)
end
redis.call('HINCRBY', KEYS[3], 'submitted', #KEYS - 3)
return #KEYS - 3
"""

# KEYS: task; ARGV: status, then field/value pairs. Never moves a terminal task, but fills
# fields it lacks (a result can be stored before the RUNNING mark of its dispatch lands).
TRANSITION = """
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return 0 end
if st == 'COMPLETED' or st == 'FAILED' then
  for i = 2, #ARGV, 2 do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
  return 0
end
redis.call('HSET', KEYS[1], 'status', unpack(ARGV))
return 1
"""

# KEYS: task, queue, stats, latency, done channel, finished; ARGV: group, entry id, mode,
# stored time, buckets (comma list), task id, attempt, status, then field/value pairs.
# Answers 1 (recorded), 0 (the task already ended, or its record is gone: a duplicate) or -1
# (stale: the report is of an attempt other than the task's latest dispatch, which is still
# live, so the entry stays). ``attempt`` '*' is the dispatcher's own verdict and always counts.
# A recorded outcome acknowledges and deletes the entry, counts, lands in the latency
# histogram and is published for long-polling clients. The entry acknowledged is the one
# the task's record names; the given one only when the record is gone, and only if it is a
# stream id at all (a worker's report carries it: a junk one must not fail the batch).
FINISH = """
local st, att, entry = unpack(redis.call('HMGET', KEYS[1], 'status', 'attempts', 'entry'))
if st and st ~= 'COMPLETED' and st ~= 'FAILED' and ARGV[7] ~= '*' and att
   and att ~= ARGV[7] then
  return -1
end
if not entry and string.match(ARGV[2], '^%d+%-%d+$') then entry = ARGV[2] end
if entry then
  redis.call('XACK', KEYS[2], ARGV[1], entry)
  redis.call('XDEL', KEYS[2], entry)
end
if not st or st == 'COMPLETED' or st == 'FAILED' then return 0 end
redis.call('HSET', KEYS[1], 'status', unpack(ARGV, 8))
redis.call('HINCRBY', KEYS[3], ARGV[8] .. ':' .. ARGV[3], 1)
local submitted = tonumber(redis.call('HGET', KEYS[1], 'submitted'))
if submitted then
  local latency = tonumber(ARGV[4]) - submitted
  local bucket = '+Inf'
  for b in string.gmatch(ARGV[5], '[^,]+') do
    if latency <= tonumber(b) then bucket = b break end
  end
  redis.call('HINCRBY', KEYS[4], bucket, 1)
  redis.call('HINCRBYFLOAT', KEYS[4], 'sum', latency)
end
redis.call('ZADD', KEYS[6], ARGV[4], ARGV[6])
redis.call('PUBLISH', KEYS[5], ARGV[6])
return 1
"""

# KEYS: task, stats; ARGV: attempt. Back to QUEUED after attempt ``attempt`` was lost; the
# retries counter counts each (task, attempt) once, however often the write is re-sent.
REQUEUE = """
local st, rq = unpack(redis.call('HMGET', KEYS[1], 'status', 'requeued'))
if not st or st == 'COMPLETED' or st == 'FAILED' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'QUEUED', 'attempts', ARGV[1], 'requeued', ARGV[1])
if rq ~= ARGV[1] then redis.call('HINCRBY', KEYS[2], 'retries', 1) end
return 1
"""

# KEYS: queue; ARGV: group, consumer, entry ids. Resets the idle time of the entries this
# consumer still owns; answers the ids it no longer owns (finished, or taken over).
RENEW = """
local gone = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  else
    table.insert(gone, ARGV[i])
  end
end
return gone
"""

SOURCES = {
    "submit": SUBMIT,
    "submit_batch": SUBMIT_BATCH,
    "transition": TRANSITION,
    "finish": FINISH,
    "requeue": REQUEUE,
    "renew": RENEW,
}
SHAS = {name: hashlib.sha1(source.encode()).hexdigest() for name, source in SOURCES.items()}


def queue_script(pipe: Pipeline, name: str, keys: Sequence[str], args: Sequence[object]) -> None:
    """Queue one of our Lua scripts on ``pipe`` by its SHA."""
    pipe.evalsha(SHAS[name], len(keys), *keys, *args)


async def run_script(
    redis: aioredis.Redis, name: str, keys: Sequence[str], args: Sequence[object]
) -> object:
    """Run one of our Lua scripts by SHA, outside a pipeline (the cheaper call for a single
    script: no pipeline object); loads the scripts and runs once more if Redis lost them."""
    try:
        return await redis.evalsha(SHAS[name], len(keys), *keys, *args)
    except NoScriptError:
        for source in SOURCES.values():
            await redis.script_load(source)
        return await redis.evalsha(SHAS[name], len(keys), *keys, *args)


async def pipelined(redis: aioredis.Redis, build: Callable[[Pipeline], None]) -> list[Any]:
    """Run the commands ``build`` queues in one round trip. Scripts go by SHA alone (a
    redis-py Script in a pipeline costs an extra SCRIPT EXISTS round trip each time); if
    Redis lost them (a restart), load them and run once more."""
    for attempt in (1, 2):
        async with redis.pipeline(transaction=False) as pipe:
            build(pipe)
            try:
                return await pipe.execute()
            except NoScriptError:
                if attempt == 2:
                    raise
        for source in SOURCES.values():
            await redis.script_load(source)
    raise AssertionError("unreachable")
