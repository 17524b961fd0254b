"""Regularisation through the model's config: ``model.dropout`` and ``[model_config]`` in the recipe.

Dropout lives in each architecture's config under its own names (BERT ``hidden_dropout_prob`` and
``attention_probs_dropout_prob``, DistilBERT ``dropout`` and ``attention_dropout``, RoBERTa as BERT,
MobileNetV2 ``classifier_dropout_prob``, GPT-2 ``resid_pdrop``, ...). ``model.dropout`` sets every
one of them that the config holds as a number, so "more dropout" means the same on any model;
``[model_config]`` sets named keys exactly. Both are checked against config.json before a run
directory exists (an unknown key is a typo) and reach ``from_pretrained`` through the config, so
the checkpoint's config.json records them. Works on the config as a plain dict: no transformers.
"""

from __future__ import annotations

from .errors import ModelError

DROPOUT_SUFFIXES = ("dropout", "dropout_prob", "dropout_rate", "dropout_ratio", "_pdrop")
# Dropout-named keys that are not a probability of dropping activations.
NOT_DROPOUT = {"use_dropout", "layerdrop", "drop_path_rate"}
NO_DROPOUT = -1.0  # model.dropout's "keep the model's own"


def dropout_keys(config: dict) -> list[str]:
    """The config's dropout probabilities: numeric keys named like dropout (booleans and None are not)."""
    return sorted(key for key, value in config.items()
                  if key.endswith(DROPOUT_SUFFIXES) and key not in NOT_DROPOUT
                  and isinstance(value, (int, float)) and not isinstance(value, bool))


def config_overrides(config: dict, dropout: float, explicit: dict, model_name: str) -> dict:
    """{config key: value} to apply: every dropout key at ``dropout`` (unless NO_DROPOUT), then the
    explicit ``[model_config]`` keys, each of which must exist in the config with a value of its kind."""
    out: dict = {}
    if dropout != NO_DROPOUT:
        keys = dropout_keys(config)
        if not keys:
            raise ModelError(f"model.dropout: model {model_name!r} has no dropout setting in its config.json "
                              "(set model.dropout = -1)")
        out = {key: float(dropout) for key in keys}
    for key, value in explicit.items():
        if key not in config:
            close = dropout_keys(config) or sorted(config)[:8]
            raise ModelError(f"model_config.{key}: not a key of model {model_name!r}'s config.json "
                              f"(its keys include: {', '.join(close)})")
        _check_kind(key, value, config[key])
        out[key] = value
    return out


def _check_kind(key: str, value, current) -> None:
    """The new value is of the current value's kind (a number for a number, true/false for a flag)."""
    def kind(v):
        if isinstance(v, bool):
            return "true or false"
        if isinstance(v, (int, float)):
            return "a number"
        return type(v).__name__
    if current is not None and kind(value) != kind(current):
        raise ModelError(f"model_config.{key} = {value!r:.60} must be {kind(current)}, as in config.json")
    if key in dropout_keys({key: value}) and not 0 <= value < 1:
        raise ModelError(f"model_config.{key} = {value!r} must be a probability in [0, 1)")
