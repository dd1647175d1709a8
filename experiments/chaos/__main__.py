"""``python -m experiments.chaos``."""

import sys

from experiments.chaos import main

sys.exit(main())
