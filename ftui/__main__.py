"""`python -m ftui`: the `ftui` command line (this folder holds only this file; ftui stays a namespace)."""

import sys

from ftui.tui.cli import main

sys.exit(main())
