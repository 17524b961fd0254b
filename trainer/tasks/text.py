"""Sequence classification: one label per text (the default task)."""

from __future__ import annotations

from ..data.text import calibration_sample, write_jsonl


def write_validation(data, run) -> None:
    write_jsonl(data.validation, run.validation_data)


def write_calibration(data, run, seed: int) -> None:
    write_jsonl(calibration_sample(data.train, seed), run.calibration_data)


def check_model(model_ref, recipe) -> None:
    """Before a run dir exists: the model's tokenizer loads."""
    from ftui.models.loading import load_tokenizer

    load_tokenizer(model_ref, recipe.model.trust_remote_code)


def build(model_ref, recipe, data):
    import torch
    from transformers import DataCollatorWithPadding

    from ftui.models.loading import load_tokenizer

    from ..data.features import TokenizedDataset, classification_metrics
    from ..tasks import TaskParts, load_model

    trust = recipe.model.trust_remote_code
    tokenizer = load_tokenizer(model_ref, trust)
    model = load_model(model_ref, recipe, data.label_names)
    train_set = TokenizedDataset(data.train, tokenizer, data.label_names, recipe.data.max_length)
    val_set = TokenizedDataset(data.validation, tokenizer, data.label_names, recipe.data.max_length)
    return TaskParts(
        model=model, train_set=train_set, val_set=val_set,
        collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8 if torch.cuda.is_available() else None),
        processing_class=tokenizer,
        compute_metrics=lambda p: classification_metrics(p.predictions, p.label_ids),
        tokens_per_sample=train_set.mean_length(), group_by_length=True,
        info={"mean_tokens": round(train_set.mean_length(), 1)},
    )
