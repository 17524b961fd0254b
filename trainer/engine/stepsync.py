"""Agreeing on what to do at a step boundary, across every rank of a distributed run.

Rank 0 reads the commands; every rank may see a NaN or a SIGTERM. One all-reduce (SUM) of a
small vector a step carries all of it: the other ranks contribute zeros for the command fields,
so the sum is rank 0's decision, and any rank's NaN or stop request reaches all. A single
process skips the collective entirely.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields


@dataclass
class Decision:
    nan: float = 0.0        # ranks that saw a non-finite loss
    stop: float = 0.0       # ranks asked to stop (a stop command, SIGTERM)
    pause: float = 0.0
    resume: float = 0.0
    save: float = 0.0
    lr_factor: float = 0.0  # 0 = leave the learning rate alone

    def merge(self, other: "Decision") -> "Decision":
        return Decision(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(Decision)))


class StepSync:
    """``exchange(decision)`` returns the decision every rank acts on (the same on all ranks)."""

    def __init__(self):
        import torch.distributed as dist

        self.dist = dist if dist.is_available() and dist.is_initialized() else None
        self.world_size = self.dist.get_world_size() if self.dist else 1
        self.rank = self.dist.get_rank() if self.dist else 0
        self.wait_s = 0.0       # time spent in the collective since last read: who waits least is late

    def exchange(self, decision: Decision) -> Decision:
        if self.world_size == 1:
            return decision
        import torch

        device = "cuda" if self.dist.get_backend() == "nccl" else "cpu"
        vector = torch.tensor([getattr(decision, f.name) for f in fields(Decision)], dtype=torch.float64,
                              device=device)
        started = time.perf_counter()
        self.dist.all_reduce(vector)
        values = vector.tolist()
        self.wait_s += time.perf_counter() - started
        return Decision(*values)

    def gather(self, value: float) -> list[float]:
        """Every rank's ``value`` (on every rank); called at log steps only."""
        if self.world_size == 1:
            return [value]
        import torch

        device = "cuda" if self.dist.get_backend() == "nccl" else "cpu"
        mine = torch.tensor([value], dtype=torch.float64, device=device)
        out = [torch.zeros_like(mine) for _ in range(self.world_size)]
        self.dist.all_gather(out, mine)
        return [t.item() for t in out]
