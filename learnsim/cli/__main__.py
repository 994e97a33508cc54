"""``python -m learnsim.cli``: the ``learnsim`` command."""

import sys

from learnsim.cli import main

sys.exit(main())
