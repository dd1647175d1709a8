"""``python -m experiments.compare``."""

from experiments.compare import main

main()
