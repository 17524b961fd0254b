"""The layers stay clean, and the quick commands stay quick (no torch, no Textual)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def loaded_modules(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


@pytest.mark.parametrize("package", ["ftui.trainer", "ftui.models", "ftui.export"])
def test_only_tui_imports_textual(package):
    import pkgutil
    import importlib

    # Every module of every layer below the package (trainer/engine, trainer/tasks, trainer/data).
    modules = [m.name for m in pkgutil.walk_packages(importlib.import_module(package).__path__, package + ".")]
    modules = [m for m in modules if not m.endswith("__main__")]
    assert modules
    loaded = loaded_modules("".join(f"import {m}\n" for m in modules))
    assert "textual" not in loaded


def test_rundir_needs_only_the_standard_library():
    import importlib
    import pkgutil

    modules = [m.name for m in pkgutil.iter_modules(importlib.import_module("ftui.rundir").__path__, "ftui.rundir.")]
    assert modules
    loaded = loaded_modules("".join(f"import {m}\n" for m in modules))
    heavy = {"torch", "transformers", "textual", "numpy", "onnxruntime", "onnx"}
    assert not heavy & loaded
    assert not any(name.startswith(("ftui.trainer", "ftui.tui", "ftui.export", "ftui.models")) for name in loaded)


def test_every_user_error_shares_one_root():
    from ftui.export.errors import ExportError
    from ftui.export.predictor import PredictorError
    from ftui.models.errors import ModelError
    from ftui.rundir.errors import FtuiError
    from ftui.trainer.errors import CheckpointError, DataError, RecipeError, RunDirError, TrainingFailed

    for error in (ExportError, PredictorError, ModelError, CheckpointError, DataError, RecipeError, RunDirError):
        assert issubclass(error, FtuiError) and error("x").exit_code == 2
    assert TrainingFailed("x").exit_code == 1


def test_the_trainer_package_is_light_and_hands_out_the_callback():
    """``import ftui.trainer`` stays torch-free; ``from ftui.trainer import FtuiCallback`` (the
    README's path) loads the engine's callback on first use."""
    loaded = loaded_modules("import ftui.trainer, ftui.trainer.recipe")
    assert not {"torch", "transformers"} & loaded
    loaded = loaded_modules("from ftui.trainer import FtuiCallback\n"
                            "from ftui.trainer.engine.callback import FtuiCallback as Engine\n"
                            "assert FtuiCallback is Engine")
    assert "transformers" in loaded
    import ftui.trainer

    with pytest.raises(AttributeError):
        ftui.trainer.NoSuchThing


def test_the_trainer_folders_show_its_layers():
    """The engine, the tasks and the data each have a folder; the recipe (and its checks) and errors stay on top."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "trainer"
    assert {p.name for p in root.glob("*.py")} == {"__init__.py", "__main__.py", "recipe.py", "recipe_checks.py",
                                                       "errors.py"}
    for layer, module in (("engine", "session.py"), ("tasks", "text.py"), ("data", "text.py"), ("sweep", "plan.py")):
        assert (root / layer / "__init__.py").is_file() and (root / layer / module).is_file()


def test_export_does_not_need_the_trainer():
    import importlib
    import pkgutil

    package = "ftui.export"
    modules = [m.name for m in pkgutil.iter_modules(importlib.import_module(package).__path__, package + ".")]
    loaded = loaded_modules("".join(f"import {m}\n" for m in modules))
    assert not any(name.startswith(("ftui.trainer", "ftui.tui")) for name in loaded)


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["runs"], ["models"], ["models", "--json"],
                                  ["completion", "bash"], ["train", "--help"], ["export", "--help"],
                                  ["plot", "--help"]])
def test_quick_commands_do_not_import_torch_or_textual(argv, tmp_path):
    code = ("import sys\nfrom ftui.tui.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n")
    loaded = loaded_modules(code)
    assert "torch" not in loaded and "textual" not in loaded and "transformers" not in loaded


def test_predict_takes_texts_after_its_options():
    from ftui.tui.cli import parse_args

    assert parse_args(["predict", "bundle", "--json", "first text", "second"]).texts == ["first text", "second"]
    assert parse_args(["predict", "bundle", "one", "--json"]).texts == ["one"]
    with pytest.raises(SystemExit):
        parse_args(["runs", "--bogus"])


# The files only the run-directory contract names; every other layer asks ftui.rundir for their paths.
RUN_DIR_FILES = {"events.jsonl", "commands.jsonl", "trainer.pid", "trainer.log", "env.json", "best.json",
                 "validation.jsonl", "recipe.toml"}
# A recipe.toml that is not a run's: the file `ftui recipe` writes by default, the copy inside a bundle.
NOT_A_RUN_DIR = {("tui/cli.py", "recipe.toml"), ("export/bundle.py", "recipe.toml")}


def run_dir_file_names(path) -> set[str]:
    """The run-directory file names a module spells out as whole string constants (a path, not prose)."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in RUN_DIR_FILES}


def test_other_layers_find_run_files_only_through_rundir():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    sources = [p for folder in ("trainer", "export", "tui", "models") for p in (root / folder).rglob("*.py")]
    assert len(sources) > 40
    found = {(str(p.relative_to(root)), name) for p in sources for name in run_dir_file_names(p)}
    assert found <= NOT_A_RUN_DIR, sorted(found - NOT_A_RUN_DIR)


def test_the_run_dir_names_test_sees_a_path_but_not_prose(tmp_path):
    module = tmp_path / "m.py"
    module.write_text('"""Reads events.jsonl."""\nlog = run / "data" / "validation.jsonl"\nprint(f"{n} lines of best.json")\n')
    assert run_dir_file_names(module) == {"validation.jsonl"}


def test_other_layers_import_no_moved_contract_module():
    """The contract modules live in ftui.rundir only: no copy or alias of them is left in trainer/."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for name in ("events", "runstate", "rundir", "runsummary", "checkpoints"):
        assert not (root / "trainer" / f"{name}.py").exists()
    text = "\n".join(p.read_text(encoding="utf-8") for folder in ("trainer", "export", "tui", "tests", "benchmarks")
                     for p in (root / folder).rglob("*.py"))
    for old in ("trainer.events", "trainer.runstate", "trainer.rundir", "trainer.runsummary", "trainer.checkpoints"):
        assert f"ftui.{old} " not in text and f"ftui.{old}\n" not in text


def test_every_package_folder_is_in_the_wheel():
    """setuptools' package list is explicit: a sub-package missing from it would be left out of a wheel."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"ftui." + ".".join(init.parent.relative_to(root).parts)
             for top in ("rundir", "models", "trainer", "export", "tui") for init in (root / top).rglob("__init__.py")}
    assert found <= listed, found - listed
