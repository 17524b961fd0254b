"""Planning a sweep: axes (or a listed set) into candidates, each checked as a full recipe up front.

A sweep is a base recipe (a recipe file, or the embedded default) plus axes: ``{"train.lr":
[3e-5, 1e-4], "model.name": [...], ...}``. The cross product of the axes (or the ``candidates``
a ``[sweep]`` section lists) gives each candidate's overrides. Every candidate's recipe is built
and validated, and every model resolved, before a folder exists, so bad input never starts one.
No torch here.
"""

from __future__ import annotations

import itertools
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import RecipeError
from ..recipe import Recipe, build_recipe, parse_override, read_toml

# Short names an axis may use, in a [sweep] section and as flags (--model, --strategy, --lr).
ALIASES = {
    "model": "model.name", "strategy": "train.strategy", "lr": "train.lr", "task": "task.type",
    "data": "data.train", "epochs": "train.epochs", "batch_size": "train.batch_size",
    "max_steps": "train.max_steps", "seed": "run.seed", "max_train_rows": "data.max_train_rows",
}
SWEEP_KEYS = ("budget", "halving", "candidates", "name")  # [sweep] keys that are not axes
ETA = 2  # successive halving keeps the best 1/ETA of the candidates at each rung


@dataclass
class SweepPlan:
    base: dict                                       # the base recipe as parsed TOML (no [sweep])
    fixed: dict = field(default_factory=dict)        # overrides every candidate shares
    candidates: list = field(default_factory=list)   # [(name, {dotted key: value})]
    budget: dict = field(default_factory=dict)       # {"steps": N} | {"minutes": M} | {}
    halving: bool = False
    output_dir: str = ""                             # "" = the base recipe's run.output_dir
    name: str = ""
    recipes: dict = field(default_factory=dict)      # candidate name -> its validated Recipe
    rung_steps: list = field(default_factory=list)   # halving: the steps each rung trains to

    @property
    def folder(self) -> Path:
        return Path(self.output_dir) / self.name


def axis_key(name: str) -> str:
    return ALIASES.get(name, name)


def parse_budget(text) -> dict:
    """``200`` (steps per candidate) or ``"10m"`` (minutes per candidate); 0 or less is refused."""
    raw = str(text).strip()
    minutes = raw.endswith("m")
    try:
        value = float(raw[:-1]) if minutes else int(raw)
    except ValueError:
        raise RecipeError(f"--budget {raw!r}: expected steps (200) or minutes (10m)") from None
    if isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise RecipeError(f"--budget {raw!r}: must be above 0")
    return {"minutes": value} if minutes else {"steps": value}


def split_values(flag: str, text: str, parse=None) -> list:
    """A comma-separated axis from the command line; an empty axis or entry is refused."""
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise RecipeError(f"{flag} {text!r}: an empty axis or value (give values separated by commas)")
    return [parse(p) if parse else p for p in parts]


def set_axis(text: str) -> tuple[str, list]:
    """``--set KEY=V1,V2``: an axis of TOML values (a value that is TOML as a whole, [1, 2], stays one)."""
    key, value = parse_override(text)
    raw = text.partition("=")[2].strip()
    if isinstance(value, str) and "," in raw and not raw.startswith(('"', "'")):
        return key, [parse_override(f"{key}={v}")[1] for v in split_values(f"--set {key}", raw)]
    if raw == "":
        raise RecipeError(f"--set {text!r}: an empty axis or value (give values separated by commas)")
    return key, [value]


def read_sweep_file(path: str | None) -> tuple[dict, dict]:
    """(base recipe TOML, [sweep] section) of a recipe file; ({}, {}) for the embedded default."""
    if path is None:
        return {}, {}
    raw = read_toml(Path(path))
    section = raw.pop("sweep", {})
    if not isinstance(section, dict):
        raise RecipeError(f"{path}: [sweep] must be a table of keys")
    return raw, section


def file_axes(section: dict, source: str) -> tuple[dict, list | None]:
    """The axes and the listed candidates of a [sweep] section."""
    axes = {}
    for name, values in section.items():
        if name in SWEEP_KEYS:
            continue
        if not isinstance(values, list) or not values:
            raise RecipeError(f"{source}: [sweep] {name} must be a non-empty list of values")
        axes[axis_key(name)] = values
    listed = section.get("candidates")
    if listed is not None:
        if not isinstance(listed, list) or not listed or not all(isinstance(c, dict) and c for c in listed):
            raise RecipeError(f"{source}: [sweep] candidates must be a non-empty list of tables")
        listed = [{axis_key(k): v for k, v in c.items()} for c in listed]
    return axes, listed


def combine(axes: dict, listed: list | None) -> list[dict]:
    """Each candidate's overrides: the listed set crossed with the axes, or the axes' cross product."""
    keys = list(axes)
    product = [dict(zip(keys, values)) for values in itertools.product(*(axes[k] for k in keys))]
    if listed is None:
        return product
    return [{**c, **p} for c in listed for p in product]


def candidate_name(index: int, params: dict, width: int) -> str:
    """``03-minilm-l6-lora-lr0.0001``: the index keeps names unique, the values make them readable."""
    words = []
    for key, value in params.items():
        if key == "model.name":
            words.append(Path(str(value).rstrip("/")).name or "model")
        elif key == "train.strategy":
            words.append(str(value))
        else:
            short = {"train.lr": "lr"}.get(key, key.rpartition(".")[2])
            words.append(f"{short}{value:g}" if isinstance(value, float) else f"{short}{value}")
    name = "-".join([f"{index:0{width}d}", *words])
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:120]


def halving_rungs(count: int, steps: int) -> list[int]:
    """Steps each rung trains to: the candidates halve at each rung, the last one reaches ``steps``."""
    sizes = [count]
    while sizes[-1] > 1:
        sizes.append(max(1, sizes[-1] // ETA))
    rungs = len(sizes)
    return [max(1, math.ceil(steps / ETA ** (rungs - 1 - r))) for r in range(rungs)]


def rung_sizes(count: int, rungs: int) -> list[int]:
    sizes = [count]
    for _ in range(rungs - 1):
        sizes.append(max(1, sizes[-1] // ETA))
    return sizes


def finish_plan(plan: SweepPlan, params: list[dict]) -> SweepPlan:
    """Names, validates and resolves every candidate; checks the sweep folder is new."""
    from ftui.models.presets import resolve_model

    from ..engine.strategies import check_strategy

    if not plan.name:
        plan.name = f"sweep-{time.strftime('%Y%m%d-%H%M%S')}"
    plan.base, plan.fixed = with_overrides(plan.base, plan.fixed), {}
    probe = build_recipe(plan.base, {}, source="sweep")
    plan.output_dir = plan.output_dir or probe.run.output_dir
    if plan.halving and "steps" not in plan.budget:
        raise RecipeError("--halving needs a budget in steps (--budget N)")
    if plan.folder.exists():
        raise RecipeError(f"{plan.folder}: exists; choose another --name (a sweep never reuses a folder)")
    if plan.halving:
        plan.rung_steps = halving_rungs(len(params), plan.budget["steps"])
    width = len(str(len(params)))
    models = {}
    for i, overrides in enumerate(params, 1):
        name = candidate_name(i, overrides, width)
        recipe = candidate_recipe(plan.base, plan.folder, name, overrides, first_steps(plan))
        if recipe.model.name not in models:
            models[recipe.model.name] = resolve_model(recipe.model.name)
        check_strategy(recipe.train, models[recipe.model.name])
        plan.candidates.append((name, overrides))
        plan.recipes[name] = recipe
    metrics = {r.early_stopping.metric for r in plan.recipes.values()}
    if len(metrics) > 1:
        raise RecipeError(f"the candidates rank by different metrics ({', '.join(sorted(metrics))}); "
                          "set early_stopping.metric once for all")
    return plan


def candidate_recipe(base: dict, folder: Path, name: str, overrides: dict, max_steps: int | None) -> Recipe:
    """The base recipe with the candidate's overrides and its step budget, inside the sweep folder."""
    values = dict(overrides)
    if max_steps:
        values["train.max_steps"] = max_steps
    recipe = build_recipe(base, values, source=f"candidate {name}")
    recipe.run.output_dir = str(folder)
    recipe.run.name = name
    return recipe


def with_overrides(raw: dict, overrides: dict) -> dict:
    """Parsed TOML with ``section.key`` values set in it: the shared overrides become the base."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    for dotted, value in overrides.items():
        section, _, key = dotted.partition(".")
        if not isinstance(out.setdefault(section, {}), dict):
            raise RecipeError(f"[{section}] must be a table of keys")
        out[section][key] = value
    return out


def first_steps(plan: SweepPlan) -> int | None:
    """What each candidate trains to first: rung 0's steps with halving, else the step budget."""
    return plan.rung_steps[0] if plan.rung_steps else plan.budget.get("steps")
