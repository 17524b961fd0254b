"""What each `ftui` command does. Heavy imports (torch, Textual) happen inside the command."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

DEFAULT_RUNS = "runs"


def _overrides(args) -> list[str]:
    """CLI flags as ``section.key=value`` recipe overrides (flags first, then --set)."""
    flags = {
        "task": "task.type", "model": "model.name", "data": "data.train", "validation": "data.validation",
        "epochs": "train.epochs", "lr": "train.lr", "batch_size": "train.batch_size",
        "max_steps": "train.max_steps", "max_train_rows": "data.max_train_rows", "seed": "run.seed",
        "strategy": "train.strategy",
    }
    out = []
    for attr, key in flags.items():
        value = getattr(args, attr, None)
        if value is not None:
            out.append(f"{key}={_toml_value(value)}")
    return out + list(args.set)


def _toml_value(value) -> str:
    """A flag's value as the TOML that ``parse_override`` reads back: ``--epochs inf`` stays inf
    (JSON would say Infinity, a string), so the recipe refuses it by name."""
    import tomli_w

    return tomli_w.dumps({"v": value}).partition("=")[2].strip()


def train(args) -> int:
    from ftui.trainer.engine.distributed import launch_from_args

    if args.json and not args.headless:
        raise _usage("--json goes with --headless")
    launch = launch_from_args(args)
    if args.resume:
        return _resume(args, launch)
    if launch.node_rank > 0:
        return _join(args, launch)
    overrides = _overrides(args)
    if not args.headless:
        from ftui.trainer.engine.launch import spawn_trainer

        run_path = spawn_trainer(args.recipe, overrides, _runs_dir_override(args), args.name, launch)
        return _cockpit(run_path, started_here=True)
    from ftui.trainer.engine.session import prepare_run

    run = prepare_run(_recipe(args))
    return _headless(run.path, False, launch, args)


def _recipe(args):
    """The recipe with the command line's overrides, --runs-dir and --name, all validated."""
    from ftui.trainer.recipe import load_recipe, parse_override, validate

    recipe = load_recipe(args.recipe, dict(parse_override(o) for o in _overrides(args)))
    if args.runs_dir:
        recipe.run.output_dir = args.runs_dir
    if args.name:
        recipe.run.name = args.name
    if args.runs_dir or args.name:
        validate(recipe)  # a node of rank > 0 builds its run path from these before any run code checks them
    return recipe


def _headless(run_path, resume: bool, launch, args) -> int:
    """In this terminal: in-process for one process, else as the supervisor of a torchrun job."""
    if launch.distributed:
        from ftui.trainer.engine.distributed import supervise

        return supervise(Path(run_path), resume, launch)
    from ftui.trainer.engine.console import ConsolePrinter
    from ftui.trainer.engine.session import execute

    return execute(run_path, resume=resume, listeners=[ConsolePrinter(as_json=args.json)], argv=sys.argv)


def _join(args, launch) -> int:
    """A node of rank > 0: waits for node 0 to prepare the run on the shared filesystem, then joins."""
    from ftui.trainer.engine.distributed import supervise, wait_for_run_dir

    if not args.name:
        raise _usage("--node-rank > 0 needs the same --name as node 0 (all nodes must agree on the run)")
    recipe = _recipe(args)
    run_path = Path(recipe.run.output_dir) / args.name
    wait_for_run_dir(run_path)
    return supervise(run_path, bool(args.resume), launch)


def _resume(args, launch) -> int:
    from ftui.trainer.engine.session import extend_run, resume_run

    if args.recipe or args.set or [o for o in _overrides(args) if not o.startswith("train.max_steps=")]:
        raise _usage("--resume continues a run with its own recipe; drop the recipe and overrides "
                     "(--max-steps alone may raise its step count)")
    run = resume_run(args.resume)
    if args.max_steps:  # promoting a sweep's winner: train on past the budget it had
        extend_run(run, args.max_steps)
    if not args.headless:
        from ftui.trainer.engine.launch import start_detached

        start_detached(run.path, resume=True, launch=launch)
        return _cockpit(run.path, started_here=True)
    return _headless(run.path, True, launch, args)


def _runs_dir_override(args) -> Path | None:
    return Path(args.runs_dir) if args.runs_dir else None


def _cockpit(run_path: Path, started_here: bool) -> int:
    from ftui.tui.app import run_cockpit

    return run_cockpit(Path(run_path), started_here=started_here)


def watch(args) -> int:
    from ftui.rundir.compare import resolve_targets
    from ftui.rundir.summary import newest_run

    if args.run:
        found = resolve_targets(args.run)
        if len(found.runs) > 1 or found.sweep is not None:
            from ftui.tui.app import run_compare

            return run_compare([r.path for r in found.runs], found.sweep)
        run = found.runs[0]
    else:
        run = newest_run(Path(args.runs_dir or DEFAULT_RUNS))
        if run is None:
            raise _usage(f"no runs in {args.runs_dir or DEFAULT_RUNS}/; start one with `ftui train`")
    return _cockpit(run.path, started_here=False)


def home(args) -> int:
    from ftui.tui.app import run_home

    return run_home(Path(args.runs_dir or DEFAULT_RUNS))


def runs(args) -> int:
    from ftui.rundir.events_schema import jsonable
    from ftui.rundir.summary import list_runs, summarize

    runs_dir = Path(args.runs_dir or DEFAULT_RUNS)
    rows = [summarize(run) for run in list_runs(runs_dir)]
    if args.json:
        for row in rows:
            print(json.dumps(jsonable(row), allow_nan=False))  # a NaN best value as "nan": strict JSON
        return 0
    if not rows:
        print(f"no runs in {runs_dir}/ (start one: ftui train)")
        return 0
    print(f"{'RUN':<40} {'TASK':<11} {'STATUS':<11} {'STEP':>11} {'BEST':>16}  {'UPDATED':>8}")
    for r in rows:
        step = f"{r['step']}/{r['total_steps']}" if r["total_steps"] else str(r["step"])
        best = f"{r['metric']} {r['best_value']:.4f}" if r["best_value"] is not None else "-"
        status = r["status"] + ("*" if r["live"] else "")
        task = task_word(r["task"]) + (f"/{r['strategy']}" if r["strategy"] not in ("", "full") else "")
        print(f"{r['name'][:40]:<40} {task:<11} {status:<11} {step:>11} {best:>16}  {_ago(r['updated'])}")
    print("* live: a trainer process is running it (ftui watch RUN)")
    for r in rows:
        if r["skipped_events"]:
            print(f"{r['name']}: {r['skipped_events']} unreadable line(s) of events.jsonl skipped")
    return 0


def task_word(task: str) -> str:
    """The task table's short name for a run's task ("text", "ner", ...); the name itself if unknown."""
    from ftui.rundir.tasks import TASKS

    return TASKS[task].word if task in TASKS else task or "-"


def _ago(t) -> str:
    if not t:
        return "-"
    s = int(time.time() - t)
    return f"{s}s ago" if s < 60 else f"{s // 60}m ago" if s < 3600 else f"{s // 3600}h ago" if s < 86400 else f"{s // 86400}d ago"


def models(args) -> int:
    from ftui.models.hub import cached_models, hub_cache_dir, offline
    from ftui.models.presets import PRESETS, availability
    from ftui.rundir.tasks import DEMO_DATA, TASKS, demo_available

    if args.json:
        return _models_json()
    print(f"{'PRESET':<14} {'HUB ID':<42} {'AVAILABILITY':<36} DESCRIPTION")
    for p in PRESETS.values():
        print(f"{p.name:<14} {p.hub_id:<42} {availability(p):<36} {p.description}")
    print("Any local HF folder or hub id (org/name) works too: ftui train --model PATH_OR_ID")
    others = [m for m in cached_models() if m not in {p.hub_id for p in PRESETS.values()}]
    print(f"HF cache {hub_cache_dir()}{' (HF_HUB_OFFLINE: cache only)' if offline() else ''}: "
          f"{', '.join(others) if others else 'no other models'}")
    print(f"\n{'TASK':<25} {'DEFAULT MODEL':<14} {'DEFAULT DATA':<19} WHAT")
    for name, t in TASKS.items():
        print(f"{name:<25} {t.default_model or '(set one)':<14} {t.default_data:<19} {t.summary}")
    print(f"\n{'DEMO DATA':<19} {'TASK':<25} {'AVAILABILITY':<36} DESCRIPTION")
    for name, d in DEMO_DATA.items():
        where = "installed" if demo_available(d) else f"missing: {d.install}"
        print(f"{name:<19} {d.task:<25} {where:<36} {d.description}")
    return 0


def _models_json() -> int:
    """`ftui models --json`: one object a line per preset, task and demo data set, with "kind"."""
    from ftui.models.presets import PRESETS, availability
    from ftui.rundir.tasks import DEMO_DATA, TASKS, demo_available

    rows = []
    for p in PRESETS.values():
        where = availability(p)
        rows.append({"kind": "preset", "name": p.name, "hub_id": p.hub_id, "offline": where.startswith("offline"),
                     "availability": where, "install": p.install,
                     "description": p.description})
    for name, t in TASKS.items():
        rows.append({"kind": "task", "name": name, "head": t.head, "default_model": t.default_model or None,
                     "default_data": t.default_data, "metrics": list(t.metrics), "default_metric": t.default_metric,
                     "peft_task_type": t.peft_type, "description": t.summary})
    for name, d in DEMO_DATA.items():
        rows.append({"kind": "demo_data", "name": name, "task": d.task, "offline": demo_available(d),
                     "install": d.install, "description": d.description})
    for row in rows:
        print(json.dumps(row))
    return 0


def init(args) -> int:
    from ftui.trainer.recipe import template

    path = Path(args.path)
    if path.exists() and not args.force:
        raise _usage(f"{path} exists; pass --force to overwrite it")
    try:
        path.write_text(template())
    except OSError as e:
        raise _usage(f"{path}: cannot write ({e.strerror})") from None
    print(f"wrote {path}: edit it, then `ftui train {path}`")
    return 0


def _usage(message: str) -> Exception:
    from ftui.trainer.errors import FtuiError

    return FtuiError(message)
