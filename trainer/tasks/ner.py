"""Token classification (NER): one BIO tag per word, scored by entity-level F1 (seqeval).

Words are tokenized into word pieces; each word's tag goes on its first piece and the other pieces
and the special tokens get -100, so the loss and the metrics see one prediction per word (the
standard HF recipe). No torch at import time: ``build`` imports it.
"""

from __future__ import annotations

import numpy as np

from ftui.rundir.metrics import entity_scores

from ..data.features import TokenizedDataset
from ..data.ner import write_tagged_jsonl

IGNORE = -100  # the label id the loss and the metrics skip


def write_validation(data, run) -> None:
    write_tagged_jsonl(data.validation, run.validation_data)


def write_calibration(data, run, seed: int) -> None:
    """A seeded sample of training sentences (a sentence holds several tags, so it is not stratified)."""
    from ..data.ner import sample
    from ..data.text import CALIBRATION_ROWS, CALIBRATION_SEED_OFFSET

    write_tagged_jsonl(sample(data.train, CALIBRATION_ROWS, seed + CALIBRATION_SEED_OFFSET), run.calibration_data)


def check_model(model_ref, recipe) -> None:
    """Before a run dir exists: the model's tokenizer loads and is a fast one (word alignment)."""
    word_tokenizer(model_ref, recipe.model.trust_remote_code)


def build(model_ref, recipe, data):
    import torch
    from transformers import DataCollatorForTokenClassification

    from ..tasks import TaskParts, load_model

    trust = recipe.model.trust_remote_code
    tokenizer = word_tokenizer(model_ref, trust)
    model = load_model(model_ref, recipe, data.label_names)
    train_set = TaggedTokenDataset(data.train, tokenizer, data.label_names, recipe.data.max_length)
    val_set = TaggedTokenDataset(data.validation, tokenizer, data.label_names, recipe.data.max_length)
    names = list(data.label_names)
    pad_to = 8 if torch.cuda.is_available() else None  # tensor-core friendly shapes on GPU
    return TaskParts(
        model=model, train_set=train_set, val_set=val_set,
        collator=DataCollatorForTokenClassification(tokenizer, pad_to_multiple_of=pad_to),
        processing_class=tokenizer,
        compute_metrics=lambda p: ner_metrics(p.predictions, p.label_ids, names),
        tokens_per_sample=train_set.mean_length(), group_by_length=True,
        info={"mean_tokens": round(train_set.mean_length(), 1),
              "entity_types": sorted({n[2:] for n in names if n != "O"})},
    )


def word_tokenizer(model_ref, trust: bool):
    """The model's fast tokenizer, able to take pre-split words (word_ids() needs a fast one).

    Byte-level BPE tokenizers (RoBERTa, GPT-2 style) take words only with add_prefix_space=True.
    """
    from ftui.models.errors import ModelError
    from ftui.models.loading import load_tokenizer

    tokenizer = load_tokenizer(model_ref, trust)
    if not tokenizer.is_fast:
        raise ModelError(f"model {model_ref.name!r}: token classification needs a fast tokenizer (tokenizer.json); "
                         f"{type(tokenizer).__name__} has no word alignment")
    try:
        tokenizer([["probe"]], is_split_into_words=True)
    except ValueError as e:
        if "add_prefix_space" not in str(e):
            raise
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_ref.source, trust_remote_code=trust, add_prefix_space=True)
    return tokenizer


def align_labels(word_ids: list[int | None], word_labels: list[int]) -> list[int]:
    """One label per token: the word's label on its first sub-token; -100 on the rest and on specials."""
    out, previous = [], None
    for w in word_ids:
        out.append(IGNORE if w is None or w == previous else word_labels[w])
        previous = w
    return out


class TaggedTokenDataset(TokenizedDataset):
    """Sentences tokenized once, up front, with word-aligned labels (-100 off each word's first
    piece); items, lengths and padding are TokenizedDataset's."""

    def __init__(self, data, tokenizer, label_names: list[str], max_length: int):
        index = {name: i for i, name in enumerate(label_names)}
        encoded = tokenizer(data.tokens, is_split_into_words=True, truncation=True, max_length=max_length)
        self.input_ids = encoded["input_ids"]
        self.extra = {k: v for k, v in encoded.items() if k == "token_type_ids"}
        self.labels = [align_labels(encoded.word_ids(i), [index[t] for t in tags])
                       for i, tags in enumerate(data.tags)]


def ner_metrics(logits, label_ids, label_names: list[str]) -> dict:
    """Entity-level micro precision/recall/F1 (seqeval, conlleval rules) and accuracy over words
    (first sub-tokens): positions labelled -100 (other pieces, specials, padding) are skipped."""
    preds = np.asarray(logits).argmax(-1)
    label_ids = np.asarray(label_ids)
    truth, pred = [], []
    for p_row, l_row in zip(preds, label_ids):
        keep = l_row != IGNORE
        truth.append([label_names[i] for i in l_row[keep]])
        pred.append([label_names[i] for i in p_row[keep]])
    return entity_scores(truth, pred)
