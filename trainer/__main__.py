"""``python -m ftui.trainer RUN_DIR [--resume] [--nproc N ...]``: the trainer process.

The cockpit starts this detached. With more than one process it becomes the supervisor of a
torchrun job whose workers run this same module with ``--worker``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ftui.trainer")
    parser.add_argument("run_dir")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--worker", action="store_true", help="one rank of a torchrun job")
    parser.add_argument("--launch", help="a JSON Launch (distributed.py); absent = one process")
    args = parser.parse_args(argv)
    from .engine.console import ConsolePrinter
    from .engine.distributed import Launch, global_rank, supervise
    from .errors import FtuiError
    from .engine.session import execute

    try:
        launch = Launch.from_json(args.launch) if args.launch else Launch()
        launch.check()
        if launch.distributed and not args.worker:
            return supervise(Path(args.run_dir), args.resume, launch)
        listeners = [ConsolePrinter()] if global_rank() == 0 else []
        return execute(args.run_dir, resume=args.resume, listeners=listeners, argv=sys.argv)
    except FtuiError as e:
        print(f"ftui: {e}", file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
