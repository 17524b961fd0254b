"""Checking checkpoints before trusting them: a kill or a full disk can leave a torn one.

Every file HF's resume reads is checked, without torch and without unpickling anything: the
weights (safetensors header and length), the trainer state (parses, names its step), the
optimizer, scheduler and RNG states (torch zip archives: CRCs intact, pickle stream complete,
every tensor record it names present), and a LoRA checkpoint's adapter folder. There is no
sampler state to check: ftui's batch order is a function of (seed, epoch) alone (trainer/engine/sampling.py).
"""

from __future__ import annotations

import json
import pickletools
import struct
import zipfile
from pathlib import Path

from .errors import CheckpointError
from .layout import RunDir, list_checkpoints

ADAPTER_DIR = "adapter"  # in a LoRA checkpoint: what peft saved (trainer/engine/strategies.py), what resume loads
CHECKPOINT_STATE = "ftui_state.json"  # early stopping and best as of the checkpoint's step (callback/best.py)
TORCH_ARCHIVES = ("optimizer.pt", "scheduler.pt")


def check_checkpoint(folder: Path, lora: bool = False) -> None:
    """Raises CheckpointError unless ``folder`` holds everything a resume from it reads, intact."""
    _read_json(folder, "config.json")
    _check_trainer_state(folder)
    if (folder / CHECKPOINT_STATE).exists() and not isinstance(_read_json(folder, CHECKPOINT_STATE), dict):
        raise CheckpointError(f"{folder}: {CHECKPOINT_STATE} is not a JSON object")
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise CheckpointError(f"{folder}: no model.safetensors")
    _check_safetensors(weights)
    adapter = folder / ADAPTER_DIR
    if lora or adapter.exists():  # LoRA runs resume from their adapters
        _read_json(adapter, "adapter_config.json")
        _check_safetensors(adapter / "adapter_model.safetensors")
    rng_states = sorted(folder.glob("rng_state*.pth"))  # one per rank: rng_state.pth, rng_state_<i>.pth
    if not rng_states:
        raise CheckpointError(f"{folder}: no rng_state.pth (a resume without it draws other random numbers)")
    extra = [folder / "scaler.pt"] if (folder / "scaler.pt").exists() else []  # fp16 runs only
    for path in [*(folder / n for n in TORCH_ARCHIVES), *rng_states, *extra]:
        if not path.is_file():
            raise CheckpointError(f"{folder}: no {path.name}")
        problem = torch_archive_problem(path)
        if problem:
            raise CheckpointError(f"{folder}: {path.name} is corrupt ({problem})")


def _read_json(folder: Path, name: str):
    try:
        return json.loads((folder / name).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{folder}: {name} is missing or corrupt ({type(e).__name__})") from None


def _check_trainer_state(folder: Path) -> None:
    """HF resumes at the state's global_step; it must be the step the folder is named after."""
    state = _read_json(folder, "trainer_state.json")
    step = state.get("global_step") if isinstance(state, dict) else None
    if not isinstance(step, int) or isinstance(step, bool):
        raise CheckpointError(f"{folder}: trainer_state.json has no integer global_step")
    named = folder.name.rsplit("-", 1)[-1]
    if named.isdigit() and int(named) != step:
        raise CheckpointError(f"{folder}: trainer_state.json says step {step}, the folder step {named}")


def _check_safetensors(path: Path) -> None:
    """The header parses and the file is as long as the header says (catches truncation)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            (header_len,) = struct.unpack("<Q", f.read(8))
            if header_len > size:
                raise ValueError("header longer than file")
            header = json.loads(f.read(header_len))
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    except (OSError, ValueError, struct.error, KeyError, TypeError, IndexError, AttributeError) as e:
        raise CheckpointError(f"{path}: not a valid safetensors file ({type(e).__name__}: {e})") from None
    if 8 + header_len + end > size:
        raise CheckpointError(f"{path}: truncated ({size} of {8 + header_len + end} bytes)")


def torch_archive_problem(path: Path) -> str | None:
    """Why a ``torch.save`` zip archive cannot be loaded, or None when it looks whole.

    Reads the pickle stream with ``pickletools`` (which parses, never runs, it), so a hostile or
    garbled file is judged without executing a byte of it."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
            if bad is not None:
                return f"record {bad} fails its CRC"
            names = set(archive.namelist())
            pickles = sorted(n for n in names if n.endswith("/data.pkl") and n.count("/") == 1)
            if not pickles:
                return "no data.pkl record"
            prefix = pickles[0].split("/", 1)[0]
            keys = storage_keys(archive.read(pickles[0]))
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as e:
        return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    missing = sorted(k for k in keys if f"{prefix}/data/{k}" not in names)
    return f"tensor records {', '.join(missing[:3])} missing" if missing else None


def storage_keys(data: bytes) -> set[str]:
    """The tensor-storage keys a torch pickle refers to (its persistent ids), by replaying the
    pickle's stack effects symbolically. ValueError when the stream is not a complete pickle."""
    mark = object()
    stack: list = []
    memo: dict = {}
    keys: set[str] = set()
    try:
        for op, arg, _ in pickletools.genops(data):
            name = op.name
            if name == "MARK":
                stack.append(mark)
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[arg] = stack[-1]
            elif name == "MEMOIZE":
                memo[len(memo)] = stack[-1]
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo.get(arg))
            elif name == "TUPLE":
                stack.append(tuple(_pop_to_mark(stack, mark)))
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                n = int(name[-1])
                items = tuple(stack[-n:]) if len(stack) >= n else None
                if items is None:
                    raise ValueError("stack underflow")
                del stack[-n:]
                stack.append(items)
            elif name in ("BINPERSID", "PERSID"):
                pid = stack.pop() if name == "BINPERSID" else arg
                if isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage":
                    keys.add(str(pid[2]))
                stack.append(None)
            elif name != "STOP":
                _generic_effect(op, arg, stack, mark)
    except IndexError:
        raise ValueError("stack underflow in data.pkl") from None
    return keys


def _pop_to_mark(stack: list, mark) -> list:
    items = []
    while True:
        top = stack.pop()
        if top is mark:
            return items[::-1]
        items.append(top)


def _generic_effect(op, arg, stack: list, mark) -> None:
    """Pops what ``op`` consumes and pushes what it produces (the literal for a push of a value)."""
    before = op.stack_before
    if pickletools.markobject in before:
        _pop_to_mark(stack, mark)
        below = before.index(pickletools.markobject)
    else:
        below = len(before)
    for _ in range(below):
        stack.pop()
    for _ in op.stack_after:
        stack.append(arg if not before and isinstance(arg, (str, int)) else None)


def newest_good_checkpoint(run: RunDir, warn=None, lora: bool = False) -> Path | None:
    """The newest checkpoint that passes ``check_checkpoint``; older ones are tried in turn.

    None when the run has no checkpoint at all; CheckpointError when all of them are broken.
    """
    found = list_checkpoints(run.checkpoints)
    errors = []
    for folder in reversed(found):
        try:
            check_checkpoint(folder, lora=lora)
            return folder
        except CheckpointError as e:
            errors.append(str(e))
            if warn:
                warn(f"skipping a broken checkpoint: {e}")
    if errors:
        raise CheckpointError(f"no intact checkpoint to resume from: {errors[0]}")
    return None
