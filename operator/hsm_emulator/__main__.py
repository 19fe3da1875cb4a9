"""`python -m hsm_emulator ...`: the same command line as the `hsm-emulator` console script."""

import sys

from hsm_emulator.cli import main

sys.exit(main())
