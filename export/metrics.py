"""Comparison of onnxruntime's logits with PyTorch's, and the task metrics (ftui.rundir.metrics, as in training)."""

from __future__ import annotations

import numpy as np

from ftui.rundir.metrics import accuracy, classification_scores


def compare(logits: np.ndarray, reference: np.ndarray, truth: np.ndarray) -> dict:
    """How far `logits` are from the PyTorch `reference`, and how both score against `truth`."""
    diff = np.abs(logits.astype(np.float64) - reference.astype(np.float64))
    pred, ref_pred = logits.argmax(-1), reference.argmax(-1)
    scores = classification_scores(pred, truth)
    return {
        "max_abs_diff": float(diff.max()) if diff.size else 0.0,
        "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
        "label_agreement": accuracy(pred, ref_pred),
        **scores,
        "accuracy_drop_pts": 100.0 * (accuracy(ref_pred, truth) - scores["accuracy"]),
    }


def task_metrics(logits: np.ndarray, truth: np.ndarray) -> dict:
    return classification_scores(logits.argmax(-1), truth)
