"""Tokenized datasets for the Trainer and the metrics its evaluations report."""

from __future__ import annotations

import numpy as np

from ftui.rundir.metrics import classification_scores

from .text import TextDataset


class TokenizedDataset:
    """Texts tokenized once, up front, without padding: the collator pads each batch to its own
    longest sequence (dynamic padding), so short tweets cost short batches."""

    def __init__(self, data: TextDataset, tokenizer, label_names: list[str], max_length: int):
        encoded = tokenizer(data.texts, truncation=True, max_length=max_length)
        self.input_ids = encoded["input_ids"]
        self.extra = {k: v for k, v in encoded.items() if k in ("token_type_ids",)}
        index = {name: i for i, name in enumerate(label_names)}
        self.labels = [index[label] for label in data.labels]

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, i: int) -> dict:
        item = {"input_ids": self.input_ids[i], "attention_mask": [1] * len(self.input_ids[i]),
                "labels": self.labels[i]}
        for key, values in self.extra.items():
            item[key] = values[i]
        return item

    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.input_ids]

    def mean_length(self) -> float:
        return float(np.mean(self.lengths())) if self.input_ids else 0.0


def classification_metrics(logits: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy and macro-F1 of an evaluation's logits (ftui.rundir.metrics: the numbers export reports too)."""
    return classification_scores(np.asarray(logits).argmax(-1), labels)
