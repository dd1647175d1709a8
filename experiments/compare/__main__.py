"""``python -m experiments.compare``."""

import sys

from experiments.compare import main

sys.exit(main())
