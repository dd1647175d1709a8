"""``python -m experiments.analysis RUN_DIR``: re-draw a run's plots and REPORT.md from its
files (``nox -s report``)."""

from experiments.analysis.report import main

main()
