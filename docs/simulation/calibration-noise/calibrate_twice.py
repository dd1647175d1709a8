"""Calibrations of local and pull, alternating two schemes of one-client runs, k of each.

A: each round 1, 16, 64 clients, 300 one-client tasks (``experiments.sim.calibrate`` as
committed); B: each round 1, 16, 1, 64 clients, 150 one-client tasks a run (the same
one-client tasks in ten shorter runs, spread over the rounds). The heartbeat cost is not
measured (the value of the committed calibration instead). Writes calibrations.json.

    PYTHONPATH=. python docs/simulation/calibration-noise/calibrate_twice.py local,pull 3
"""

import json
import logging
import sys
import time
from pathlib import Path

from experiments.cpu import SpeedGauge
from experiments.sim import calibrate as cal
from faas.models import Mode

SCHEMES = {"A": ((1, 16, 64), 300), "B": ((1, 16, 1, 64), 150)}
OUT = Path(__file__).with_name("calibrations.json")

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    modes, k = sys.argv[1].split(","), int(sys.argv[2])
    out = []
    with SpeedGauge() as gauge:
        for i in range(k):
            for scheme, (rounds, one_client_tasks) in SCHEMES.items():
                for mode in modes:
                    traces = cal.trace_cores()
                    cal.ROUND, cal.LATENCY_TASKS = rounds, one_client_tasks
                    started = time.time()
                    measured = cal.calibrate_mode(Mode(mode), 1.0, gauge)
                    calibration = cal.finish({mode: measured}, 1.4e-05, traces)
                    record = {"i": i, "scheme": scheme, "mode": mode, "t": started}
                    out.append({**record, "cal": calibration.to_json()})
                    OUT.write_text(json.dumps(out))
                    logging.info("done %s %s %s", i, scheme, mode)
