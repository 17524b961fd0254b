"""`ftui sweep`: the command line's side of a sweep (axes from flags and a [sweep] section).

Planning and running are ftui.trainer.sweep (plan, runner, report); this reads the flags,
builds the plan (every candidate checked before the folder exists), then runs it in this process
with plain lines (or JSON lines): `ftui watch <sweep folder>` from another terminal shows the
compare screen on the candidates that have started.
"""

from __future__ import annotations

import sys


def sweep(args) -> int:
    from ftui.trainer.sweep.runner import SweepRunner, create_sweep
    from ftui.trainer.sweep.plan import finish_plan
    from ftui.trainer.sweep.report import JsonReport, TextReport

    plan, params = _plan(args)
    finish_plan(plan, params)
    folder = create_sweep(plan)
    if not args.json:
        print(f"sweep {folder}: {len(params)} candidates, "
              f"{_budget_words(plan)}{', successive halving to ' + str(plan.rung_steps) if plan.halving else ''}"
              f"; compare them live: ftui watch {folder}", flush=True)
    report = JsonReport(sys.stdout) if args.json else TextReport(sys.stdout)
    return SweepRunner(folder, report).run()


def _plan(args):
    """The plan's base recipe, shared overrides, budget and each candidate's overrides."""
    from ftui.trainer.errors import RecipeError
    from ftui.trainer.sweep.plan import (SweepPlan, axis_key, combine, file_axes, parse_budget, read_sweep_file,
                                         set_axis, split_values)

    base, section = read_sweep_file(args.recipe)
    axes, listed = file_axes(section, args.recipe or "sweep")
    given: dict = {}
    for flag, key, parse in (("--model", "model.name", None), ("--strategy", "train.strategy", None),
                             ("--lr", "train.lr", _float("--lr"))):
        text = getattr(args, flag[2:])
        if text is not None:
            given[key] = split_values(flag, text, parse)
    for text in args.set:
        key, values = set_axis(text)
        key = axis_key(key)
        if key in given:
            raise RecipeError(f"--set {key}: given twice (one axis per key: --set {key}=V1,V2)")
        given[key] = values
    axes.update(given)  # the command line's axis replaces the file's
    budget_text = args.budget if args.budget is not None else section.get("budget")
    halving = section.get("halving", False)
    if not isinstance(halving, bool):
        raise RecipeError(f"[sweep] halving must be true or false, got {halving!r}")
    name = args.name or section.get("name", "")
    if not isinstance(name, str) or "/" in name or "\\" in name or name in (".", ".."):
        raise RecipeError(f"sweep name {name!r} must be a plain folder name")
    shared = {key: values[0] for key, values in axes.items() if len(values) == 1}  # no axis: one value for all
    axes = {key: values for key, values in axes.items() if key not in shared}
    plan = SweepPlan(base=base, fixed={**_fixed(args), **shared}, budget=parse_budget(budget_text) if budget_text is not None else {},
                     halving=args.halving or halving, output_dir=args.runs_dir or "", name=name)
    if not axes and listed is None and not shared:
        raise RecipeError("nothing to sweep: give axes (--model, --strategy, --lr, --set KEY=V1,V2) "
                          "or a [sweep] section")
    return plan, combine(axes, listed)


def _fixed(args) -> dict:
    """Single-valued flags every candidate shares."""
    flags = {"data": "data.train", "task": "task.type", "max_train_rows": "data.max_train_rows", "seed": "run.seed"}
    return {key: getattr(args, attr) for attr, key in flags.items() if getattr(args, attr) is not None}


def _float(flag: str):
    from ftui.trainer.errors import RecipeError

    def parse(text: str) -> float:
        try:
            return float(text)
        except ValueError:
            raise RecipeError(f"{flag}: invalid number {text!r}") from None

    return parse


def _budget_words(plan) -> str:
    if "steps" in plan.budget:
        return f"{plan.budget['steps']} steps each"
    if "minutes" in plan.budget:
        return f"{plan.budget['minutes']:g} minutes each"
    return "each as its recipe says"
