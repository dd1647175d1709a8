"""The simulation half of the harness: a discrete-event model of the platform (model.py),
calibrated on this machine's runs (calibrate.py, calibration.py), validated on held-out runs
(validate.py) and asked about deployments beyond one machine (studies.py); its command
line is cli.py (``python -m experiments.simulate``)."""
