"""`FtuiCallback` in a user's own plain HF `Trainer` script (not FtuiTrainer, not `ftui train`)
is a first-class run: pid file, hardware heartbeat, run_start, progress between HF's log steps,
a final status and summary; a paused script stays alive in the cockpit and resumes from it.

The script below is what a user writes: the tiny model, a few hundred real tweets, HF's default
``logging_steps`` (500), the callback added with ``add_callback``. It runs as its own process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import events_of, ftui

from ftui.rundir.layout import RunDir

SCRIPT = r'''
import argparse, json, time

import torch
from transformers import (AutoTokenizer, BertForSequenceClassification, DataCollatorWithPadding,
                          Trainer, TrainerCallback, TrainingArguments)

from ftui.trainer import FtuiCallback  # the path the README gives

p = argparse.ArgumentParser()
p.add_argument("data"); p.add_argument("model"); p.add_argument("run"); p.add_argument("out")
p.add_argument("--max-steps", type=int, default=-1); p.add_argument("--sleep", type=float, default=0.0)
p.add_argument("--crash-at", type=int, default=0)
p.add_argument("--lr", type=float, default=1e-3); p.add_argument("--epochs", type=float, default=2)
p.add_argument("--logging-steps", type=int, default=500)
a = p.parse_args()
torch.set_num_threads(1)
rows = json.load(open(a.data))
labels = sorted({r["label"] for r in rows})
tok = AutoTokenizer.from_pretrained(a.model)
def encode(part):
    return [dict(tok(r["text"], truncation=True, max_length=48), labels=labels.index(r["label"])) for r in part]

class Slow(TrainerCallback):
    """Stands for a slow model: each step takes a while; --crash-at raises mid-training."""
    def on_step_end(self, args, state, control, **kw):
        time.sleep(a.sleep)
        if a.crash_at and state.global_step >= a.crash_at:
            raise RuntimeError("out of patience at a bad batch")

model = BertForSequenceClassification.from_pretrained(
    a.model, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
args = TrainingArguments(output_dir=a.out, num_train_epochs=a.epochs, max_steps=a.max_steps, per_device_train_batch_size=16,
                         learning_rate=a.lr, logging_steps=a.logging_steps, eval_strategy="epoch", save_strategy="no", report_to="none",
                         disable_tqdm=True, use_cpu=True, seed=0)
trainer = Trainer(model=model, args=args, train_dataset=encode(rows[60:]), eval_dataset=encode(rows[:60]),
                  data_collator=DataCollatorWithPadding(tok), callbacks=[Slow()])
trainer.add_callback(FtuiCallback(a.run, metric="loss"))
trainer.train()
print("SCRIPT DONE")
'''


@pytest.fixture
def plain_script(tmp_path, tweets_rows, tiny_model_dir):
    """argv of the plain-Trainer script for a run dir ``tmp/runs/mine`` and output dir ``tmp/out``."""
    data = tmp_path / "tweets.json"
    data.write_text(json.dumps(tweets_rows[::2][:300]))  # 300 tweets, every class
    script = tmp_path / "train_mine.py"
    script.write_text(SCRIPT)
    run, out = tmp_path / "runs" / "mine", tmp_path / "out"
    return lambda *extra: [sys.executable, str(script), str(data), str(tiny_model_dir), str(run), str(out),
                           *map(str, extra)]


def _env() -> dict:
    return dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1")


def _run_watching_pid(argv, run: Path, timeout: float = 300) -> tuple[subprocess.CompletedProcess, bool]:
    """Runs the script; True if its own pid was in a live trainer.pid while it ran."""
    proc = subprocess.Popen(argv, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = False
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            seen = seen or (json.loads((run / "trainer.pid").read_text())["pid"] == proc.pid
                            and RunDir(run).trainer_alive() is True)
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    out, err = proc.communicate(timeout=max(1, deadline - time.monotonic()))
    return subprocess.CompletedProcess(argv, proc.returncode, out, err), seen


def test_a_plain_trainer_script_writes_a_whole_run(plain_script, tmp_path, tweets_rows):
    run = tmp_path / "runs" / "mine"
    result, pid_seen = _run_watching_pid(plain_script("--sleep", "0.1"), run)
    assert result.returncode == 0 and "SCRIPT DONE" in result.stdout, result.stderr[-3000:]
    assert pid_seen, "trainer.pid did not name the live script while it ran"
    events = events_of(run)
    start = [e for e in events if e["type"] == "run_start"]
    assert len(start) == 1
    assert start[0]["labels"] == sorted({r["label"] for r in tweets_rows})
    assert start[0]["total_steps"] == 30 and start[0]["epochs"] == 2  # 240 rows / 16 a batch, twice
    assert start[0]["task"] == "sequence-classification" and start[0]["model_type"] == "bert"
    assert start[0]["params_trainable"] == start[0]["params_total"] > 0 and start[0]["world_size"] == 1
    assert any(e["type"] == "hardware" for e in events), "no hardware heartbeat"
    steps = [e for e in events if e["type"] == "step"]
    assert steps and all(e.get("loss") is None for e in steps)  # logging_steps 500: progress, no loss
    assert steps[-1]["total_steps"] == 30 and isinstance(steps[-1]["elapsed_s"], float)
    assert len([e for e in events if e["type"] == "eval"]) == 2
    statuses = [e["status"] for e in events if e["type"] == "status"]
    assert statuses[0] == "running" and statuses[-1] == "finished" and statuses.count("finished") == 1
    summary = [e for e in events if e["type"] == "summary"]
    assert len(summary) == 1 and summary[0]["status"] == "finished" and summary[0]["final_step"] == 30
    assert not list((tmp_path / "out").glob("checkpoint-*"))  # save_strategy "no" is the script's to say

    listed = [json.loads(line) for line in ftui("--runs-dir", run.parent, "runs", "--json", check=True).stdout.splitlines()]
    assert [(r["name"], r["status"], r["live"], r["step"]) for r in listed] == [("mine", "finished", False, 30)]


def test_a_plain_trainer_script_gets_diagnosed_too(plain_script, tmp_path):
    """A script training at lr 1e-9 learns nothing: after a few evaluations the callback says
    underfitting (the eval loss is that of guessing from the class frequencies) and suggests a higher rate."""
    run = tmp_path / "runs" / "mine"
    result, _ = _run_watching_pid(plain_script("--lr", "1e-9", "--epochs", "4", "--logging-steps", "1"), run)
    assert result.returncode == 0, result.stderr[-3000:]
    diagnoses = events_of(run, "diagnosis")
    assert [(d["kind"], d["action"]) for d in diagnoses] == [("underfitting", "raise_lr")]
    assert diagnoses[0]["step"] <= events_of(run, "eval")[2]["step"]  # by the third evaluation
    assert events_of(run, "summary")[-1]["diagnosis"]["kind"] == "underfitting"


def test_a_script_that_crashes_mid_training_leaves_a_failed_status(plain_script, tmp_path):
    run = tmp_path / "runs" / "mine"
    result, _ = _run_watching_pid(plain_script("--crash-at", "3"), run)
    assert result.returncode == 1 and "out of patience" in result.stderr  # the script's traceback stays
    status = events_of(run, "status")[-1]
    assert status["status"] == "failed"
    assert "RuntimeError: out of patience at a bad batch" in status["message"]
    assert not events_of(run, "summary")
    listed = json.loads(ftui("--runs-dir", run.parent, "runs", "--json", check=True).stdout)
    assert listed["status"] == "failed" and listed["live"] is False


def test_ftui_own_runs_keep_one_run_start_status_and_summary(make_recipe, tmp_path):
    """Under `ftui train` the session writes the run-level events; the callback adds none."""
    recipe = make_recipe(train={"max_steps": 8, "logging_steps": 4})
    ftui("train", recipe, "--headless", check=True)
    run = tmp_path / "runs" / "tiny"
    assert len(events_of(run, "run_start")) == len(events_of(run, "summary")) == 1
    assert [e["status"] for e in events_of(run, "status")].count("finished") == 1
    assert all("loss" in e for e in events_of(run, "step"))  # only HF's log steps, no light ones
    assert [e["reason"] for e in events_of(run, "checkpoint")][-1] == "final"  # still forced at the end


# How long the tmux test holds the script paused: well past the cockpit's silence threshold
# (SILENT_AFTER_S, 10 s). FTUI_TEST_PAUSE_S=60 holds it the full minute.
PAUSE_HOLD_S = float(os.environ.get("FTUI_TEST_PAUSE_S", "35"))


def _tmux(cwd: Path):
    """The suite's tmux driver, with the Python-level environment: something in the test process
    sets COLUMNS=80 LINES=24 in the C environment only, and the cockpit would then draw 80x24."""
    from test_tui_e2e_tmux import Tmux

    class SizedTmux(Tmux):
        def __call__(self, *args: str) -> str:
            return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True,
                                  check=True, timeout=10, env=dict(os.environ)).stdout

    return SizedTmux(cwd)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_a_paused_plain_script_stays_alive_in_the_cockpit_and_resumes(plain_script, tmp_path):
    from test_tui_e2e_tmux import header, wait_events

    from ftui.tui.watcher import SILENT_AFTER_S

    assert PAUSE_HOLD_S > 3 * SILENT_AFTER_S
    run, out = tmp_path / "runs" / "mine", tmp_path / "out"
    proc = subprocess.Popen(plain_script("--max-steps", 60, "--sleep", 0.2), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    tmux = _tmux(tmp_path)
    try:
        wait_events(run, lambda ev: any(e["type"] == "run_start" for e in ev), timeout=180, what="run_start")
        tmux.start("watch", f"watch {run}", size=(200, 40))
        tmux.wait("watch", lambda s: "RUNNING" in header(s), timeout=60, what="the cockpit to attach")

        tmux.keys("watch", "p")
        tmux.wait("watch", lambda s: "PAUSED" in header(s) and "pause acknowledged" in s, timeout=60, what="pause")
        paused = [e for e in events_of(run, "status") if e["status"] == "paused"][-1]["step"]

        tmux.keys("watch", "s")  # saves into the script's own output_dir, and says where
        where = f"saving checkpoint-{paused} in {out}"
        tmux.wait("watch", lambda s: where in s, timeout=60, what="the save ack naming the output dir")
        wait_events(run, lambda ev: any(e["type"] == "checkpoint" for e in ev), timeout=60, what="the checkpoint")
        assert (out / f"checkpoint-{paused}" / "trainer_state.json").is_file()

        held_until = time.monotonic() + PAUSE_HOLD_S
        while time.monotonic() < held_until:  # paused and silent in steps, but alive
            screen = tmux.screen("watch")
            assert "TRAINER DIED" not in screen and "NO HEARTBEAT" not in screen, screen
            assert "PAUSED" in header(screen), screen
            time.sleep(1.0)
        assert max((e["step"] for e in events_of(run, "step")), default=0) <= paused and proc.poll() is None

        tmux.keys("watch", "p")
        tmux.wait("watch", lambda s: "resume acknowledged" in s and "RUNNING" in header(s), timeout=60, what="resume")
        assert proc.wait(timeout=240) == 0, proc.stderr.read()[-3000:]
        tmux.wait("watch", lambda s: "FINISHED" in header(s), timeout=60, what="the cockpit to see the end")
        assert events_of(run, "status")[-1]["status"] == "finished"
        assert events_of(run, "summary")[-1]["final_step"] == 60
    finally:
        tmux.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_run_start_reads_labels_and_task_from_any_model_config():
    from types import SimpleNamespace

    from ftui.trainer.engine.script_run import config_labels, infer_task

    assert config_labels(SimpleNamespace(id2label={"1": "pos", "0": "neg", "10": "odd"})) == ["neg", "pos", "odd"]
    assert config_labels(SimpleNamespace(id2label={"a": "x"})) == ["x"] and config_labels(None) == []
    head = lambda name: type(name, (), {})()  # noqa: E731
    assert infer_task(head("RobertaForTokenClassification")) == "token-classification"
    assert infer_task(head("ViTForImageClassification")) == "image-classification"
    assert infer_task(head("GPT2LMHeadModel")) == ""


def test_the_crash_guard_records_once_and_comes_off(monkeypatch):
    from ftui.trainer.engine.script_run import CrashGuard

    seen = []
    monkeypatch.setattr(sys, "excepthook", lambda *a: seen.append("previous"))
    guard = CrashGuard(lambda *a: seen.append(a[:2]))
    guard.install()
    try:
        raise ValueError("bad batch\nmore lines")
    except ValueError as e:
        sys.excepthook(type(e), e, e.__traceback__)
    guard._at_exit()  # the script then exits: already said, not said twice
    guard.remove()
    assert seen == [("failed", "ValueError: bad batch"), "previous"]
    assert sys.excepthook.__name__ == "<lambda>"

    quiet = CrashGuard(lambda *a: seen.append(a[:2]))
    quiet.install()
    quiet._at_exit()  # exited without an exception and without on_train_end
    quiet.remove()
    assert seen[-1] == ("failed", "the script exited before training ended")
