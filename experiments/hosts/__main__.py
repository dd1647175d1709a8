"""``python -m experiments.hosts``."""

from experiments.hosts import main

main()
