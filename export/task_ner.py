"""Exporting token classification (NER): words in, one BIO tag per word out.

The validation sentences (the run's data/validation.jsonl, or a CoNLL file) are encoded by the
bundle's predictor code (predictor_ner.encode_words: tokenizer.json, pre-split words) and batched
by length. Each word is scored on its first sub-token, as in training; `collect` gathers those
word logits, flat and in the original order, and `compare` scores entities sentence by sentence
with seqeval. The primary metric is entity F1: `accuracy_drop_pts` is PyTorch's entity F1 minus
onnxruntime's, in points.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ftui.rundir.conll import CONLL_SUFFIXES, read_conll
from ftui.rundir.metrics import entity_scores

from .data import as_export_error, check_file, read_table, read_validation_text, read_word_lists
from .errors import ExportError
from .gates import Gate
from .predictor_ner import encode_words, first_subtokens
from .task_text import BATCH_SIZE, MODEL_INPUTS, TextClassification
from .tasks import Examples, Split, batched_logits_diff

JSONL_SUFFIXES = (".jsonl", ".json")


class TokenClassification(TextClassification):
    """Shares the text task's checkpoint check, tokenizer and manifest; words instead of texts."""

    columns = (("acc", "accuracy"), ("ent F1", "f1"))
    support_modules = ("predictor.py",)

    def load_examples(self, path: Path, labels: list[str]) -> Examples:
        sentences, tags = load_tagged(Path(path), labels)
        return Examples(sentences, tags, Path(path), extra={"labels": list(labels)})

    def split(self, source, examples: Examples, input_names: list[str]) -> Split:
        names = [n for n in MODEL_INPUTS if n in input_names]
        return encode_split(self.tokenizer(source), examples, names)

    def inputs_digest(self, source, examples: Examples, split: Split) -> str | None:
        return None  # per-word outputs from token logits: the trainer keeps no such reference

    def compare(self, logits, reference, examples: Examples) -> dict:
        pred, ref_pred = logits.argmax(-1), reference.argmax(-1)
        ours, theirs = self._scores(pred, examples), self._scores(ref_pred, examples)
        return {**batched_logits_diff(logits, reference),
                "label_agreement": float(np.mean(pred == ref_pred)) if len(pred) else 0.0,
                **ours, "accuracy_drop_pts": 100.0 * (theirs["f1"] - ours["f1"])}

    def task_metrics(self, logits, examples: Examples) -> dict:
        return self._scores(logits.argmax(-1), examples)

    def _scores(self, pred: np.ndarray, examples: Examples) -> dict:
        """seqeval entity scores and word accuracy of flat word predictions against the scored words' tags."""
        labels, truth = examples.extra["labels"], examples.extra["scored_truth"]
        bounds = np.cumsum([0] + [len(t) for t in truth])
        names = [[labels[i] for i in pred[a:b]] for a, b in zip(bounds[:-1], bounds[1:])]
        return entity_scores([[labels[i] for i in t] for t in truth], names)

    def preprocessing_check(self, source, examples: Examples):
        check = check_word_tokenization(source.checkpoint, self.tokenizer(source), examples.inputs, source.max_length)
        same = check["sentences"] - check["mismatches"]
        detail = (f"{same}/{check['sentences']} sentences tokenized and aligned to words as the checkpoint's "
                  "tokenizer does")
        if check["mismatches"]:
            detail += f"; first difference: {check['first_mismatch']!r}"
        return check, Gate("tokenization", not check["mismatches"], detail)

    def encode(self, tokenizer, inputs: list, input_names: list[str]) -> dict[str, np.ndarray]:
        return encode_words(tokenizer, inputs, input_names)[0]

    def output_shape(self, batch: int, sequence: int, n_labels: int) -> list[int]:
        return [batch, sequence, n_labels]  # a tag per token

    def readme_usage(self, report) -> str:
        return NER_USAGE.format(default_model=report.default_model, default_file=Path(report.default_model).name,
                                 max_length=report.max_length)


def load_tagged(path: Path, labels: list[str]) -> tuple[list[list[str]], list[list[int]]]:
    """(word lists, tag ids) from a .jsonl of {"tokens", "tags"} (the run's split) or a CoNLL file."""
    check_file(path, JSONL_SUFFIXES + CONLL_SUFFIXES, "NER validation data must be .jsonl with tokens and tags, "
               f"or CoNLL ({', '.join(CONLL_SUFFIXES)}: token first, tag last, a line)")
    rows = _jsonl_rows(path) if path.suffix.lower() in JSONL_SUFFIXES else _conll_rows(path)
    index = {name: i for i, name in enumerate(labels)}
    sentences, ids = [], []
    for where, words, tags in rows:
        unknown = sorted(set(tags) - set(index))
        if unknown:
            raise ExportError(f"{where}: tags {unknown[:3]} are not among the model's labels {labels}")
        sentences.append(words)
        ids.append([index[t] for t in tags])
    return sentences, ids


def _jsonl_rows(path: Path) -> list[tuple[str, list[str], list[str]]]:
    """The run's split: a {"tokens": [...], "tags": [...]} object a line."""
    return [(where, *read_word_lists(where, row)) for where, row in read_table(path, ("tokens", "tags"))]


def _conll_rows(path: Path) -> list[tuple[str, list[str], list[str]]]:
    """Sentences of a CoNLL file, read as the trainer reads them (rundir.conll)."""
    text = read_validation_text(path)
    with as_export_error():
        sentences = read_conll(text, path)
    return [(f"{path}:line {start}", words, tags) for start, words, tags in sentences]


def encode_split(tokenizer, examples: Examples, input_names: list[str]) -> Split:
    """Length-sorted batches of the bundle's encoding; `collect` returns first-sub-token logits, flat,
    sentence after sentence in the original order. Records in ``examples.extra`` which words are scored
    (truncation can cut a sentence) and their tags."""
    sentences = examples.inputs
    encoded = tokenizer.encode_batch(sentences, is_pretokenized=True)
    firsts = [first_subtokens(e.word_ids) for e in encoded]
    lengths = [sum(e.attention_mask) for e in encoded]  # real tokens, padding excluded
    order = np.argsort(lengths, kind="stable")
    batches = [encode_words(tokenizer, [sentences[i] for i in order[s:s + BATCH_SIZE]], input_names)[0]
               for s in range(0, len(order), BATCH_SIZE)]
    examples.extra["scored_truth"] = [[examples.truth[i][w] for w, _ in first] for i, first in enumerate(firsts)]

    def collect(outputs: list[np.ndarray]) -> np.ndarray:
        per_sentence = [None] * len(sentences)
        rows = (row for batch in outputs for row in batch)
        for i, row in zip(order, rows):
            per_sentence[i] = row[[pos for _, pos in firsts[i]]]
        return np.concatenate(per_sentence) if per_sentence else np.zeros((0, 0), np.float32)

    return Split(batches, collect)


def check_word_tokenization(checkpoint: Path, tokenizer, sentences: list[list[str]], max_length: int) -> dict:
    """Counts sentences whose ids or word alignment from the bundle's tokenizer differ from the checkpoint's
    HF tokenizer on pre-split words (what training used)."""
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(checkpoint)
    expected = hf(sentences, is_split_into_words=True, truncation=True, max_length=max_length)
    got = tokenizer.encode_batch(sentences, is_pretokenized=True)
    bad = [i for i, e in enumerate(got)
           if e.ids[:sum(e.attention_mask)] != list(expected["input_ids"][i])
           or e.word_ids[:sum(e.attention_mask)] != expected.word_ids(i)]
    return {"sentences": len(sentences), "mismatches": len(bad),
            "first_mismatch": " ".join(sentences[bad[0]])[:80] if bad else None}


NER_USAGE = """## Run it (needs only `pip install onnxruntime tokenizers numpy`)

    python predict.py "Pretty bad storm near the Empire State Building"   # inside this folder
    python predict.py --file texts.txt --json     # one text a line; JSON with spans, scores and word tags
    python predict.py --model fp32 "text"        # another variant (fp32, O2, int8) or ONNX file

Each line reads `text  →  [type entity text] ...`. From Python:

    from predict import TokenPredictor
    TokenPredictor("path/to/bundle").predict(["some text"])
    # [{{"text", "entities": [{{"entity", "text", "start", "end", "score"}}], "tags": [[word, tag], ...]}}]

With ftui installed: `ftui predict path/to/bundle "some text"`.

With optimum: `ORTModelForTokenClassification.from_pretrained("path/to/bundle", file_name="{default_file}")`
(optimum finds a file by its name in the bundle's folders)
and `AutoTokenizer.from_pretrained("path/to/bundle")`.

A text is split into words by the tokenizer's own pre-tokenizer, the words are tokenized with
`tokenizer.json` as pre-split input and truncated at {max_length} tokens (words past that are
tagged O), and each word takes the tag of its first sub-token, exactly as during training and
validation. Entities are read from the BIO tags (an I- tag after O starts an entity, as seqeval
scores it); an entity's score is the mean probability of its words' tags.
"""
