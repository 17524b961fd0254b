"""``python -m ftui.trainer RUN_DIR [--resume]``: the detached trainer process the TUI starts."""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ftui.trainer")
    parser.add_argument("run_dir")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)
    from .console import ConsolePrinter
    from .errors import FtuiError
    from .session import execute

    try:
        return execute(args.run_dir, resume=args.resume, listeners=[ConsolePrinter()], argv=sys.argv)
    except FtuiError as e:
        print(f"ftui: {e}", file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
