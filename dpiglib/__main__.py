"""``python -m dpiglib``: the same command line as the ``dpig`` console script."""

import sys

from dpiglib.cli import main

sys.exit(main())
