"""`python -m hsm_operator run ...`: the same as the `hsm-operator` console script (the container entrypoint)."""

from hsm_operator.cli import main

raise SystemExit(main())
