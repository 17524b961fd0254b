"""Promoting a winner is `ftui train --resume RUN --max-steps N`: a finished run of the tiny model
resumed with a bigger step budget trains on from its last checkpoint to step N and finishes."""

from __future__ import annotations

import tomllib

from conftest import events_of, ftui


def test_a_finished_run_resumed_with_more_steps_trains_to_the_new_budget(make_recipe, tmp_path):
    recipe = make_recipe(train={"max_steps": 4, "eval_every": 2}, checkpoint={"every": 2, "keep": 3})
    ftui("train", recipe, "--headless", check=True)
    run = tmp_path / "runs" / "tiny"
    assert events_of(run, "summary")[-1]["final_step"] == 4
    refused = ftui("train", "--resume", run, "--max-steps", "8", "--lr", "1e-4", "--headless")
    assert refused.returncode == 2 and "--max-steps alone may raise its step count" in refused.stderr
    sneaked = ftui("train", "--resume", run, "--set", "train.max_steps=8", "--headless")  # would be ignored
    assert sneaked.returncode == 2 and "--max-steps alone" in sneaked.stderr
    ftui("train", "--resume", run, "--max-steps", "8", "--headless", check=True)
    assert tomllib.loads((run / "recipe.toml").read_text())["train"]["max_steps"] == 8
    starts = events_of(run, "run_start")
    assert starts[-1]["resumed_from"] and starts[-1]["step"] == 4 and starts[-1]["total_steps"] == 8
    steps = [e["step"] for e in events_of(run, "step")]
    assert steps[-1] == 8 and steps.count(5) == 1
    assert events_of(run, "summary")[-1]["status"] == "finished" and events_of(run, "summary")[-1]["final_step"] == 8
