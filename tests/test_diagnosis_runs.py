"""Real tiny-model runs built to go wrong get the right diagnosis within a few evaluations, and a
healthy one gets none: overfit (tiny data, random labels, many epochs), underfit (frozen, tiny lr),
diverge (huge lr), lr_too_high (a rate that leaves the model at chance). The data is a keyword task (the label is which of three words a sentence holds),
which the 2-layer random-weight BERT of conftest learns in a few epochs at lr 1e-2: seconds a run.
A model that has learned the task already, trained on at a tiny rate, is lr_too_low; at a small one,
plateau; at one that still lowers the loss, nothing."""

from __future__ import annotations

import csv
import json
import random

import pytest
import tomli_w
import tomllib

from conftest import events_of, ftui, tiny_recipe

KEYWORDS = {"a": "apple", "b": "river", "c": "guitar"}
FILLER = "the of and to in is was for on that with by it as at from this be have".split()


def keyword_csv(path, rows: int, seed: int, random_labels: bool = False):
    rng = random.Random(seed)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for i in range(rows):
            label = "abc"[i % 3]
            words = [rng.choice(FILLER) for _ in range(8)]
            words.insert(rng.randrange(9), KEYWORDS[label])
            writer.writerow([" ".join(words), rng.choice("abc") if random_labels else label])
    return path


def run(tmp_path, model, rows, train, random_labels=False, validation_rows=0):
    """`ftui train --headless` on keyword data: (diagnosis events, eval steps, summary, stdout)."""
    data = {"train": str(keyword_csv(tmp_path / "train.csv", rows, 0, random_labels)), "max_length": 32}
    if validation_rows:
        data["validation"] = str(keyword_csv(tmp_path / "validation.csv", validation_rows, 1, random_labels))
    recipe = tiny_recipe(tmp_path, model, tmp_path / "train.csv", train={"lr": 1e-2, **train})
    parsed = tomllib.loads(recipe.read_text())
    parsed["data"] = data  # the tiny recipe's data section names the tweets' row limits
    recipe.write_text(tomli_w.dumps(parsed))
    result = ftui("train", recipe, "--headless")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    run_dir = tmp_path / "runs" / "tiny"
    evals = [e["step"] for e in events_of(run_dir, "eval")]
    return events_of(run_dir, "diagnosis"), evals, events_of(run_dir, "summary")[-1], result.stdout


def by_eval(evals, event) -> int:
    """The number of the evaluation that ``event`` came after (1-based)."""
    return sum(1 for step in evals if step <= event["step"])


def test_a_healthy_run_gets_none(tmp_path, tiny_model_dir):
    diagnoses, evals, summary, _ = run(tmp_path, tiny_model_dir, 300, {"epochs": 6})
    assert len(evals) >= 6 and diagnoses == [] and "diagnosis" not in summary
    assert summary["best_value"] == 1.0  # it learned the task: the healthy verdict is earned


def test_a_frozen_run_at_a_tiny_rate_is_underfitting(tmp_path, tiny_model_dir):
    diagnoses, evals, summary, stdout = run(tmp_path, tiny_model_dir, 120, {"epochs": 5, "lr": 1e-7, "strategy": "frozen"})
    first = diagnoses[0]
    assert (first["kind"], first["action"]) == ("underfitting", "unfreeze") and by_eval(evals, first) <= 3
    assert f"diagnosis: underfitting since step {first['since_step']} — train loss flat" in stdout
    assert summary["diagnosis"]["kind"] == "underfitting"


def test_a_huge_rate_is_diverging(tmp_path, tiny_model_dir):
    diagnoses, evals, summary, stdout = run(tmp_path, tiny_model_dir, 120, {"epochs": 5, "lr": 0.5, "max_grad_norm": 0.0})
    first = diagnoses[0]
    assert (first["kind"], first["action"]) == ("diverging", "lower_lr") and by_eval(evals, first) <= 2
    assert "diagnosis: diverging since step" in stdout


def test_too_high_a_rate_that_leaves_the_model_at_chance_is_lr_too_high(tmp_path, tiny_model_dir):
    """lr 0.1 (ten times the rate the task learns at): the loss jumps above where it began and the model
    predicts one class for every evaluation. ftui used to say nothing here, or overfitting."""
    diagnoses, evals, summary, stdout = run(tmp_path, tiny_model_dir, 300, {"epochs": 8, "lr": 0.1})
    accuracies = [e["metrics"]["accuracy"] for e in events_of(tmp_path / "runs" / "tiny", "eval")]
    assert max(accuracies) < 0.4  # chance is 1/3: the run really learned nothing
    assert [(d["kind"], d["action"]) for d in diagnoses] == [("lr_too_high", "lower_lr")], diagnoses
    assert by_eval(evals, diagnoses[0]) <= 3 and "diagnosis: lr_too_high since step" in stdout
    assert "has not fallen below it since" in diagnoses[0]["evidence"]


def test_tiny_data_with_random_labels_for_many_epochs_is_overfitting(tmp_path, tiny_model_dir):
    """Memorising 30 random labels: the eval loss climbs while the train loss falls. Before it learns
    anything the run may first be called underfitting (true then); nothing else is said."""
    diagnoses, evals, summary, stdout = run(tmp_path, tiny_model_dir, 30, {"epochs": 20, "batch_size": 8},
                                            random_labels=True, validation_rows=60)
    kinds = [d["kind"] for d in diagnoses]
    assert "overfitting" in kinds and set(kinds) <= {"underfitting", "overfitting", "healthy"}, kinds
    eval_losses = [e["metrics"]["loss"] for e in events_of(tmp_path / "runs" / "tiny", "eval")]
    turned = eval_losses.index(min(eval_losses)) + 1  # the evaluation where the eval loss turned up
    overfit = diagnoses[kinds.index("overfitting")]
    assert by_eval(evals, overfit) <= turned + 4, (by_eval(evals, overfit), turned, eval_losses)
    assert summary["diagnosis"]["kind"] == "overfitting" and "diagnosis: overfitting since step" in stdout


@pytest.fixture(scope="module")
def learned_checkpoint(tmp_path_factory, tiny_model_dir):
    """The best checkpoint of a healthy run: the tiny model at 100% accuracy on the keyword task."""
    folder = tmp_path_factory.mktemp("learned")
    _, _, summary, _ = run(folder, tiny_model_dir, 300, {"epochs": 6})
    assert summary["best_value"] == 1.0
    checkpoints = folder / "runs" / "tiny" / "checkpoints"
    return checkpoints / json.loads((checkpoints / "best.json").read_text())["checkpoint"]


@pytest.mark.parametrize(("lr", "kind", "action"), [(1e-7, "lr_too_low", "raise_lr"),
                                                    (1e-5, "plateau", "stop_keep_best"), (1e-4, None, None)])
def test_a_learned_model_trained_on_is_diagnosed_by_its_rate(tmp_path, learned_checkpoint, lr, kind, action):
    """Fine-tuning the learned checkpoint again: above the majority baseline from the first evaluation,
    so a flat loss is no underfitting. At 1e-7 nothing moves (lr_too_low); at 1e-5 the loss creeps
    and accuracy cannot improve on 1.0 (plateau); at 1e-4 the loss still falls: nothing to say."""
    diagnoses, evals, summary, stdout = run(tmp_path, learned_checkpoint, 300, {"epochs": 8, "lr": lr})
    assert len(evals) == 8 and summary["best_value"] == 1.0
    if kind is None:
        assert diagnoses == [] and "diagnosis" not in summary
        return
    assert [(d["kind"], d["action"]) for d in diagnoses] == [(kind, action)], diagnoses
    assert by_eval(evals, diagnoses[0]) <= 6
    assert summary["diagnosis"]["kind"] == kind and f"diagnosis: {kind} since step" in stdout
