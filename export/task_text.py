"""Exporting sequence classification: texts in, one label per text out.

The validation texts are tokenized by the bundle's predictor code from the tokenizer.json that
ships in the bundle, sorted by length before batching (less padding, same logits) and put back
in order; both runtimes get the same int64 arrays.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .convert import EXPORT_BATCH, EXPORT_SEQUENCE
from .errors import ExportError
from .predictor import encode_texts, load_tokenizer
from .tasks import Examples, ExportTask, Split

BATCH_SIZE = 32
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# The shape check runs a batch and a length the export never traced with.
CHECK_BATCH, CHECK_SEQUENCE = EXPORT_BATCH + 1, EXPORT_SEQUENCE + 1
TOKENIZER_FILE = "tokenizer.json"
BENCHMARK_SEQUENCE = 128


class TextClassification(ExportTask):
    model_types = ("bert", "distilbert", "roberta", "xlm-roberta", "deberta-v2", "electra", "mpnet")

    def check_checkpoint(self, checkpoint: Path, config: dict) -> None:
        if not (checkpoint / TOKENIZER_FILE).is_file():
            raise ExportError(f"{checkpoint}: no {TOKENIZER_FILE} (a fast tokenizer is needed for the bundle)")

    def load_examples(self, path: Path, labels: list[str]) -> Examples:
        from .data import load_examples

        texts, ids = load_examples(path, labels)
        return Examples(texts, np.array(ids), Path(path))

    def tokenizer(self, source, max_length: int | None = None):
        return load_tokenizer(source.checkpoint / TOKENIZER_FILE, max_length or source.max_length,
                              pad_token(source.checkpoint))

    def split(self, source, examples: Examples, input_names: list[str]) -> Split:
        names = [n for n in MODEL_INPUTS if n in input_names]  # DistilBERT takes no token_type_ids
        return encode_split(self.tokenizer(source), examples.inputs, names)

    def compare(self, logits, reference, examples: Examples) -> dict:
        from .metrics import compare

        return compare(logits, reference, examples.truth)

    def inputs_digest(self, source, examples: Examples, split: Split) -> str | None:
        """Each example's ids where its attention mask is 1 (padding dropped), in the file's order."""
        from ftui.rundir.reference_logits import inputs_digest, text_example

        per_batch = []
        for b in split.batches:
            mask = b["attention_mask"].astype(bool)
            rows = [text_example({k: v[i][mask[i]].tolist() for k, v in b.items()}) for i in range(len(mask))]
            per_batch.append(np.frombuffer(b"".join(rows), np.uint8).reshape(len(rows), -1))
        return inputs_digest(bytes(row) for row in split.collect(per_batch))

    def task_metrics(self, logits, examples: Examples) -> dict:
        from .metrics import task_metrics

        return task_metrics(logits, examples.truth)

    def preprocessing_check(self, source, examples: Examples):
        from .gates import tokenization_gate

        check = check_tokenization(source.checkpoint, self.tokenizer(source), examples.inputs, source.max_length)
        return check, tokenization_gate(check)

    def encode(self, tokenizer, inputs: list, input_names: list[str]) -> dict[str, np.ndarray]:
        """Model inputs for a batch of this task's examples (texts here, word lists for NER)."""
        return encode_texts(tokenizer, inputs, input_names)

    def output_shape(self, batch: int, sequence: int, n_labels: int) -> list[int]:
        return [batch, n_labels]

    def shape_check(self, session, source, examples: Examples, static_axes: list[str]) -> dict:
        tok = fixed_length_tokenizer(source.checkpoint, CHECK_SEQUENCE)
        batch = (examples.inputs * CHECK_BATCH)[:CHECK_BATCH]
        shape = list(session.run(None, self.encode(tok, batch, [i.name for i in session.get_inputs()]))[0].shape)
        expected = self.output_shape(CHECK_BATCH, CHECK_SEQUENCE, len(source.labels))
        return {"input": f"batch {CHECK_BATCH} x sequence {CHECK_SEQUENCE}", "output_shape": shape,
                "static_axes": static_axes, "ok": shape == expected and not static_axes}

    def benchmark_inputs(self, source, bundle: Path, examples: Examples, input_names: list[str], batches):
        sequence = min(BENCHMARK_SEQUENCE, source.max_length)
        tok = fixed_length_tokenizer(bundle, sequence)
        return {b: self.encode(tok, (examples.inputs * b)[:b], input_names) for b in batches}, {"sequence": sequence}

    def manifest(self, source, bundle: Path) -> dict:
        return {"max_length": source.max_length, "pad_token": pad_token(bundle)}

    def readme_usage(self, report) -> str:
        return TEXT_USAGE.format(default_model=report.default_model, default_file=Path(report.default_model).name,
                                 max_length=report.max_length)


def encode_split(tokenizer, texts: list[str], input_names: list[str]) -> Split:
    lengths = [sum(e.attention_mask) for e in tokenizer.encode_batch(texts)]  # real tokens, padding excluded
    order = np.argsort(lengths, kind="stable")
    ordered = [texts[i] for i in order]
    batches = [encode_texts(tokenizer, ordered[i:i + BATCH_SIZE], input_names)
               for i in range(0, len(ordered), BATCH_SIZE)]

    def collect(outputs: list[np.ndarray]) -> np.ndarray:
        sorted_logits = np.concatenate(outputs)
        out = np.empty_like(sorted_logits)
        out[order] = sorted_logits
        return out

    return Split(batches, collect)


def check_tokenization(checkpoint: Path, tokenizer, texts: list[str], max_length: int) -> dict:
    """Counts texts whose ids from the bundle's tokenizer differ from the checkpoint's HF tokenizer (what training used)."""
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(checkpoint)
    expected = hf(texts, truncation=True, max_length=max_length)["input_ids"]
    got = [e.ids[:sum(e.attention_mask)] for e in tokenizer.encode_batch(texts)]
    bad = [i for i, (a, b) in enumerate(zip(expected, got)) if list(a) != list(b)]
    return {"texts": len(texts), "mismatches": len(bad), "first_mismatch": texts[bad[0]][:80] if bad else None}


def fixed_length_tokenizer(folder: Path, sequence: int):
    """The tokenizer of a checkpoint or bundle folder, padding and truncating to exactly ``sequence`` tokens."""
    tok = load_tokenizer(folder / TOKENIZER_FILE, sequence, pad_token(folder))
    tok.enable_padding(pad_id=tok.padding["pad_id"], pad_token=tok.padding["pad_token"], length=sequence)
    return tok


def fixed_inputs(folder: Path, texts: list[str], input_names: list[str], sequence: int,
                 batches=(1, 32)) -> dict[int, dict]:
    """Real texts padded or truncated to exactly `sequence` tokens, for each benchmark batch size."""
    tok = fixed_length_tokenizer(folder, sequence)
    return {b: encode_texts(tok, (texts * b)[:b], input_names) for b in batches}


def pad_token(folder: Path) -> str:
    """The pad token named in tokenizer_config.json (a string or an AddedToken dict); [PAD] otherwise."""
    try:
        pad = json.loads((folder / "tokenizer_config.json").read_text()).get("pad_token") or "[PAD]"
    except (OSError, ValueError):
        return "[PAD]"
    return pad.get("content", "[PAD]") if isinstance(pad, dict) else str(pad)


TEXT_USAGE = """## Run it (needs only `pip install onnxruntime tokenizers numpy`)

    python predict.py "some text"                 # inside this folder
    python predict.py --file texts.txt --json     # one text a line; JSON with every label's score
    python predict.py --model fp32 "text"         # another variant (fp32, O2, int8) or ONNX file

From Python:

    from predict import Predictor
    Predictor("path/to/bundle").predict(["some text"])   # [{{"label", "score", "scores", "text"}}]

With ftui installed: `ftui predict path/to/bundle "some text"`.

Inputs are tokenized with `tokenizer.json`, truncated at {max_length} tokens and padded to
the longest text of a batch, exactly as during validation. The int8 model quantizes activations
per batch (dynamic quantization), so its logits shift slightly with what shares the batch;
validation ran it in length-sorted batches of 32.

## Other runtimes

The ONNX files sit in `onnx/` beside `config.json` and the tokenizer files, the layout
transformers.js and optimum load: `onnx/model.onnx` is fp32, `onnx/model_quantized.onnx` the int8
model, other variants `onnx/model_<variant>.onnx` (`bundle.json`'s `models` names each).
`tokenizer_config.json`'s `model_max_length` is {max_length}, so their `truncation=True` cuts where
`predict.py` does.

onnxruntime alone (feed the inputs `session.get_inputs()` names; DistilBERT takes no token_type_ids):

    import numpy as np, onnxruntime as ort
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file("path/to/bundle/tokenizer.json")
    tok.enable_truncation(max_length={max_length})
    e = tok.encode("some text")
    session = ort.InferenceSession("path/to/bundle/{default_model}")
    feed = {{"input_ids": [e.ids], "attention_mask": [e.attention_mask], "token_type_ids": [e.type_ids]}}
    logits = session.run(None, {{i.name: np.array(feed[i.name], np.int64) for i in session.get_inputs()}})[0]

(`predict.py` also passes `disabled_optimizers=["SkipLayerNormFusion"]`: it keeps onnxruntime from fusing a
residual Add + LayerNormalization into SkipLayerNormalization, whose CPU kernel is several times slower.)

optimum (`file_name` is a file's name: optimum searches the bundle's folders for it; without it, it
loads `onnx/model.onnx`):

    from optimum.onnxruntime import ORTModelForSequenceClassification
    from transformers import AutoTokenizer, pipeline
    model = ORTModelForSequenceClassification.from_pretrained("path/to/bundle", file_name="{default_file}")
    classify = pipeline("text-classification", model=model, tokenizer=AutoTokenizer.from_pretrained("path/to/bundle"))
    classify("some text", truncation=True, top_k=None)

transformers.js in Node or a browser (`npm install @huggingface/transformers`; it runs onnxruntime-node
in Node, onnxruntime-web in a browser):

    import {{ env, pipeline }} from "@huggingface/transformers";
    env.localModelPath = "/path/to/";      // the folder that holds the bundle folder
    env.allowRemoteModels = false;
    const classify = await pipeline("text-classification", "bundle", {{ dtype: "q8" }});  // "fp32": onnx/model.onnx
    await classify("some text", {{ top_k: null }});

Its scores equal `predict.py`'s (to 1e-4) for texts of up to {max_length} tokens. Beyond that,
transformers.js (3.8 and 4.3) truncates after adding `[CLS]` and `[SEP]`, so a long text loses its
`[SEP]` and its scores differ from predict.py's (which, like ftui and optimum, keeps it): by how much
depends on the model, about 7e-3 for a fine-tuned MiniLM on a 148-token text.

onnxruntime-node directly, with transformers.js's tokenizer (env set as above):

    import ort from "onnxruntime-node";
    import {{ AutoTokenizer }} from "@huggingface/transformers";
    const enc = (await AutoTokenizer.from_pretrained("bundle"))("some text", {{ truncation: true }});
    const session = await ort.InferenceSession.create("/path/to/bundle/{default_model}");
    const feeds = Object.fromEntries(session.inputNames.map((n) => [n, new ort.Tensor("int64", enc[n].data, enc[n].dims)]));
    const logits = (await session.run(feeds))[session.outputNames[0]].data;
"""
