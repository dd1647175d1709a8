"""``python -m experiments.faults``."""

import sys

from experiments.faults import main

sys.exit(main())
