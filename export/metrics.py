"""Comparison and task metrics on logits (numpy only)."""

from __future__ import annotations

import numpy as np


def accuracy(pred: np.ndarray, truth: np.ndarray) -> float:
    return float((pred == truth).mean()) if len(truth) else 0.0


def f1_macro(pred: np.ndarray, truth: np.ndarray) -> float:
    """Unweighted mean F1 over the classes present in truth or prediction (sklearn's 'macro')."""
    classes = np.union1d(pred, truth)
    scores = []
    for c in classes:
        tp = np.sum((pred == c) & (truth == c))
        fp = np.sum((pred == c) & (truth != c))
        fn = np.sum((pred != c) & (truth == c))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores)) if scores else 0.0


def compare(logits: np.ndarray, reference: np.ndarray, truth: np.ndarray) -> dict:
    """How far `logits` are from the PyTorch `reference`, and how both score against `truth`."""
    diff = np.abs(logits.astype(np.float64) - reference.astype(np.float64))
    pred, ref_pred = logits.argmax(-1), reference.argmax(-1)
    return {
        "max_abs_diff": float(diff.max()) if diff.size else 0.0,
        "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
        "label_agreement": accuracy(pred, ref_pred),
        "accuracy": accuracy(pred, truth),
        "f1_macro": f1_macro(pred, truth),
        "accuracy_drop_pts": 100.0 * (accuracy(ref_pred, truth) - accuracy(pred, truth)),
    }


def task_metrics(logits: np.ndarray, truth: np.ndarray) -> dict:
    pred = logits.argmax(-1)
    return {"accuracy": accuracy(pred, truth), "f1_macro": f1_macro(pred, truth)}
