"""`python -m probe` is the same program as the `agentcore-probe` console script."""

import sys

from probe.cli import main

sys.exit(main())
