"""Given commands, options and --file inputs nobody here wrote (non-finite or absurd numbers,
lines that are not commands, a PNG as a text file, a mistyped option), when the trainer, the
`ftui` command line or a bundle's predictor reads them, then each is refused in one line (an
ack with ok false, or exit 2) before it can do harm, and the run goes on unharmed."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from test_trainer_commands import ack_of, long_run, wait_for  # noqa: F401  (long_run is a fixture)

from conftest import events_of, ftui
from ftui.rundir.events import make_command, write_command
from ftui.rundir.events_schema import COMMANDS, MAX_LR, check_command, check_event
from ftui.trainer.engine.commanding import CommandReader

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)
command_like = st.fixed_dictionaries(
    {"cmd": st.sampled_from(COMMANDS) | json_values},
    optional={"v": st.just(1) | json_values, "id": st.text(max_size=8) | json_values,
              "t": st.floats(0, 2e9) | json_values, "mode": st.sampled_from(["set", "scale"]) | json_values,
              "value": st.floats(allow_nan=True, allow_infinity=True) | st.integers() | json_values},
)


class FakeOptimizer:
    def __init__(self, lr: float = 1e-4):
        self.param_groups = [{"lr": lr}]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(objs=st.lists(command_like | json_values, min_size=1, max_size=8))
def test_every_command_line_is_acted_on_or_refused_with_one_ack(tmp_path_factory, objs):
    path = tmp_path_factory.mktemp("run") / "commands.jsonl"
    path.write_text("".join(json.dumps(o) + "\n" for o in objs))
    acks = []
    reader = CommandReader(path, lambda kind, step, **fields: acks.append(fields))
    decision = reader.decide(5, FakeOptimizer(), paused=False)
    assert len(acks) == len(objs)  # one acknowledgement per line, in order
    for obj, ack in zip(objs, acks):
        check_event({"v": 1, "type": "ack", "t": time.time(), "step": 5, **ack})  # readers can read it
        if ack["ok"]:
            assert check_command(obj)["cmd"] in COMMANDS
        else:
            assert ack["message"] and "\n" not in ack["message"]
    factor = decision.lr_factor or 1.0
    assert math.isfinite(factor) and 0 < factor and 1e-4 * factor < MAX_LR


@pytest.mark.parametrize("line, why", [
    ('{"v":1,"id":"inf","cmd":"set_lr","value":1e400}', "not a finite number"),
    ('{"v":1,"id":"nan","cmd":"set_lr","value":NaN}', "not a finite number"),
    ('{"v":1,"id":"zero","cmd":"set_lr","value":0}', "must be positive"),
    ('{"v":1,"id":"huge","cmd":"set_lr","value":50}', "not a learning rate"),
    ('{"v":1,"id":"x9","cmd":"set_lr","value":1e-5,"mode":"times"}', "mode must be"),
    ('{"v":1,"id":"big","cmd":"set_lr","value":1e6,"mode":"scale"}', "too large"),
    ('{"v":1,"id":"str","cmd":"set_lr","value":"3e-5"}', "needs a number"),
    ('{"v":2,"id":"new","cmd":"pause"}', "newer"),
    ('{"v":1,"id":"who","cmd":"explode"}', "unknown command"),
    ('["pause"]', "JSON object"),
    ('pause', "not JSON"),
])
def test_bad_commands_are_refused_with_the_reason(tmp_path, line, why):
    path = tmp_path / "commands.jsonl"
    path.write_text(line + "\n")
    acks = []
    CommandReader(path, lambda kind, step, **fields: acks.append(fields)).decide(3, FakeOptimizer(), paused=False)
    assert [a["ok"] for a in acks] == [False] and why in acks[0]["message"], acks
    assert "commands.jsonl line 1" in acks[0]["message"]


def test_a_scale_that_would_reach_an_absurd_rate_is_refused(tmp_path):
    path = tmp_path / "commands.jsonl"
    path.write_text(json.dumps(make_command("set_lr", 900.0, "scale")) + "\n")
    acks = []
    decision = CommandReader(path, lambda kind, step, **f: acks.append(f)).decide(3, FakeOptimizer(0.01), False)
    assert acks[0]["ok"] is False and "not one" in acks[0]["message"] and not decision.lr_factor


@pytest.mark.parametrize("value, mode", [(math.inf, "set"), (float("nan"), "set"), (-1.0, "set"), (2.0, "set"),
                                         (1e9, "scale")])
def test_make_command_refuses_what_the_trainer_would(value, mode):
    with pytest.raises(ValueError):
        make_command("set_lr", value, mode)


def test_set_lr_infinity_is_refused_and_the_run_trains_on(long_run):  # noqa: F811
    """A set_lr of 1e400 (JSON for infinity) used to be acked ok, and the next loss was NaN."""
    proc, run = long_run
    wait_for(run, lambda e: e["type"] == "step" and e["step"] >= 2, what="training steps")
    with open(run / "commands.jsonl", "a") as f:
        f.write('{"v":1,"id":"inf-lr","cmd":"set_lr","value":1e400}\n')
    ack = ack_of(run, {"id": "inf-lr", "cmd": "set_lr"})
    assert ack["ok"] is False and "finite" in ack["message"]
    wait_for(run, lambda e: e["type"] == "step" and e["step"] >= ack["step"] + 3, what="steps after the ack")
    stop = write_command(run, "stop")
    ack_of(run, stop)
    assert proc.wait(timeout=60) == 0
    losses = [e["loss"] for e in events_of(run, "step")]
    assert all(isinstance(v, float) and math.isfinite(v) for v in losses), losses
    assert events_of(run, "status")[-1]["status"] == "stopped"


# --- options: every numeric option refuses non-finite and out-of-range values, in one line -----

BAD_OPTIONS = [
    ["export", "--onnx", "--atol", "nan"], ["export", "--onnx", "--atol", "-1"],
    ["export", "--onnx", "--max-accuracy-drop", "inf"], ["export", "--onnx", "--max-accuracy-drop", "-1"],
    ["export", "--onnx", "--threads", "0"], ["export", "--onnx", "--threads", "-3"],
    ["train", "--epochs", "inf"], ["train", "--epochs", "1e400"], ["train", "--epochs", "0"],
    ["train", "--lr", "nan"], ["train", "--lr", "-1e-5"], ["train", "--batch-size", "0"],
    ["train", "--batch-size", "2.5"], ["train", "--max-steps", "-4"], ["train", "--max-train-rows", "0"],
    ["train", "--seed", "-1"], ["train", "--nproc", "0"], ["train", "--nnodes", "0"],
    ["train", "--node-rank", "-1"], ["train", "--master-port", "70000"],
]


@pytest.mark.parametrize("argv", BAD_OPTIONS, ids=" ".join)
def test_bad_numeric_options_exit_2_in_one_line(argv, capsys):
    from ftui.tui.cli import parse_args

    with pytest.raises(SystemExit) as exited:
        parse_args(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"ftui {argv[0]}: {argv[-2]}: ") and f"(ftui {argv[0]} --help)" in err


def test_export_atol_nan_exits_before_any_work(tmp_path):
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    (run / "events.jsonl").write_text("")
    started = time.monotonic()
    result = ftui("export", run, "--onnx", "--atol", "nan", timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == "ftui export: --atol: 'nan' is not a finite number (ftui export --help)\n"
    assert not (run / "export").exists() and time.monotonic() - started < 20


@pytest.mark.parametrize("argv, says", [
    (["train", "--epochs", "abc"], "ftui train: --epochs: invalid number 'abc' (ftui train --help)"),
    (["train", "--bogus"], "ftui train: unrecognized arguments: --bogus (ftui train --help)"),
    (["runs", "--jsn"], "ftui runs: unrecognized arguments: --jsn (ftui runs --help)"),
    (["export"], "ftui export: the following arguments are required: --onnx (ftui export --help)"),
    (["frobnicate"], "ftui: COMMAND: invalid choice: 'frobnicate'"),
])
def test_usage_errors_are_one_line(argv, says):
    result = ftui(*argv, timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(says)


# --- predict --file: UTF-8 text only --------------------------------------------------------------

def fake_bundle(root: Path, task: str = "sequence-classification") -> Path:
    """A bundle folder with a manifest and labels but no model: enough to reach the input checks."""
    bundle = root / "bundle"
    bundle.mkdir()
    (bundle / "bundle.json").write_text(json.dumps({"task": task, "default_model": "model.onnx", "max_length": 16}))
    (bundle / "labels.json").write_text('["neg", "pos"]')
    return bundle


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10" + bytes(range(256))


@pytest.mark.parametrize("task", ["sequence-classification", "image-classification"])
def test_predict_file_that_is_an_image_is_one_line(tmp_path, task):
    (tmp_path / "cat.png").write_bytes(PNG)
    result = ftui("predict", fake_bundle(tmp_path, task), "--file", tmp_path / "cat.png", timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and result.stdout == "", result
    assert "cat.png: line 1: not UTF-8 text" in result.stderr


def test_predict_file_with_a_nul_byte_names_its_line(tmp_path):
    from ftui.export.predictor import PredictorError, read_texts

    (tmp_path / "in.txt").write_bytes(b"fine\nstill fine\nbad\x00line\n")
    with pytest.raises(PredictorError, match=r"in.txt: line 3: a NUL byte"):
        read_texts([], str(tmp_path / "in.txt"))


def test_image_bundles_still_take_paths_in_the_file(tmp_path):
    from ftui.export.predictor import read_inputs

    (tmp_path / "paths.txt").write_text("\ufeffphotos/cät 1.png\n\n  photos/dog.jpg  \n", encoding="utf-8")
    assert read_inputs([], str(tmp_path / "paths.txt"), "none", strip=True) == ["photos/cät 1.png", "photos/dog.jpg"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=64) | st.text(max_size=20).map(lambda t: t.encode("utf-8")))
def test_predictor_input_reader_takes_text_or_says_why_in_one_line(tmp_path_factory, data):
    from ftui.export.predictor import PredictorError, read_texts

    path = tmp_path_factory.mktemp("in") / "inputs.txt"
    path.write_bytes(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    is_text = text is not None and "\0" not in text
    try:
        texts = read_texts([], str(path))
    except PredictorError as e:
        assert "\n" not in str(e)
        if is_text:  # text, but not one input in it
            assert "empty input" in str(e) and not text.removeprefix("\ufeff").strip()
        else:
            assert str(path) in str(e) and ("not UTF-8 text" in str(e) or "NUL byte" in str(e))
        return
    assert is_text and texts and all(t in text for t in texts)


def test_bundle_predict_py_usage_error_is_one_line(tmp_path):
    predictor = Path(__file__).resolve().parent.parent / "export" / "predictor.py"
    result = subprocess.run([sys.executable, str(predictor), "--bogus"], capture_output=True, text=True,
                            cwd=tmp_path, timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("predictor.py: unrecognized arguments: --bogus (predictor.py --help)")
