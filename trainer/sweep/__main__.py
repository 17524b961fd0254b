"""``python -m ftui.trainer.sweep FOLDER``: runs a created sweep, printing to stdout (sweep.log when detached)."""

import sys

from .runner import main

sys.exit(main())
