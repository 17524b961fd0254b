"""`ftui completion bash|zsh`: a completion script generated from the real parser by shtab.

shtab is imported here only, so `ftui --help` stays as quick as before.
"""

from __future__ import annotations


def run(args) -> int:
    from ftui.rundir.errors import FtuiError
    from ftui.tui.cli import build_parser

    try:
        import shtab
    except ImportError:
        raise FtuiError("ftui completion needs shtab: pip install shtab") from None
    print(shtab.complete(build_parser(), shell=args.shell), end="")
    return 0
