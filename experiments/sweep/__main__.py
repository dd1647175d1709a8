"""``python -m experiments.sweep``."""

from experiments.sweep import main

main()
