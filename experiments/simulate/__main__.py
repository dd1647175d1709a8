"""``python -m experiments.simulate``: the simulator's command line (cli.py)."""

import sys

from experiments.simulate.cli import main

sys.exit(main())
