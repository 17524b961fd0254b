"""Length-grouped batches that a resumed run draws exactly as the uninterrupted one did.

HF's ``LengthGroupedSampler`` shuffles with the global torch RNG at the start of each epoch, so
epoch 2's order depends on every random number epoch 1 drew (dropout). A run resumed inside
epoch 2 builds its dataloader before HF restores the checkpoint's RNG, so it draws a different
order from a fresh process's RNG and its losses drift. Here each epoch's shuffle is a function of
(seed, epoch) alone, as accelerate's ``SeedableRandomSampler`` already does for plain shuffling.
"""

from __future__ import annotations

import torch
from transformers.trainer_pt_utils import LengthGroupedSampler, get_length_grouped_indices


class EpochSeededLengthGroupedSampler(LengthGroupedSampler):
    """Indices grouped into batches of similar length; epoch ``e`` shuffles with seed ``seed + e``."""

    def __init__(self, batch_size: int, dataset, seed: int, model_input_name: str | None = None):
        lengths = dataset.lengths() if hasattr(dataset, "lengths") else None  # ftui's datasets know theirs
        super().__init__(batch_size, dataset=dataset, lengths=lengths, model_input_name=model_input_name)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by accelerate's dataloader at each epoch's start (and by HF's train loop)."""
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(get_length_grouped_indices(self.lengths, self.batch_size, generator=generator))
