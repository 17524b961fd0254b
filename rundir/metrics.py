"""The task metrics, defined once: training's evaluations and export's validation report the same numbers.

Classification: accuracy and macro-F1 by ``sklearn.metrics``. Macro-F1 averages the F1 of the labels
present in the truth or the predictions (sklearn's and HF evaluate's default ``average="macro"``), a
label with no true and no predicted example is left out rather than counted as 0: a class that the
validation split lacks and the model never predicts says nothing about the model, and counting it
would make ftui's number differ from the one users get from sklearn or evaluate on the same
predictions. NER: entity-level micro precision, recall and F1 by seqeval (conlleval rules), and word
accuracy. sklearn, seqeval and numpy are imported inside the functions: this package stays standard
library only at import time.
"""

from __future__ import annotations


def classification_scores(pred, truth) -> dict:
    """{"accuracy", "f1_macro"} of predicted class ids against true ones (0.0 each for an empty split)."""
    return {"accuracy": accuracy(pred, truth), "f1_macro": f1_macro(pred, truth)}


def accuracy(pred, truth) -> float:
    """The share of ``pred`` equal to ``truth`` (class ids); 0.0 when there are none."""
    pred, truth = _ids(pred), _ids(truth)
    if not len(truth):
        return 0.0
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(truth, pred))


def f1_macro(pred, truth) -> float:
    """The unweighted mean F1 over the labels present in ``truth`` or ``pred`` (sklearn's "macro")."""
    pred, truth = _ids(pred), _ids(truth)
    if not len(truth):
        return 0.0
    from sklearn.metrics import f1_score

    return float(f1_score(truth, pred, average="macro", zero_division=0))


def _ids(values):
    import numpy as np

    return np.asarray(values).ravel()


def entity_scores(truth: list[list[str]], pred: list[list[str]]) -> dict:
    """Entity-level micro precision/recall/F1 (seqeval, conlleval rules) and accuracy over words, of
    tag sequences (one list of BIO tags per sentence)."""
    from seqeval.metrics import f1_score, precision_score, recall_score

    words = sum(len(t) for t in truth)
    correct = sum(a == b for t, p in zip(truth, pred) for a, b in zip(t, p))
    return {"f1": float(f1_score(truth, pred, zero_division=0)),
            "precision": float(precision_score(truth, pred, zero_division=0)),
            "recall": float(recall_score(truth, pred, zero_division=0)),
            "accuracy": correct / words if words else 0.0}
