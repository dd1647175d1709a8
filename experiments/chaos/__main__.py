"""``python -m experiments.chaos``."""

from experiments.chaos import main

main()
