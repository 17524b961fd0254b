"""Bad input gets one line on stderr, exit code 2, no traceback, and no half-made run dir."""

from __future__ import annotations

import json

import pytest

from conftest import csv_text, ftui


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, (result.returncode, result.stdout[-500:], result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ftui: "), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture
def train_with(tmp_path, tiny_model_dir):
    """Runs `ftui train --headless` on a data file written from text (or bytes)."""

    def run(content, name="data.csv", *extra):
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return ftui("train", "--headless", "--model", tiny_model_dir, "--data", path,
                    "--set", f"run.output_dir={json.dumps(str(tmp_path / 'runs'))}", *extra)

    return run


ROWS = [{"text": f"tweet number {i}", "label": ["pos", "neg"][i % 2]} for i in range(20)]


def test_missing_data_file(tmp_path, tiny_model_dir):
    result = ftui("train", "--headless", "--model", tiny_model_dir, "--data", tmp_path / "nope.csv")
    assert_one_line_error(result, "nope.csv", "no such data file")


def test_empty_data_file(train_with, tmp_path):
    assert_one_line_error(train_with(""), "empty")
    assert not (tmp_path / "runs").exists(), "bad input must not leave a run directory"


def test_unreadable_data_path_is_a_directory(tmp_path, tiny_model_dir):
    folder = tmp_path / "dir.csv"
    folder.mkdir()
    assert_one_line_error(ftui("train", "--headless", "--model", tiny_model_dir, "--data", folder), "not a file")


def test_unsupported_file_type(train_with):
    assert_one_line_error(train_with("a,b\n", "data.xlsx"), "unsupported file type")


def test_missing_text_column(train_with):
    rows = [{"body": r["text"], "label": r["label"]} for r in ROWS]
    assert_one_line_error(train_with(csv_text(rows, ("body", "label"))), "no text column 'text'", "body")


def test_missing_label_column(train_with):
    assert_one_line_error(train_with(csv_text(ROWS, ("text",))), "no label column 'label'")


def test_single_class(train_with):
    rows = [{"text": r["text"], "label": "pos"} for r in ROWS]
    assert_one_line_error(train_with(csv_text(rows)), "only one class")


def test_validation_label_not_seen_in_training(train_with, tmp_path):
    val = tmp_path / "val.csv"
    val.write_text(csv_text([{"text": "x", "label": "surprise"}, {"text": "y", "label": "pos"}]))
    result = train_with(csv_text(ROWS), "data.csv", "--validation", val)
    assert_one_line_error(result, "not seen in training", "surprise")


def test_non_utf8_bytes(train_with):
    content = csv_text(ROWS).encode() + "caf\xe9 au lait,pos\n".encode("latin-1")
    assert_one_line_error(train_with(content), "line 22", "not valid utf-8", "encoding_errors")


def test_non_utf8_bytes_replaced_when_asked(train_with, tmp_path):
    content = csv_text(ROWS).encode() + "caf\xe9 au lait,pos\n".encode("latin-1")
    result = train_with(content, "data.csv", "--max-steps", "1", "--set", 'data.encoding_errors="replace"')
    assert result.returncode == 0, result.stderr[-2000:]


def test_bad_jsonl_line(train_with):
    assert_one_line_error(train_with('{"text": "a", "label": "x"}\n{oops\n', "data.jsonl"), "line 2", "not valid JSON")


def test_bad_parquet(train_with):
    assert_one_line_error(train_with(b"PAR1 not really", "data.parquet"), "Parquet")


def test_recipe_unknown_key(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text("[train]\nlearning_rate = 3e-5\n")
    assert_one_line_error(ftui("train", recipe, "--headless"), "unknown key 'learning_rate'", "[train]")


def test_recipe_unknown_section(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text("[optimizer]\nlr = 3e-5\n")
    assert_one_line_error(ftui("train", recipe, "--headless"), "unknown section [optimizer]")


def test_recipe_wrong_type(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('[train]\nbatch_size = "big"\n')
    assert_one_line_error(ftui("train", recipe, "--headless"), "train.batch_size must be an integer")


def test_recipe_bad_value(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('[train]\nstrategy = "lora-ish"\n')
    assert_one_line_error(ftui("train", recipe, "--headless"), "train.strategy", "full, frozen, llrd")


def test_recipe_not_toml(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text("this is = = not toml\n")
    assert_one_line_error(ftui("train", recipe, "--headless"), "not valid TOML")


def test_missing_recipe_file(tmp_path):
    assert_one_line_error(ftui("train", tmp_path / "missing.toml", "--headless"), "no such recipe file")


def test_bad_set_override(tiny_csv):
    assert_one_line_error(ftui("train", "--headless", "--set", "train.lr"), "SECTION.KEY=VALUE")


def test_model_path_that_is_not_a_model(tmp_path, tiny_csv):
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    assert_one_line_error(ftui("train", "--headless", "--model", folder, "--data", tiny_csv), "not a model folder")


def test_model_folder_with_broken_weights(tmp_path, tiny_csv, tiny_model_dir):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    (broken / "model.safetensors").write_bytes(b"garbage")
    result = ftui("train", "--headless", "--model", broken, "--data", tiny_csv,
                  "--set", f"run.output_dir={json.dumps(str(tmp_path / 'runs'))}")
    assert_one_line_error(result, "model.safetensors is corrupt")
    assert not (tmp_path / "runs").exists(), "a broken model is found before a run directory exists"


def test_unknown_preset_offline(tiny_csv):
    assert_one_line_error(ftui("train", "--headless", "--model", "bert-huge", "--data", tiny_csv), "unknown model")


def test_hub_preset_not_available_offline(tiny_csv, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    assert_one_line_error(ftui("train", "--headless", "--model", "roberta-base", "--data", tiny_csv),
                          "not available offline")


def test_output_dir_exists_and_is_not_a_run(tmp_path, tiny_csv, tiny_model_dir):
    (tmp_path / "runs" / "taken").mkdir(parents=True)
    (tmp_path / "runs" / "taken" / "precious.txt").write_text("do not touch")
    result = ftui("train", "--headless", "--model", tiny_model_dir, "--data", tiny_csv, "--name", "taken",
                  "--set", f"run.output_dir={json.dumps(str(tmp_path / 'runs'))}")
    assert_one_line_error(result, "not an ftui run")
    assert (tmp_path / "runs" / "taken" / "precious.txt").read_text() == "do not touch"


def test_resume_of_a_path_that_is_not_a_run(tmp_path):
    assert_one_line_error(ftui("train", "--resume", tmp_path, "--headless"), "not an ftui run directory")
