"""``python -m experiments.analysis RUN_DIR``: re-draw a run's plots and REPORT.md from its
files (``nox -s report``)."""

import sys

from experiments.analysis.report import main

sys.exit(main())
