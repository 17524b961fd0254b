"""Faults never lose data: a non-finite loss halts the run within a step and never overwrites the
last good checkpoint; a kill -9 mid-run resumes from the newest good checkpoint and continues
exactly as an uninterrupted run would have."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest
from safetensors.numpy import load_file

from conftest import events_of, ftui


def test_nan_loss_halts_and_keeps_last_good_checkpoint(make_recipe, tmp_path):
    # A constant learning rate this large, unclipped, drives the tiny model's loss to NaN after
    # some good steps (step 19 with seed 42); checkpoints every 5 steps come before it.
    recipe = make_recipe(train={"lr": 300.0, "max_grad_norm": 0.0, "epochs": 3.0, "eval_every": 5,
                                "scheduler": "constant", "group_by_length": False},
                         checkpoint={"every": 5, "keep": 100})
    result = ftui("train", recipe, "--headless")
    run = tmp_path / "runs" / "tiny"
    assert result.returncode == 3, result.stdout[-2000:] + result.stderr[-2000:]
    assert "nan_halted" in result.stdout
    steps = events_of(run, "step")
    bad = next(e for e in steps if not isinstance(e["loss"], float) or not math.isfinite(e["loss"]))
    status = events_of(run, "status")[-1]
    assert status["status"] == "nan_halted"
    assert status["step"] == bad["step"], "the run must stop at the step whose loss went non-finite"
    assert max(e["step"] for e in steps) == bad["step"]
    checkpoints = [e for e in events_of(run, "checkpoint")]
    assert checkpoints, "the run should have saved good checkpoints before the NaN"
    assert all(c["step"] < bad["step"] for c in checkpoints)
    newest = sorted((run / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))[-1]
    assert int(newest.name.split("-")[1]) < bad["step"]
    weights = load_file(newest / "model.safetensors")
    assert all(bool((abs(w) < float("inf")).all()) for w in weights.values()), "saved weights must be finite"


def _losses(run) -> dict[int, float]:
    return {e["step"]: e["loss"] for e in events_of(run, "step")}


def test_kill_9_then_resume_matches_uninterrupted_run(tiny_model_dir, tiny_csv, tmp_path):
    from conftest import tiny_recipe

    sections = dict(train={"epochs": 2.0, "logging_steps": 1, "eval_every": 10000, "lr": 5e-4},
                    checkpoint={"every": 10, "keep": 5})
    straight = tiny_recipe(tmp_path / "a", tiny_model_dir, tiny_csv, **sections)
    ftui("train", straight, "--headless", check=True)
    reference = _losses(tmp_path / "a" / "runs" / "tiny")

    killed = tiny_recipe(tmp_path / "b", tiny_model_dir, tiny_csv, **sections)
    run = tmp_path / "b" / "runs" / "tiny"
    proc = subprocess.Popen([sys.executable, "-m", "ftui.tui.cli", "train", str(killed), "--headless"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (run / "checkpoints" / "checkpoint-20").is_dir():
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = max(e["step"] for e in events_of(run, "step"))
    assert killed_at < max(reference), "the kill came too late to test anything"

    result = ftui("train", "--resume", run, "--headless")
    assert result.returncode == 0, result.stderr[-2000:]
    starts = events_of(run, "run_start")
    assert len(starts) == 2 and starts[1]["resumed_from"].endswith(("checkpoint-20", "checkpoint-10"))
    resumed_from = starts[1]["step"]
    # Losses logged after the resume point, by the resumed process, match the straight run's.
    after = [e for e in events_of(run)[events_of(run).index(starts[1]):] if e["type"] == "step"]
    assert after and after[0]["step"] == resumed_from + 1 and after[-1]["step"] == max(reference)
    for e in after:
        assert e["loss"] == pytest.approx(reference[e["step"]], rel=1e-4, abs=1e-5), f"step {e['step']}"
    assert events_of(run, "status")[-1]["status"] == "finished"


def test_resume_skips_a_corrupt_newest_checkpoint(make_recipe, tmp_path):
    recipe = make_recipe(train={"epochs": 1.0, "eval_every": 10000}, checkpoint={"every": 10, "keep": 5})
    ftui("train", recipe, "--headless", check=True)
    run = tmp_path / "runs" / "tiny"
    checkpoints = sorted((run / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    newest = checkpoints[-1]
    weights = newest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # a torn write
    result = ftui("train", "--resume", run, "--headless")
    assert result.returncode == 0, result.stderr
    start = events_of(run, "run_start")[-1]
    assert start["resumed_from"].endswith(checkpoints[-2].name)
    warnings = [e["message"] for e in events_of(run, "log") if e["level"] == "warning"]
    assert any("truncated" in w for w in warnings)


def test_resume_with_every_checkpoint_corrupt_is_a_one_line_error(make_recipe, tmp_path):
    recipe = make_recipe(train={"epochs": 1.0})
    ftui("train", recipe, "--headless", check=True)
    run = tmp_path / "runs" / "tiny"
    for folder in (run / "checkpoints").glob("checkpoint-*"):
        (folder / "config.json").write_text("{not json")
    result = ftui("train", "--resume", run, "--headless")
    assert result.returncode == 2
    assert result.stderr.startswith("ftui: ") and len(result.stderr.strip().splitlines()) == 1
    assert "config.json" in result.stderr and "Traceback" not in result.stderr


def test_checkpoints_are_complete_hf_folders(make_recipe, tmp_path):
    ftui("train", make_recipe(), "--headless", check=True)
    run = tmp_path / "runs" / "tiny"
    best = json.loads((run / "checkpoints" / "best.json").read_text())
    folder = run / "checkpoints" / best["checkpoint"]
    for name in ("config.json", "model.safetensors", "tokenizer.json", "trainer_state.json",
                 "optimizer.pt", "scheduler.pt", "rng_state.pth"):
        assert (folder / name).is_file(), name
    config = json.loads((folder / "config.json").read_text())
    assert sorted(config["id2label"].values()) == ["negative", "neutral", "positive"]
    assert not (run / "checkpoints" / ".staging").exists()
    assert not (folder / "pytorch_model.bin").exists(), "weights are safetensors, never pickles"


@pytest.fixture
def small_disk(tmp_path):
    """A 20 MB filesystem: room for one tiny-model checkpoint (13 MB), not for a second."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20M", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_during_a_save_keeps_the_last_checkpoint(make_recipe, small_disk):
    from ftui.rundir.checkpoints import check_checkpoint

    recipe = make_recipe(train={"eval_every": 10000}, checkpoint={"every": 5, "keep": 5},
                         run={"output_dir": str(small_disk / "runs"), "name": "tiny"})
    result = ftui("train", recipe, "--headless")
    run = small_disk / "runs" / "tiny"
    assert result.returncode == 1, result.stdout[-1000:] + result.stderr[-2000:]
    assert result.stderr.count("\n") == 1 and "No space left on device" in result.stderr
    assert "Traceback" not in result.stderr
    saved = [e["path"] for e in events_of(run, "checkpoint")]
    assert saved == ["checkpoints/checkpoint-5"]
    check_checkpoint(run / saved[0])  # whole and loadable
    assert not (run / "checkpoints" / ".staging").exists(), "the partial copy is cleaned up"
    assert events_of(run, "status")[-1]["status"] == "failed"
