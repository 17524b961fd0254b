"""``python -m ftui.trainer RUN_DIR [--resume] [--nproc N ...]``: the trainer process.

The cockpit starts this detached. With more than one process it becomes the supervisor of a
torchrun job whose workers run this same module with ``--worker``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .distributed import add_launch_args


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ftui.trainer")
    parser.add_argument("run_dir")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--worker", action="store_true", help="one rank of a torchrun job")
    add_launch_args(parser)
    args = parser.parse_args(argv)
    from .console import ConsolePrinter
    from .distributed import global_rank, launch_from_args, supervise
    from .errors import FtuiError
    from .session import execute

    launch = launch_from_args(args)
    try:
        if launch.distributed and not args.worker:
            return supervise(Path(args.run_dir), args.resume, launch)
        listeners = [ConsolePrinter()] if global_rank() == 0 else []
        return execute(args.run_dir, resume=args.resume, listeners=listeners, argv=sys.argv)
    except FtuiError as e:
        print(f"ftui: {e}", file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
