"""``python -m experiments.faults``."""

from experiments.faults import main

main()
