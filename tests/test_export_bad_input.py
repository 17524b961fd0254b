"""Bad input to `ftui export` and `ftui predict`: one line on stderr, a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import ftui
from export_fixtures import exported_run, tiny_checkpoint, tiny_run, validation_rows  # noqa: F401

from ftui.tui.cli import main


def run_cli(argv, capsys, phrase):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("ftui: ") and phrase in err[0], err
    return err[0]


def edit_config(run, **changes):
    path = run / "checkpoints" / "checkpoint-10" / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


def test_missing_path(tmp_path, capsys):
    run_cli(["export", tmp_path / "nope", "--onnx"], capsys, "no such run or checkpoint")


def test_folder_that_is_neither_run_nor_checkpoint(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hi")
    run_cli(["export", tmp_path, "--onnx"], capsys, "not an ftui run")


def test_run_without_a_checkpoint(tiny_run, capsys):
    shutil.rmtree(tiny_run / "checkpoints")
    run_cli(["export", tiny_run, "--onnx"], capsys, "no complete checkpoint")


def test_checkpoint_without_labels(tiny_run, capsys):
    edit_config(tiny_run, id2label={"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"})
    run_cli(["export", tiny_run, "--onnx"], capsys, "placeholder labels")


def test_checkpoint_without_tokenizer(tiny_run, capsys):
    (tiny_run / "checkpoints" / "checkpoint-10" / "tokenizer.json").unlink()
    run_cli(["export", tiny_run / "checkpoints" / "checkpoint-10", "--onnx"], capsys, "no tokenizer.json")


def test_missing_validation_split(tiny_run, capsys):
    (tiny_run / "data" / "validation.jsonl").unlink()
    run_cli(["export", tiny_run, "--onnx"], capsys, "no validation split")


def test_validation_label_the_model_does_not_know(tiny_run, tmp_path, capsys):
    data = tmp_path / "val.jsonl"
    data.write_text(json.dumps({"text": "great", "label": "joy"}) + "\n")
    run_cli(["export", tiny_run, "--onnx", "--data", data], capsys, "label 'joy' is not one of")


def test_unsupported_architecture(tiny_run, capsys):
    edit_config(tiny_run, model_type="gpt2", architectures=["GPT2ForSequenceClassification"])
    run_cli(["export", tiny_run, "--onnx"], capsys, "unsupported architecture 'gpt2'")


def test_unsupported_task(tiny_run, capsys):
    edit_config(tiny_run, architectures=["BertForMaskedLM"])
    run_cli(["export", tiny_run, "--onnx"], capsys, "unsupported task")


def test_unwritable_output(tiny_run, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    run_cli(["export", tiny_run, "--onnx", "--output", blocker / "out"], capsys, "cannot write the export")


def test_output_folder_holding_something_else_is_left_alone(tiny_run, tmp_path, capsys):
    (tmp_path / "out" / "bundle").mkdir(parents=True)
    (tmp_path / "out" / "bundle" / "precious.txt").write_text("keep me")
    run_cli(["export", tiny_run, "--onnx", "--output", tmp_path / "out"], capsys, "not an ftui bundle")
    assert (tmp_path / "out" / "bundle" / "precious.txt").read_text() == "keep me"


@pytest.fixture
def bundle_copy(exported_run, tmp_path):
    return shutil.copytree(exported_run[1].bundle_path, tmp_path / "bundle")


def test_predict_corrupt_onnx(bundle_copy, capsys):
    manifest = json.loads((bundle_copy / "bundle.json").read_text())
    (bundle_copy / manifest["default_model"]).write_bytes(b"\x08\x07 this is not a protobuf model" * 50)
    run_cli(["predict", bundle_copy, "hello"], capsys, "not a valid ONNX model")


def test_predict_empty_text(bundle_copy, capsys):
    run_cli(["predict", bundle_copy, "  "], capsys, "empty input text")


def test_predict_no_text_at_all(bundle_copy, tmp_path, capsys):
    run_cli(["predict", bundle_copy], capsys, "empty input text")
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n")
    run_cli(["predict", bundle_copy, "--file", blank], capsys, "empty input text")


def test_predict_folder_that_is_not_a_bundle(tmp_path, capsys):
    run_cli(["predict", tmp_path, "hello"], capsys, "not an ftui export bundle")


def test_real_command_line_prints_one_line(bundle_copy, tmp_path):
    manifest = json.loads((bundle_copy / "bundle.json").read_text())
    (bundle_copy / manifest["default_model"]).write_bytes(b"garbage")
    result = ftui("predict", bundle_copy, "hello", "--json")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "not a valid ONNX model" in result.stderr
    result = ftui("export", tmp_path / "missing", "--onnx")
    assert result.returncode == 2 and result.stderr.startswith("ftui: ") and result.stderr.count("\n") == 1


def test_export_without_a_source_and_no_runs_is_one_line(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "ftui.tui.cli", "export", "--onnx"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.startswith("ftui: no runs in runs/")
    assert len(result.stderr.strip().splitlines()) == 1
