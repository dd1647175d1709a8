"""``python -m experiments.hosts``."""

import sys

from experiments.hosts import main

sys.exit(main())
