"""HF ecosystem settings: train.report_to (trackers, TensorBoard end to end), the [training_args]
pass-through to TrainingArguments, and `accelerate config` for ftui's launch."""

from __future__ import annotations

import argparse
import json

import pytest
from hypothesis import given, settings, strategies as st

from conftest import events_of, ftui
from ftui.trainer.errors import RecipeError
from ftui.trainer.recipe import load_recipe
from ftui.trainer.engine.trackers import TRACKERS, is_installed

FAST = ("--max-train-rows", "96", "--set", "data.max_validation_rows=24")  # a few steps are enough


def test_tensorboard_holds_the_loss_and_training_args_reach_the_trainer(make_recipe, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    recipe = make_recipe(train={"max_steps": 4, "report_to": "tensorboard"},
                         training_args={"dataloader_num_workers": 1, "optim": "adafactor"})
    result = ftui("train", recipe, "--headless", *FAST)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    run = tmp_path / "runs" / "tiny"
    logs = EventAccumulator(str(run / "logs"))
    logs.Reload()
    board = {s.step: s.value for s in logs.Scalars("train/loss")}
    losses = {e["step"]: e["loss"] for e in events_of(run, "step") if "loss" in e}
    assert sorted(board) == sorted(losses) == [1, 2, 3, 4]
    assert board == pytest.approx(losses, rel=1e-6)  # TensorBoard keeps float32
    recorded = json.loads((run / "env.json").read_text())["training_args"]
    assert recorded["dataloader_num_workers"] == 1 and recorded["optim"] == "adafactor"
    assert recorded["report_to"] == ["tensorboard"] and recorded["logging_dir"] == str(run / "logs")
    assert "[training_args]" in (run / "recipe.toml").read_text()


def refused(recipe_path, runs) -> str:
    """prepare_run's one-line RecipeError (exit code 2) for this recipe, with no run directory made."""
    from ftui.trainer.engine.session import prepare_run

    with pytest.raises(RecipeError) as caught:
        prepare_run(load_recipe(recipe_path))
    message = str(caught.value)
    assert caught.value.exit_code == 2 and "\n" not in message
    assert not runs.exists() or not any(runs.iterdir()), "a refused recipe must not make a run directory"
    return message


def test_an_unknown_tracker_is_refused_in_one_line_with_the_closest_name(make_recipe, tmp_path):
    result = ftui("train", make_recipe(train={"report_to": "tensorboard,wandbb"}), "--headless")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "unknown tracker 'wandbb'" in result.stderr and "did you mean 'wandb'" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_a_tracker_that_is_not_installed_is_refused_before_a_run_dir(make_recipe, tmp_path):
    missing = next(name for name in TRACKERS if not is_installed(name))
    message = refused(make_recipe(train={"report_to": f"tensorboard, {missing}"}), tmp_path / "runs")
    assert f"names {missing!r}, but its package is not installed" in message


@pytest.mark.parametrize("settings, words", [
    ({"dataloader_num_worker": 2}, "training_args.dataloader_num_worker is not a TrainingArguments field "
                                   "(did you mean dataloader_num_workers"),
    ({"learning_rate": 1e-3}, "training_args.learning_rate is set by ftui: use train.lr instead"),
    ({"gradient_checkpointing": "yes"}, "training_args.gradient_checkpointing must be true or false, got 'yes'"),
    ({"optim": "adamw_torh"}, "training_args.optim = 'adamw_torh' is not a choice (did you mean adamw_torch"),
    ({"torch_empty_cache_steps": 0}, "TrainingArguments refused the settings: `torch_empty_cache_steps` must be "
                                     "an integer bigger than 0, got 0."),
])
def test_bad_training_args_are_one_line_errors_before_a_run_dir(make_recipe, tmp_path, settings, words):
    assert words in refused(make_recipe(training_args=settings), tmp_path / "runs")


def test_the_cli_refuses_a_value_trainingarguments_rejects(make_recipe, tmp_path):
    result = ftui("train", make_recipe(), "--headless", "--set", "training_args.torch_empty_cache_steps=-3")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("ftui: [training_args]: TrainingArguments refused") and "got -3" in result.stderr
    assert not (tmp_path / "runs").exists()


def write_accelerate_config(home, text: str):
    folder = home / "accelerate"
    folder.mkdir(parents=True)
    (folder / "default_config.yaml").write_text(text)


def flags(**given) -> argparse.Namespace:
    names = ("nproc", "nnodes", "node_rank", "master_addr", "master_port")
    return argparse.Namespace(**{n: given.get(n) for n in names})


def test_accelerate_config_sets_the_launch_and_flags_still_win(tmp_path, monkeypatch):
    from ftui.trainer.engine.distributed import Launch, launch_from_args

    monkeypatch.setenv("HF_HOME", str(tmp_path))
    assert launch_from_args(flags()) == Launch()  # no config file: ftui's defaults
    write_accelerate_config(tmp_path, "compute_environment: LOCAL_MACHINE\ndistributed_type: MULTI_GPU\n"
                                      "num_machines: 2\nmachine_rank: 1\nnum_processes: 8\n"
                                      "main_process_ip: 10.0.0.7\nmain_process_port: 29555\nmixed_precision: fp16\n")
    assert launch_from_args(flags()) == Launch(nproc=4, nnodes=2, node_rank=1, master_addr="10.0.0.7",
                                               master_port=29555)  # accelerate's num_processes counts all nodes
    assert launch_from_args(flags(nproc=2, node_rank=0)).nproc == 2
    assert launch_from_args(flags(nproc=2, node_rank=0)).node_rank == 0


def test_accelerate_mixed_precision_is_what_auto_picks_on_a_gpu(tmp_path, monkeypatch):
    import torch

    from ftui.trainer.engine.builder import pick_precision

    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert pick_precision("auto") == "bf16"
    write_accelerate_config(tmp_path, "distributed_type: NO\nmixed_precision: fp16\nnum_processes: 1\n")
    assert pick_precision("auto") == "fp16" and pick_precision("fp32") == "fp32"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_precision("auto") == "fp32"  # no GPU: no mixed precision, whatever the config says


def test_a_two_process_cpu_launch_follows_the_accelerate_config(make_recipe, tmp_path, monkeypatch):
    """No --nproc: accelerate's num_processes = 2 (MULTI_CPU) makes a real 2-process gloo run."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    write_accelerate_config(tmp_path / "hf", "distributed_type: MULTI_CPU\nnum_processes: 2\nnum_machines: 1\n"
                                             "mixed_precision: 'no'\nuse_cpu: true\n")
    recipe = make_recipe(train={"max_steps": 2, "eval_every": 2})
    result = ftui("train", recipe, "--headless", *FAST, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    run = tmp_path / "runs" / "tiny"
    assert events_of(run, "run_start")[0]["world_size"] == 2
    env = json.loads((run / "env.json").read_text())
    assert env["accelerate_config"] == str(tmp_path / "hf" / "accelerate" / "default_config.yaml")


def test_ftui_init_writes_report_to_and_the_training_args_section(tmp_path):
    import tomllib

    from ftui.trainer.recipe import Recipe, from_dict

    path = tmp_path / "recipe.toml"
    assert ftui("init", path).returncode == 0
    text = path.read_text()
    assert 'report_to = "none"' in text and "[training_args]" in text and "# optim = " in text
    assert from_dict(tomllib.loads(text)) == Recipe()


def test_tracker_files_default_into_the_run_but_the_users_choice_stands(tmp_path, monkeypatch):
    import os

    from ftui.trainer.engine.trackers import set_env_defaults

    monkeypatch.delenv("WANDB_DIR", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    set_env_defaults(tmp_path, "wandb,mlflow")
    assert os.environ["WANDB_DIR"] == str(tmp_path)
    assert os.environ["MLFLOW_TRACKING_URI"] == "http://mlflow.example:5000"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    set_env_defaults(tmp_path, "tensorboard")
    assert "MLFLOW_TRACKING_URI" not in os.environ  # only for the trackers the run reports to
    set_env_defaults(tmp_path, "mlflow")
    assert os.environ["MLFLOW_TRACKING_URI"] == (tmp_path / "mlruns").as_uri()


def test_an_unreadable_accelerate_config_is_one_line(tmp_path, monkeypatch):
    from ftui.rundir.errors import FtuiError
    from ftui.trainer.engine.distributed import launch_from_args

    monkeypatch.setenv("HF_HOME", str(tmp_path))
    write_accelerate_config(tmp_path, "num_processes: [2\n")
    with pytest.raises(FtuiError, match="default_config.yaml: not valid YAML or JSON") as caught:
        launch_from_args(flags())
    assert "\n" not in str(caught.value) and caught.value.exit_code == 2


plain = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                     max_leaves=5)


@settings(max_examples=150, deadline=None)
@given(key=st.text(max_size=12) | st.sampled_from(["optim", "seed", "adam_beta1", "a.b"]), value=plain)
def test_training_args_take_any_toml_value_or_say_why_in_one_line(key, value):
    """A [training_args] entry loads and saves as itself, or is a one-line RecipeError; never a crash."""
    import tomllib

    from ftui.trainer.recipe import from_dict, to_toml

    try:
        recipe = load_recipe(None, {f"training_args.{key}": value})
    except RecipeError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert recipe.training_args == {key: value}
    assert from_dict(tomllib.loads(to_toml(recipe))) == recipe
