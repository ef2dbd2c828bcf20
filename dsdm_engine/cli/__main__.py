"""`python -m dsdm_engine.cli` runs the `dsdm` command."""

import sys

from dsdm_engine.cli import main

sys.exit(main())
