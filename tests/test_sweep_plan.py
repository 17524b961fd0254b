"""`ftui sweep` without training: planning, bad input, sweep.json, GPU scheduling and halving.

Scheduling and halving run the real SweepRunner with a stand-in trainer process that writes the
events a real one would (a best checkpoint whose value is a function of the learning rate)."""

from __future__ import annotations

import io
import json
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from conftest import ftui
from ftui.rundir.errors import RunDirError
from ftui.rundir.events import EventLog
from ftui.rundir.layout import create_run, write_atomic
from ftui.rundir.sweep import Candidate, Sweep, last_diagnosis, read_sweep, write_sweep
from ftui.trainer.sweep.runner import SweepRunner, create_sweep
from ftui.trainer.sweep.plan import finish_plan, halving_rungs, set_axis
from ftui.trainer.sweep.report import JsonReport
from ftui.tui.cli import parse_args
from ftui.tui.sweep_cli import _plan


def plan_of(*argv):
    plan, params = _plan(parse_args(["sweep", *map(str, argv)]))
    return finish_plan(plan, params)


def test_the_cross_product_of_every_axis(tiny_model_dir, tmp_path):
    plan = plan_of("--model", f"{tiny_model_dir},{tiny_model_dir}", "--strategy", "full,lora",
                   "--lr", "3e-5,1e-4,3e-3", "--set", "train.warmup_ratio=0,0.1", "--budget", "200",
                   "--set", "train.weight_decay=0.05",
                   "--runs-dir", tmp_path / "runs", "--name", "s")
    assert len(plan.candidates) == 2 * 2 * 3 * 2
    combos = {(p["train.strategy"], p["train.lr"], p["train.warmup_ratio"]) for _, p in plan.candidates}
    assert len(combos) == 12
    assert len({name for name, _ in plan.candidates}) == 24, "names are unique"
    recipe = plan.recipes[plan.candidates[0][0]]
    assert recipe.train.max_steps == 200 and recipe.run.output_dir == str(tmp_path / "runs" / "s")
    assert all(r.train.weight_decay == 0.05 for r in plan.recipes.values()), "one value: shared, not an axis"
    assert all("train.weight_decay" not in p for _, p in plan.candidates)
    assert not (tmp_path / "runs").exists(), "planning creates nothing"


def test_a_sweep_section_lists_candidates_and_the_command_line_adds_an_axis(tiny_model_dir, tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(f'[model]\nname = "{tiny_model_dir}"\n[train]\nbatch_size = 8\n'
                    f'[sweep]\nbudget = "10m"\nname = "mine"\n'
                    'candidates = [{strategy = "full", lr = 1e-4}, {strategy = "lora", lr = 1e-3}]\n')
    plan = plan_of(path, "--set", "train.weight_decay=0,0.1", "--runs-dir", tmp_path)
    assert [p for _, p in plan.candidates] == [
        {"train.strategy": "full", "train.lr": 1e-4, "train.weight_decay": 0},
        {"train.strategy": "full", "train.lr": 1e-4, "train.weight_decay": 0.1},
        {"train.strategy": "lora", "train.lr": 1e-3, "train.weight_decay": 0},
        {"train.strategy": "lora", "train.lr": 1e-3, "train.weight_decay": 0.1}]
    assert plan.budget == {"minutes": 10.0} and plan.name == "mine"
    assert all(r.train.batch_size == 8 and r.train.max_steps == -1 for r in plan.recipes.values())


def test_a_set_axis_splits_on_commas_but_keeps_a_toml_list_whole():
    assert set_axis("train.warmup_ratio=0,0.1") == ("train.warmup_ratio", [0, 0.1])
    assert set_axis("train.scheduler=linear,cosine") == ("train.scheduler", ["linear", "cosine"])
    assert set_axis("training_args.x=[1, 2]") == ("training_args.x", [[1, 2]])
    assert set_axis("train.lr=1e-4") == ("train.lr", [1e-4])


def test_halving_rungs_end_at_the_budget():
    assert halving_rungs(6, 200) == [50, 100, 200]
    assert halving_rungs(2, 8) == [4, 8]
    assert halving_rungs(1, 8) == [8]


@pytest.mark.parametrize("argv, says", [
    (["--lr", "1e-4,"], "empty axis"),
    (["--strategy", ""], "empty axis"),
    (["--model", "no-such-model,{model}"], "unknown model 'no-such-model'"),
    (["--lr", "1e-4", "--budget", "0"], "--budget '0': must be above 0"),
    (["--lr", "1e-4", "--budget", "0m"], "must be above 0"),
    (["--set", "train.lr=1e-4", "--set", "train.lr=1e-3"], "given twice"),
    (["--lr", "1e-4", "--set", "train.lr=1e-3"], "given twice"),
    (["--lr", "1e-4,-1"], "train.lr must be greater than 0"),
    (["--set", "train.nosuch=1,2"], "unknown key 'nosuch'"),
    (["--strategy", "full,nosuch"], "train.strategy = 'nosuch' is not one of"),
    (["--lr", "1e-4", "--halving", "--budget", "5m"], "--halving needs a budget in steps"),
    ([], "nothing to sweep"),
])
def test_bad_input_is_one_line_exit_2_and_creates_nothing(argv, says, tiny_model_dir, tmp_path):
    argv = [a.replace("{model}", str(tiny_model_dir)) for a in argv]
    base = tmp_path / "base.toml"
    base.write_text(f'[model]\nname = "{tiny_model_dir}"\n')
    result = ftui("sweep", base, "--runs-dir", tmp_path / "runs", "--headless", *argv)
    assert result.returncode == 2, result.stderr
    assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "runs").exists()


def test_a_sweep_folder_that_exists_is_refused(tiny_model_dir, tmp_path):
    (tmp_path / "runs" / "s").mkdir(parents=True)
    result = ftui("sweep", "--model", tiny_model_dir, "--lr", "1e-4", "--runs-dir", tmp_path / "runs",
                  "--name", "s", "--headless")
    assert result.returncode == 2 and "exists" in result.stderr and len(result.stderr.splitlines()) == 1
    assert list((tmp_path / "runs" / "s").iterdir()) == []


def test_sweep_json_round_trips(tmp_path):
    sweep = Sweep("accuracy", True, [Candidate("a", "a", {"train.lr": 1e-4}, "done", 1, value=0.5)], winner="a",
                  budget={"steps": 10})
    write_sweep(tmp_path, sweep)
    assert read_sweep(tmp_path) == sweep
    assert json.loads((tmp_path / "sweep.json").read_text())["format"] == "ftui-sweep"


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                    lambda kids: st.lists(kids) | st.dictionaries(st.text(), kids), max_leaves=20))
def test_the_sweep_reader_returns_a_sweep_or_one_error(tmp_path_factory, value):
    folder = tmp_path_factory.mktemp("s", numbered=True)
    body = {"format": "ftui-sweep", "v": 1, "metric": "accuracy", "candidates": [value]}
    for raw in (value, body):
        (folder / "sweep.json").write_text(json.dumps(raw))
        try:
            sweep = read_sweep(folder)
        except RunDirError as e:
            assert "\n" not in str(e)
        else:
            assert all(isinstance(c.name, str) and isinstance(c.params, dict) for c in sweep.candidates)


def test_the_last_diagnosis_event_gives_the_kind(tmp_path):
    lines = [{"v": 1, "type": "diagnosis", "t": 1.0, "step": 5, "kind": "overfitting"},
             {"v": 1, "type": "step", "t": 2.0, "step": 6}, "not json",
             {"v": 1, "type": "diagnosis", "t": 3.0, "step": 9, "kind": "healthy"}]
    (tmp_path / "events.jsonl").write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines))
    assert last_diagnosis(tmp_path) == "healthy"
    assert last_diagnosis(tmp_path / "nothing") is None


# --- the runner with a stand-in trainer ----------------------------------------------------------

class FakeTrainer:
    """Writes what a finished trainer writes (best value = lr * 1000) after a few polls."""

    def __init__(self, run_path: Path, resume: bool, env, log: list, live: list):
        self.run, self.polls, self.live = run_path, 0, live
        recipe = tomllib.loads((run_path / "recipe.toml").read_text())
        self.steps, self.lr = recipe["train"]["max_steps"], recipe["train"]["lr"]
        self.nan = self.lr >= 1
        log.append((run_path.name, resume, (env or {}).get("CUDA_VISIBLE_DEVICES"), self.steps))
        live.append(self)

    def poll(self):
        self.polls += 1
        if self.polls < 3:
            return None
        if self in self.live:
            self.live.remove(self)
            events = EventLog(self.run / "events.jsonl")
            events.emit("run_start", 0, run=self.run.name, params_trainable=10, metric="accuracy")
            if self.nan:
                events.emit("status", 1, status="nan_halted", message="loss nan at step 1")
            else:
                events.emit("checkpoint", self.steps, path=f"checkpoints/checkpoint-{self.steps}", best=True,
                            value=self.lr * 1000, metric="accuracy")
                events.emit("status", self.steps, status="finished")
            events.close()
        return 3 if self.nan else 0


def fake_sweep(tmp_path, tiny_model_dir, lrs: str, *more, slots=(None,)):
    plan = plan_of("--model", tiny_model_dir, "--lr", lrs, "--runs-dir", tmp_path, "--name", "s", *more)
    folder = create_sweep(plan)
    log, live, most = [], [], [0]

    def launch(run_path, resume, env):
        trainer = FakeTrainer(run_path, resume, env, log, live)
        most[0] = max(most[0], len(live))
        return trainer

    def prepare(recipe):
        from ftui.trainer.recipe import to_toml

        run = create_run(Path(recipe.run.output_dir) / recipe.run.name)
        write_atomic(run.recipe, to_toml(recipe))

    out = io.StringIO()
    code = SweepRunner(folder, JsonReport(out), slots=list(slots), launcher=launch, prepare=prepare).run()
    return folder, code, log, most[0], [json.loads(line) for line in out.getvalue().splitlines()]


def test_one_candidate_per_gpu_in_parallel(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setattr("ftui.trainer.sweep.runner.POLL_S", 0.001)
    folder, code, log, most, lines = fake_sweep(tmp_path, tiny_model_dir, "1e-4,2e-4,3e-4,4e-4,5e-4", "--budget", "5",
                                                slots=("GPU-a", "GPU-b"))
    assert code == 0 and most == 2, "two GPUs: two candidates at a time, never more"
    assert {gpu for _, _, gpu, _ in log} == {"GPU-a", "GPU-b"}
    sweep = read_sweep(folder)
    assert sweep.winner == sweep.candidates[-1].name and all(c.status == "done" for c in sweep.candidates)
    assert [line["candidate"]["status"] for line in lines[:-1]] == ["done"] * 5
    assert [c["name"] for c in lines[-1]["leaderboard"]][0] == sweep.winner


def test_a_cpu_runs_them_one_after_another_and_a_failure_does_not_stop_the_sweep(tmp_path, tiny_model_dir,
                                                                                  monkeypatch):
    monkeypatch.setattr("ftui.trainer.sweep.runner.POLL_S", 0.001)
    folder, code, log, most, lines = fake_sweep(tmp_path, tiny_model_dir, "1e-4,5,2e-4", "--budget", "5")
    assert code == 0 and most == 1 and len(log) == 3
    sweep = read_sweep(folder)
    assert [c.status for c in sweep.candidates] == ["done", "failed", "done"]
    assert "nan" in sweep.candidates[1].message
    assert lines[-1]["leaderboard"][-1]["status"] == "failed" and sweep.winner == sweep.candidates[2].name


def test_halving_drops_the_worst_half_and_resumes_the_rest(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setattr("ftui.trainer.sweep.runner.POLL_S", 0.001)
    folder, code, log, _, lines = fake_sweep(tmp_path, tiny_model_dir, "1e-4,4e-4,2e-4,3e-4", "--budget", "8",
                                             "--halving")
    sweep = read_sweep(folder)
    assert sweep.rung_steps == [2, 4, 8]
    by_lr = {c.params["train.lr"]: c for c in sweep.candidates}
    assert (by_lr[1e-4].status, by_lr[1e-4].rung) == ("dropped", 0)
    assert (by_lr[2e-4].status, by_lr[2e-4].rung) == ("dropped", 0)
    assert (by_lr[3e-4].status, by_lr[3e-4].rung) == ("dropped", 1)
    assert (by_lr[4e-4].status, by_lr[4e-4].rung) == ("done", 2) and sweep.winner == by_lr[4e-4].name
    winner = by_lr[4e-4].name
    assert [(resume, steps) for name, resume, _, steps in log if name == winner] == [(False, 2), (True, 4), (True, 8)]
    assert tomllib.loads((folder / winner / "recipe.toml").read_text())["train"]["max_steps"] == 8
    assert code == 0 and [c["status"] for c in lines[-1]["leaderboard"]] == ["done", "dropped", "dropped", "dropped"]


class FakeUntilStopped(FakeTrainer):
    """Trains until its run's commands.jsonl asks it to stop, then checkpoints and says stopped."""

    def poll(self):
        commands = self.run / "commands.jsonl"
        if not commands.exists() or '"stop"' not in commands.read_text():
            return None
        events = EventLog(self.run / "events.jsonl")
        events.emit("checkpoint", 7, path="checkpoints/checkpoint-7", best=True, value=self.lr * 1000)
        events.emit("status", 7, status="stopped")
        events.close()
        return 0


def test_a_minutes_budget_stops_each_candidate_through_its_stop_command(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setattr("ftui.trainer.sweep.runner.POLL_S", 0.001)
    monkeypatch.setattr(__name__ + ".FakeTrainer.poll", FakeUntilStopped.poll)
    folder, code, log, _, lines = fake_sweep(tmp_path, tiny_model_dir, "1e-4,2e-4", "--budget", "0.0005m")
    sweep = read_sweep(folder)
    assert code == 0 and [c.status for c in sweep.candidates] == ["done", "done"], "stopped at the limit: done"
    assert all(c.step == 7 and c.value is not None for c in sweep.candidates)
    assert all((folder / c.run / "commands.jsonl").read_text().count('"stop"') == 1 for c in sweep.candidates)
    assert all(s == -1 for _, _, _, s in log), "a minutes budget leaves the recipe's own step count"


class FakeInterrupted(FakeUntilStopped):
    """Ctrl-C arrives while the sweep waits on it; then it stops as its stop command asks."""

    def poll(self):
        if not getattr(self, "interrupted", False):
            self.interrupted = True
            raise KeyboardInterrupt
        return FakeUntilStopped.poll(self)


def test_ctrl_c_stops_the_running_candidate_and_says_so(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setattr("ftui.trainer.sweep.runner.POLL_S", 0.001)
    monkeypatch.setattr(__name__ + ".FakeTrainer.poll", FakeInterrupted.poll)
    with pytest.raises(KeyboardInterrupt):
        fake_sweep(tmp_path, tiny_model_dir, "1e-4,2e-4", "--budget", "5")
    sweep = read_sweep(tmp_path / "s")
    assert sweep.status == "stopped"
    assert [c.status for c in sweep.candidates] == ["stopped", "pending"]
    assert '"stop"' in (tmp_path / "s" / sweep.candidates[0].run / "commands.jsonl").read_text()
