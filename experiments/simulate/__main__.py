"""``python -m experiments.simulate``: the simulator's command line (cli.py)."""

from experiments.simulate.cli import main

main()
