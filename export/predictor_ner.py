"""Tag named entities with an ftui token-classification bundle, using only onnxruntime, tokenizers and numpy.

No torch, no transformers: this file is copied into the bundle as `predict.py` (with predictor.py
beside it), so on an edge box `python predict.py "Pretty bad storm near the Empire State Building"`
(inside the bundle folder) or

    from predict import TokenPredictor
    TokenPredictor("path/to/bundle").predict(["some text"])

is all it takes. `ftui predict` uses the same class.

A text is split into words by the tokenizer's own pre-tokenizer (so each word keeps its character
span), the words are encoded as pre-split input, and each word takes the tag predicted on its first
sub-token: the same alignment training and export validation used. BIO tags become entity spans.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

try:
    from .predictor import PredictorError, cli_main, load_tokenizer, model_file, open_session, read_manifest, read_texts, softmax
except ImportError:  # standalone in a bundle folder: predictor.py sits beside this file
    from predictor import PredictorError, cli_main, load_tokenizer, model_file, open_session, read_manifest, read_texts, softmax


class TokenPredictor:
    """One ONNX model of a token-classification bundle, its tokenizer and tags."""

    def __init__(self, bundle: str | Path, model: str | None = None, threads: int | None = None):
        self.bundle = Path(bundle)
        manifest = read_manifest(self.bundle, "max_length")
        self.labels: list[str] = manifest["labels"]
        self.max_length = int(manifest["max_length"])
        self.tokenizer = load_tokenizer(self.bundle / "tokenizer.json", self.max_length,
                                        manifest.get("pad_token", "[PAD]"))
        self.session = open_session(model_file(self.bundle, manifest, model), threads)
        self.input_names = [i.name for i in self.session.get_inputs()]

    def words(self, text: str) -> list[tuple[str, int, int]]:
        """(word, start, end) character spans, split as the tokenizer's pre-tokenizer splits."""
        return split_words(self.tokenizer, text)

    def word_logits(self, sentences: list[list[str]], batch_size: int = 32) -> list[np.ndarray]:
        """Per sentence, (words, n_labels) logits; a word past max_length tokens gets a row of NaN."""
        out = []
        for i in range(0, len(sentences), batch_size):
            chunk = sentences[i:i + batch_size]
            inputs, firsts = encode_words(self.tokenizer, chunk, self.input_names)
            logits = self.session.run(None, inputs)[0]
            for row, words, first in zip(logits, chunk, firsts):
                per_word = np.full((len(words), len(self.labels)), np.nan, np.float32)
                for w, pos in first:
                    per_word[w] = row[pos]
                out.append(per_word)
        return out

    def predict(self, texts: list[str], batch_size: int = 32) -> list[dict]:
        """For each text: its entities (type, text, character span, mean tag probability) and each word's tag."""
        spans = [self.words(t) for t in texts]
        for text, words in zip(texts, spans):
            if not words:
                raise PredictorError(f"empty input text: nothing to tag ({text!r})")
        logits = self.word_logits([[w for w, _, _ in words] for words in spans], batch_size)
        return [self._result(text, words, lg) for text, words, lg in zip(texts, spans, logits)]

    def _result(self, text: str, words: list[tuple[str, int, int]], logits: np.ndarray) -> dict:
        seen = ~np.isnan(logits[:, 0])  # words cut off by max_length are tagged O
        probs = softmax(np.where(seen[:, None], logits, 0.0))
        tags = [self.labels[int(p.argmax())] if s else "O" for p, s in zip(probs, seen)]
        scores = [float(p.max()) if s else 0.0 for p, s in zip(probs, seen)]
        entities = []
        for kind, first, last in bio_spans(tags):
            start, end = words[first][1], words[last][2]
            entities.append({"entity": kind, "text": text[start:end], "start": start, "end": end,
                             "score": float(np.mean(scores[first:last + 1]))})
        return {"text": text, "entities": entities, "tags": [[w, t] for (w, _, _), t in zip(words, tags)]}


def split_words(tokenizer, text: str) -> list[tuple[str, int, int]]:
    """Words with character spans from the tokenizer's pre-tokenizer (whitespace when it has none).

    Byte-level and SentencePiece pre-tokenizers mark spaces inside their pieces, so each word is
    re-read from the original text by its span, stripped of surrounding whitespace.
    """
    pre = tokenizer.pre_tokenizer
    spans = ([span for _, span in pre.pre_tokenize_str(text)] if pre is not None
             else [m.span() for m in re.finditer(r"\S+", text)])
    words = []
    for start, end in spans:
        piece = text[start:end]
        stripped = piece.strip()
        if stripped:
            start += len(piece) - len(piece.lstrip())
            words.append((stripped, start, start + len(stripped)))
    return words


def encode_words(tokenizer, sentences: list[list[str]], input_names: list[str]):
    """(model inputs as int64 arrays, per sentence [(word index, position of its first sub-token)]).

    Words past the truncation point have no position; so do words that tokenize to nothing.
    """
    enc = tokenizer.encode_batch([list(s) for s in sentences], is_pretokenized=True)
    arrays = {"input_ids": lambda: [e.ids for e in enc], "attention_mask": lambda: [e.attention_mask for e in enc],
              "token_type_ids": lambda: [e.type_ids for e in enc]}
    unknown = [n for n in input_names if n not in arrays]
    if unknown:
        raise PredictorError(f"the model wants inputs this predictor cannot make: {unknown}")
    inputs = {name: np.array(arrays[name](), dtype=np.int64) for name in input_names}
    return inputs, [first_subtokens(e.word_ids) for e in enc]


def first_subtokens(word_ids: list[int | None]) -> list[tuple[int, int]]:
    """[(word index, token position)] for the first sub-token of each word (specials have no word)."""
    out, previous = [], None
    for pos, w in enumerate(word_ids):
        if w is not None and w != previous:
            out.append((w, pos))
        previous = w
    return out


def bio_spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, first word, last word) of each entity. B-x starts one; I-x continues an entity of type x,
    or starts one after O or another type (conlleval's lenient reading, as seqeval scores it)."""
    spans, kind, first = [], None, 0
    for i, tag in enumerate(tags + ["O"]):
        prefix, _, name = tag.partition("-")
        continues = prefix == "I" and name == kind
        if kind is not None and not continues:
            spans.append((kind, first, i - 1))
            kind = None
        if prefix in ("B", "I") and not continues:
            kind, first = name, i
    return spans


def format_result(result: dict, as_json: bool) -> str:
    """`text  →  [type entity text] ...` (or `(no entities)`), or a JSON object with spans and tags."""
    if as_json:
        return json.dumps(result, ensure_ascii=False)
    found = " ".join(f"[{e['entity']} {e['text']}]" for e in result["entities"]) or "(no entities)"
    return f"{result['text']}  →  {found}"


def run_cli(bundle: str, inputs: list[str], file: str | None, as_json: bool) -> int:
    """`ftui predict` for a token-classification bundle: one line per text."""
    inputs = read_texts(inputs, file)  # bad input before the model loads
    for result in TokenPredictor(bundle).predict(inputs):
        print(format_result(result, as_json))
    return 0


def main(argv: list[str] | None = None, default_bundle: Path | None = None) -> int:
    return cli_main(argv, default_bundle, TokenPredictor, read_texts, format_result,
                    "Tag named entities with an ftui ONNX bundle (onnxruntime only).", "texts")


if __name__ == "__main__":
    sys.exit(main(default_bundle=Path(__file__).resolve().parent))
