"""Validation data nobody here wrote, as `ftui export` reads it (`--data FILE` or the run's data/validation.jsonl):
examples back, or one FtuiError line, never another exception and never a silent misread (issue 10, classes
1 and 4). Export reads with rundir.tables and rundir.conll, the trainer's own readers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

from conftest import ftui
from ftui.export.data import load_examples
from ftui.export.errors import ExportError
from ftui.export.task_image import ImageClassification
from ftui.export.task_ner import load_tagged
from ftui.rundir.errors import FtuiError
from ftui.trainer.data.ner import read_tagged
from ftui.trainer.recipe import DataSection
from test_trainer_bad_input import assert_one_line_error

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
LABELS = ["negative", "neutral", "positive"]
TAGS = ["O", "B-x", "I-x"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A folder holding one real image, a.png, that random image tables may name."""
    path = tmp_path_factory.mktemp("adversarial-export")
    Image.new("RGB", (4, 4), "red").save(path / "a.png")
    return path


def load_text(path):
    return load_examples(path, LABELS)


def load_ner(path):
    return load_tagged(path, TAGS)


def load_images(path):
    return ImageClassification().load_examples(path, ["x", "y"])


# Each export loader, with the file suffixes it takes.
LOADERS = [(load_text, (".csv", ".jsonl")), (load_ner, (".jsonl", ".conll")), (load_images, (".csv", ".jsonl"))]


def load_all(folder: Path, content) -> set[tuple[str, str]]:
    """Feeds ``content`` as each loader's file: examples back, or a one-line FtuiError, nothing else.
    Returns the (loader, suffix) pairs that gave examples."""
    loaded = set()
    for load, suffixes in LOADERS:
        for suffix in suffixes:
            path = folder / f"validation{suffix}"
            path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
            try:
                examples = load(path)
            except FtuiError as e:  # an ExportError: the cockpit's export screen reports those as one line
                assert isinstance(e, ExportError) and str(e) and "\n" not in str(e) and e.exit_code == 2
            else:
                assert len(examples[0] if isinstance(examples, tuple) else examples) > 0
                loaded.add((load.__name__, suffix))
    return loaded


@SETTINGS
@given(st.binary(max_size=400))
def test_random_bytes(folder, content):
    if load_all(folder, content):
        content.decode("utf-8")  # an undecodable byte is an error, never replaced


@SETTINGS
@given(st.text(max_size=400))
def test_random_unicode(folder, content):
    load_all(folder, content)


PIECES = st.sampled_from(list('ab 1 -,,,\t"""\n\n\r{}[]:') + ["a.png", "B-x", "O", "positive", "é", "\u2028", "\x00"])
FIELDS = st.lists(PIECES, max_size=8).map("".join)
HEADERS = st.sampled_from(["text,label", "label,text", "text,label,text", "image,label", "tokens,tags", ""])


@SETTINGS
@given(HEADERS, st.lists(FIELDS, max_size=20))
def test_random_csvish_text(folder, header, lines):
    load_all(folder, "\n".join([header] + lines) + "\n")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True, allow_infinity=True) | st.integers()
    | st.sampled_from(["a", "a.png", "positive", "x", "B-x", "O", "", " "]) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12)
COLUMNS = st.sampled_from(["text", "label", "tokens", "tags", "image", "other"])


@SETTINGS
@given(st.lists(st.dictionaries(COLUMNS, JSON_VALUES, max_size=5) | JSON_VALUES, max_size=15))
def test_random_json_values(folder, rows):
    if ("load_text", ".jsonl") in load_all(folder, "".join(json.dumps(row) + "\n" for row in rows)):
        assert all(map(is_read_as_it_is, rows)), rows


def is_read_as_it_is(row) -> bool:
    """A row export may read: a string text and a string or integer label (an integral float counts), so
    nothing comes from str(value) of a number, a null or a list."""
    if not isinstance(row, dict) or not isinstance(row.get("text"), str):
        return False
    label = row.get("label")
    return not isinstance(label, bool) and (isinstance(label, (str, int))
                                            or isinstance(label, float) and label.is_integer())


# Near-valid data: good rows with one random value or byte among them (garbage alone rarely gets past line 1).
GOOD_ROWS = st.lists(st.tuples(st.sampled_from(["a", "b c", "é"]), st.sampled_from(["positive", "neutral", 0, 2])),
                     min_size=1, max_size=12)


@SETTINGS
@given(GOOD_ROWS, st.integers(0, 20), COLUMNS, JSON_VALUES)
def test_near_valid_json_rows(folder, rows, at, column, value):
    lines = [{"text": text, "label": label} for text, label in rows]
    lines[at % len(lines)][column] = value
    if ("load_text", ".jsonl") in load_all(folder, "".join(json.dumps(row) + "\n" for row in lines)):
        assert all(map(is_read_as_it_is, lines)), lines


@SETTINGS
@given(GOOD_ROWS, st.integers(0, 400), st.binary(min_size=1, max_size=2))
def test_near_valid_csv_with_a_random_byte(folder, rows, at, byte):
    content = ("text,label\n" + "".join(f"{text},{label}\n" for text, label in rows)).encode("utf-8")
    content = content[:at] + byte + content[at:]
    if load_all(folder, content):
        content.decode("utf-8")


# ---- the examples, as export --data files: one line naming file and line ------------------

def write(folder: Path, name: str, content) -> Path:
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def export_error(path: Path, load=load_text) -> str:
    with pytest.raises(ExportError) as e:
        load(path)
    assert "\n" not in str(e.value)
    return str(e.value)


@pytest.mark.parametrize("name,content,said", [
    ("nan.jsonl", '{"text": "fine", "label": 0}\n{"text": "meh", "label": NaN}\n',
     "nan.jsonl: line 2: column 'label' holds NaN; a label must be a string or an integer"),
    # "waited 2, 1" unquoted: once read as text "waited 2" of class " 1" (neutral), silently.
    ("comma.csv", "text,label\ngood,2\nwaited 2, 1,0\n",
     "comma.csv: line 3: 3 fields where the header has 2 (text, label); a field that holds a comma must be in double quotes"),
    ("bytes.csv", b"text,label\ngood,positive\ncaf\xe9 au lait,neutral\n",
     "bytes.csv: line 3 is not valid utf-8 (byte 0xe9)"),
    ("short.csv", "text,label\ngood,positive\nno label\n", "short.csv: line 3: 1 field where the header has 2"),
    ("twice.csv", "text,label,text\nfirst,positive,second\n", "column 'text' appears twice in the header"),
    ("key.jsonl", '{"text": "a", "label": "positive", "label": "negative"}\n', "line 1: key 'label' appears twice"),
    ("float.jsonl", '{"text": "a", "label": 1.5}\n', "line 1: column 'label' holds the number 1.5"),
    ("list.jsonl", '{"text": "a", "label": ["positive"]}\n', "column 'label' holds a list"),
    ("bool.jsonl", '{"text": "a", "label": true}\n', "column 'label' holds the boolean true"),
    ("number.jsonl", '{"text": 5, "label": "positive"}\n', "column 'text' holds the number 5; a text must be a string"),
    ("null.jsonl", '{"text": null, "label": "positive"}\n', "null.jsonl: line 1: no text"),
    ("nolabel.jsonl", '{"text": "a"}\n', "line 1: no 'label' column (columns: text)"),
    ("quote.csv", 'text,label\n"open,positive\nmore,neutral\n', "line 2: a double quote opened here is never closed"),
])
def test_bad_text_data_is_one_line_naming_file_and_line(tmp_path, name, content, said):
    assert said in export_error(write(tmp_path, name, content))


def test_labels_as_names_or_class_ids_keep_working(tmp_path):
    rows = [{"text": "a", "label": "positive"}, {"text": "b", "label": 0}, {"text": "c", "label": "1"},
            {"text": "d", "label": 2.0}]  # an integral float is how Parquet and pandas write integers with nulls
    path = write(tmp_path, "v.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    assert load_examples(path, LABELS) == (["a", "b", "c", "d"], [2, 0, 1, 2])
    path = write(tmp_path, "v.csv", 'text,label\n"a, quoted",positive\nb,0\n')
    assert load_examples(path, LABELS) == (["a, quoted", "b"], [2, 0])
    for label in ("3", "-1", "1_0", "positive!"):
        assert f"label {label!r} is not one of the model's labels" in export_error(
            write(tmp_path, "bad.csv", f"text,label\na,{label}\n"))


@pytest.mark.parametrize("name,content,said", [
    ("bytes.conll", b"John B-x\n\ncaf\xe9 O\n", "bytes.conll: line 3 is not valid utf-8"),
    ("fields.conll", "John B-x\nNew York B-x\n", "fields.conll:line 2: expected 2 fields (token and tag), got 3"),
    ("bio.conll", "John PER\n", "tag 'PER' is not a BIO tag"),
    ("numbers.jsonl", '{"tokens": ["a", 3], "tags": ["O", "B-x"]}\n', "'tokens' item 2 is the number 3"),
    ("lengths.jsonl", '{"tokens": ["a", "b"], "tags": ["O"]}\n', "line 1: 2 tokens but 1 tags"),
    ("key.jsonl", '{"tokens": ["a"], "tags": ["O"], "tags": ["B-x"]}\n', "key 'tags' appears twice"),
])
def test_bad_ner_data_is_one_line(tmp_path, name, content, said):
    assert said in export_error(write(tmp_path, name, content), load_ner)


def test_export_and_training_read_a_conll_file_alike(tmp_path):
    path = write(tmp_path, "d.conll", "-DOCSTART- -X- O\n\nEU NNP B-x\nrejects VBZ O\n\t\nPeter NNP I-x\n")
    trained, _ = read_tagged(str(path), DataSection())
    words, ids = load_tagged(path, TAGS)
    assert words == trained.tokens and [[TAGS[i] for i in s] for s in ids] == trained.tags


@pytest.mark.parametrize("name,content,said", [
    ("nan.jsonl", '{"image": "a.png", "label": NaN}\n', "nan.jsonl: line 1: column 'label' holds NaN"),
    ("bytes.csv", b"image,label\na.png,x\na.png,caf\xe9\n", "bytes.csv: line 3 is not valid utf-8"),
    ("wide.csv", "image,label\na.png,x,y\n", "wide.csv: line 2: 3 fields where the header has 2"),
    ("number.jsonl", '{"image": 7, "label": "x"}\n', "column 'image' holds the number 7"),
])
def test_bad_image_data_is_one_line(folder, name, content, said):
    assert said in export_error(write(folder, name, content), load_images)


# ---- the run's own files, as export reads them: an ExportSource or one line ----------------------------

RUN_KEYS = st.sampled_from(["architectures", "model_type", "id2label", "max_position_embeddings", "data",
                            "max_length", "model_max_length", "checkpoint", "0", "1"])
RUN_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=6)
    | st.sampled_from(["BertForSequenceClassification", "bert", "checkpoint-1", "positive", ""]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(RUN_KEYS | st.text(max_size=4), inner, max_size=3),
    max_leaves=10)
CONFIGS = st.fixed_dictionaries({"architectures": st.just(["BertForSequenceClassification"]) | RUN_VALUES,
                                 "model_type": st.just("bert") | RUN_VALUES,
                                 "id2label": st.just({"0": "negative", "1": "positive"}) | RUN_VALUES},
                                optional={"max_position_embeddings": RUN_VALUES})
RECIPES = st.sampled_from([b"[data]\nmax_length = 32\n", b"data = 5\n", b"[data]\nmax_length = true\n",
                           b"[data]\nmax_length = 'x'\n", b"caf\xe9 = 1\n"]) | st.binary(max_size=30)


@SETTINGS
@given(CONFIGS, RUN_VALUES, RECIPES, RUN_VALUES)
def test_random_run_files(config_only_run, config, best, recipe, tokenizer_config):
    from ftui.export.source import resolve_source

    checkpoint = config_only_run / "checkpoints" / "checkpoint-1"
    (checkpoint / "config.json").write_text(json.dumps(config))
    (checkpoint / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    (config_only_run / "checkpoints" / "best.json").write_text(json.dumps(best))
    (config_only_run / "recipe.toml").write_bytes(recipe)
    try:
        source = resolve_source(config_only_run)
    except FtuiError as e:
        assert isinstance(e, ExportError) and str(e) and "\n" not in str(e) and e.exit_code == 2
    else:
        assert source.checkpoint == checkpoint and source.labels and source.max_length > 0
        assert not isinstance(source.max_length, bool)


# ---- through the command line: exit 2, one line, before anything is exported ------------------------

@pytest.fixture
def config_only_run(tmp_path) -> Path:
    """A run whose checkpoint is a config and an (unread) tokenizer file: enough to reach the validation data,
    which export reads before it loads the model."""
    checkpoint = tmp_path / "run" / "checkpoints" / "checkpoint-1"
    checkpoint.mkdir(parents=True)
    (checkpoint / "config.json").write_text(json.dumps({
        "architectures": ["BertForSequenceClassification"], "model_type": "bert",
        "id2label": dict(enumerate(LABELS))}))
    (checkpoint / "tokenizer.json").write_text("{}")
    (checkpoint / "trainer_state.json").write_text('{"global_step": 1}')
    (tmp_path / "run" / "recipe.toml").write_text("[data]\nmax_length = 32\n")
    (tmp_path / "run" / "events.jsonl").write_text("")
    return tmp_path / "run"


def test_export_with_bad_data_exits_2_with_one_line_before_exporting(config_only_run, tmp_path):
    bad = write(tmp_path, "bad.csv", "text,label\ngood,positive\nwaited 2, 1,0\n")
    result = ftui("export", config_only_run, "--onnx", "--data", bad)
    assert_one_line_error(result, "bad.csv: line 3: 3 fields where the header has 2")
    assert not (config_only_run / "export").exists()


def test_a_bad_saved_validation_split_is_one_line_too(config_only_run, capsys):
    from ftui.tui.cli import main

    (config_only_run / "data").mkdir()
    write(config_only_run / "data", "validation.jsonl", '{"text": "fine", "label": "positive"}\n{"text": "x", "label": NaN}\n')
    assert main(["export", str(config_only_run), "--onnx"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ftui: ") and "validation.jsonl: line 2: column 'label' holds NaN" in err[0]
    assert not (config_only_run / "export").exists()
