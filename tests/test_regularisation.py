"""Over-fitting tools as recipe keys: model.dropout, [model_config] and train.label_smoothing.

Each reaches the run for real: the checkpoint's config.json records the dropout the model trained
with, env.json the TrainingArguments' label_smoothing_factor; bad values are one line, exit 2,
before a run directory exists.
"""

from __future__ import annotations

import json

import pytest
from conftest import ftui

from ftui.models.config_overrides import config_overrides, dropout_keys
from ftui.models.errors import ModelError
from ftui.trainer.errors import RecipeError
from ftui.trainer.recipe import load_recipe


def config_dict(name: str, **kwargs) -> dict:
    import transformers

    return getattr(transformers, name)(**kwargs).to_dict()


@pytest.mark.parametrize("config, expected", [
    ("BertConfig", {"hidden_dropout_prob", "attention_probs_dropout_prob"}),  # classifier_dropout is None
    ("DistilBertConfig", {"dropout", "attention_dropout", "qa_dropout", "seq_classif_dropout"}),
    ("MobileNetV2Config", {"classifier_dropout_prob"}),
    ("GPT2Config", {"resid_pdrop", "embd_pdrop", "attn_pdrop", "summary_first_dropout"}),
])
def test_model_dropout_names_every_dropout_probability_the_config_has(config, expected):
    assert set(dropout_keys(config_dict(config))) == expected


def test_bert_classifier_dropout_counts_once_it_is_a_number():
    assert "classifier_dropout" in dropout_keys(config_dict("BertConfig", classifier_dropout=0.1))


def test_overrides_set_dropout_then_the_named_keys():
    config = config_dict("BertConfig")
    out = config_overrides(config, 0.3, {"attention_probs_dropout_prob": 0.05, "layer_norm_eps": 1e-6}, "bert")
    assert out == {"hidden_dropout_prob": 0.3, "attention_probs_dropout_prob": 0.05, "layer_norm_eps": 1e-6}
    assert config_overrides(config, -1.0, {}, "bert") == {}


@pytest.mark.parametrize("dropout, keys, words", [
    (-1.0, {"hiden_dropout_prob": 0.1}, "model_config.hiden_dropout_prob: not a key"),
    (-1.0, {"hidden_dropout_prob": "high"}, "must be a number"),
    (-1.0, {"hidden_dropout_prob": True}, "must be a number"),
    (-1.0, {"hidden_dropout_prob": 1.5}, "probability in [0, 1)"),
])
def test_bad_model_config_keys_are_one_line(dropout, keys, words):
    with pytest.raises(ModelError) as e:
        config_overrides(config_dict("BertConfig"), dropout, keys, "bert")
    assert words in str(e.value) and len(str(e.value).splitlines()) == 1


def test_model_dropout_on_a_model_without_dropout_says_so():
    with pytest.raises(ModelError, match="no dropout setting"):
        config_overrides({"model_type": "x", "hidden_size": 8}, 0.2, {}, "x")


@pytest.mark.parametrize("key, value, words", [
    ("train.label_smoothing", 1.0, "in [0, 1)"), ("train.label_smoothing", -0.1, "in [0, 1)"),
    ("model.dropout", 1.0, "-1 (the model's own)"), ("model.dropout", -0.5, "-1 (the model's own)"),
])
def test_recipe_ranges(key, value, words):
    with pytest.raises(RecipeError, match=words.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        load_recipe(overrides={key: value})


def test_dropout_and_label_smoothing_reach_the_run(make_recipe, tmp_path):
    recipe = make_recipe(model={"dropout": 0.3}, model_config={"attention_probs_dropout_prob": 0.05},
                         train={"label_smoothing": 0.1, "max_steps": 2, "logging_steps": 1})
    result = ftui("train", recipe, "--headless", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "runs" / "tiny"
    config = json.loads(next((run / "checkpoints").glob("checkpoint-*/config.json")).read_text())
    assert config["hidden_dropout_prob"] == 0.3 and config["attention_probs_dropout_prob"] == 0.05
    env = json.loads((run / "env.json").read_text())
    assert env["training_args"]["label_smoothing_factor"] == 0.1
    saved = (run / "recipe.toml").read_text()
    assert "label_smoothing = 0.1" in saved and "[model_config]" in saved


@pytest.mark.parametrize("setting, words", [
    ("model_config.no_such_key=1", "model_config.no_such_key: not a key"),
    ("training_args.label_smoothing_factor=0.1", "use train.label_smoothing"),
])
def test_bad_regularisation_settings_fail_before_a_run_dir(make_recipe, tmp_path, setting, words):
    result = ftui("train", make_recipe(), "--headless", "--set", setting, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert words in result.stderr.strip() and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "runs" / "tiny").exists()
