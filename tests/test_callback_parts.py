"""The callback's best-checkpoint and early-stopping part on its own: no Trainer, no model."""

from __future__ import annotations

import json

from ftui.rundir.layout import RunDir
from ftui.trainer.engine.callback.best import CHECKPOINT_STATE, BestTracker


def tracker(tmp_path, patience=2, min_delta=0.0, metric="accuracy"):
    (tmp_path / "checkpoints").mkdir(exist_ok=True)  # the trainer's output_dir, where best.json lives
    return BestTracker(RunDir(tmp_path), metric, patience, min_delta)


def test_patience_counts_evaluations_without_improvement_and_resets_on_one(tmp_path):
    best = tracker(tmp_path)

    def evaluate(step, accuracy):  # an evaluation, then its checkpoint (best is measured at saves)
        stop = best.evaluated(step, {"accuracy": accuracy})
        best.saved(step, tmp_path / "checkpoints", write=False)
        return stop

    assert [evaluate(s, a) for s, a in ((1, 0.5), (2, 0.4), (3, 0.6), (4, 0.6))] == [False] * 4
    assert best.bad_evals == 1 and not best.early_stopped and best.checkpoint == "checkpoint-3"
    assert evaluate(5, 0.1) is True and best.early_stopped


def test_the_best_checkpoint_follows_saves_and_loss_is_lower_is_better(tmp_path):
    best = tracker(tmp_path, metric="loss")
    best.evaluated(10, {"loss": 0.9})
    assert best.saved(10, tmp_path / "checkpoints", write=True) == (0.9, True)
    best.evaluated(20, {"loss": 1.2})
    assert best.saved(20, tmp_path / "checkpoints", write=True) == (1.2, False)
    assert best.saved(25, tmp_path / "checkpoints", write=True) == (None, False)  # no evaluation at that step
    assert best.checkpoint == "checkpoint-10"
    assert json.loads((tmp_path / "checkpoints" / "best.json").read_text())["checkpoint"] == "checkpoint-10"


def test_a_resume_takes_the_checkpoints_patience_count_back(tmp_path):
    before = tracker(tmp_path)
    before.evaluated(1, {"accuracy": 0.5})
    before.saved(1, tmp_path / "checkpoints", write=True)
    before.evaluated(2, {"accuracy": 0.4})
    folder = tmp_path / "checkpoints" / "checkpoint-2"
    folder.mkdir()
    (folder / CHECKPOINT_STATE).write_text(json.dumps(before.checkpoint_state(2)))
    after = tracker(tmp_path)
    after.restore_checkpoint_state(folder)
    after.restore(write=True)
    assert (after.bad_evals, after.checkpoint, after.value) == (1, "checkpoint-1", 0.5)
    assert after.evaluated(3, {"accuracy": 0.3}) is True  # the second evaluation without improvement


def test_a_checkpoint_without_state_falls_back_to_best_json(tmp_path):
    best = tracker(tmp_path)
    (tmp_path / "checkpoints" / "best.json").write_text(json.dumps({"checkpoint": "checkpoint-4", "value": 0.7}))
    best.restore_checkpoint_state(tmp_path / "no-such-checkpoint")
    best.restore(write=False)
    assert (best.checkpoint, best.value, best.bad_evals) == ("checkpoint-4", 0.7, 0)
