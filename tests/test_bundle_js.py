"""transformers.js (Node, onnxruntime-node on CPU) loads a text bundle folder as a local model and scores
texts as `ftui predict` does. Needs node and tests/js/node_modules (`.ci/run` installs them with
`ONNXRUNTIME_NODE_INSTALL=skip npm ci`); without them these tests skip and say why."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from export_fixtures import exported_run, tiny_checkpoint, validation_rows  # noqa: F401

from ftui.export.predictor import Predictor, softmax

JS = Path(__file__).resolve().parent / "js"
SEP = 102  # MiniLM's [SEP]

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (needed to run transformers.js)"),
    pytest.mark.skipif(not (JS / "node_modules" / "@huggingface" / "transformers").is_dir(),
                       reason="tests/js/node_modules is missing: cd tests/js && ONNXRUNTIME_NODE_INSTALL=skip npm ci"),
]


def transformers_js(bundle: Path, texts: list[str], dtype: str, model_file_name: str | None = None) -> list[dict]:
    """For each text, {"scores": {label: p}, "ids": token ids} from tests/js/score.mjs."""
    argv = ["node", str(JS / "score.mjs"), str(bundle), dtype] + ([model_file_name] if model_file_name else [])
    result = subprocess.run(argv, input=json.dumps(texts), capture_output=True, text=True, timeout=300, cwd=JS)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def bundle(exported_run) -> Path:
    return exported_run[1].bundle_path


@pytest.fixture(scope="module")
def texts(validation_rows) -> list[str]:
    return [r["text"] for r in validation_rows[:12]]


@pytest.mark.parametrize(("variant", "dtype", "file_name"), [("fp32", "fp32", None), ("int8", "q8", None),
                                                              ("O2", "fp32", "model_O2")])
def test_transformers_js_scores_equal_ftui_predict(bundle, texts, variant, dtype, file_name):
    """Each variant, found by transformers.js's own naming (dtype, model_file_name) in onnx/."""
    predictor = Predictor(bundle, model=variant)
    assert all(len(e.ids) < predictor.max_length for e in predictor.tokenizer.encode_batch(texts))
    ours = predictor.predict(texts, batch_size=1)  # one text a call, as the JS pipeline runs them here
    theirs = transformers_js(bundle, texts, dtype, file_name)
    for o, t in zip(ours, theirs):
        assert set(t["scores"]) == set(o["scores"])
        assert max(abs(o["scores"][k] - t["scores"][k]) for k in o["scores"]) < 1e-4, (o, t)
        assert t["ids"] == predictor.tokenizer.encode(o["text"]).ids


def test_beyond_max_length_transformers_js_drops_sep_as_the_bundle_readme_says(bundle, texts):
    """transformers.js truncates after adding the special tokens: max_length ids, the last a word, not [SEP].
    Fed those same ids, the bundle's own model gives transformers.js's scores: that is the whole difference."""
    predictor = Predictor(bundle, model="fp32")
    long = " ".join(texts)
    ours = predictor.tokenizer.encode(long).ids
    [theirs] = transformers_js(bundle, [long], "fp32")
    assert len(ours) == len(theirs["ids"]) == predictor.max_length
    assert ours[-1] == SEP and theirs["ids"][-1] != SEP and theirs["ids"][:-1] == ours[:-1]
    ids = np.array([theirs["ids"]], np.int64)
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    probs = softmax(predictor.session.run(None, {n: feed[n] for n in predictor.input_names})[0])[0]
    assert np.allclose(probs, [theirs["scores"][label] for label in predictor.labels], atol=1e-4)
    assert "loses its\n`[SEP]`" in (bundle / "README.md").read_text()  # and the bundle says so
