"""Entry point for `python -m kalloclint`."""

import sys

from kalloclint.cli import main

sys.exit(main())
