"""Which GPUs a process sees through CUDA_VISIBLE_DEVICES, worked out from NVML's device list.

A pure function of the variable's value and the physical devices, following CUDA's rules as
nvitop's ``parse_cuda_visible_devices`` does: entries are indices or UUIDs (``GPU-``, ``MIG-``,
unique prefixes accepted), all of one kind; the first invalid entry ends the list (so ``-1`` or an
empty value shows none); a repeated device makes the whole value invalid; and a process sees at
most one MIG device. Standard library only.

Indices are taken in NVML's order (PCI bus order), which is CUDA's with CUDA_DEVICE_ORDER=PCI_BUS_ID
and on nodes whose GPUs are all one model. The legacy ``MIG-GPU-<uuid>/<gi>/<ci>`` form (drivers
before R470) names instance ids that NVML's list here does not carry: it counts as invalid.
"""

from __future__ import annotations

import re
from typing import NamedTuple, Sequence

LEADING_INDEX = re.compile(r"[0-9]+")


class PhysicalGpu(NamedTuple):
    index: int                  # NVML's index
    uuid: str                   # "GPU-..."
    migs: tuple = ()            # its MIG devices' UUIDs ("MIG-..."), in NVML's MIG index order
    mig_mode: bool = False      # MIG mode on: CUDA sees it only through its MIG devices


class VisibleGpu(NamedTuple):
    cuda_index: int             # the index the process uses: cuda:<cuda_index>
    physical_index: int         # NVML's index of the GPU (of the MIG device's parent)
    uuid: str                   # the GPU's or the MIG device's UUID
    mig_index: int | None       # the MIG device's position on its parent; None for a whole GPU


def visible_devices(value: str | None, physical: Sequence) -> list[VisibleGpu]:
    """The devices a process with ``CUDA_VISIBLE_DEVICES=value`` sees (None: the variable is unset),
    given NVML's ``physical`` devices as ``PhysicalGpu`` or ``(index, uuid, mig uuids[, mig mode])``."""
    gpus = [PhysicalGpu(int(g[0]), str(g[1]), tuple(g[2]) if len(g) > 2 else (), *g[3:4]) for g in physical]
    if value is None:
        chosen = [(g, None) for g in gpus]
    else:
        chosen = _entries(value, gpus)
    picked = _cuda_view(chosen)
    return [VisibleGpu(i, g.index, g.migs[m] if m is not None else g.uuid, m) for i, (g, m) in enumerate(picked)]


def _entries(value: str, gpus: list[PhysicalGpu]) -> list[tuple[PhysicalGpu, int | None]]:
    """The devices the value names, up to its first invalid entry; [] when one repeats."""
    chosen: list[tuple[PhysicalGpu, int | None]] = []
    kind = None
    for raw in value.split(","):
        token = _token(raw)
        found = _lookup(token, gpus)
        token_kind = "index" if LEADING_INDEX.fullmatch(token) else "uuid"
        if found is None or kind not in (None, token_kind):
            break  # CUDA stops at the first invalid entry, and at the first of a mixed kind
        kind = token_kind
        if found in chosen:
            return []  # a repeated device: CUDA takes the whole value as invalid
        chosen.append(found)
    return chosen


def _token(raw: str) -> str:
    """An entry without surrounding space; one that starts with digits is read as those digits."""
    token = raw.strip()
    match = LEADING_INDEX.match(token)
    return match.group() if match else token


def _lookup(token: str, gpus: list[PhysicalGpu]) -> tuple[PhysicalGpu, int | None] | None:
    """The GPU (with None) or MIG device (with its position) a token names; None if none or several."""
    if LEADING_INDEX.fullmatch(token):
        index = int(token)
        return next(((g, None) for g in gpus if g.index == index), None)
    if token.startswith("GPU-") and len(token) > len("GPU-"):
        found = [(g, None) for g in gpus if g.uuid.startswith(token)]
    elif token.startswith("MIG-") and len(token) > len("MIG-"):
        found = [(g, m) for g in gpus for m, uuid in enumerate(g.migs) if uuid.startswith(token)]
    else:
        return None
    return found[0] if len(found) == 1 else None  # a prefix must name one device


def _cuda_view(chosen: list[tuple[PhysicalGpu, int | None]]) -> list[tuple[PhysicalGpu, int | None]]:
    """What CUDA enumerates of the chosen devices: the first MIG device named, if any; else the
    whole GPUs up to the first one in MIG mode, which stands for its first MIG device alone."""
    migs = [(g, m) for g, m in chosen if m is not None]
    if migs:
        return migs[:1]
    picked = []
    for g, _ in chosen:
        if not (g.mig_mode or g.migs):
            picked.append((g, None))
        elif g.migs:
            return [(g, 0)]  # at most one MIG device is visible to a process
    return picked
