"""A real 2-process run (torchrun, DDP, gloo on CPU) through the same `ftui train` launch path."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import psutil
import pytest
from safetensors.numpy import load_file

from conftest import events_of, ftui
from ftui.rundir.events import write_command
from test_trainer_commands import ack_of, wait_for


def saved_digest(checkpoint) -> str:
    """sha256 over a checkpoint's tensors, in the order `_rank_digests` hashes a state dict."""
    digest = hashlib.sha256()
    for name, array in sorted(load_file(checkpoint / "model.safetensors").items()):
        digest.update(name.encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def test_two_processes_one_event_writer_identical_replicas(make_recipe, tmp_path):
    result = ftui("train", make_recipe(), "--headless", "--nproc", "2", timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    run = tmp_path / "runs" / "tiny"
    assert len(events_of(run, "run_start")) == 1 and events_of(run, "run_start")[0]["world_size"] == 2
    steps = Counter(e["step"] for e in events_of(run, "step"))
    assert steps and max(steps.values()) == 1, "each step is logged once: only rank 0 writes events"
    assert max(steps) == 15, "480 rows, batch 16 per rank, 2 ranks: 15 optimizer steps"
    logged = [e for e in events_of(run, "step") if "rank_step_s" in e]
    assert logged and all(len(e["rank_step_s"]) == 2 and len(e["rank_sync_s"]) == 2 for e in logged)
    summary = events_of(run, "summary")[-1]
    rank0, rank1 = summary["rank_weights_sha256"]
    assert rank0 == rank1, "DDP replicas diverged"
    assert saved_digest(run / "checkpoints" / "checkpoint-15") == rank0, "the checkpoint is not rank 0's weights"
    assert {p.name for p in (run / "checkpoints" / "checkpoint-15").glob("rng_state_*.pth")} == \
        {"rng_state_0.pth", "rng_state_1.pth"}


@pytest.fixture
def two_rank_long_run(make_recipe, tmp_path):
    recipe = make_recipe(train={"max_steps": 100000, "eval_every": 100000}, checkpoint={"every": 100000})
    proc = subprocess.Popen([sys.executable, "-m", "ftui.tui.cli", "train", str(recipe), "--headless",
                             "--nproc", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    yield proc, tmp_path / "runs" / "tiny"
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_commands_act_on_both_ranks_at_the_same_step(two_rank_long_run):
    proc, run = two_rank_long_run
    wait_for(run, lambda e: e["type"] == "step" and e["step"] >= 3, timeout=120, what="training steps")
    pause = write_command(run, "pause")
    paused_at = ack_of(run, pause)["step"]
    time.sleep(1.0)
    assert max(e["step"] for e in events_of(run, "step")) <= paused_at
    save = write_command(run, "save")
    ack_of(run, save)
    saved = wait_for(run, lambda e: e["type"] == "checkpoint" and e["reason"] == "command")
    # Each rank writes its own RNG state into the checkpoint: both did, at the paused step.
    folder = run / saved["path"]
    assert saved["step"] == paused_at
    assert {p.name for p in folder.glob("rng_state_*.pth")} == {"rng_state_0.pth", "rng_state_1.pth"}
    ack_of(run, write_command(run, "resume"))
    wait_for(run, lambda e: e["type"] == "step" and e["step"] > paused_at + 1, what="steps after resume")
    ack_of(run, write_command(run, "stop"))
    assert proc.wait(timeout=120) == 0, proc.stderr.read()[-3000:]
    final = events_of(run, "checkpoint")[-1]
    assert final["reason"] == "stop"
    summary = events_of(run, "summary")[-1]
    assert summary["status"] == "stopped" and len(set(summary["rank_weights_sha256"])) == 1
    assert saved_digest(run / final["path"]) == summary["rank_weights_sha256"][0]


def test_a_dead_rank_ends_the_run_with_a_failed_status(two_rank_long_run):
    proc, run = two_rank_long_run
    wait_for(run, lambda e: e["type"] == "step" and e["step"] >= 3, timeout=120, what="training steps")
    workers = [p for p in psutil.Process(proc.pid).children(recursive=True)
               if "--worker" in p.cmdline() and p.environ().get("LOCAL_RANK") == "1"]
    assert len(workers) == 1
    workers[0].kill()
    assert proc.wait(timeout=120) != 0, "the supervisor must report the failure, not hang"
    status = events_of(run, "status")[-1]
    assert status["status"] == "failed" and status["message"]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_nodes_share_one_run_dir_and_each_reports_its_hardware(make_recipe, tmp_path):
    """Two `ftui train --nnodes 2` commands, as on two machines sharing a filesystem (here one)."""
    from ftui.tui.hardware_pane import NodeHistories, nodes_text
    from ftui.tui.watcher import RunWatcher

    recipe = make_recipe(train={"epochs": 12.0, "logging_steps": 10})
    port = str(_free_port())
    nodes = [subprocess.Popen([sys.executable, "-m", "ftui.tui.cli", "train", str(recipe), "--headless",
                               "--nnodes", "2", "--node-rank", str(rank), "--master-addr", "127.0.0.1",
                               "--master-port", port, "--name", "tiny"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for rank in (0, 1)]
    for node in nodes:
        assert node.wait(timeout=300) == 0, node.stderr.read()[-3000:]
    run = tmp_path / "runs" / "tiny"
    assert events_of(run, "run_start")[0]["world_size"] == 2
    assert max(Counter(e["step"] for e in events_of(run, "step")).values()) == 1
    assert {e.get("node") for e in events_of(run, "hardware")} == {0}
    lines = (run / "hardware" / "node1.jsonl").read_text().splitlines()
    assert lines and all('"node":1' in line and '"type":"hardware"' in line for line in lines)

    histories = NodeHistories()
    for event in RunWatcher(run).poll().events:
        if event["type"] == "hardware":
            histories.add(event)
    shown = nodes_text(histories, 40).plain
    assert sorted(histories.by_node) == [0, 1] and "node 0" in shown and "node 1" in shown


def test_lora_under_two_processes_keeps_replicas_identical_and_saves_adapters(make_recipe, tmp_path):
    recipe = make_recipe(train={"strategy": "lora", "lr": 2e-2, "lora_r": 4})
    result = ftui("train", recipe, "--headless", "--nproc", "2", timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    run = tmp_path / "runs" / "tiny"
    start = events_of(run, "run_start")[0]
    assert start["world_size"] == 2 and start["strategy"] == "lora"
    assert start["params_trainable"] < start["params_total"] / 10
    rank0, rank1 = events_of(run, "summary")[-1]["rank_weights_sha256"]
    assert rank0 == rank1, "DDP replicas diverged under LoRA"
    checkpoint = run / "checkpoints" / "checkpoint-15"
    assert (checkpoint / "adapter" / "adapter_model.safetensors").is_file()
    merged = load_file(checkpoint / "model.safetensors")
    assert not any("lora" in name or "base_layer" in name for name in merged), "the top level is a plain model"
