"""Log lines: one JSON object per event, with the extra fields a call passes."""

from __future__ import annotations

import json
import logging

from faas.logs import JsonFormatter


def test_json_lines_carry_message_level_and_extras() -> None:
    record = logging.LogRecord(
        "faas.dispatcher",
        logging.WARNING,
        __file__,
        1,
        "task %s lost on worker %s",
        ("t1", "w1"),
        None,
    )
    record.task_id, record.worker_id = "t1", "w1"
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "task t1 lost on worker w1"
    assert (line["level"], line["logger"]) == ("WARNING", "faas.dispatcher")
    assert (line["task_id"], line["worker_id"]) == ("t1", "w1")
    assert line["ts"].endswith("Z")
