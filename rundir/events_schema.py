"""The versioned event and command schema: which lines of events.jsonl and commands.jsonl are whole.

Every reader parses a line with ``parse_event`` (or ``parse_command``), so everything downstream
(run state, `ftui runs`, the cockpit) sees only events whose fields have their documented types;
a line that is not JSON, not an object, of an unknown type or a newer schema version, or with a
field of the wrong type, is skipped with a reason. Standard library only.
"""

from __future__ import annotations

import json
import math

SCHEMA_VERSION = 1

# Event types the trainer writes (see README, "Event schema").
EVENT_TYPES = (
    "run_start", "step", "eval", "checkpoint", "status", "hardware", "log", "ack", "summary", "diagnosis",
)
# What a "diagnosis" event may say (rundir/diagnosis.py decides; "healthy" ends an earlier one) and
# the action ftui can take about it.
DIAGNOSES = ("overfitting", "underfitting", "diverging", "lr_too_low", "lr_too_high", "plateau", "healthy")
DIAGNOSIS_ACTIONS = ("stop_keep_best", "lower_lr", "raise_lr", "unfreeze", "more_epochs", "none")
# Statuses a "status" event may carry, in the order a run usually passes them.
STATUSES = (
    "starting", "running", "paused", "evaluating", "saving", "stopped", "finished", "failed",
    "nan_halted",
)
FINAL_STATUSES = ("stopped", "finished", "failed", "nan_halted")
COMMANDS = ("pause", "resume", "save", "stop", "set_lr")
LR_MODES = ("set", "scale")

MAX_INT = 2**53          # steps, counts and sizes: beyond this a float cannot hold them exactly
MAX_T = 1e11             # unix time of the year 5138: later is no time a writer wrote
MAX_LR = 1.0             # a set_lr value at or above this is not a fine-tuning learning rate
MAX_LR_SCALE = 1000.0    # the most a set_lr "scale" may multiply the rate by in one command
# How the writer spells a non-finite number (str(float)); JSON's NaN/Infinity literals parse too.
NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "infinity": math.inf,
              "-infinity": -math.inf}


class Invalid(ValueError):
    """Why a line or a field is not a valid event or command."""


class Event(dict):
    """An event that passed ``check_event``: readers may use its fields without checking them."""


# --- field kinds: each returns the value in its one normal form, or raises Invalid ------------

def _short(value) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int of more digits than Python will print
        return "a number too long to print"
    except RecursionError:  # lists nested nearly as deep as json.loads allows, read from a deep stack
        return "a value nested too deeply to print"
    return text if len(text) <= 40 else text[:37] + "..."


def whole(value) -> int:
    """A whole number in [0, 2**53]; an integral float (1.0, as pandas writes) becomes an int."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
        raise Invalid(f"must be a whole number >= 0, not {_short(value)}")
    return value


def number(value) -> int | float:
    """A finite real number (a bool is not one)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Invalid(f"must be a number, not {_short(value)}")
    if isinstance(value, int) and abs(value) > 2**63 or isinstance(value, float) and not math.isfinite(value):
        raise Invalid(f"must be a finite number, not {_short(value)}")
    return value


def metric(value) -> float:
    """A loss or metric: a number, non-finite allowed (the writer's "nan"/"inf" strings included), as a float."""
    if isinstance(value, str) and value.strip().lower() in NON_FINITE:
        return NON_FINITE[value.strip().lower()]
    if isinstance(value, float):
        return value
    return float(number(value))


def time_(value) -> float:
    """A unix time: a finite number in [0, 1e11]."""
    value = number(value)
    if not 0 <= value <= MAX_T:
        raise Invalid(f"must be a unix time, not {_short(value)}")
    return value


def text(value) -> str:
    if not isinstance(value, str):
        raise Invalid(f"must be a string, not {_short(value)}")
    return value


def flag(value) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"must be true or false, not {_short(value)}")
    return value


def texts(value) -> list:
    if not isinstance(value, list):
        raise Invalid(f"must be a list of strings, not {_short(value)}")
    return [text(v) for v in value]


def numbers(value) -> list:
    if not isinstance(value, list):
        raise Invalid(f"must be a list of numbers, not {_short(value)}")
    return [number(v) for v in value]


def metrics(value) -> dict:
    """{name: metric}, as an eval or summary event carries them."""
    if not isinstance(value, dict):
        raise Invalid(f"must be an object of metrics, not {_short(value)}")
    return {text(k): metric(v) for k, v in value.items()}


def counts(value) -> dict:
    """{name: whole number}, as run_start's validation_class_counts."""
    if not isinstance(value, dict):
        raise Invalid(f"must be an object of counts, not {_short(value)}")
    return {text(k): whole(v) for k, v in value.items()}


def one_of(*allowed):
    def check(value):
        if value not in allowed:
            raise Invalid(f"must be one of {', '.join(allowed)}, not {_short(value)}")
        return value
    return check


# index: as CUDA numbers the run's GPUs (CUDA_VISIBLE_DEVICES applied); physical_index: NVML's;
# proc_mem: the trainer's own GPU memory (its process tree), beside the device's mem_used.
GPU_FIELDS = {"index": whole, "physical_index": whole, "name": text, "util": number, "mem_used": number,
              "mem_total": number, "proc_mem": number, "temp": number, "power": number}


def gpus(value) -> list:
    if not isinstance(value, list):
        raise Invalid(f"must be a list of GPUs, not {_short(value)}")
    return [_fields(g, {}, GPU_FIELDS) if isinstance(g, dict) else _bad_gpu(g) for g in value]


def _bad_gpu(value):
    raise Invalid(f"must list GPU objects, not {_short(value)}")


DIAGNOSIS_FIELDS = ({"kind": one_of(*DIAGNOSES)},
                    {"since_step": whole, "evidence": text, "suggestion": text, "action": one_of(*DIAGNOSIS_ACTIONS)})


def diagnosis(value) -> dict:
    """A diagnosis as the summary carries it: the diagnosis event's fields."""
    if not isinstance(value, dict):
        raise Invalid(f"must be a diagnosis object, not {_short(value)}")
    return _fields(value, *DIAGNOSIS_FIELDS)


# --- per event type: (required fields, optional fields); other fields pass through unchecked --

COMMON = {"type": text, "t": time_, "step": whole}  # and "v": absent means version 1
SCHEMA = {
    "run_start": ({}, {
        "run": text, "model": text, "model_source": text, "task": text, "labels": texts, "metric": text,
        "train_rows": whole, "validation_rows": whole, "mean_tokens": number, "entity_types": texts,
        "image_size": text, "total_steps": whole, "epochs": number, "batch_size": whole, "grad_accum": whole,
        "params_total": whole, "params_trainable": whole, "strategy": text, "precision": text, "device": text,
        "world_size": whole, "resumed_from": text, "validation_class_counts": counts}),
    "step": ({}, {
        "epoch": number, "loss": metric, "lr": number, "grad_norm": metric, "samples_per_s": number,
        "tokens_per_s": number, "eta_s": number, "elapsed_s": number, "total_steps": whole,
        "rank_step_s": numbers, "rank_sync_s": numbers}),
    "eval": ({"metrics": metrics}, {"epoch": number, "duration_s": number}),
    "checkpoint": ({"path": text}, {"reason": text, "metric": text, "value": metric, "size_bytes": whole,
                                    "best": flag}),
    "status": ({"status": one_of(*STATUSES)}, {"message": text}),
    "hardware": ({}, {"host": text, "cpu_percent": number, "cpu_count": whole, "ram_used": number,
                      "ram_total": number, "rss": number, "gpus": gpus, "gpu_note": text, "node": whole}),
    "log": ({"message": text}, {"level": text}),
    "ack": ({"ok": flag}, {"id": text, "cmd": text, "message": text}),
    "summary": ({}, {"status": text, "best_checkpoint": text, "metric": text, "best_value": metric,
                     "final_step": whole, "train_runtime_s": number, "early_stopped": flag,
                     "metrics": metrics, "rank_weights_sha256": texts, "diagnosis": diagnosis}),
    "diagnosis": DIAGNOSIS_FIELDS,
}


def _fields(obj: dict, required: dict, optional: dict) -> dict:
    """``obj`` with each known field in normal form; a null optional field is dropped (null = absent)."""
    return _checked(obj, {**required, **optional}, tuple(required))


def _checked(obj: dict, kinds: dict, required: tuple) -> dict:
    """One pass over ``obj``: each field ``kinds`` names in normal form, unknown fields as they are."""
    out = {}
    for name, value in obj.items():
        kind = kinds.get(name)
        if kind is None:
            out[name] = value
        elif value is None and name not in required:
            continue
        else:
            try:
                out[name] = kind(value)
            except Invalid as e:
                raise Invalid(f"{name!r} {e}") from None
    for name in required:
        if name not in out:
            raise Invalid(f"no {name!r} field")
    return out


# Per event type, every field's kind (the common ones too) and the required names: one lookup a line.
_EVENT_KINDS = {kind: ({**COMMON, **req, **opt}, (*COMMON, *req)) for kind, (req, opt) in SCHEMA.items()}


def check_event(obj) -> Event:
    """``obj`` as a checked ``Event``; Invalid says why it is not one."""
    if not isinstance(obj, dict):
        raise Invalid("not a JSON object")
    _version(obj)
    kind = obj.get("type")
    if not isinstance(kind, str) or kind not in SCHEMA:
        raise Invalid(f"unknown event type {_short(kind)}")
    return Event(_checked(obj, *_EVENT_KINDS[kind]))


def _version(obj: dict) -> None:
    """Version 1 (or no ``v`` at all, as a hand-written line may have); a newer one is refused."""
    version = obj.get("v", SCHEMA_VERSION)
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise Invalid(f"schema version {version} is newer than this ftui reads ({SCHEMA_VERSION})")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise Invalid(f"'v' must be {SCHEMA_VERSION}, not {_short(version)}")


def load_line(line: bytes | str):
    """One JSON value from a line; Invalid for anything else (bad UTF-8, bad JSON, absurd nesting)."""
    try:
        return json.loads(line)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise Invalid("not JSON" if not isinstance(e, RecursionError) else "JSON nested too deeply") from None


def parse_event(line: bytes | str) -> Event:
    """A line of events.jsonl as a checked ``Event``; Invalid says why it is not one."""
    return check_event(load_line(line))


# --- commands ---------------------------------------------------------------------------------

COMMAND_FIELDS = {"id": text, "cmd": text}


def check_command(obj) -> dict:
    """``obj`` as a command the trainer can act on (set_lr: value and mode in normal form).

    Invalid says why not: not an object, a newer schema, no id, an unknown command, a set_lr
    value that is not a finite positive learning rate (or scale factor) of sensible size.
    """
    if not isinstance(obj, dict):
        raise Invalid("a command must be a JSON object")
    _version(obj)
    command = _fields(obj, COMMAND_FIELDS, {"t": time_})
    if command["cmd"] not in COMMANDS:
        raise Invalid(f"unknown command {_short(command['cmd'])}; expected one of {', '.join(COMMANDS)}")
    if command["cmd"] == "set_lr":
        command.update(_lr_fields(obj))
    return command


def _lr_fields(obj: dict) -> dict:
    mode = obj.get("mode") or "set"
    if mode not in LR_MODES:
        raise Invalid(f"set_lr mode must be 'set' or 'scale', not {_short(mode)}")
    value = obj.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Invalid(f"set_lr needs a number as its value, not {_short(value)}")
    try:
        number(value)
    except Invalid:
        raise Invalid(f"set_lr value {_short(value)} is not a finite number") from None
    if not value > 0:
        raise Invalid(f"set_lr value must be positive, not {_short(value)}")
    if mode == "set" and value >= MAX_LR:
        raise Invalid(f"set_lr value {value:g} is not a learning rate (must be below {MAX_LR:g}); "
                      "to scale the rate use mode 'scale'")
    if mode == "scale" and value > MAX_LR_SCALE:
        raise Invalid(f"set_lr scale {value:g} is too large (at most x{MAX_LR_SCALE:g} at once)")
    return {"value": float(value), "mode": mode}


def parse_command(line: bytes | str) -> dict:
    """A line of commands.jsonl as a checked command; Invalid says why it is not one."""
    return check_command(load_line(line))


def jsonable(value):
    """A value with non-finite floats spelled as the writer spells them, so strict JSON holds it."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value
