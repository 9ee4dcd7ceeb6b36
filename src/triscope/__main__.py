"""`python -m triscope ...`: the same as the `triscope` command."""

import sys

from triscope.cli import main

sys.exit(main())
