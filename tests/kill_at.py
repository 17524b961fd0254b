"""Fault injection: runs the ftui command line in this process and kill -9s it at a chosen point.

    python tests/kill_at.py STEP step ARGS...   SIGKILL while training step STEP (before its update)
    python tests/kill_at.py STEP save ARGS...   SIGKILL while checkpoint-STEP is half written in
                                                checkpoints/.staging (weights and optimizer, no RNG)

A SIGKILL the process sends itself is the same kill an operator's ``kill -9`` is, at an exact
point, so a test can reproduce each kill it makes.
"""

from __future__ import annotations

import os
import signal
import sys


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def arm(step: int, where: str) -> None:
    from transformers import Trainer

    from ftui.trainer.engine.ftui_trainer import FtuiTrainer

    if where == "step":
        training_step = FtuiTrainer.training_step

        def dying_step(self, *args, **kwargs):
            if self.state.global_step + 1 == step:
                _die()
            return training_step(self, *args, **kwargs)

        FtuiTrainer.training_step = dying_step
    elif where == "save":
        save_rng_state = Trainer._save_rng_state

        def dying_save(self, *args, **kwargs):
            if self.state.global_step == step:
                _die()
            return save_rng_state(self, *args, **kwargs)

        Trainer._save_rng_state = dying_save
    else:
        raise SystemExit(f"kill_at: unknown point {where!r} (step or save)")


if __name__ == "__main__":
    arm(int(sys.argv[1]), sys.argv[2])
    from ftui.tui.cli import main

    sys.exit(main(sys.argv[3:]))
