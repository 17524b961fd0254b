"""`ftui export SOURCE --onnx [...]`: runs the pipeline, prints progress and the report table."""

from __future__ import annotations

import sys
import time
from pathlib import Path

# The exit status when the export ran but a gate failed (bad input exits with ExportError.exit_code = 2).
GATE_FAILED = 1


def run(args) -> int:
    from .pipeline import ExportOptions, run_export

    opts = ExportOptions(
        source=Path(args.source) if args.source else default_source(Path(args.runs_dir or "runs")), optimize=args.optimize, quantize=args.quantize, atol=args.atol,
        max_accuracy_drop=args.max_accuracy_drop, data=Path(args.data) if args.data else None,
        output=Path(args.output) if args.output else None, benchmark=not args.no_benchmark, threads=args.threads,
        calibration=Path(args.calibration) if args.calibration else None, fallback_budget=args.fallback_budget)
    start = time.perf_counter()

    def progress(stage: str, message: str) -> None:
        print(f"[{time.perf_counter() - start:6.1f}s] {stage:<9} {message}", file=sys.stderr, flush=True)

    report = run_export(opts, progress)
    print(report.to_text())
    print(f"\nbundle: {report.bundle_path}  (report: {report.bundle_path / 'report.txt'})")
    if not report.passed:
        print(f"ftui: export failed gate(s): {', '.join(report.failed_gates)}; report kept in {report.bundle_path}",
              file=sys.stderr)
        return GATE_FAILED
    return 0


def default_source(runs_dir: Path) -> Path:
    """The run under ``runs_dir`` whose event log changed last: `ftui export --onnx` after a training."""
    from ftui.rundir.summary import newest_run

    from .errors import ExportError

    run = newest_run(runs_dir)
    if run is None:
        raise ExportError(f"no runs in {runs_dir}/ to export; name a run directory or checkpoint folder")
    return run.path
