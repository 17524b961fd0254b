"""`--resume` continues a killed run exactly, from anywhere: a kill -9 at a random step of each
epoch (in epoch 3, in the middle of a checkpoint write), a SIGTERM, or checkpoints with a garbage RNG
file, then `--resume`, logs the same per-step losses and gradient norms as the uninterrupted run,
with the same evaluations, checkpoints and early stopping. The default recipe's length-grouped
batches are on throughout.

Kill steps are random; each test prints the step it chose and the seed that chose it: rerun with
FTUI_KILL_SEED=<seed> to repeat a failure.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from conftest import events_of, ftui, tiny_recipe

KILL_AT = Path(__file__).with_name("kill_at.py")
SEED = int(os.environ.get("FTUI_KILL_SEED") or random.SystemRandom().randrange(1 << 31))
# 120 training rows in batches of 16: 8 steps an epoch (the last batch short), 24 in 3 epochs;
# a checkpoint every step, so the kill step decides the resume step; evaluation once an epoch.
# Accuracy never improves by min_delta = 1 after the first evaluation, so with patience 2 the
# run stops early at its third (step 24): a resume that loses count does not.
SECTIONS = dict(data={"max_train_rows": 120, "max_validation_rows": 48},
                train={"epochs": 3.0, "lr": 1e-3, "warmup_ratio": 0.06},
                checkpoint={"every": 1, "keep": 2},
                early_stopping={"metric": "accuracy", "patience": 2, "min_delta": 1.0})


def recipe_at(tmp: Path, model, data_file, **sections) -> Path:
    """conftest's tiny_recipe, with a [data] section of more keys (its ``data`` is the file)."""
    import tomli_w

    path = tiny_recipe(tmp, model, data_file, **{k: v for k, v in sections.items() if k != "data"})
    doc = tomllib.loads(path.read_text())
    doc["data"].update(sections.get("data", {}))
    path.write_text(tomli_w.dumps(doc))
    return path


def pick_step(what: str, low: int, high: int) -> int:
    step = random.Random(f"{SEED}:{what}").randint(low, high)
    print(f"{what}: step {step} of {low}..{high} (FTUI_KILL_SEED={SEED})")
    return step


def kill_run(recipe, step: int, where: str = "step", cwd=None) -> None:
    """Runs `ftui train RECIPE --headless` until tests/kill_at.py kill -9s it at ``step``."""
    result = subprocess.run([sys.executable, str(KILL_AT), str(step), where, "train", str(recipe), "--headless"],
                            cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]


def since_last_start(run) -> list[dict]:
    events = events_of(run)
    start = max(i for i, e in enumerate(events) if e["type"] == "run_start")
    return events[start:]


class Reference:
    """The uninterrupted run's events."""

    def __init__(self, run: Path):
        self.run = run
        events = events_of(run)
        self.steps = {e["step"]: e for e in events if e["type"] == "step"}
        self.evals = [e for e in events if e["type"] == "eval"]
        self.checkpoints = [e for e in events if e["type"] == "checkpoint"]
        self.summary = events_of(run, "summary")[-1]
        start = events_of(run, "run_start")[0]
        self.last = max(self.steps)
        self.per_epoch = start["total_steps"] // int(start["epochs"])

    def epoch_steps(self, epoch: int) -> tuple[int, int]:
        return (epoch - 1) * self.per_epoch + 1, epoch * self.per_epoch


def assert_continues_exactly(run: Path, ref: Reference, note: str) -> dict:
    """The resumed process's steps, evaluations, checkpoints and end are the reference's."""
    note = f"{note} (FTUI_KILL_SEED={SEED})"
    after = since_last_start(run)
    start = after[0]
    steps = [e for e in after if e["type"] == "step"]
    assert steps and steps[0]["step"] == start["step"] + 1, note
    assert steps[-1]["step"] == ref.last, note
    for e in steps:
        want = ref.steps[e["step"]]
        at = f"{note}: step {e['step']}"
        assert e["loss"] == pytest.approx(want["loss"], abs=1e-5), at
        assert e["grad_norm"] == pytest.approx(want["grad_norm"], rel=1e-5, abs=1e-7), at
        assert e["lr"] == pytest.approx(want["lr"], rel=1e-9), at
    evals = [(e["step"], e["metrics"]) for e in after if e["type"] == "eval"]
    want_evals = [(e["step"], e["metrics"]) for e in ref.evals if e["step"] > start["step"]]
    assert [s for s, _ in evals] == [s for s, _ in want_evals], note
    for (step, got), (_, want) in zip(evals, want_evals):
        assert got == pytest.approx(want, abs=1e-6), f"{note}: eval at step {step}"
    saves = [(e["step"], e["reason"], e["best"]) for e in after if e["type"] == "checkpoint"]
    assert saves == [(e["step"], e["reason"], e["best"]) for e in ref.checkpoints if e["step"] > start["step"]], note
    summary = events_of(run, "summary")[-1]
    for key in ("status", "final_step", "early_stopped", "best_checkpoint", "best_value"):
        assert summary[key] == ref.summary[key], f"{note}: summary {key}"
    return start


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_model_dir, tiny_csv) -> Reference:
    tmp = tmp_path_factory.mktemp("reference")
    ftui("train", recipe_at(tmp, tiny_model_dir, tiny_csv, **SECTIONS), "--headless", check=True)
    ref = Reference(tmp / "runs" / "tiny")
    assert ref.last == 3 * ref.per_epoch and len(ref.evals) == 3
    return ref


def test_kill_9_in_epoch_1_then_resume_from_another_directory(reference, tiny_model_dir, tiny_csv, tmp_path):
    # Started in a/ with relative data, model and output paths; resumed from b/.
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    shutil.copy(tiny_csv, a / "tweets.csv")
    (a / "model").symlink_to(tiny_model_dir)
    recipe = recipe_at(a, Path("model"), Path("tweets.csv"), **SECTIONS, run={"output_dir": "runs", "name": "tiny"})
    step = pick_step("epoch 1", 2, reference.epoch_steps(1)[1])
    kill_run(recipe.name, step, cwd=a)
    run = a / "runs" / "tiny"
    saved = tomllib.loads((run / "recipe.toml").read_text())
    assert Path(saved["data"]["train"]) == (a / "tweets.csv").resolve()
    assert Path(saved["model"]["name"]) == tiny_model_dir.resolve()
    result = ftui("train", "--resume", run, "--headless", cwd=b)
    assert result.returncode == 0, result.stderr[-2000:]
    start = assert_continues_exactly(run, reference, f"killed at step {step}")
    assert start["resumed_from"].endswith(f"checkpoint-{step - 1}")


def test_kill_9_in_epoch_2_then_resume_is_exact(reference, tiny_model_dir, tiny_csv, tmp_path):
    step = pick_step("epoch 2", *reference.epoch_steps(2))
    kill_run(recipe_at(tmp_path, tiny_model_dir, tiny_csv, **SECTIONS), step)
    run = tmp_path / "runs" / "tiny"
    ftui("train", "--resume", run, "--headless", check=True)
    start = assert_continues_exactly(run, reference, f"killed at step {step}")
    assert start["resumed_from"].endswith(f"checkpoint-{step - 1}")


def test_kill_9_in_epoch_3_during_a_checkpoint_write_keeps_the_previous_one(reference, tiny_model_dir,
                                                                           tiny_csv, tmp_path):
    from ftui.rundir.checkpoints import check_checkpoint

    low, high = reference.epoch_steps(3)
    step = pick_step("epoch 3, in the checkpoint write", low, high)
    kill_run(recipe_at(tmp_path, tiny_model_dir, tiny_csv, **SECTIONS), step, where="save")
    run = tmp_path / "runs" / "tiny"
    torn = run / "checkpoints" / ".staging" / f"checkpoint-{step}"
    assert (torn / "model.safetensors").is_file() and not (torn / "trainer_state.json").exists()
    assert not (run / "checkpoints" / f"checkpoint-{step}").exists()
    check_checkpoint(run / "checkpoints" / f"checkpoint-{step - 1}")  # whole
    ftui("train", "--resume", run, "--headless", check=True)
    start = assert_continues_exactly(run, reference, f"killed saving step {step}")
    assert start["resumed_from"].endswith(f"checkpoint-{step - 1}")
    assert not (run / "checkpoints" / ".staging").exists()


def test_every_evaluation_is_in_the_checkpoint_of_its_step(reference):
    # A checkpoint saved before its step's evaluation (HF's order at an epoch's end) would resume
    # without that evaluation: no eval event, a patience count one short, a best never marked.
    saved = {e["step"]: e for e in reference.checkpoints}
    for e in reference.evals:
        assert saved[e["step"]]["value"] == e["metrics"]["accuracy"], f"eval at step {e['step']}"
    assert reference.summary["early_stopped"] and reference.summary["best_checkpoint"] == "checkpoints/checkpoint-8"


def test_garbage_rng_states_fall_back_to_the_newest_intact_checkpoint(reference, tmp_path):
    # The run keeps checkpoint-23, checkpoint-24 and the best, checkpoint-8 (an epoch's end).
    run = tmp_path / "tiny"
    shutil.copytree(reference.run, run)
    rng = random.Random(SEED)
    broken = [f"checkpoint-{reference.last}", f"checkpoint-{reference.last - 1}"]
    for name in broken:
        (run / "checkpoints" / name / "rng_state.pth").write_bytes(rng.randbytes(1500))
    ftui("train", "--resume", run, "--headless", check=True)
    start = assert_continues_exactly(run, reference, "garbage rng_state.pth")
    assert start["resumed_from"].endswith(f"checkpoint-{reference.per_epoch}")
    warnings = [e["message"] for e in events_of(run, "log") if e["level"] == "warning"]
    for name in broken:
        assert any(name in w and "rng_state.pth" in w for w in warnings), warnings


def test_sigterm_saves_then_stops_and_resume_continues_exactly(reference, tiny_model_dir, tiny_csv, tmp_path):
    step = pick_step("SIGTERM", *reference.epoch_steps(2))
    recipe = recipe_at(tmp_path, tiny_model_dir, tiny_csv, **SECTIONS)
    proc = subprocess.Popen([sys.executable, "-m", "ftui.tui.cli", "train", str(recipe), "--headless"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    run = tmp_path / "runs" / "tiny"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if (run / "events.jsonl").exists() and any(e["step"] >= step for e in events_of(run, "step")):
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=240) == 0, proc.stderr.read()[-2000:]
    assert events_of(run, "status")[-1]["status"] == "stopped"
    stopped = events_of(run, "checkpoint")[-1]
    assert stopped["reason"] == "stop" and stopped["step"] < reference.last, "the SIGTERM came too late"
    ftui("train", "--resume", run, "--headless", check=True)
    start = assert_continues_exactly(run, reference, f"SIGTERM after step {step}, stopped at {stopped['step']}")
    assert start["resumed_from"].endswith(f"checkpoint-{stopped['step']}")


# --- what a checkpoint must hold: each file resume reads, checked without torch or unpickling ---

def _zip_without(path: Path, drop: str) -> None:
    """Rewrites a torch zip archive without its records whose names end with ``drop``."""
    import zipfile

    with zipfile.ZipFile(path) as old:
        records = [(info, old.read(info)) for info in old.infolist() if not info.filename.endswith(drop)]
    with zipfile.ZipFile(path, "w") as new:
        for info, data in records:
            new.writestr(info, data)


def _replace_pickle(path: Path, data: bytes) -> None:
    import zipfile

    with zipfile.ZipFile(path) as old:
        records = [(info, data if info.filename.endswith("/data.pkl") else old.read(info)) for info in old.infolist()]
    with zipfile.ZipFile(path, "w") as new:
        for info, body in records:
            new.writestr(info, body)


CORRUPTIONS = {
    "rng_state.pth garbage": ("rng_state.pth", lambda p: p.write_bytes(b"\x80not a zip" * 50)),
    "rng_state.pth missing": ("rng_state.pth", lambda p: p.unlink()),
    "rng_state.pth without its tensor record": ("rng_state.pth", lambda p: _zip_without(p, "/data/0")),
    "rng_state.pth with a torn pickle": ("rng_state.pth", lambda p: _replace_pickle(p, b"\x80\x02}q\x00(X")),
    "optimizer.pt truncated": ("optimizer.pt", lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])),
    "optimizer.pt bit flip": ("optimizer.pt", lambda p: p.write_bytes(_flip(p.read_bytes()))),
    "scheduler.pt missing": ("scheduler.pt", lambda p: p.unlink()),
    "trainer_state.json without a step": ("trainer_state.json", lambda p: p.write_text('{"epoch": 3.0}')),
    "trainer_state.json of another step": ("trainer_state.json", lambda p: p.write_text('{"global_step": 7}')),
    "model.safetensors truncated": ("model.safetensors", lambda p: p.write_bytes(p.read_bytes()[:-100])),
    "ftui_state.json garbage": ("ftui_state.json", lambda p: p.write_text("[1, 2")),
}


def _flip(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_a_broken_resume_file_is_named(reference, tmp_path, case):
    from ftui.rundir.checkpoints import check_checkpoint
    from ftui.trainer.errors import CheckpointError

    name, corrupt = CORRUPTIONS[case]
    folder = tmp_path / f"checkpoint-{reference.last}"
    shutil.copytree(reference.run / "checkpoints" / folder.name, folder)
    check_checkpoint(folder)  # intact before
    corrupt(folder / name)
    with pytest.raises(CheckpointError) as caught:
        check_checkpoint(folder)
    message = str(caught.value)
    assert name in message and "\n" not in message, message


def test_a_lora_checkpoint_needs_its_adapter(reference, tmp_path):
    from ftui.rundir.checkpoints import check_checkpoint
    from ftui.trainer.errors import CheckpointError

    folder = tmp_path / f"checkpoint-{reference.last}"
    shutil.copytree(reference.run / "checkpoints" / folder.name, folder)
    with pytest.raises(CheckpointError, match="adapter"):
        check_checkpoint(folder, lora=True)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_as_a_torch_archive_or_its_pickle_are_judged_never_run(tmp_path_factory, data):
    import zipfile

    from ftui.rundir.checkpoints import storage_keys, torch_archive_problem

    folder = tmp_path_factory.mktemp("archive")
    (folder / "raw.pth").write_bytes(data)
    assert isinstance(torch_archive_problem(folder / "raw.pth"), str)  # not even a zip
    with zipfile.ZipFile(folder / "wrapped.pth", "w") as archive:
        archive.writestr("wrapped/data.pkl", data)
    problem = torch_archive_problem(folder / "wrapped.pth")
    assert problem is None or isinstance(problem, str)
    try:
        storage_keys(data)
    except ValueError:
        pass


def test_length_grouped_batches_depend_on_seed_and_epoch_alone():
    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from ftui.trainer.engine.sampling import EpochSeededLengthGroupedSampler

    class Lengths:
        def __init__(self):
            self.sizes = [(i * 37) % 50 + 1 for i in range(200)]

        def __len__(self):
            return len(self.sizes)

        def lengths(self):
            return self.sizes

    sampler = EpochSeededLengthGroupedSampler(16, Lengths(), seed=42)
    orders = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)  # dropout draws since the run started: other RNG states
        sampler.set_epoch(1)
        orders.append(list(sampler))
    assert orders[0] == orders[1] and sorted(orders[0]) == list(range(200))
    sampler.set_epoch(2)
    assert list(sampler) != orders[0], "each epoch shuffles anew"
    hf = LengthGroupedSampler(16, lengths=Lengths().sizes)
    torch.manual_seed(1)
    first = list(hf)
    torch.manual_seed(2)
    assert list(hf) != first, "HF's sampler follows the global RNG: what a resume cannot restore in time"


def test_evaluation_leaves_the_random_streams_as_it_found_them():
    import numpy as np
    import torch

    from ftui.trainer.engine.ftui_trainer import rng_untouched

    torch.manual_seed(3)
    before = (torch.random.get_rng_state(), random.getstate(), np.random.get_state()[1].copy())
    with rng_untouched():
        torch.rand(5), random.random(), np.random.rand(3)
    assert torch.equal(torch.random.get_rng_state(), before[0])
    assert random.getstate() == before[1] and (np.random.get_state()[1] == before[2]).all()
