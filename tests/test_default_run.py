"""The default path end to end: real pretrained MiniLM, real tweets, no network, no flags."""

from __future__ import annotations

import json
import tomllib

from conftest import events_of, ftui
from ftui.rundir.diagnosis import diagnose


def test_default_run_beats_the_majority_class(default_run):
    start = events_of(default_run, "run_start")[0]
    assert start["model"] == "minilm-l6" and start["labels"] == ["negative", "neutral", "positive"]
    assert start["train_rows"] == 4000 and start["validation_rows"] == 1000
    assert start["params_total"] > 22_000_000
    final = events_of(default_run, "eval")[-1]["metrics"]
    # The majority class (negative) is 42% of the validation split; a fair bar for one epoch is 0.62.
    assert final["accuracy"] >= 0.62, final
    assert final["f1_macro"] > 0.5, final
    assert events_of(default_run, "status")[-1]["status"] == "finished"


def test_the_default_run_gets_no_diagnosis(default_run):
    """The default recipe is healthy: the trainer wrote no diagnosis, and the rules run again over
    its events (as a reader of an older run would) find none either."""
    events = events_of(default_run)
    counts = events_of(default_run, "run_start")[0]["validation_class_counts"]
    assert sum(counts.values()) == 1000 and set(counts) == {"negative", "neutral", "positive"}
    assert [e for e in events if e["type"] == "diagnosis"] == []
    assert "diagnosis" not in events_of(default_run, "summary")[-1]
    assert diagnose(events) == (None, [])


def test_default_run_directory_is_complete(default_run):
    recipe = tomllib.loads((default_run / "recipe.toml").read_text())
    assert recipe["model"]["name"] == "minilm-l6" and recipe["data"]["train"] == "demo:tweets"
    env = json.loads((default_run / "env.json").read_text())
    assert env["versions"]["torch"] and env["seed"] == 42
    validation = (default_run / "data" / "validation.jsonl").read_text().splitlines()
    assert len(validation) == 1000 and set(json.loads(validation[0])) == {"text", "label"}
    best = json.loads((default_run / "checkpoints" / "best.json").read_text())
    assert (default_run / "checkpoints" / best["checkpoint"] / "model.safetensors").is_file()
    steps = events_of(default_run, "step")
    assert steps[-1]["tokens_per_s"] > 0 and steps[-1]["samples_per_s"] > 0
    assert any(e["type"] == "hardware" for e in events_of(default_run))


def test_runs_lists_the_default_run(default_run):
    result = ftui("runs", "--json", cwd=default_run.parent.parent)
    row = json.loads(result.stdout.splitlines()[0])
    assert row["name"] == default_run.name and row["status"] == "finished"
    assert row["best_value"] >= 0.62 and row["step"] == row["total_steps"] == 125
    table = ftui("runs", cwd=default_run.parent.parent).stdout
    assert default_run.name in table and "finished" in table
    assert row["task"] == "sequence-classification" and row["strategy"] == "full"
    assert row["diagnosis"] is None
    assert table.splitlines()[1].split()[1] == "text"  # the TASK column


def test_export_without_a_path_takes_the_newest_run(default_run, tmp_path):
    """The issue's words: after the default training, `ftui export --onnx --quantize int8`."""
    result = ftui("export", "--onnx", "--quantize", "int8", "--no-benchmark", "--output", tmp_path / "out",
                  cwd=default_run.parent.parent)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "out" / "bundle" / "report.json").read_text())
    assert report["passed"] and [v["name"] for v in report["variants"]] == ["fp32", "int8"]
    assert str(default_run.name) in json.dumps(report)
    predicted = ftui("predict", tmp_path / "out" / "bundle", "I will never ride in a driverless car")
    assert predicted.returncode == 0 and predicted.stdout.split("\t")[0] in ("negative", "neutral", "positive")
