"""Data nobody here wrote: every reader gives data or one DataError line, never another exception, and
never a silent misread (issue 10, class 1). Random bytes, unicode, CSV-ish text and JSON values go into
the text, NER and image readers; then the issue's own examples, the split's limits, and the CLI."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

from conftest import csv_text, events_of, ftui
from ftui.rundir.errors import FtuiError
from ftui.trainer.data.text import TextDataset, load_task_data, require_every_class, stratified_sample, stratified_split
from ftui.trainer.errors import DataError
from ftui.trainer.data.image import load_image_data
from ftui.trainer.data.ner import load_ner_data
from ftui.trainer.recipe import DataSection
from test_trainer_bad_input import assert_one_line_error

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A folder holding one real image, a.png, that random image tables may name."""
    path = tmp_path_factory.mktemp("adversarial")
    Image.new("RGB", (4, 4), "red").save(path / "a.png")
    return path


def section(path, **keys) -> DataSection:
    return DataSection(train=str(path), max_train_rows=0, max_validation_rows=0, **keys)


# Every public reader, with the file suffixes it takes.
READERS = [
    ("text", load_task_data, (".csv", ".tsv", ".jsonl")),
    ("ner", load_ner_data, (".conll", ".jsonl")),
    ("image", load_image_data, (".csv", ".jsonl")),
]


def read_all(folder, content, **keys) -> None:
    """Feeds ``content`` as each reader's file: data back, or a one-line DataError, nothing else."""
    for _, load, suffixes in READERS:
        for suffix in suffixes:
            path = folder / f"data{suffix}"
            path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
            try:
                data = load(section(path, **keys), 0)
            except DataError as e:
                assert isinstance(e, FtuiError) and "\n" not in str(e) and str(e)
            else:
                assert len(data.train) > 0 and len(data.validation) > 0 and len(data.label_names) >= 2


@SETTINGS
@given(st.binary(max_size=400))
def test_random_bytes(folder, content):
    read_all(folder, content)


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_with_replaced_errors(folder, content):
    read_all(folder, content, encoding_errors="replace")


@SETTINGS
@given(st.text(max_size=400))
def test_random_unicode(folder, content):
    read_all(folder, content)


FIELD_CHARS = st.sampled_from(list('ab a.png B-x I-x O 1 -,,,\t\t"""\n\n\r\\{}[]:') + ["é", "\u2028", "\x00", "\ufeff"])
HEADERS = st.sampled_from(["text,label", "label,text", "text,label,text", "text", "image,label", "image,label,image",
                           "text\tlabel", "tokens,tags", "", '"text","label"'])


@SETTINGS
@given(HEADERS, st.lists(st.text(FIELD_CHARS, max_size=12), max_size=25))
def test_random_csvish_text(folder, header, lines):
    read_all(folder, "\n".join([header] + lines) + "\n")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True, allow_infinity=True) | st.integers()
    | st.sampled_from(["a", "b", "a.png", "B-x", "O", "", " "]) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12)
COLUMNS = st.sampled_from(["text", "label", "tokens", "tags", "image", "other"])


@SETTINGS
@given(st.lists(st.dictionaries(COLUMNS, JSON_VALUES, max_size=5) | JSON_VALUES, max_size=20))
def test_random_json_values(folder, rows):
    read_all(folder, "".join(json.dumps(row) + "\n" for row in rows))


# Near-valid data: good rows with at most one random value among them, so the split, the labels and
# the samples see random input too (garbage alone rarely gets past the first line).
TEXTS = st.sampled_from(["a", "b c", "a.png", " ", ""])
IMAGES = st.sampled_from(["a.png", "a.png", "a.png", "./a.png", ""])
LABELS = st.sampled_from(["a", "b", "1", "B-x", "O", ""]) | st.integers(0, 2)
WORDS = st.lists(st.tuples(st.sampled_from(["John", "runs", "a.png"]), st.sampled_from(["O", "B-x", "I-x", "B-y"])),
                 max_size=4)
SPOIL = st.none() | st.tuples(st.integers(0, 40), COLUMNS, JSON_VALUES)


@SETTINGS
@given(st.lists(st.tuples(TEXTS, IMAGES, LABELS, WORDS), max_size=40), SPOIL)
def test_near_valid_json_rows(folder, rows, spoil):
    lines = [{"text": text, "image": image, "label": label, "tokens": [w for w, _ in words], "tags": [t for _, t in words]}
             for text, image, label, words in rows]
    if spoil and lines:
        lines[spoil[0] % len(lines)][spoil[1]] = spoil[2]
    read_all(folder, "".join(json.dumps(line) + "\n" for line in lines))


@SETTINGS
@given(st.sampled_from(["text,label", "image,label", "label,text"]), st.lists(st.tuples(TEXTS, IMAGES, LABELS), max_size=40),
       st.none() | st.tuples(st.integers(0, 40), st.lists(st.text(FIELD_CHARS, max_size=6), max_size=3)))
def test_near_valid_csv_and_conll(folder, header, rows, spoil):
    import csv
    import io

    cells = [[image if header.startswith("image") else text, str(label)] for text, image, label in rows]
    if spoil and cells:
        cells[spoil[0] % len(cells)] = spoil[1]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(cells)
    read_all(folder, header + "\n" + buffer.getvalue())
    read_all(folder, "\n".join(" ".join(row) for row in cells))  # as CoNLL lines: token, tag


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_as_parquet(folder, content):
    path = folder / "data.parquet"
    path.write_bytes(b"PAR1" + content)
    for _, load, _ in READERS:
        try:
            load(section(path), 0)
        except DataError as e:
            assert "\n" not in str(e) and "Parquet" in str(e)


# ---- the examples: each was read without a word before ---------------------------------

ROWS = [{"text": f"text number {i}", "label": "ab"[i % 2]} for i in range(20)]


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def read_error(path, **keys) -> str:
    with pytest.raises(DataError) as e:
        load_task_data(section(path, **keys), 0)
    assert "\n" not in str(e.value)
    return str(e.value)


@pytest.mark.parametrize("literal,said", [("NaN", "NaN"), ("Infinity", "Infinity"), ("-Infinity", "-Infinity"),
                                          ("1.5", "the number 1.5"), ("true", "the boolean true"),
                                          ('["a"]', "a list"), ('{"a": 1}', "an object")])
def test_a_jsonl_label_that_is_no_string_or_integer_names_line_and_column(tmp_path, literal, said):
    lines = [json.dumps(r) for r in ROWS] + ['{"text": "odd one", "label": %s}' % literal]
    message = read_error(write(tmp_path, "d.jsonl", "\n".join(lines) + "\n"))
    assert "d.jsonl: line 21: column 'label' holds " + said in message and "string or an integer" in message


def test_a_text_that_is_no_string_is_an_error(tmp_path):
    lines = [json.dumps(r) for r in ROWS] + ['{"text": ["a", "list"], "label": "a"}']
    assert "line 21: column 'text' holds a list" in read_error(write(tmp_path, "d.jsonl", "\n".join(lines)))


def test_an_unquoted_comma_is_too_many_fields(tmp_path):
    path = write(tmp_path, "d.csv", csv_text(ROWS) + "hello, world,a\n")
    assert "d.csv: line 22: 3 fields where the header has 2 (text, label)" in read_error(path)
    assert "double quotes" in read_error(path)


def test_a_row_with_too_few_fields_is_an_error_not_an_empty_row(tmp_path):
    path = write(tmp_path, "d.csv", csv_text(ROWS) + "no label here\n")
    assert "d.csv: line 22: 1 field where the header has 2" in read_error(path)


def test_tsv_field_counts_too(tmp_path):
    path = write(tmp_path, "d.tsv", csv_text(ROWS, delimiter="\t") + "a\tb\tc\n")
    assert "line 22: 3 fields" in read_error(path) and "tab" in read_error(path)


def test_a_quoted_field_may_hold_commas_and_span_lines(tmp_path):
    path = write(tmp_path, "d.csv", csv_text(ROWS + [{"text": "one, two\nthree", "label": "b"}]))
    data = load_task_data(section(path), 0)
    assert "one, two\nthree" in data.train.texts + data.validation.texts


def test_an_unclosed_quote_names_its_line(tmp_path):
    path = write(tmp_path, "d.csv", csv_text(ROWS) + 'oops,"b\n' + csv_text(ROWS).split("\n", 1)[1])
    assert "line 22: a double quote opened here is never closed" in read_error(path)


def test_a_column_named_twice_is_an_error(tmp_path):
    path = write(tmp_path, "d.csv", "text,label,text\nfirst,a,second\nthird,b,fourth\n")
    assert "column 'text' appears twice in the header" in read_error(path)


def test_a_json_key_given_twice_is_an_error(tmp_path):
    path = write(tmp_path, "d.jsonl", '{"text": "x", "label": "a", "label": "b"}\n')
    assert "line 1: key 'label' appears twice" in read_error(path)


def test_a_jsonl_row_without_the_label_key_is_an_error(tmp_path):
    lines = [json.dumps(r) for r in ROWS] + ['{"text": "no label key"}']
    assert "line 21: no label column 'label'" in read_error(write(tmp_path, "d.jsonl", "\n".join(lines)))


def test_parquet_labels_nan_fraction_and_duplicate_columns(tmp_path):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": [r["text"] for r in ROWS], "label": [1.0, 2.0] * 9 + [float("nan"), 1.0]}), path)
    assert "d.parquet: row 19: column 'label' holds NaN" in read_error(path)
    pq.write_table(pa.table({"text": [r["text"] for r in ROWS], "label": [1.0, 2.0] * 9 + [1.5, None]}), path)
    assert "row 19: column 'label' holds the number 1.5" in read_error(path)
    pq.write_table(pa.table({"text": [r["text"] for r in ROWS], "label": [1.0, 2.0] * 9 + [None, 1.0]}), path)
    data = load_task_data(section(path), 0)  # integral floats (Parquet's integers with nulls) are the integers
    assert data.label_names == ["1", "2"] and data.dropped_rows == 1
    texts = pa.array([r["text"] for r in ROWS])
    pq.write_table(pa.Table.from_arrays([texts, pa.array(["a", "b"] * 10), texts], ["text", "label", "text"]), path)
    assert "column 'text' appears twice" in read_error(path)


# ---- rows skipped by design are counted, in every reader ---------------------------------------

def test_empty_texts_and_labels_are_counted_in_every_text_format(tmp_path):
    rows = ROWS + [{"text": "", "label": "a"}, {"text": "  ", "label": "b"}, {"text": "no label", "label": ""}]
    pq.write_table(pa.Table.from_pylist(rows + [{"text": "null label", "label": None}]), tmp_path / "d.parquet")
    files = [write(tmp_path, "d.csv", csv_text(rows)), write(tmp_path, "d.tsv", csv_text(rows, delimiter="\t")),
             write(tmp_path, "d.jsonl", "".join(json.dumps(r) + "\n" for r in rows + [{"text": "x", "label": None}])),
             tmp_path / "d.parquet"]
    counts = {path.suffix: load_task_data(section(path), 0).dropped_rows for path in files}
    assert counts == {".csv": 3, ".tsv": 3, ".jsonl": 4, ".parquet": 4}
    validation = write(tmp_path, "v.csv", csv_text(rows[:4] + [{"text": "", "label": "b"}]))
    assert load_task_data(section(files[0], validation=str(validation)), 0).dropped_rows == 4


def test_skipped_rows_are_counted_for_ner_and_image_tables(tmp_path, folder):
    lines = [{"tokens": ["John", "runs"], "tags": ["B-PER", "O"]}] * 6 + [{"tokens": [], "tags": []}] * 2
    path = write(tmp_path, "n.jsonl", "".join(json.dumps(r) + "\n" for r in lines))
    assert load_ner_data(section(path), 0).dropped_rows == 2
    table = write(folder, "t.csv", "image,label\n" + "a.png,x\na.png,y\n" * 3 + ",x\na.png,\n")
    assert load_image_data(section(table), 0).dropped_rows == 2


# ---- NER and image tables: the same rules --------------------------------------------------------

@pytest.mark.parametrize("row,said", [
    ({"tokens": ["a", 3], "tags": ["O", "B-x"]}, "'tokens' item 2 is the number 3"),
    ({"tokens": ["a", "b"], "tags": ["O", None]}, "'tags' item 2 is null"),
    ({"tokens": ["a", " "], "tags": ["O", "B-x"]}, "'tokens' item 2 is blank"),
    ({"tokens": ["a", "b"], "tags": ["O", "B-x "]}, "is not a BIO tag"),
    ({"tokens": None, "tags": ["O"]}, "'tokens' must be a list of strings, not null"),
])
def test_ner_rows_with_values_of_the_wrong_kind(tmp_path, row, said):
    good = json.dumps({"tokens": ["John"], "tags": ["B-PER"]})
    path = write(tmp_path, "n.jsonl", f"{good}\n{json.dumps(row)}\n")
    with pytest.raises(DataError, match="n.jsonl: line 2: "):
        load_ner_data(section(path), 0)
    with pytest.raises(DataError) as e:
        load_ner_data(section(path), 0)
    assert said in str(e.value)


def test_ner_duplicate_keys_and_undecodable_bytes_name_the_line(tmp_path):
    path = write(tmp_path, "n.jsonl", '{"tokens": ["a"], "tags": ["B-x"], "tags": ["O"]}\n')
    with pytest.raises(DataError, match="line 1: key 'tags' appears twice"):
        load_ner_data(section(path), 0)
    conll = tmp_path / "n.conll"
    conll.write_bytes(b"John B-PER\n\ncaf\xe9 O\n")
    with pytest.raises(DataError, match="line 3 is not valid utf-8"):
        load_ner_data(section(conll), 0)


@pytest.mark.parametrize("content,said", [
    ("image,label,image\na.png,x,a.png\n", "column 'image' appears twice"),
    ("image,label\na.png,x\na.png,y,z\n", "t.csv: line 3: 3 fields where the header has 2"),
    ("image,label\na.png\n", "line 2: 1 field where the header has 2"),
])
def test_image_csv_tables_follow_the_same_rules(folder, content, said):
    with pytest.raises(DataError) as e:
        load_image_data(section(write(folder, "t.csv", content)), 0)
    assert said in str(e.value)


@pytest.mark.parametrize("row,said", [({"image": "a.png", "label": float("nan")}, "column 'label' holds NaN"),
                                      ({"image": 7, "label": "x"}, "column 'image' holds the number 7")])
def test_image_jsonl_tables_follow_the_same_rules(folder, row, said):
    good = json.dumps({"image": "a.png", "label": "y"})
    with pytest.raises(DataError) as e:
        load_image_data(section(write(folder, "t.jsonl", f"{good}\n{json.dumps(row)}\n")), 0)
    assert "t.jsonl: line 2: " + said in str(e.value)


def test_image_table_undecodable_bytes_name_the_line(folder):
    (folder / "t.csv").write_bytes(b"image,label\na.png,x\na.png,caf\xe9\n")
    with pytest.raises(DataError, match="line 3 is not valid utf-8"):
        load_image_data(section(folder / "t.csv"), 0)


# ---- the split: a non-empty validation set, every class in training ----------------------------

def test_a_split_that_leaves_validation_empty_names_the_classes_and_their_sizes(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\na,x\nb,y\nc,x\n")
    message = read_error(path)
    assert "gives no validation rows" in message and "'x': 2 rows, 'y': 1 row" in message
    assert "validation_fraction to at least 0.5" in message
    message = read_error(write(tmp_path, "e.csv", csv_text(ROWS)), validation_fraction=0.02)
    assert "'a': 10 rows, 'b': 10 rows" in message and "at least 0.1" in message
    data = load_task_data(section(tmp_path / "e.csv", validation_fraction=0.1), 0)
    assert len(data.validation) == 2  # what the message says works, works


def test_every_class_keeps_a_training_row_after_the_sample():
    data = TextDataset([f"t{i}" for i in range(1010)], ["big"] * 1000 + [f"small{i}" for i in range(10)])
    sample = stratified_sample(data, 11, seed=0)  # rounding asks for 10 big + 10 small: 20 > 11
    assert len(sample) == 11 and set(sample.labels) == set(data.labels)
    with pytest.raises(DataError, match="max_train_rows = 5 leaves no training row for 6 of the 11 classes"):
        require_every_class(stratified_sample(data, 5, seed=0), sorted(set(data.labels)), DataSection(max_train_rows=5))


def test_stratified_split_raises_rather_than_returning_an_empty_validation_set():
    with pytest.raises(DataError, match="a class needs two rows"):
        stratified_split(TextDataset(["a", "b"], ["x", "y"]), 0.2, seed=0)


def test_ner_split_that_leaves_validation_empty(tmp_path):
    path = write(tmp_path, "n.conll", "John B-PER\nruns O\n\nMary B-PER\n")
    with pytest.raises(DataError, match="of 2 sentences gives no validation sentence; set it to at least 0.5"):
        load_ner_data(section(path), 0)
    path = write(tmp_path, "m.conll", "John B-PER\n\nParis B-LOC\n")  # the drawn sentence has the only B-LOC
    with pytest.raises(DataError, match="has a tag no training sentence has"):
        load_ner_data(section(path, validation_fraction=0.5), 1)


def test_image_split_that_leaves_validation_empty(folder):
    with pytest.raises(DataError, match="gives no validation rows"):
        load_image_data(section(write(folder, "s.csv", "image,label\na.png,x\na.png,y\n")), 0)


# ---- through the real command line: exit 2, one line, no run directory ------------------------

CLI_CASES = [
    ("nan.jsonl", "".join(json.dumps(r) + "\n" for r in ROWS) + '{"text": "x", "label": NaN}\n',
     "nan.jsonl: line 21: column 'label' holds NaN"),
    ("twice.csv", "text,label,text\n" + "".join(f"{r['text']},{r['label']},other\n" for r in ROWS),
     "column 'text' appears twice"),
    ("tiny.csv", "text,label\na,x\nb,y\nc,x\n", "gives no validation rows"),
]


@pytest.mark.parametrize("name,content,said", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_bad_data_through_the_cli_is_one_line_exit_2_and_no_run(tmp_path, tiny_model_dir, name, content, said):
    path = write(tmp_path, name, content)
    result = ftui("train", "--headless", "--model", tiny_model_dir, "--data", path,
                  "--set", f"run.output_dir={json.dumps(str(tmp_path / 'runs'))}")
    assert_one_line_error(result, said)
    assert not (tmp_path / "runs").exists(), "bad input must not leave a run directory"


def test_skipped_rows_are_in_the_headless_start_line_and_a_warning(tmp_path, tiny_model_dir):
    rows = [{"text": f"tweet number {i}", "label": ["pos", "neg"][i % 2]} for i in range(40)]
    path = write(tmp_path, "d.csv", csv_text(rows + [{"text": "", "label": "pos"}, {"text": "x", "label": ""}] * 2))
    result = ftui("train", "--headless", "--model", tiny_model_dir, "--data", path, "--max-steps", "1",
                  "--set", "data.max_length=16", "--set", f"run.output_dir={json.dumps(str(tmp_path / 'runs'))}",
                  "--name", "skips")
    assert result.returncode == 0, result.stderr[-2000:]
    start = next(line for line in result.stdout.splitlines() if line.startswith("ftui: skips"))
    assert "32 train / 8 validation rows, 4 rows skipped (empty input or label)" in start
    warnings = [e["message"] for e in events_of(tmp_path / "runs" / "skips", "log") if e["level"] == "warning"]
    assert "4 rows with an empty input or label were skipped" in warnings
    assert events_of(tmp_path / "runs" / "skips", "run_start")[0]["skipped_rows"] == 4
