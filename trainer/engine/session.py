"""A run from recipe to checkpoints: the one flat story every front end (headless, TUI, spawn) runs.

    prepare_run(recipe)   checks the recipe, model and data without torch; writes the run dir
    execute(run_dir)      trains (or resumes) inside that run dir and returns an exit code
"""

from __future__ import annotations

import json
import signal
import sys
import time
import traceback
from pathlib import Path

from ftui.rundir.events import EventLog, NullEventLog
from ftui.rundir.layout import (RunDir, create_run, folder_size, list_checkpoints, open_run, write_atomic,
                                write_pidfile)

from ..errors import FtuiError, RunDirError, TrainingFailed
from .distributed import global_rank, world_size
from ..recipe import Recipe, load_recipe, to_toml, validate
from ..tasks import load_task_data, task_module

EXIT_CODES = {"finished": 0, "stopped": 0, "nan_halted": 3, "failed": 1}


def default_run_name(recipe: Recipe) -> str:
    model = Path(recipe.model.name.rstrip("/")).name or "model"
    data = recipe.data.train.removeprefix("demo:")
    data = Path(data).stem if not recipe.data.train.startswith("demo:") else data
    return f"{model}-{data}-{time.strftime('%Y%m%d-%H%M%S')}"


def prepare_run(recipe: Recipe) -> RunDir:
    """Validates everything cheap to validate (recipe values, model files, data reads and splits,
    then the model's config and tokenizer), then creates the run directory with its resolved recipe.
    Bad input fails here, before a run dir exists."""
    from ftui.models.presets import resolve_model

    from .prechecks import check_model_files, check_model_loads, check_training_setup
    from .strategies import check_strategy

    validate(recipe)  # again: --name and --runs-dir are set after the recipe loads
    model_ref = resolve_model(recipe.model.name)
    on_disk = check_model_files(recipe, model_ref) is not None
    check_strategy(recipe.train, model_ref)
    load_task_data(recipe.data, recipe.run.seed, recipe.task.type)
    if on_disk:  # after the data: a data error need not wait for transformers to import
        check_model_loads(recipe, model_ref)
    check_training_setup(recipe)
    name = recipe.run.name or default_run_name(recipe)
    recipe.run.name = name
    _absolute_paths(recipe, model_ref)
    run = create_run(Path(recipe.run.output_dir) / name)
    write_atomic(run.recipe, to_toml(recipe))
    return run


def _absolute_paths(recipe: Recipe, model_ref) -> None:
    """Local data files and model folders become absolute in the saved recipe, so ``--resume``
    works from any working directory (demo:* data, presets and hub ids stay as they are)."""
    import os

    for attr in ("train", "validation"):
        value = getattr(recipe.data, attr)
        if value and not value.startswith("demo:") and Path(value).expanduser().exists():
            setattr(recipe.data, attr, os.path.abspath(Path(value).expanduser()))
    if model_ref.origin == "folder":
        recipe.model.name = model_ref.source  # resolve_model made it absolute


def execute(run_path, resume: bool = False, listeners=(), argv=None) -> int:
    """Trains inside a prepared (or, with ``resume``, an existing) run dir. Returns the exit code."""
    run = open_run(run_path)
    recipe = load_recipe(run.recipe)
    rank0 = global_rank() == 0  # in a torchrun job only global rank 0 writes the run dir
    events = EventLog(run.events, list(listeners)) if rank0 else NullEventLog()
    if rank0:
        write_pidfile(run)
    events.emit("status", 0, status="starting", message="resuming" if resume else "")
    try:
        return _train(run, recipe, events, resume, argv)
    except Exception as e:
        if isinstance(e, FtuiError):  # bad input found late (e.g. weights): one line
            events.emit("log", 0, level="error", message=str(e))
            events.emit("status", 0, status="failed", message=str(e))
            raise
        # A bug or an environment failure (disk full, OOM): one line here, the traceback in the log.
        reason = _disk_full_note(run) or f"{type(e).__name__}: {e}"
        events.emit("log", 0, level="error", message="".join(traceback.format_exception(e)).strip())
        events.emit("status", 0, status="failed", message=reason)
        raise TrainingFailed(f"training failed: {reason} (details in {run.events})") from None
    finally:
        events.close()


def _train(run: RunDir, recipe: Recipe, events: EventLog, resume: bool, argv) -> int:
    from ftui.models.presets import resolve_model

    from ftui.rundir.checkpoints import newest_good_checkpoint

    model_ref = resolve_model(recipe.model.name)
    data = load_task_data(recipe.data, recipe.run.seed, recipe.task.type)
    warn = lambda m: events.emit("log", 0, level="warning", message=m)  # noqa: E731
    checkpoint = newest_good_checkpoint(run, warn, lora=recipe.train.strategy == "lora") if resume else None
    if resume and checkpoint is None:
        warn("no checkpoint yet: starting this run from the beginning")

    from .builder import build_trainer  # torch and transformers load here, after the cheap checks
    from .envinfo import collect_env

    trainer, callback, info = build_trainer(run, recipe, model_ref, data, events)
    if global_rank() == 0 and (not resume or not run.env.exists()):
        write_atomic(run.env, json.dumps(collect_env(recipe.run.seed, argv, trainer.args), indent=2))
    if global_rank() == 0 and not run.validation_data.exists():
        task_module(recipe.task.type).write_validation(data, run)
    if global_rank() == 0 and not run.calibration_data.exists():  # static int8's sample: training rows only
        task_module(recipe.task.type).write_calibration(data, run, recipe.run.seed)
    if data.dropped_rows:
        warn(f"{data.dropped_rows} rows with an empty input or label were skipped")
    start_step = _checkpoint_step(checkpoint)
    events.emit("run_start", start_step, run=run.name, resumed_from=str(checkpoint) if checkpoint else None,
                skipped_rows=data.dropped_rows, **info)
    return _loop(run, trainer, callback, events, checkpoint, recipe)


def _loop(run, trainer, callback, events, checkpoint, recipe) -> int:
    sampler = _start_hardware_sampler(run, events, trainer)
    restore = _install_signal_handlers(callback)
    started = time.monotonic()
    try:
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    finally:
        restore()
        if sampler is not None:
            sampler.stop()
    status = callback.outcome()
    if status != "nan_halted":  # the callback said so, with the loss, at the step it happened
        message = "early stopping: no improvement" if callback.early_stopped else ""
        events.emit("status", trainer.state.global_step, status=status, message=message)
    events.emit("summary", trainer.state.global_step, status=status,
                best_checkpoint=f"checkpoints/{callback.best_checkpoint}" if callback.best_checkpoint else None,
                metric=callback.metric, best_value=callback.best_value, final_step=trainer.state.global_step,
                train_runtime_s=round(time.monotonic() - started, 1), early_stopped=callback.early_stopped,
                metrics=callback.last_eval[1] if callback.last_eval else {}, **_rank_digests(trainer), **callback.diagnosis.summary())
    _leave_process_group()
    return EXIT_CODES[status]


def _leave_process_group() -> None:
    """Tear the process group down in step: left to interpreter exit, gloo can abort a rank."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def _rank_digests(trainer) -> dict:
    """Each rank's sha256 of its final weights: DDP replicas must be identical (a multi-process check)."""
    if world_size() == 1:
        return {}
    import hashlib

    import torch.distributed as dist

    digest = hashlib.sha256()
    for name, tensor in sorted(trainer.model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, digest.hexdigest())
    return {"rank_weights_sha256": gathered}


def _start_hardware_sampler(run, events, trainer):
    """Rank 0 samples its node into the event log; in a multi-node job the first process of each
    other node samples its own into ``hardware/node<N>.jsonl`` (one writer per file)."""
    import os

    from .hardware import HardwareSampler

    node = int(os.environ.get("GROUP_RANK", "0"))
    multi_node = int(os.environ.get("WORLD_SIZE", "1")) > int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    tag = {"node": node} if multi_node else {}
    if global_rank() == 0:
        log = events
    elif os.environ.get("LOCAL_RANK") == "0":
        (run.path / "hardware").mkdir(exist_ok=True)
        log = EventLog(run.path / "hardware" / f"node{node}.jsonl")
    else:
        return None
    sampler = HardwareSampler(lambda fields: log.emit("hardware", trainer.state.global_step, **tag, **fields))
    sampler.start()
    return sampler


def _disk_full_note(run: RunDir) -> str | None:
    """Says "disk full" when the run's disk has less room than its newest checkpoint takes
    (torch reports a full disk during a save only as a zip-writer position mismatch)."""
    import shutil

    found = list_checkpoints(run.checkpoints)
    if not found:
        return None
    need = folder_size(found[-1])
    free = shutil.disk_usage(run.path).free
    if free >= need:
        return None
    return (f"No space left on device: {free / 1e6:.0f} MB free where a checkpoint needs {need / 1e6:.0f} MB; "
            f"the last good checkpoint, {found[-1].name}, is intact")


def _checkpoint_step(checkpoint) -> int:
    if checkpoint is None:
        return 0
    return int(Path(checkpoint).name.split("-")[-1])


def _install_signal_handlers(callback):
    """SIGTERM (Slurm, kill) and a first Ctrl-C ask for checkpoint-then-stop; a second Ctrl-C aborts."""
    if sys.platform == "win32" or not _in_main_thread():
        return lambda: None

    def graceful(signum, frame):
        if callback.stop_requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        callback.stop_requested = True

    previous = {s: signal.signal(s, graceful) for s in (signal.SIGTERM, signal.SIGINT)}
    return lambda: [signal.signal(s, h) for s, h in previous.items()]


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def resume_run(run_path) -> RunDir:
    """The run to resume (``extend_run`` then gives it a new step budget, if asked)."""
    run = open_run(run_path)
    if not run.recipe.is_file():
        raise RunDirError(f"{run.path}: has no recipe.toml; cannot resume")
    alive = run.trainer_alive()
    if alive:
        raise RunDirError(f"{run.path}: its trainer is still running (pid in {run.pidfile}); use ftui watch")
    return run


def extend_run(run: RunDir, max_steps: int) -> None:
    """Sets a run's train.max_steps before a resume, so it trains on to ``max_steps`` (a sweep's next
    rung, or promoting its winner); refused when the run has already reached that step."""
    from ftui.rundir.events import EventTail
    from ftui.rundir.runstate import RunState

    reached = RunState().read(EventTail(run.events)).step
    if max_steps <= reached:
        raise RunDirError(f"{run.path}: already at step {reached}; --max-steps must be above it to train on")
    recipe = load_recipe(run.recipe)
    recipe.train.max_steps = max_steps
    write_atomic(run.recipe, to_toml(recipe))

