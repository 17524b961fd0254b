"""`python -m ftui`: the `ftui` command line (this folder holds only this file; ftui stays a namespace)."""

from ftui.tui.cli import entry

entry()
