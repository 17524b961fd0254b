"""The conventions users of HF tooling expect, through the real `ftui` command line, and `ftui plot`."""

from __future__ import annotations

import argparse
import ast
import json
import math
import re
import shutil
import struct
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

from conftest import REPO, ftui

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def write_run(runs: Path, name: str, steps: int = 30, metric: str = "accuracy", lr: float = 5e-5) -> Path:
    """A run directory whose events.jsonl is written by hand, as the trainer would write it."""
    run = runs / name
    run.mkdir(parents=True)
    events = [{"v": 1, "type": "run_start", "t": 1.0, "step": 0, "run": name, "metric": metric, "total_steps": steps}]
    for step in range(1, steps + 1):
        events.append({"v": 1, "type": "step", "t": 1.0 + step, "step": step, "loss": 2 * math.exp(-step / 10),
                       "lr": lr * (1 - step / steps)})
        if step % 10 == 0:
            events.append({"v": 1, "type": "eval", "t": 1.0 + step, "step": step,
                           "metrics": {"loss": 1.5 * math.exp(-step / 12), metric: 0.5 + step / 100}})
    (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return run


def one_line_error(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("ftui: "), result.stderr
    return lines[0]


# --- --version and python -m ftui --------------------------------------------------------------

def test_version_is_the_installed_distributions():
    result = ftui("--version")
    assert result.returncode == 0 and result.stdout == f"ftui {version('ftui')}\n"


def test_python_m_ftui_runs_the_command_line_and_ftui_stays_a_namespace(tmp_path):
    result = subprocess.run([sys.executable, "-m", "ftui", "runs", "--runs-dir", str(tmp_path)],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith(f"no runs in {tmp_path}/"), result.stderr
    import ftui as namespace

    assert getattr(namespace, "__file__", None) is None, "ftui must stay a namespace (no __init__.py)"


# --- models --json -----------------------------------------------------------------------------

def test_models_json_is_one_object_per_preset_task_and_demo_data():
    from ftui.models.presets import PRESETS
    from ftui.trainer.tasks import DEMO_DATA, TASKS

    result = ftui("models", "--json", check=True)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    by_kind = {kind: {r["name"]: r for r in rows if r["kind"] == kind} for kind in ("preset", "task", "demo_data")}
    assert len(rows) == len(PRESETS) + len(TASKS) + len(DEMO_DATA)
    assert set(by_kind["preset"]) == set(PRESETS) and set(by_kind["task"]) == set(TASKS)
    assert set(by_kind["demo_data"]) == set(DEMO_DATA)
    # the test environment installs the demo extra: the default model and data are there offline
    assert by_kind["preset"]["minilm-l6"]["offline"] is True
    assert by_kind["demo_data"]["demo:tweets"]["offline"] is True
    assert by_kind["task"]["sequence-classification"]["default_data"] == "demo:tweets"
    assert all(isinstance(r["offline"], bool) for r in rows if r["kind"] != "task")


# --- --runs-dir after the command --------------------------------------------------------------

def test_runs_dir_after_the_command_means_what_it_means_before(tmp_path):
    write_run(tmp_path / "elsewhere", "alpha")
    after = ftui("runs", "--json", "--runs-dir", tmp_path / "elsewhere", cwd=tmp_path)
    before = ftui("--runs-dir", tmp_path / "elsewhere", "runs", "--json", cwd=tmp_path)
    assert after.returncode == 0 and json.loads(after.stdout)["name"] == "alpha", after.stderr
    assert after.stdout == before.stdout
    watched = ftui("watch", "--runs-dir", tmp_path / "empty", cwd=tmp_path)
    assert "no runs in" in one_line_error(watched) and "empty" in watched.stderr


@pytest.mark.parametrize("argv", [["train"], ["export", "--onnx"], ["watch"], ["runs"]])
def test_every_command_that_reads_runs_takes_runs_dir_after_itself(argv):
    from ftui.tui.cli import parse_args

    assert parse_args([*argv, "--runs-dir", "X"]).runs_dir == "X"
    assert parse_args(["--runs-dir", "Y", *argv]).runs_dir == "Y", "not given after, the one before stands"
    assert parse_args(argv).runs_dir is None


# --- shell completion --------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_completes_commands_and_their_options(tmp_path):
    script = tmp_path / "ftui.bash"
    script.write_text(ftui("completion", "bash", check=True).stdout)

    def complete(*words: str) -> list[str]:
        line = " ".join(words)
        code = (f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; COMP_LINE='{line}';"
                f" COMP_POINT={len(line)}; _shtab_ftui ftui {words[-1]} {words[-2]}; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
        return subprocess.run(["bash", "-c", code], capture_output=True, text=True, check=True).stdout.split()

    assert complete("ftui", "pl") == ["plot"]
    assert "--runs-dir" in complete("ftui", "runs", "--r")
    assert "--output" in complete("ftui", "plot", "--o")


def test_zsh_completion_is_a_compdef_for_every_command():
    script = ftui("completion", "zsh", check=True).stdout
    assert script.startswith("#compdef ftui")
    for command in ("train", "watch", "runs", "models", "init", "export", "predict", "plot", "completion"):
        assert f"\n    {command}:'" in script, command  # listed with its help in _shtab_ftui_commands


# --- packaging -------------------------------------------------------------------------------

NEWER_STDLIB = {"tomllib": (3, 11), "graphlib": (3, 9), "zoneinfo": (3, 9)}  # stdlib modules and their first version


def python_floor() -> tuple[int, int]:
    found = re.fullmatch(r">=\s*(\d+)\.(\d+)", PYPROJECT["project"]["requires-python"].strip())
    assert found, "requires-python must be a plain floor, >=3.X"
    return int(found[1]), int(found[2])


def source_files() -> list[Path]:
    dirs = [REPO / d for d in PYPROJECT["tool"]["setuptools"]["package-dir"].values()] + [REPO / "ftui"]
    return [f for d in dirs for f in d.rglob("*.py")]


def test_requires_python_is_true_to_what_the_code_needs():
    floor = python_floor()
    for path in source_files():
        tree = ast.parse(path.read_text(), feature_version=floor)  # newer syntax is a SyntaxError here
        imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        for module in imported & set(NEWER_STDLIB):
            assert NEWER_STDLIB[module] <= floor, f"{path.name} imports {module}: needs Python {NEWER_STDLIB[module]}"


def test_every_package_ships_a_py_typed_marker():
    setuptools = PYPROJECT["tool"]["setuptools"]
    for package, folder in setuptools["package-dir"].items():
        if package.count(".") > 1:
            continue  # PEP 561: a sub-package (ftui.trainer.engine) is covered by its parent's marker
        assert (REPO / folder / "py.typed").is_file(), folder
        assert "py.typed" in setuptools["package-data"].get(package, []), package


# --- help for every flag -----------------------------------------------------------------------

def all_parsers(parser: argparse.ArgumentParser):
    yield parser.prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from all_parsers(sub)


def test_every_option_and_argument_of_every_command_has_help():
    from ftui.tui.cli import build_parser

    missing = [f"{prog} {a.option_strings or a.dest}" for prog, p in all_parsers(build_parser())
               for a in p._actions if not isinstance(a, argparse._SubParsersAction) and not a.help]
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing += [f"ftui {c.dest}" for c in commands._choices_actions if not c.help]
    assert not missing, f"no help text: {missing}"


# --- ftui plot ---------------------------------------------------------------------------------

def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG"
    return struct.unpack(">II", data[16:24])


def test_plot_draws_several_runs_as_png_and_svg(tmp_path):
    alpha = write_run(tmp_path / "runs", "alpha-run")
    beta = write_run(tmp_path / "runs", "beta-run", steps=20, lr=3e-5)
    result = ftui("plot", alpha, beta, "-o", tmp_path / "curves.png", cwd=tmp_path)
    assert result.returncode == 0 and "wrote" in result.stdout, result.stderr
    width, height = png_size(tmp_path / "curves.png")
    assert 1000 <= width <= 4000 and 300 <= height <= 2000 and width > height
    result = ftui("plot", alpha, beta, "-o", tmp_path / "curves.svg", cwd=tmp_path)
    svg = (tmp_path / "curves.svg").read_text()
    assert result.returncode == 0 and svg.lstrip().startswith("<?xml") and "<svg" in svg
    for words in ("alpha-run", "beta-run", "eval accuracy", "learning rate"):
        assert words in svg, words


def test_plot_default_output_is_curves_png_and_needs_no_torch(tmp_path):
    run = write_run(tmp_path / "runs", "alpha")
    code = ("import sys\nfrom ftui.tui.cli import main\n"
            f"code = main(['plot', {str(run)!r}])\n"
            "print(code, *[m for m in ('torch', 'transformers', 'textual') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.stdout.split()[-1] == "0", out.stdout + out.stderr
    assert png_size(tmp_path / "curves.png")


@pytest.mark.parametrize("case", ["not a run", "no events yet", "no such run", "pdf", "no suffix", "no folder"])
def test_plot_bad_input_is_one_line_and_exit_2(tmp_path, case):
    run = write_run(tmp_path / "runs", "alpha")
    (tmp_path / "runs" / "fresh").mkdir()
    (tmp_path / "runs" / "fresh" / "recipe.toml").write_text("")  # a run dir whose trainer wrote nothing yet
    (tmp_path / "plain").mkdir()
    argv = {"not a run": [tmp_path / "plain"], "no events yet": [tmp_path / "runs" / "fresh"],
            "no such run": [tmp_path / "missing"], "pdf": [run, "-o", "c.pdf"], "no suffix": [run, "-o", "curves"],
            "no folder": [run, "-o", tmp_path / "nowhere" / "c.png"]}[case]
    words = {"not a run": "not an ftui run", "no events yet": "nothing to plot yet", "no such run": "no such run",
             "pdf": "unknown figure format .pdf", "no suffix": "use .png or .svg", "no folder": "no such folder"}
    assert words[case] in one_line_error(ftui("plot", *argv, cwd=tmp_path))
    assert not list(tmp_path.glob("curves*")) and not list(tmp_path.glob("*.pdf"))


def test_plot_keeps_the_learning_rates_a_resume_redid_once():
    from ftui.tui.plot import Curves

    curves = Curves()
    events = [{"type": "run_start", "step": 0}] + [{"type": "step", "step": s, "lr": 1.0 / s} for s in (1, 2, 3)]
    events += [{"type": "run_start", "step": 2, "resumed_from": "checkpoint-2"}, {"type": "step", "step": 3, "lr": 0.3}]
    for e in events:
        curves.apply({"v": 1, "t": 1.0, **e})
    assert curves.lrs == [(1, 1.0), (2, 0.5), (3, 0.3)]


def test_a_reader_that_leaves_early_gets_no_traceback(tmp_path):
    """`ftui models | true`: the pipe closes before ftui writes, which ends quietly (as cat does)."""
    import subprocess
    import sys

    done = subprocess.run(f"{sys.executable} -m ftui.tui.cli models --json | true", shell=True,
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
